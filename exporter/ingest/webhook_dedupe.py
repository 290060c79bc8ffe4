"""Count each (message, status) once, whatever the retries, the order and the replicas;
and, for the first ones, move the chat's response-time clock.

A claim is ``HSETNX anclora:wh:m:<hash of the message id> <status> 1`` (then ``EXPIRE``,
ANCLORA_WEBHOOK_DEDUP_SECONDS): Redis runs each atomically, so of a platform's retries
and of several replicas receiving the same webhook, exactly one gets 1 and counts. A
message's statuses share one small hash (a few dozen bytes each), so Redis holds about one
key per message sent in the window, not one per status.

Response time, with no app code: a customer's message, when first claimed, sets
``anclora:wh:c:<hash of the chat>`` to its time (``SET NX``: the oldest unanswered message
is the one the customer waits on; it expires after ANCLORA_RESPONSE_WINDOW_SECONDS). The
business's next message to that chat, when first claimed, takes that time back (read and
delete at once) unless it is older (webhooks out of order: the inbound one stays
pending); the difference is the response time. So a retried webhook observes nothing
again, and of two replicas only the one whose claim won observes it.

Both happen in a small script, atomically per claim. Claims share round trips
(``fastpath.redis.Lease``: one pooled connection for a run of trips): a 1,000-status webhook
is one round trip, and the claims of webhooks arriving while a round trip is out, or in the
loop's turn before it leaves, go together (one in flight at a time: a turn's wait when
idle, a round trip for many webhooks under load), in scripts of at most ``CHUNK`` claims so
Redis is never held long. Each caller's ``then`` counts its
results in the task that read them, right away: a caller cancelled meanwhile (its client
hung up) still has them counted. A claim made but not counted (the process killed in
between) is lost to counting, never counted twice.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Callable, NamedTuple

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from ..fastpath.redis import Lease, Part

CLAIM, INBOUND, OUTBOUND = "c", "i", "o"

# KEYS: per claim its message key, then (inbound, outbound) its chat key.
# ARGV: ttl, window, then per claim: kind, field, time. Returns per claim 1/0 (first?)
# and, for an outbound claim, the pending inbound time it took ("" when none).
_SCRIPT = """
local out, k = {}, 1
for i = 3, #ARGV, 3 do
  local kind, at = ARGV[i], ARGV[i + 2]
  local first = redis.call('HSETNX', KEYS[k], ARGV[i + 1], 1)
  if first == 1 then redis.call('EXPIRE', KEYS[k], ARGV[1]) end
  out[#out + 1] = first
  if kind == 'i' then
    if first == 1 then redis.call('SET', KEYS[k + 1], at, 'NX', 'EX', ARGV[2]) end
    k = k + 1
  elseif kind == 'o' then
    local taken = ''
    if first == 1 then
      local t = redis.call('GET', KEYS[k + 1])
      if t and tonumber(t) <= tonumber(at) then
        redis.call('DEL', KEYS[k + 1])
        taken = t
      end
    end
    out[#out + 1] = taken
    k = k + 1
  end
  k = k + 1
end
return out
"""
_SHA = hashlib.sha1(_SCRIPT.encode()).hexdigest()


def _resp(cmd: tuple) -> bytes:
    """A command in RESP, Redis's documented wire format, packed here: redis-py's packer
    (arguments encoded one call each) was a third of a small webhook's own cost. Claims
    are ASCII (hashed keys, status letters, numbers), where a length in characters is
    the length in bytes: packed as text and encoded once."""
    args = list(map(str, cmd))
    text = "".join([f"${len(a)}\r\n{a}\r\n" for a in args])
    if text.isascii():
        return f"*{len(args)}\r\n{text}".encode()
    encoded = [a.encode() for a in args]
    return b"".join([b"*%d\r\n" % len(args)]
                    + [b"$%d\r\n%s\r\n" % (len(b), b) for b in encoded])


class Claim(NamedTuple):
    key: str            # the message's (or conversation's) hash key
    field: str          # what is claimed in it: a status, "i" received, "o" sent, "b" billed
    kind: str = CLAIM   # CLAIM, or INBOUND / OUTBOUND: also move the chat's clock
    chat: str = ""      # the chat's key (INBOUND, OUTBOUND)
    at: float = 0.0     # the message's time (INBOUND, OUTBOUND)


class Dedupe:
    CHUNK = 500  # claims per script call: Redis is held ~0.5 ms at most

    def __init__(self, redis: Redis, ttl_seconds: int, window_seconds: int):
        self.redis, self.ttl, self.window = redis, ttl_seconds, window_seconds
        self._waiting: list[tuple[list[Claim], Callable, asyncio.Future]] = []
        self._sender: asyncio.Task | None = None

    def claim(self, claims: list[Claim],
              then: Callable[[list[bool], list[float | None]], None]) -> asyncio.Future:
        """Make ``claims`` (await the future returned); ``then(first, waited)`` gets, per
        claim, True when it was the first, and for an OUTBOUND claim the response time it
        ended (seconds) or None. The future raises the Redis error when Redis cannot be
        reached (nothing was counted then)."""
        sender = self._sender
        if sender is None or sender.done():
            sender = self._sender = asyncio.create_task(self._send())
        # The running loop is the sender's: asking asyncio for it costs a getpid system
        # call on Python 3.11, once per webhook.
        done = sender.get_loop().create_future()
        self._waiting.append((claims, then, done))
        return done

    async def _send(self) -> None:
        # One connection for the whole run of round trips: under load they follow each
        # other with no gap, and the pool's get and release cost as much as the trip's I/O.
        # Claims arriving while it is given back are sent after (the outer loop).
        lease = Lease(self.redis)
        while self._waiting:
            try:
                while self._waiting:
                    # A turn of the loop first: the requests read in it claim too, and go
                    # in this trip (~20% fewer trips under load; CPU per webhook -6%).
                    await asyncio.sleep(0)
                    batch, self._waiting = self._waiting, []
                    try:
                        first, waited = await self._round_trip(
                            lease, [c for b in batch for c in b[0]])
                    except Exception as e:  # noqa: BLE001 - every caller of the batch gets it
                        for _, _, done in batch:
                            if not done.done():
                                done.set_exception(e)
                        continue
                    self._answer(batch, first, waited)
            finally:
                await lease.release()

    @staticmethod
    def _answer(batch: list, first: list[bool], waited: list[float | None]) -> None:
        i = 0
        for claims, then, done in batch:
            n = len(claims)
            try:
                then(first[i:i + n], waited[i:i + n])
            except Exception as e:  # noqa: BLE001 - a bug costs its own webhook
                if not done.done():
                    done.set_exception(e)
            else:
                if not done.done():
                    done.set_result(None)
            i += n

    async def _round_trip(self, lease: Lease,
                          claims: list[Claim]) -> tuple[list[bool], list[float | None]]:
        chunks = [claims[i:i + self.CHUNK] for i in range(0, len(claims), self.CHUNK)]
        cmds = [self._call("EVALSHA", _SHA, c) for c in chunks]
        part = Part(cmds)
        part.packed = b"".join(map(_resp, cmds))  # packed by hand: cheaper than redis-py
        replies = await lease.round_trip(part)
        if any(isinstance(r, NoScriptError) for r in replies):
            # Redis restarted or flushed its scripts: send the source once (it caches it).
            replies = await lease.round_trip(Part([self._call("EVAL", _SCRIPT, c)
                                                   for c in chunks]))
        first: list[bool] = []
        waited: list[float | None] = []
        for chunk, reply in zip(chunks, replies):
            if isinstance(reply, Exception):
                raise reply
            it = iter(reply)
            for c in chunk:
                first.append(next(it) == 1)
                taken = next(it) if c.kind == OUTBOUND else None
                waited.append(c.at - float(taken) if taken else None)
        return first, waited

    def _call(self, verb: str, script: str, chunk: list[Claim]) -> tuple:
        keys: list[str] = []
        args: list = [self.ttl, self.window]
        for c in chunk:
            keys.append(c.key)
            if c.kind != CLAIM:
                keys.append(c.chat)
            args += [c.kind, c.field, repr(c.at)]
        return (verb, script, len(keys), *keys, *args)

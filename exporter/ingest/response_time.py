"""Response time with no app code: inbound message -> first outbound message, per chat.

A customer's message sets ``anclora:wh:c:<hash of the chat>`` to its time, ``SET NX``
(the oldest unanswered message is the one the customer waits on), expiring after
ANCLORA_RESPONSE_WINDOW_SECONDS. The business's next message to that chat takes the time
back (a small script: read and delete at once, so whichever replica sees the reply first
observes it, once) and observes the difference. An outbound message older than the
pending inbound one (webhooks out of order) leaves it pending and observes nothing. Only
messages and statuses counted for the first time get here (the dedupe runs first), so a
retried webhook observes nothing again. ANCLORA_WEBHOOK_RESPONSE_TIME=false turns it off for apps that report response
times themselves.
"""

from __future__ import annotations

from redis.asyncio import Redis

from ..fastpath.redis import round_trip


# Take the pending inbound time back, only if the outbound message is not older than it.
_ANSWER = """
local t = redis.call('GET', KEYS[1])
if t and tonumber(t) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return t
end
return false
"""


class ResponseTimes:
    def __init__(self, redis: Redis, window_seconds: int):
        self.redis, self.window = redis, window_seconds

    async def record(self, moves: list[tuple[bool, str, float]]) -> list[float]:
        """``moves``: (inbound?, chat key, Unix time) in arrival order. Returns the
        response times observed (seconds), one per outbound message that answered."""
        if not moves:
            return []
        cmds = [("SET", key, repr(at), "NX", "EX", self.window) if inbound
                else ("EVAL", _ANSWER, 1, key, repr(at)) for inbound, key, at in moves]
        replies, _ = await round_trip(self.redis, cmds)
        out = []
        for (inbound, _, at), reply in zip(moves, replies):
            if isinstance(reply, Exception):
                raise reply
            if not inbound and reply is not None:
                out.append(at - float(reply))
        return out

"""Count each (message, status) once, whatever the retries, the order and the replicas.

A claim is ``HSETNX anclora:wh:m:<hash of the message id> <status> 1`` followed by
``EXPIRE`` (ANCLORA_WEBHOOK_DEDUP_SECONDS): Redis runs each HSETNX atomically, so of a
platform's retries and of several replicas receiving the same webhook, exactly one gets
1 and counts. A message's statuses share one small hash (a few dozen bytes each), so
Redis holds about one key per message sent in the window, not one per status.

Every claim of a batch goes in one write and one read (``fastpath.redis.round_trip``):
a 1,000-status webhook is one round trip. A claim made but not followed by its counting
(the process killed in between) is lost to counting, never counted twice.
"""

from __future__ import annotations

from redis.asyncio import Redis

from ..fastpath.redis import round_trip


class Dedupe:
    def __init__(self, redis: Redis, ttl_seconds: int):
        self.redis, self.ttl = redis, ttl_seconds

    async def claim(self, claims: list[tuple[str, str]]) -> list[bool]:
        """For each (key, field): True when this call is the first to claim it. Raises
        the Redis error when Redis cannot be reached (nothing was counted then)."""
        if not claims:
            return []
        ttl = self.ttl
        cmds: list[tuple] = []
        for key, field in claims:
            cmds.append(("HSETNX", key, field, 1))
            cmds.append(("EXPIRE", key, ttl))
        replies, _ = await round_trip(self.redis, cmds)
        for reply in replies:
            if isinstance(reply, Exception):  # e.g. WRONGTYPE: someone else's key
                raise reply
        return [reply == 1 for reply in replies[::2]]

"""The platforms' state (number quality and limits, templates, Evolution connections),
kept in Redis so every replica publishes the same and a restart forgets nothing.

Such webhooks are rare (a number's limit may change once a month) and any replica may
receive one, so the state is not a gauge in one process's memory: it is written here and
read back on every scrape (``collectors/whatsapp.py``). Each field holds
``<time>|<value>``; a write only replaces an older time (a small script), so a retried
or late webhook never undoes a newer one. Fields are hashes of private values
(``webhook_keys``); values are what is published (a vetted label, a state), or a
phone_number_id.

  state:limit, state:flagged  ``d:<h of display number>`` (webhooks: Meta names the number
                              by its display number only) or ``i:<phone_number_id>`` (the
                              Graph API poll); ``numbers`` maps the first to the second
  state:rating                ``i:<phone_number_id>``
  state:template              <h of name and language> -> ``<time>|<name>|<status>``
  state:template_seen         ``<name>|<status>`` of every status a template had
  state:instance              <h of the instance name> -> ``<time>|<name>|<state>``
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from redis.asyncio import Redis

from ..fastpath.redis import Part, round_trip
from .webhook_keys import NUMBERS, state

LIMIT, FLAGGED, RATING = state("limit"), state("flagged"), state("rating")
TEMPLATE, TEMPLATE_SEEN, INSTANCE = state("template"), state("template_seen"), state("instance")
READS = (NUMBERS, LIMIT, FLAGGED, RATING, TEMPLATE, TEMPLATE_SEEN, INSTANCE)

# Replace a field only with a newer value: KEYS[1] hash, ARGV field, time, value.
_NEWER = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local t = tonumber(string.match(cur, '^[^|]*'))
  if t and t > tonumber(ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
return 1
"""


@dataclass
class Snapshot:
    """What ``read`` found, decoded: field -> (time, value parts)."""
    numbers: dict[str, str] = field(default_factory=dict)        # h(display) -> number id
    limit: dict[str, tuple[float, str]] = field(default_factory=dict)
    flagged: dict[str, tuple[float, str]] = field(default_factory=dict)
    rating: dict[str, tuple[float, str]] = field(default_factory=dict)
    template: dict[str, tuple[float, str]] = field(default_factory=dict)   # value: name|status
    template_seen: list[str] = field(default_factory=list)                 # name|status
    instance: dict[str, tuple[float, str]] = field(default_factory=dict)   # value: name|state


def _pairs(reply) -> dict[str, str]:
    """HGETALL's reply (a dict, or a flat list from some parsers) as str -> str."""
    if isinstance(reply, dict):
        pairs = reply.items()
    else:
        it = iter(reply or [])
        pairs = zip(it, it)
    return {k.decode(): v.decode() for k, v in pairs}


def _timed(raw: dict[str, str]) -> dict[str, tuple[float, str]]:
    out = {}
    for k, v in raw.items():
        at, _, value = v.partition("|")
        try:
            out[k] = (float(at), value)
        except ValueError:
            continue  # not ours: skipped, never an error
    return out


class WebhookState:
    def __init__(self, redis: Redis):
        self.redis = redis
        self._newer = redis.register_script(_NEWER)

    async def put(self, key: str, field_: str, value: str, at: float | None = None) -> bool:
        """Set ``field_`` unless it holds a newer value; True when written."""
        at = time.time() if at is None else at
        return bool(await self._newer(keys=[key], args=[field_, repr(at), value]))

    async def seen(self, template: str, status: str) -> None:
        await self.redis.hset(TEMPLATE_SEEN, f"{template}|{status}", 1)

    async def forget(self, key: str, field_: str) -> None:
        await self.redis.hdel(key, field_)

    async def map_number(self, number_field: str, phone_number_id: str) -> None:
        await self.redis.hset(NUMBERS, number_field, phone_number_id)

    async def read(self) -> Snapshot:
        """Everything, in one round trip."""
        replies = await round_trip(self.redis, Part([("HGETALL", k) for k in READS]))
        for r in replies:
            if isinstance(r, Exception):
                raise r
        numbers, limit, flagged, rating, template, seen, instance = (_pairs(r) for r in replies)
        return Snapshot(numbers, _timed(limit), _timed(flagged), _timed(rating),
                        _timed(template), list(seen), _timed(instance))

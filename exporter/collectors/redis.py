"""Redis, as the exporter sees it: reachable, PING round trip, a few INFO fields.

The full server picture comes from redis_exporter in the stack; this collector exists so
`exporter_redis_up` and the health of our own data source are known at every scrape.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..catalog import REDIS_MAXMEMORY_POLICIES
from ..metrics import OTHER, gauge
from ..scrape import PartialScrape


def parse_info(info: dict) -> dict[str, float]:
    """The INFO fields we publish, as floats (missing fields are left out)."""
    out = {}
    for key in ("uptime_in_seconds", "used_memory", "connected_clients"):
        if key in info:
            out[key] = float(info[key])
    return out


class RedisCollector:
    name = "redis"

    def __init__(self, redis: Redis, namespace: str):
        self.redis = redis
        self.ns = namespace

    async def collect(self):
        ns = self.ns
        try:
            start = time.perf_counter()
            await self.redis.ping()
            ping = time.perf_counter() - start
            raw = await self.redis.info()
            info = parse_info(raw)
        except (RedisError, OSError) as e:
            raise PartialScrape(f"redis unreachable: {type(e).__name__}",
                                [gauge("exporter_redis_up", ns, [((), 0.0)])]) from e
        fams = [gauge("exporter_redis_up", ns, [((), 1.0)]),
                gauge("redis_ping_latency_seconds", ns, [((), ping)])]
        for key, metric in (("uptime_in_seconds", "redis_uptime_seconds"),
                            ("used_memory", "redis_used_memory_bytes"),
                            ("connected_clients", "redis_connected_clients")):
            if key in info:
                fams.append(gauge(metric, ns, [((), info[key])]))
        policy = raw.get("maxmemory_policy")
        if policy is not None:
            policy = policy.decode() if isinstance(policy, bytes) else str(policy)
            fams.append(gauge("redis_maxmemory_policy", ns, [(
                (policy if policy in REDIS_MAXMEMORY_POLICIES else OTHER,), 1.0)]))
        return fams

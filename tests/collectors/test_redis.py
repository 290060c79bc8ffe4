"""RedisCollector against a real redis-server, including one that restarts."""

from __future__ import annotations

import asyncio

from exporter.app import make_redis
from exporter.collectors.redis import RedisCollector, parse_info


def _up(families) -> float:
    return next(f for f in families if f.name == "anclora_exporter_redis_up").samples[0].value


def test_parse_info_keeps_only_published_fields():
    assert parse_info({"used_memory": "1024", "role": "master", "uptime_in_seconds": 7}) == {
        "used_memory": 1024.0, "uptime_in_seconds": 7.0}


async def test_first_scrape_after_a_redis_restart_sees_redis_up(own_redis):
    """Pooled connections that sat through an outage are broken when Redis returns: the
    first command on each fails once. The scrape right after the restart must still say
    up 1 (it said 0, so a restart looked like a second outage)."""
    client = make_redis(own_redis.url, 1.0)
    collector = RedisCollector(client, "anclora")
    try:
        # Several pooled connections, as concurrent collectors leave them.
        await asyncio.gather(*(client.ping() for _ in range(4)))
        assert _up(await collector.collect()) == 1.0
        own_redis.stop()
        own_redis.start()
        assert _up(await collector.collect()) == 1.0
        assert _up(await collector.collect()) == 1.0
    finally:
        await client.aclose()


async def test_maxmemory_policy_is_published(own_redis):
    """BullMQ needs noeviction: an evicting Redis silently drops jobs, so the policy is a
    metric an alert can watch."""
    client = make_redis(own_redis.url, 1.0)
    collector = RedisCollector(client, "anclora")

    async def policies():
        fam = next(f for f in await collector.collect()
                   if f.name == "anclora_redis_maxmemory_policy")
        return {s.labels["policy"]: s.value for s in fam.samples}
    try:
        assert await policies() == {"noeviction": 1.0}
        await client.config_set("maxmemory-policy", "allkeys-lru")
        assert await policies() == {"allkeys-lru": 1.0}
    finally:
        await client.aclose()

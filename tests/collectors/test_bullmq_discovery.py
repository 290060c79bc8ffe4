"""Queue discovery off the scrape path, on a real redis-server: queues are found by their
``meta`` hash in a background pass, a step at a time, and a scrape never SCANs once the
first pass is done."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from exporter.collectors import bullmq_discovery
from exporter.collectors.bullmq import BullMQCollector
from exporter.config import Config


def config(url: str, **kw) -> Config:
    return Config.defaults(redis_url=url, redis_timeout=0.5, **kw)


@pytest.fixture
async def client(redis_url):
    r = Redis.from_url(redis_url, socket_timeout=1)
    yield r
    await r.aclose()


def add_queues(r, *names: str) -> None:
    """What BullMQ writes for a new queue that discovery looks for: its meta hash."""
    for name in names:
        r.hset(f"bull:{name}:meta", "opts.maxLenEvents", 10000)


def count_scans(client, monkeypatch, seen_names=None) -> list[int]:
    """The cursors of the SCAN calls made through ``client`` (and, given a discovery,
    the queues it watched when each call was made)."""
    cursors, real = [], client.scan

    async def scan(cursor=0, **kw):
        cursors.append(cursor)
        if seen_names is not None:
            seen_names[0].append(list(seen_names[1].names))
        reply = await real(cursor, **kw)
        if seen_names is not None and len(seen_names) > 2:  # the keys each call returned
            seen_names[2].append([k.decode() if isinstance(k, bytes) else k for k in reply[1]])
        return reply
    monkeypatch.setattr(client, "scan", scan)
    return cursors


async def test_scrapes_do_not_scan_once_the_first_pass_is_done(redis_url, client, r,
                                                               monkeypatch):
    add_queues(r, "orders", "sms")
    r.set("bull:not-a-queue:meta", "a string: SCAN ... TYPE hash leaves it out")
    for i in range(300):  # job keys discovery walks past
        r.hset(f"bull:orders:{i}", "timestamp", 1)
    c = BullMQCollector(client, config(redis_url))
    cursors = count_scans(client, monkeypatch)
    # Two scrapes at once before anything is known: they share one first pass.
    await asyncio.gather(c.collect(), c.collect())
    assert await c.queue_names() == ["orders", "sms"]
    assert cursors.count(0) == 1
    made = len(cursors)
    for _ in range(3):
        await c.collect()
    assert len(cursors) == made  # no SCAN on the scrape path


async def test_a_pass_is_incremental(redis_url, client, r, monkeypatch):
    """A queue found is watched from the SCAN call that found it; one whose meta hash no
    call of a whole pass returned is dropped at the end of the pass."""
    add_queues(r, "a", "b")
    c = BullMQCollector(client, config(redis_url))
    await c.discovery.ready()
    r.delete("bull:a:meta")
    add_queues(r, "c")
    for i in range(50):
        r.set(f"filler:{i}", 1)
    monkeypatch.setattr(bullmq_discovery, "SCAN_COUNT", 5)  # many calls per pass
    watched: list[list[str]] = []
    returned: list[list[str]] = []
    count_scans(client, monkeypatch, (watched, c.discovery, returned))
    await c.discovery.refresh(paced=True)
    assert len(watched) > 5
    # "c" is watched from the call after the one that returned its meta hash (SCAN's order
    # is Redis's: that may be any call); "a" stayed until the pass was complete.
    found = next(i for i, keys in enumerate(returned) if "bull:c:meta" in keys)
    assert all("c" in names for names in watched[found + 1:])
    assert all("c" not in names for names in watched[:found + 1])
    assert all("a" in names for names in watched)
    assert await c.queue_names() == ["b", "c"]
    assert c.discovery.passes == 2


async def test_the_background_task_finds_new_queues(redis_url, client, r):
    add_queues(r, "first")
    c = BullMQCollector(client, config(redis_url, queue_discovery_interval=0.5))
    task = asyncio.create_task(c.discovery.run())
    try:
        await c.discovery.ready()
        assert await c.queue_names() == ["first"]
        add_queues(r, "second")
        deadline = asyncio.get_running_loop().time() + 5
        while await c.queue_names() != ["first", "second"]:
            assert asyncio.get_running_loop().time() < deadline, await c.queue_names()
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_failed_first_pass_is_tried_again_by_the_next_scrape(own_redis):
    r = Redis.from_url(own_redis.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    c = BullMQCollector(r, config(own_redis.url))
    own_redis.stop()
    with pytest.raises(RedisConnectionError):
        await c.queue_names()
    own_redis.start()
    await r.hset("bull:back:meta", "opts.maxLenEvents", 10000)
    assert await c.queue_names() == ["back"]
    await r.aclose()

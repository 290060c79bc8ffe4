"""StreamConsumer on a real redis-server: once-only counting across restarts, crashes,
replicas, trimming and outages."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from exporter.metrics import LabelGuard, MetricSet
from exporter.streams import StreamConsumer


class Counting:
    """Counts entries per stream; ``hold`` makes prepare wait (to be cancelled)."""

    def __init__(self, hold: asyncio.Event | None = None):
        self.seen: dict[str, list[str]] = {}
        self.hold = hold
        self.prepared = asyncio.Event()

    async def prepare(self, stream, entries):
        self.prepared.set()
        if self.hold is not None:
            await self.hold.wait()

        def apply(acked):
            self.seen.setdefault(stream, []).extend(
                f["n"] for eid, f in entries if eid in acked)
        return apply

    def total(self) -> int:
        return sum(len(v) for v in self.seen.values())


@pytest.fixture
async def r(redis_url):
    client = Redis.from_url(redis_url, socket_timeout=2)
    yield client
    await client.aclose()


def consumer(r, handler, name="c1", streams=("s1", "s2"), **kw):
    kw.setdefault("block_ms", 50)
    return StreamConsumer(r, lambda: list(streams), "g", name, handler, **kw)


async def add(r, key, n, start=0):
    for i in range(start, start + n):
        await r.xadd(key, {"n": str(i)})


async def test_starts_at_now_then_counts_new_entries_once(r):
    await add(r, "s1", 3)  # before the group exists: history, not counted
    h = Counting()
    c = consumer(r, h)
    assert await c.poll_once() == 0
    await add(r, "s1", 4, 3)
    await add(r, "s2", 2)  # s2 appeared after we first looked: all of it counts
    assert await c.poll_once() == 6
    assert await c.poll_once() == 0
    assert h.seen == {"s1": ["3", "4", "5", "6"], "s2": ["0", "1"]}


async def test_restart_resumes_without_loss_or_double_count(r):
    await r.xadd("s1", {"n": "x"})
    h1 = Counting()
    c1 = consumer(r, h1)
    await c1.poll_once()
    await add(r, "s1", 5)
    await c1.poll_once()
    await add(r, "s1", 3, 5)  # added while "down"
    h2 = Counting()
    c2 = consumer(r, h2)  # a new process, same group and consumer name
    await c2.poll_once()
    assert h1.seen["s1"] == ["0", "1", "2", "3", "4"] and h2.seen["s1"] == ["5", "6", "7"]


async def test_killed_before_ack_is_redelivered_and_counted_once(r):
    await r.xadd("s1", {"n": "x"})
    hold = asyncio.Event()
    h1 = Counting(hold)
    c1 = consumer(r, h1, claim_idle_ms=100)
    await c1.poll_once()  # group created; nothing new to prepare
    await add(r, "s1", 4)
    task = asyncio.create_task(c1.poll_once())
    await h1.prepared.wait()
    task.cancel()  # the process dies between reading and acking
    with pytest.raises(asyncio.CancelledError):
        await task
    assert h1.total() == 0
    assert (await r.xpending("s1", "g"))["pending"] == 4
    h2 = Counting()
    c2 = consumer(r, h2, name="c2", claim_idle_ms=100)
    assert await c2.poll_once() == 0  # not idle long enough yet: still c1's
    await asyncio.sleep(0.15)
    assert await c2.poll_once() == 4
    assert h2.seen["s1"] == ["0", "1", "2", "3"]
    assert (await r.xpending("s1", "g"))["pending"] == 0


async def test_two_consumers_count_each_entry_once(r):
    h1, h2 = Counting(), Counting()
    c1 = consumer(r, h1, name="a", count=3)
    c2 = consumer(r, h2, name="b", count=3)
    await c1.poll_once()
    await c2.poll_once()
    await add(r, "s1", 20)
    await add(r, "s2", 10)
    for _ in range(6):
        await asyncio.gather(c1.poll_once(), c2.poll_once())
    got = h1.seen.get("s1", []) + h2.seen.get("s1", [])
    assert sorted(got, key=int) == [str(i) for i in range(20)]
    assert len(h1.seen.get("s2", []) + h2.seen.get("s2", [])) == 10
    assert h1.total() > 0 and h2.total() > 0


async def test_slow_consumer_and_reclaimer_apply_once(r):
    """Both hold the same entries; only the XACK that returns 1 applies them."""
    await r.xadd("s1", {"n": "x"})
    hold = asyncio.Event()
    h1, h2 = Counting(hold), Counting()
    c1 = consumer(r, h1, name="slow", claim_idle_ms=50)
    c2 = consumer(r, h2, name="fast", claim_idle_ms=50)
    await c1.poll_once()
    await add(r, "s1", 3)
    task = asyncio.create_task(c1.poll_once())
    await h1.prepared.wait()
    await asyncio.sleep(0.1)
    assert await c2.poll_once() == 3  # reclaimed and counted
    hold.set()
    assert await task == 0  # the slow one's acks return 0: nothing applied
    assert h1.total() == 0 and h2.total() == 3


async def test_trimmed_entries_are_counted_as_gap(r):
    registry = CollectorRegistry()
    metrics = MetricSet("anclora", registry, LabelGuard(100))
    h = Counting()
    c = consumer(r, h, streams=("s1",), metrics=metrics)
    await r.xadd("s1", {"n": "x"})
    await c.poll_once()
    await add(r, "s1", 5)
    await c.poll_once()
    await add(r, "s1", 30, 5)          # 30 unread entries ...
    await r.xtrim("s1", maxlen=10, approximate=False)  # 20 trimmed behind our back
    await c.poll_once()
    assert h.seen["s1"][5:] == [str(i) for i in range(25, 35)]
    assert c.gaps == {"s1": 20}
    val = lambda n: registry.get_sample_value(n, {"stream": "s1"})
    assert val("anclora_exporter_stream_gap_entries_total") == 20
    await c.poll_once()
    await add(r, "s1", 3, 35)
    await c.poll_once()
    assert c.gaps == {"s1": 20}  # counted once; Redis' own counters stay exact
    groups = await r.xinfo_groups("s1")
    assert groups[0]["lag"] == 0 and groups[0]["entries-read"] == 39
    await c.poll_once()  # lag/pending are measured before each read
    assert val("anclora_exporter_stream_lag_entries") == 0
    assert val("anclora_exporter_stream_pending_entries") == 0


async def test_run_survives_redis_outage(own_redis):
    r = Redis.from_url(own_redis.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    h = Counting()
    c = StreamConsumer(r, lambda: ["s1"], "g", "c1", h, block_ms=50)
    await r.xadd("s1", {"n": "x"})
    task = asyncio.create_task(c.run())
    try:
        await asyncio.sleep(0.2)
        own_redis.stop()
        await asyncio.sleep(0.6)
        own_redis.start()  # data is gone with the server (no persistence): a new stream
        assert not task.done()
        for i in range(3):
            await r.xadd("s1", {"n": str(i)})
        for _ in range(100):
            if h.total() == 3:
                break
            await asyncio.sleep(0.05)
        assert h.seen["s1"] == ["0", "1", "2"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await r.aclose()


async def test_a_key_that_is_not_a_stream_does_not_stall_the_others(r):
    await r.set("s2", "not a stream")
    await r.xadd("s1", {"n": "x"})
    h = Counting()
    c = consumer(r, h)
    await c.poll_once()
    await add(r, "s1", 2)
    assert await c.poll_once() == 2 and h.seen == {"s1": ["0", "1"]}


async def test_group_created_at_zero_reads_whole_stream(r):
    await add(r, "s1", 3)
    h = Counting()
    c = consumer(r, h, streams=("s1",), start_id="0")
    assert await c.poll_once() == 3
    assert (await r.xinfo_groups("s1"))[0]["entries-read"] == 3


async def test_deleted_and_recreated_stream_is_read_from_its_start(r):
    await r.xadd("s1", {"n": "x"})
    h = Counting()
    c = consumer(r, h, streams=("s1",))
    await c.poll_once()
    await add(r, "s1", 2)
    await c.poll_once()
    await r.delete("s1")  # e.g. Queue.obliterate(): the group goes with the key
    await add(r, "s1", 3, 2)
    for _ in range(3):
        await c.poll_once()
    assert h.seen["s1"] == ["0", "1", "2", "3", "4"]


async def test_shutdown_during_ack_still_applies_what_was_acked(r):
    await r.xadd("s1", {"n": "x"})
    h = Counting()
    c = consumer(r, h, streams=("s1",))
    await c.poll_once()
    await add(r, "s1", 3)
    task = None
    real_prepare = h.prepare

    async def prepare_then_shutdown(stream, entries):
        applier = await real_prepare(stream, entries)
        asyncio.get_running_loop().call_soon(task.cancel)  # lands while XACK is in flight
        return applier

    h.prepare = prepare_then_shutdown
    task = asyncio.create_task(c.poll_once())
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.1)
    assert h.seen["s1"] == ["0", "1", "2"]
    assert (await r.xpending("s1", "g"))["pending"] == 0

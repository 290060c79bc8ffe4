"""The events stream through a consumer group, against a real redis-server: exact counts,
malformed entries acked and counted, a consumer killed mid-batch loses and double counts
nothing, two consumers count each event once, restarts keep the position in Redis."""

import asyncio
import json

import pytest
import redis as redis_sync

from exporter import ingest
from exporter.app import Exporter
from exporter.config import Config
from tests.ingest_cases import CASES, NS

STREAM = "anclora:events"


@pytest.fixture
async def exporters(redis_url):
    made = []

    def make(name="c1", **options):
        e = Exporter(Config.defaults(redis_url=redis_url, consumer_name=name))
        options.setdefault("block_ms", 20)
        made.append(e)
        return e, ingest.stream_consumer(e, e.ingestor, **options)
    yield make
    for e in made:
        await e.stop()  # again for those a test closed: harmless


@pytest.fixture
def r(redis_url):
    c = redis_sync.Redis.from_url(redis_url)
    yield c
    c.close()


def add(r, events, stream=STREAM):
    pipe = r.pipeline()
    for e in events:
        pipe.xadd(stream, {"event": e if isinstance(e, (bytes, str)) else json.dumps(e)})
    pipe.execute()


def val(exporter, name, labels=()):
    return exporter.registry.get_sample_value(f"{NS}_{name}", dict(labels)) or 0


def read(exporter, etype):
    return val(exporter, "exporter_events_ingested_total", [("type", etype)])


async def drain(consumer, rounds=50):
    total = 0
    for _ in range(rounds):
        n = await consumer.poll_once()
        total += n
        if n == 0:
            return total
    return total


async def close(*exporters):
    for e in exporters:
        await e.stop()


async def test_every_case_through_the_stream(exporters, r):
    add(r, [e for e, _ in CASES.values()])  # written before the exporter starts
    exp, consumer = exporters()
    try:
        assert await drain(consumer) == len(CASES)
        for etype, (_, expected) in CASES.items():
            assert read(exp, etype) == 1
            for (name, labels), v in expected.items():
                assert val(exp, name, labels) == pytest.approx(v), name
        assert r.xpending(STREAM, "anclora-exporter")["pending"] == 0
        assert await checked_poll(consumer) == 0
        assert val(exp, "exporter_stream_pending_entries", [("stream", STREAM)]) == 0
        assert val(exp, "exporter_stream_lag_entries", [("stream", STREAM)]) == 0
    finally:
        await close(exp)


async def test_malformed_entries_are_acked_and_counted(exporters, r):
    add(r, [{"type": "message_read"}, b"{not json", b"\xff\xfe",
            {"type": "message_exploded"}, {"type": "conversion", "conversion_type": "sale"},
            {"type": "message_read"}])
    r.xadd(STREAM, {"other_field": "x"})
    exp, consumer = exporters()
    try:
        assert await drain(consumer) == 7
        assert val(exp, "analytics_messages_read_total") == 2
        for reason, n in (("malformed", 3), ("unknown_type", 1), ("missing_field", 1)):
            assert val(exp, "exporter_events_rejected_total", [("reason", reason)]) == n, reason
        assert r.xpending(STREAM, "anclora-exporter")["pending"] == 0
        assert await drain(consumer) == 0  # never retried
    finally:
        await close(exp)


class Stall:
    """Wraps a handler: prepares, then waits forever before the ack (until cancelled)."""

    def __init__(self, inner):
        self.inner, self.prepared = inner, asyncio.Event()

    async def prepare(self, stream, entries):
        apply = await self.inner.prepare(stream, entries)
        self.prepared.set()
        await asyncio.Event().wait()
        return apply


@pytest.mark.parametrize("restart_as", ["same-name", "other-replica"])
async def test_consumer_killed_between_prepare_and_ack_loses_and_doubles_nothing(
        exporters, r, restart_as):
    add(r, [{"type": "message_sent"}] * 30)
    exp1, c1 = exporters("c1", count=10, claim_idle_ms=100)
    c1.handler = Stall(c1.handler)
    task = asyncio.create_task(c1.poll_once())
    await asyncio.wait_for(c1.handler.prepared.wait(), 5)
    task.cancel()  # killed mid-batch: prepared, not acknowledged
    with pytest.raises(asyncio.CancelledError):
        await task
    assert read(exp1, "message_sent") == 0
    assert r.xpending(STREAM, "anclora-exporter")["pending"] == 10

    add(r, [{"type": "message_sent"}] * 5)  # more arrive while it is down
    name = "c1" if restart_as == "same-name" else "c2"
    exp2, c2 = exporters(name, count=10, claim_idle_ms=100)
    try:
        await asyncio.sleep(0.15)  # other-replica: the entries must be idle to be claimed
        assert await drain(c2) == 35
        assert read(exp2, "message_sent") == 35
        assert r.xpending(STREAM, "anclora-exporter")["pending"] == 0
        await asyncio.sleep(0.15)
        assert await drain(c2) == 0 and read(exp2, "message_sent") == 35
    finally:
        await close(exp1, exp2)


def slow_acks(consumer, acked: asyncio.Event, pause: float = 0.2) -> None:
    """After the consumer's acks reached Redis, set ``acked`` and hold the reply back for
    ``pause`` seconds: a window to cancel the consumer in."""
    real = consumer._ack

    async def ack(*args):
        result = await real(*args)
        acked.set()
        await asyncio.sleep(pause)
        return result
    consumer._ack = ack


async def test_cancel_during_ack_still_applies(exporters, r):
    add(r, [{"type": "message_read"}] * 5)
    exp, consumer = exporters()
    acked = asyncio.Event()
    slow_acks(consumer, acked)
    try:
        task = asyncio.create_task(consumer.poll_once())
        await asyncio.wait_for(acked.wait(), 5)
        task.cancel()  # the ack reached Redis: the apply must follow it
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0.3)
        assert r.xpending(STREAM, "anclora-exporter")["pending"] == 0
        assert val(exp, "analytics_messages_read_total") == 5
    finally:
        await close(exp)


async def test_two_consumers_count_each_event_once(exporters, r):
    n = 400
    add(r, [{"type": "message_delivered"}] * n)
    exp1, c1 = exporters("c1", count=25)
    exp2, c2 = exporters("c2", count=25)
    try:
        for _ in range(100):
            a, b = await asyncio.gather(c1.poll_once(), c2.poll_once())
            if a == b == 0:
                break
        one = val(exp1, "analytics_messages_delivered_total")
        two = val(exp2, "analytics_messages_delivered_total")
        assert one + two == n and one > 0 and two > 0
    finally:
        await close(exp1, exp2)


async def test_restart_neither_loses_nor_double_counts(exporters, r):
    add(r, [{"type": "lead_captured", "source": "web"}] * 7)
    exp1, c1 = exporters("c1")
    await drain(c1)
    assert read(exp1, "lead_captured") == 7
    await close(exp1)  # the exporter stops ...
    add(r, [{"type": "lead_captured", "source": "web"}] * 3)  # ... events keep coming
    exp2, c2 = exporters("c1")  # a new process: counters from zero, position from Redis
    try:
        await drain(c2)
        assert read(exp2, "lead_captured") == 3
        assert val(exp2, "business_leads_captured_total",
                   [("quality", "unknown"), ("source", "web")]) == 3
    finally:
        await close(exp2)


async def checked_poll(consumer) -> int:
    # lag, pending and gap are checked before a read (at most every STATS_EVERY s)
    await asyncio.sleep(getattr(consumer, "STATS_EVERY", 0) * 1.2)
    return await consumer.poll_once()


async def test_lag_and_pending_gauges(exporters, r):
    exp, consumer = exporters(count=10)
    try:
        r.xgroup_create(STREAM, "anclora-exporter", id="0", mkstream=True)
        add(r, [{"type": "message_read"}] * 25)
        r.xreadgroup("anclora-exporter", "other", {STREAM: ">"}, count=4)  # never acked
        assert await checked_poll(consumer) == 10  # measured before the read
        assert val(exp, "exporter_stream_lag_entries", [("stream", STREAM)]) == 21
        assert await checked_poll(consumer) == 10
        assert val(exp, "exporter_stream_lag_entries", [("stream", STREAM)]) == 11
        assert val(exp, "exporter_stream_pending_entries", [("stream", STREAM)]) == 4
        assert await checked_poll(consumer) == 1
        assert await checked_poll(consumer) == 0
        assert val(exp, "exporter_stream_lag_entries", [("stream", STREAM)]) == 0
        assert val(exp, "analytics_messages_read_total") == 21
    finally:
        await close(exp)


def trim_hard(r, n=10, maxlen=3):
    for _ in range(n):  # the app trims hard while the exporter is away or behind
        r.xadd(STREAM, {"event": json.dumps({"type": "message_read"})}, maxlen=maxlen,
               approximate=False)


GAP = ("exporter_stream_gap_entries_total", [("stream", STREAM)])


async def test_entries_trimmed_before_being_read_are_counted_as_a_gap(exporters, r):
    add(r, [{"type": "message_read"}] * 10)
    exp, consumer = exporters(count=2)
    try:
        assert await consumer.poll_once() == 2
        trim_hard(r)
        assert await checked_poll(consumer) == 2  # the check runs before the read
        assert val(exp, *GAP) == 15  # entries 3-17 were never read
        assert await checked_poll(consumer) == 1
        assert await checked_poll(consumer) == 0
        assert val(exp, *GAP) == 15  # counted once
        assert val(exp, "exporter_stream_lag_entries", [("stream", STREAM)]) == 0
        assert val(exp, "analytics_messages_read_total") == 5
    finally:
        await close(exp)


async def test_exporter_runs_the_stream_consumer_in_the_background(redis_url, r):
    exp = Exporter(Config.defaults(redis_url=redis_url))
    await exp.start()
    try:
        add(r, [{"type": "handoff"}] * 3)
        for _ in range(100):
            if read(exp, "handoff") == 3:
                break
            await asyncio.sleep(0.05)
        assert val(exp, "analytics_handoffs_total", [("reason", "unspecified")]) == 3
    finally:
        await exp.stop()


async def test_consumer_survives_redis_going_away_and_back(own_redis):
    exp = Exporter(Config.defaults(redis_url=own_redis.url, redis_timeout=0.5))
    consumer = ingest.stream_consumer(exp, exp.ingestor, block_ms=50)
    task = asyncio.create_task(consumer.run())
    c = redis_sync.Redis.from_url(own_redis.url)
    try:
        add(c, [{"type": "message_read"}] * 2)
        for _ in range(100):
            if val(exp, "analytics_messages_read_total") == 2:
                break
            await asyncio.sleep(0.05)
        own_redis.stop()
        await asyncio.sleep(0.5)  # the consumer fails, logs, backs off; it does not die
        assert not task.done()
        own_redis.start()  # an empty Redis: the group is created again
        add(c, [{"type": "message_read"}] * 3)
        for _ in range(300):  # within the consumer's backoff (it doubles while Redis is away)
            if val(exp, "analytics_messages_read_total") == 5:
                break
            await asyncio.sleep(0.05)
        assert val(exp, "analytics_messages_read_total") == 5
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        c.close()
        await exp.stop()


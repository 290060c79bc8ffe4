"""The events stream through a consumer group, against a real redis-server: exact counts,
malformed entries acked and counted, a consumer killed mid-batch loses and double counts
nothing, two consumers count each event once, restarts keep the position in Redis."""

import asyncio
import json

import pytest
import redis as redis_sync

from exporter.app import Exporter
from exporter.config import Config
from tests.ingest_cases import CASES, NS
from tests.support.streams import drain, val

STREAM = "anclora:events"


def add(r, events, stream=STREAM):
    pipe = r.pipeline()
    for e in events:
        pipe.xadd(stream, {"event": e if isinstance(e, (bytes, str)) else json.dumps(e)})
    pipe.execute()


def read(exporter, etype):
    return val(exporter, "exporter_events_ingested_total", [("type", etype)])


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
    consumer = exp.events_consumer(block_ms=50)
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



# --- issue 9: poison entries, cache eviction, payload memory ------------------------------

def rejected(exporter, reason=None):
    if reason is not None:
        return val(exporter, "exporter_events_rejected_total", [("reason", reason)])
    return sum(s.value for m in exporter.registry.collect() for s in m.samples
               if s.name == f"{NS}_exporter_events_rejected_total")


def ingested(exporter):
    return sum(s.value for m in exporter.registry.collect() for s in m.samples
               if s.name == f"{NS}_exporter_events_ingested_total")


async def test_cache_eviction_in_the_middle_of_a_batch_loses_nothing(exporters, r,
                                                                     monkeypatch):
    """Item 1: the cache of resolved payloads filled up in the middle of a batch whose
    other payloads prepare had found in it: they must still be applied."""
    monkeypatch.setattr("exporter.ingest.core.Ingestor.RESOLVED_LIMIT", 3)
    known = [{"type": "response_time", "seconds": 0.1 * i} for i in range(1, 4)]
    exp, consumer = exporters(count=100)
    try:
        add(r, known)
        assert await drain(consumer) == 3  # the cache is now full of these three
        fresh = [{"type": "response_time", "seconds": 1.0 + i} for i in range(5)]
        add(r, fresh + known * 2)  # new payloads first: they evict while the batch applies
        assert await drain(consumer) == 11
        assert read(exp, "response_time") == 14
        assert rejected(exp) == 0
        assert val(exp, "analytics_response_time_seconds_count") == 14
        assert val(exp, "analytics_response_time_seconds_sum") == pytest.approx(
            3 * (0.1 + 0.2 + 0.3) + sum(1.0 + i for i in range(5)))
    finally:
        await close(exp)


DEEP = '{"type":"message_read","ts":' + "[" * 1000 + "]" * 1000 + "}"
HUGE = json.dumps({"type": "response_time", "seconds": int("9" * 400)})


@pytest.mark.parametrize("poison", [DEEP, HUGE], ids=["1000-levels-deep", "400-digit-number"])
async def test_a_poison_entry_costs_only_itself(exporters, r, poison):
    """Item 3: a poison entry at the head of a 500-entry batch: 499 applied, 1 rejected."""
    add(r, [poison] + [{"type": "message_sent", "message_type": "text"}] * 250
        + [{"type": "response_time", "seconds": 0.5 + i / 1000} for i in range(249)])
    exp, consumer = exporters(count=500)
    try:
        assert await drain(consumer) == 500
        assert read(exp, "message_sent") == 250 and read(exp, "response_time") == 249
        assert ingested(exp) == 499
        assert rejected(exp) == 1
        if poison is DEEP:
            assert rejected(exp, "malformed") == 1
        assert r.xpending(STREAM, "anclora-exporter")["pending"] == 0
    finally:
        await close(exp)


async def test_an_action_that_raises_costs_only_its_payload(exporters, r, monkeypatch):
    """Item 3, whatever validation lets through: an action raising after the ack is counted
    internal_error for that payload's entries only."""
    from exporter.ingest import schema
    real = schema.validate
    monkeypatch.setattr(schema, "validate", lambda e: e if e.get("x") else real(e))
    add(r, [{"type": "response_time", "seconds": int("9" * 400), "x": 1}] * 3
        + [{"type": "message_read"}] * 7)
    exp, consumer = exporters(count=500)
    try:
        assert await drain(consumer) == 10
        assert read(exp, "message_read") == 7 and read(exp, "response_time") == 0
        assert rejected(exp, "internal_error") == 3
        add(r, [{"type": "response_time", "seconds": int("9" * 400), "x": 1}])
        assert await drain(consumer) == 1  # once more: not remembered as a good payload
        assert rejected(exp, "internal_error") == 4 and ingested(exp) == 7
    finally:
        await close(exp)


async def test_payloads_are_not_kept_in_memory_once_applied(exporters, r):
    """Item 13: 100 distinct 100 KB payloads (JSON padded with spaces) must not stay in the
    ingest cache: it keeps what they resolve to, not the payloads."""
    import gc
    import tracemalloc
    exp, consumer = exporters(count=20)
    try:
        add(r, [{"type": "message_read"}])
        await drain(consumer)  # warm up: group, scripts, metric children
        add(r, ['{"type":"message_read"' + " " * (100_000 + i) + "}" for i in range(100)])
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            assert await drain(consumer) == 100
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert read(exp, "message_read") == 101
        assert grown < 1_000_000, f"{grown} bytes kept after ingesting 10 MB of payloads"
    finally:
        await close(exp)

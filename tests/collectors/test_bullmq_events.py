"""Counting from BullMQ's events streams, against a real Worker on a real redis-server."""

from __future__ import annotations

import asyncio

import pytest
import redis as redis_sync
from bullmq import Worker

from exporter.app import Exporter
from exporter.collectors.bullmq_events import error_type
from exporter.config import Config
from tests.collectors.bullmq_support import close_worker, opts, queue, wait_until
from tests.support.scrape import samples


def exporter_for(url: str, name: str = "replica-1", count: int = 500) -> Exporter:
    exp = Exporter(Config.defaults(redis_url=url, redis_timeout=1.0, queues=("ev",),
                                   consumer_name=name, stream_claim_idle=0.1))
    exp.bullmq_events.consumer.block_ms = 20  # tests poll by hand; no need to wait
    exp.bullmq_events.consumer.count = count
    return exp


def value(exp: Exporter, metric: str, **labels) -> float:
    labels = labels if "stream" in labels else {"queue": "ev", **labels}
    return exp.registry.get_sample_value(f"anclora_{metric}", labels) or 0.0


async def drain(*exps: Exporter, rounds: int = 3) -> None:
    for _ in range(rounds):
        for e in exps:
            await e.bullmq_events.poll_once()


@pytest.mark.parametrize("reason,expected", [
    ("ETIMEDOUT", "timeout"), ("Request timed out after 30s", "timeout"),
    ("getaddrinfo ENOTFOUND graph.facebook.com", "network"),
    ("connect ECONNREFUSED 127.0.0.1:443", "network"),
    ("(#130429) Rate limit hit", "rate_limited"), ("HTTP 429 Too Many Requests", "rate_limited"),
    ("Request failed with status code 401", "auth"), ("Invalid OAuth access token", "auth"),
    ("Request failed with status code 404", "not_found"),
    ("Request failed with status code 400", "validation"), ("phone is required", "validation"),
    ("Request failed with status code 503", "server_error"),
    ("job stalled more than allowable limit", "stalled"),
    ("Cannot read properties of undefined", "other"), ("", "other"), (None, "other"),
])
def test_error_type_is_a_closed_class(reason, expected):
    assert error_type(reason) == expected


async def test_worker_outcomes_counted_once_across_restart(redis_url):
    done: list[str] = []

    async def process(job, token):
        done.append(job.name)
        if job.name == "bad_timeout":
            raise Exception("ETIMEDOUT calling graph.facebook.com")
        if job.name == "bad_auth":
            raise Exception("Request failed with status code 401")
        await asyncio.sleep(0.01)
        return "ok"

    exp1 = exporter_for(redis_url)
    async with queue(redis_url, "ev") as q:
        await q.add("warmup", {})  # before the group: its `added` is history
        await drain(exp1, rounds=1)
        for p in (0, 0, 1):
            await q.add("send_text", {}, {"priority": p})
        await q.add("bad_timeout", {}, {"attempts": 2})
        await q.add("bad_auth", {}, {"attempts": 3})
        w = Worker("ev", process, opts(redis_url))

        async def settled():
            c = await q.getJobCounts("completed", "failed")
            return c["completed"] == 4 and c["failed"] == 2
        await wait_until(settled)
        await drain(exp1)
        assert value(exp1, "queue_messages_processed_total", message_type="send_text") == 3
        assert value(exp1, "queue_messages_processed_total", message_type="warmup") == 1
        # `failed` is the final failure: 2 jobs, 5 attempts in all.
        assert done.count("bad_timeout") + done.count("bad_auth") == 5
        assert value(exp1, "queue_messages_failed_total", message_type="bad_timeout",
                     error_type="timeout") == 1
        assert value(exp1, "queue_messages_failed_total", message_type="bad_auth",
                     error_type="auth") == 1
        assert value(exp1, "bullmq_events_read_total", event="retries-exhausted") == 2
        assert value(exp1, "queue_messages_total", priority="normal",
                     message_type="send_text") == 2
        assert value(exp1, "queue_messages_total", priority="critical",
                     message_type="send_text") == 1
        assert value(exp1, "queue_messages_total", priority="normal",
                     message_type="warmup") == 0
        assert value(exp1, "queue_processing_duration_seconds_count", message_type="send_text",
                     priority="normal") == 2
        assert 0.005 < value(exp1, "queue_processing_duration_seconds_sum",
                             message_type="send_text", priority="critical") < 5
        assert value(exp1, "exporter_stream_gap_entries_total") == 0

        # Restart: a new exporter process on the same group sees only what came later.
        await exp1.stop()
        for _ in range(4):
            await q.add("send_text", {})
        await wait_until(lambda: _completed(q, 8))
        exp2 = exporter_for(redis_url)
        await drain(exp2)
        assert value(exp2, "queue_messages_processed_total", message_type="send_text") == 4
        assert value(exp2, "queue_messages_total", priority="normal",
                     message_type="send_text") == 4
        await close_worker(w)
        await exp2.stop()


async def _completed(q, n):
    return (await q.getJobCounts("completed"))["completed"] >= n


async def test_two_replicas_count_each_event_once(redis_url):
    exps = [exporter_for(redis_url, f"replica-{i}", count=7) for i in (1, 2)]
    async with queue(redis_url, "ev") as q:
        await q.add("warmup", {})
        await drain(*exps, rounds=1)
        w = Worker("ev", lambda job, token: asyncio.sleep(0), opts(redis_url))
        for _ in range(30):
            await q.add("send_text", {})
        await wait_until(lambda: _completed(q, 31))
        await close_worker(w)
    for _ in range(20):
        await asyncio.gather(*(e.bullmq_events.poll_once() for e in exps))
    processed = [value(e, "queue_messages_processed_total", message_type="send_text")
                 for e in exps]
    added = [value(e, "queue_messages_total", priority="normal", message_type="send_text")
             for e in exps]
    assert sum(processed) == 30 and sum(added) == 30
    assert all(p > 0 for p in processed)  # both replicas did part of the work
    for e in exps:
        await e.stop()


async def test_malformed_and_orphan_events_are_counted_not_fatal(redis_url):
    exp = exporter_for(redis_url)
    r = redis_sync.Redis.from_url(redis_url)
    r.hset("bull:ev:meta", "opts.maxLenEvents", 10000)
    r.xadd("bull:ev:events", {"event": "drained"})
    await drain(exp, rounds=1)
    r.xadd("bull:ev:events", {"event": "completed"})                  # no jobId
    r.xadd("bull:ev:events", {"foo": "bar"})                          # no event
    r.xadd("bull:ev:events", {"event": "brand-new-event", "jobId": "1"})
    r.xadd("bull:ev:events", {"event": "completed", "jobId": "gone"})  # hash removed
    r.xadd("bull:ev:events", {"event": "failed", "jobId": "gone2", "failedReason": "x" * 5000})
    r.set("bull:ev:7", "not a hash")
    r.xadd("bull:ev:events", {"event": "completed", "jobId": "7"})    # WRONGTYPE job key
    r.close()
    await drain(exp)
    assert value(exp, "bullmq_events_malformed_total") == 2
    assert value(exp, "bullmq_events_read_total", event="other") == 2
    assert value(exp, "bullmq_events_read_total", event="completed") == 3
    assert value(exp, "queue_messages_processed_total", message_type="unknown") == 2
    assert value(exp, "queue_messages_failed_total", message_type="unknown",
                 error_type="other") == 1
    await exp.stop()


async def test_running_exporter_serves_bullmq_metrics_over_http(own_redis):
    from aiohttp.test_utils import TestClient, TestServer

    from exporter.server import make_app

    exp = Exporter(Config.defaults(redis_url=own_redis.url, redis_timeout=0.5,
                                   consumer_name="http"))  # discovery, background reader
    client = TestClient(TestServer(make_app(exp)))
    await client.start_server()
    try:
        async with queue(own_redis.url, "ev") as q:
            await q.add("warmup", {})
            await exp.start()
            s = samples(await (await client.get("/metrics")).text())
            assert s[("anclora_exporter_queues_discovered", ())] == 1
            await wait_until(lambda: _group_exists(exp))
            for _ in range(3):
                await q.add("send_text", {})
            w = Worker("ev", lambda job, token: asyncio.sleep(0), opts(own_redis.url))
            await wait_until(lambda: _completed(q, 4))
            await close_worker(w)

        async def counted():
            return value(exp, "queue_messages_processed_total", message_type="send_text") == 3
        await wait_until(counted)
        s = samples(await (await client.get("/metrics")).text())
        key = ("anclora_queue_messages_processed_total",
               (("message_type", "send_text"), ("queue", "ev")))
        assert s[key] == 3
        assert s[("anclora_bullmq_jobs", (("queue", "ev"), ("state", "completed")))] == 4
        assert s[("anclora_exporter_scrape_collector_success", (("collector", "bullmq"),))] == 1

        own_redis.stop()
        r = await client.get("/metrics")
        s = samples(await r.text())
        assert r.status == 200
        assert s[("anclora_exporter_queue_up", (("queue", "ev"),))] == 0
        assert s[("anclora_exporter_scrape_collector_success", (("collector", "bullmq"),))] == 0
        assert s[key] == 3  # counters survive the outage
        await asyncio.sleep(0.3)
        assert all(not t.done() for t in exp._tasks)  # the reader outlives the outage
    finally:
        await client.close()
        await exp.stop()


async def _group_exists(exp: Exporter) -> bool:
    try:
        return bool(await exp.redis.xinfo_groups("bull:ev:events"))
    except Exception:  # noqa: BLE001 - stream not there yet
        return False


async def test_events_trimmed_before_reading_are_counted_as_gap(redis_url):
    exp = exporter_for(redis_url)
    async with queue(redis_url, "ev") as q:
        await q.add("warmup", {})
        await drain(exp, rounds=1)
        for _ in range(10):
            await q.add("send_text", {})  # 20 entries: added + waiting per job
        await q.trimEvents(6)  # BullMQ's own trim (approximate: may keep more)
        r = redis_sync.Redis.from_url(redis_url)
        r.xtrim("bull:ev:events", maxlen=6, approximate=False)
        r.close()
    await drain(exp)
    assert value(exp, "exporter_stream_gap_entries_total", stream="ev") == 14
    assert value(exp, "bullmq_events_read_total", event="added") == 3
    await exp.stop()

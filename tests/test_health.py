"""The six health checks on a real redis-server: healthy, degraded and unhealthy paths,
timeouts, concurrency, and their metrics."""

import asyncio
import contextlib
import logging
import time

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from exporter import health
from exporter.app import Exporter
from exporter.config import Config
from exporter.health import DEGRADED, HEALTHY, UNHEALTHY, Check, CheckResult, Health
from exporter.server import make_app


def exporter_for(url, **over) -> Exporter:
    # The memory check reads this process: pytest and every test it ran before, past 256 MiB
    # late in a run. Its thresholds are set per test where the check is the subject.
    return Exporter(Config.defaults(**{"redis_url": url, "redis_timeout": 0.5,
                                       "health_timeout": 1.0,
                                       "health_rss_degraded": 16 << 30,
                                       "health_rss_unhealthy": 32 << 30, **over}))


@contextlib.asynccontextmanager
async def running(url, start=False, **over):
    """An exporter for the test (its background tasks started when ``start``), always stopped."""
    ex = exporter_for(url, **over)
    try:
        if start:
            await ex.start()
        yield ex
    finally:
        await ex.stop()


async def test_all_six_checks_healthy(redis_url):
    ex = exporter_for(redis_url)
    try:
        report = await ex.health.run()
        assert report["status"] == HEALTHY, report["checks"]
        assert set(report["checks"]) == {"redis", "analytics_redis", "queue", "memory",
                                         "event_loop", "disk"}
        for name, r in report["checks"].items():
            assert r["status"] == HEALTHY, (name, r)
            assert r["latency_ms"] >= 0
        assert report["checks"]["redis"]["detail"]["uptime_seconds"] >= 0
        assert report["checks"]["memory"]["detail"]["exporter_rss_bytes"] > 1_000_000
        assert 0 < report["checks"]["disk"]["detail"]["used_ratio"] < 1
    finally:
        await ex.stop()


async def test_thresholds_degrade_and_fail(redis_url):
    # Disk used share is > 0 and RSS > 1 byte on any machine: tiny thresholds trip them.
    ex = exporter_for(redis_url, health_disk_degraded=0.0, health_disk_unhealthy=0.999999,
                      health_rss_degraded=1, health_rss_unhealthy=2)
    try:
        report = await ex.health.run()
        assert report["checks"]["disk"]["status"] == DEGRADED
        assert report["checks"]["memory"]["status"] == UNHEALTHY
        assert report["status"] == UNHEALTHY  # memory is critical
    finally:
        await ex.stop()


async def test_disk_alone_only_degrades(redis_url):
    ex = exporter_for(redis_url, health_disk_degraded=0.0, health_disk_unhealthy=0.0)
    try:
        report = await ex.health.run()
        assert report["checks"]["disk"]["status"] == UNHEALTHY
        assert report["status"] == DEGRADED  # disk is not critical: the exporter still serves
    finally:
        await ex.stop()


async def test_app_reported_heap_is_checked(redis_url):
    ex = exporter_for(redis_url)
    try:
        ex.gauges.set("app_heap_used_bytes", 900 * 2**20, service="bot")
        r = (await ex.health.run())["checks"]["memory"]
        assert r["status"] == DEGRADED and r["detail"]["app_heap_used_bytes"] == {"bot": 900 * 2**20}
        ex.gauges.set("app_heap_used_bytes", 1.5 * 2**30, service="bot")
        report = await ex.health.run()  # the app's heap never makes the exporter unhealthy
        assert report["checks"]["memory"]["status"] == DEGRADED
        assert report["status"] == DEGRADED
    finally:
        await ex.stop()


async def test_queue_check_uses_job_counts(redis_url):
    ex = exporter_for(redis_url, health_queue_waiting_degraded=10)

    async def job_counts():  # as BullMQCollector.job_counts reports them
        return {"messages": {"waiting": 8, "prioritized": 4, "active": 1, "failed": 2,
                             "completed": 5}}

    ex.bullmq.job_counts = job_counts
    try:
        r = (await ex.health.run())["checks"]["queue"]
        assert r["status"] == DEGRADED
        assert r["detail"]["waiting_total"] == 12
        assert r["detail"]["queues"]["messages"] == {"waiting": 8, "active": 1, "completed": 5,
                                                      "failed": 2}
    finally:
        await ex.stop()


async def test_event_loop_lag_is_measured_and_checked(redis_url):
    ex = exporter_for(redis_url, health_loop_lag_degraded=0.1, health_loop_lag_unhealthy=5)
    await ex.start()
    try:
        await asyncio.sleep(0.1)
        time.sleep(0.8)  # block the loop past the monitor's 0.5 s wake-up: >= 0.3 s late
        await asyncio.sleep(0.7)
        assert 0.25 < ex.loop_lag.current() < 1.5
        r = (await ex.health.run())["checks"]["event_loop"]
        assert r["status"] == DEGRADED and r["detail"]["lag_ms"] > 250
    finally:
        await ex.stop()


def test_loop_lag_window_forgets_old_stalls():
    from exporter.loop_lag import LoopLagMonitor
    m = LoopLagMonitor("anclora", window=10)
    m.record(2.0, now=100)
    m.record(0.01, now=105)
    assert m.current() == 2.0
    m.record(0.02, now=111)
    assert m.current() == 0.02


async def test_redis_down_is_unhealthy_and_analytics_too(own_redis):
    ex = exporter_for(own_redis.url)
    try:
        own_redis.stop()
        report = await ex.health.run()
        assert report["status"] == UNHEALTHY
        assert report["checks"]["redis"]["status"] == UNHEALTHY
        assert report["checks"]["analytics_redis"]["status"] == UNHEALTHY
        assert report["checks"]["disk"]["status"] == HEALTHY
    finally:
        await ex.stop()


async def test_slow_redis_times_out_within_budget(own_redis):
    ex = Exporter(Config.defaults(redis_url=own_redis.url, redis_timeout=5, health_timeout=0.3))
    blocker = aioredis.Redis.from_url(own_redis.url)
    try:
        sleeper = asyncio.create_task(blocker.execute_command("DEBUG", "SLEEP", "1.5"))
        await asyncio.sleep(0.1)
        start = time.perf_counter()
        report = await ex.health.run()
        took = time.perf_counter() - start
        assert report["checks"]["redis"]["status"] == UNHEALTHY
        assert "timed out" in report["checks"]["redis"]["detail"]["error"]
        assert took < 1.0, f"/health took {took:.2f}s while Redis slept 1.5s"
        await sleeper
    finally:
        await blocker.aclose()
        await ex.stop()


async def test_checks_run_concurrently():
    async def slow():
        await asyncio.sleep(0.3)
        return CheckResult(HEALTHY)
    h = Health([Check("a", slow), Check("b", slow), Check("c", slow)], timeout=2)
    start = time.perf_counter()
    report = await h.run()
    assert time.perf_counter() - start < 0.55  # ~0.3 s together, 0.9 s one after another
    assert report["status"] == HEALTHY


async def test_a_raising_check_is_unhealthy_without_its_message():
    async def boom():
        raise RuntimeError("secret detail")
    h = Health([Check("a", boom, critical=False)], timeout=1)
    report = await h.run()
    assert report["status"] == DEGRADED
    assert report["checks"]["a"]["detail"] == {"error": "RuntimeError"}


@pytest.mark.parametrize("value,expected", [(0.5, HEALTHY), (0.85, HEALTHY), (0.9, DEGRADED),
                                            (0.96, UNHEALTHY)])
def test_graded(value, expected):
    assert health.graded(value, 0.85, 0.95) == expected


async def test_health_metrics_in_scrape(redis_url):
    ex = exporter_for(redis_url, health_disk_degraded=0.0)
    client = TestClient(TestServer(make_app(ex)))
    await client.start_server()
    try:
        r = await client.get("/health")
        assert r.status == 200 and (await r.json())["status"] == DEGRADED
        await client.get("/metrics")
        get = ex.registry.get_sample_value
        assert get("anclora_health_check_status", {"check": "disk"}) == 0.5
        assert get("anclora_health_check_status", {"check": "redis"}) == 1.0
        assert get("anclora_health_check_duration_seconds", {"check": "redis"}) > 0
    finally:
        await client.close()
        await ex.stop()


@contextlib.contextmanager
def health_log():
    """The records of the ``anclora.health`` logger, read at its own handler: caplog sees
    them once or twice depending on whether an earlier test ran logs.setup() (pytest also
    attaches its handler to a logger that does not propagate)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append
    logger = logging.getLogger("anclora.health")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_transitions_are_logged_once(redis_url):
    ex = exporter_for(redis_url)
    try:
        with health_log() as records:
            await ex.health.run()
            await ex.health.run()
        changes = [r for r in records if r.getMessage() == "health changed"]
        assert len(changes) == 1 and changes[0].to == HEALTHY
    finally:
        await ex.stop()


async def test_redis_down_over_http_is_503_with_every_checks_latency(own_redis):
    ex = exporter_for(own_redis.url)
    client = TestClient(TestServer(make_app(ex)))
    await client.start_server()
    try:
        own_redis.stop()
        r = await client.get("/health")
        body = await r.json()
        assert r.status == 503 and body["status"] == UNHEALTHY
        assert body["checks"]["redis"]["status"] == UNHEALTHY
        assert body["checks"]["redis"]["critical"] is True
        assert body["checks"]["redis"]["detail"]["error"] in ("ConnectionError", "TimeoutError")
        for name, check in body["checks"].items():
            assert 0 <= check["latency_ms"] < 1500, (name, check)  # within the 1 s budget
    finally:
        await client.close()
        await ex.stop()


async def test_missing_disk_path_is_unhealthy_but_only_degrades(redis_url):
    async with running(redis_url, disk_path="/no/such/path") as ex:
        report = await ex.health.run()
        assert report["checks"]["disk"] == {**report["checks"]["disk"], "status": UNHEALTHY,
                                            "detail": {"error": "FileNotFoundError"}}
        assert report["status"] == DEGRADED


async def test_memory_detail_carries_the_python_heap(redis_url):
    async with running(redis_url) as ex:
        detail = (await ex.health.run())["checks"]["memory"]["detail"]
        assert detail["python_allocated_blocks"] > 10_000  # any running interpreter has more
        assert detail["app_heap_used_bytes"] == {}


async def test_poller_keeps_health_metrics_current_without_requests(redis_url):
    async with running(redis_url, start=True, health_interval=0.1,
                       health_disk_degraded=0.0) as ex:
        await asyncio.sleep(0.3)
        get = ex.registry.get_sample_value
        assert get("anclora_health_check_status", {"check": "redis"}) == 1.0
        assert get("anclora_health_check_status", {"check": "disk"}) == 0.5
        assert ex.health.last["status"] == DEGRADED


def test_no_poller_when_interval_is_zero(redis_url):
    ex = exporter_for(redis_url, health_interval=0)
    assert not any(isinstance(w, health.HealthPoller) for w in ex.background)


async def test_ready_does_not_wait_for_a_slow_first_scrape(redis_url):
    ex = exporter_for(redis_url, health_timeout=0.3)

    class Slow:
        name = "slow"

        async def collect(self):
            await asyncio.sleep(0.6)
            return []

    ex.runner.collectors.append(Slow())
    client = TestClient(TestServer(make_app(ex)))
    await client.start_server()
    try:
        start = time.perf_counter()
        r = await client.get("/health/ready")
        took = time.perf_counter() - start
        assert r.status == 503 and (await r.json())["reason"] == "first scrape still running"
        assert took < 0.55, f"ready took {took:.2f}s with a 0.3 s budget"
        await asyncio.sleep(0.5)  # the scrape the probe started has finished meanwhile
        r = await client.get("/health/ready")
        assert r.status == 200 and (await r.json())["reason"] == "ok"
        assert ex.runner.scrapes == 1  # the second probe reused the first one's scrape
    finally:
        await client.close()
        await ex.stop()


def test_degraded_threshold_above_unhealthy_is_a_config_error():
    from exporter.config import ConfigError
    with pytest.raises(ConfigError, match="ANCLORA_HEALTH_DISK_DEGRADED_RATIO=0.99 is above "
                                          "ANCLORA_HEALTH_DISK_UNHEALTHY_RATIO=0.95"):
        Config.from_env({"ANCLORA_HEALTH_DISK_DEGRADED_RATIO": "0.99"})


async def test_two_exporters_on_one_analytics_redis_do_not_collide(redis_url):
    async with running(redis_url) as a, running(redis_url) as b:
        for _ in range(3):
            ra, rb = await asyncio.gather(a.health.run(), b.health.run())
            assert ra["checks"]["analytics_redis"]["status"] == HEALTHY
            assert rb["checks"]["analytics_redis"]["status"] == HEALTHY
        keys = await a.redis.keys("anclora:health:analytics:*")
        assert len(keys) == 2
        for k in keys:
            assert 0 < await a.redis.ttl(k) <= 60


async def test_queue_check_without_bullmq_is_healthy_and_unreadable_counts_unhealthy(redis_url):
    async with running(redis_url) as ex:
        r = (await ex.health.run())["checks"]["queue"]
        assert r["status"] == HEALTHY and r["detail"]["queues"] == {}
        assert r["detail"]["waiting_total"] == 0

        async def broken():  # the BullMQ read fails
            raise ConnectionError("redis went away")

        ex.bullmq.job_counts = broken
        report = await ex.health.run()
        assert report["checks"]["queue"]["status"] == UNHEALTHY
        assert report["checks"]["queue"]["detail"] == {"error": "ConnectionError"}
        assert report["status"] == DEGRADED  # queue is not critical


async def test_each_transition_logged_once_warn_when_worse_info_when_back():
    states = iter([HEALTHY, DEGRADED, DEGRADED, UNHEALTHY, HEALTHY, HEALTHY])

    async def flapping():
        return CheckResult(next(states))

    h = Health([Check("a", flapping)], timeout=1)
    with health_log() as records:
        for _ in range(6):
            await h.run()
    changes = [(r.levelname, r.__dict__["from"], r.to) for r in records
               if r.getMessage() == "health changed"]
    assert changes == [("info", None, HEALTHY), ("warn", HEALTHY, DEGRADED),
                       ("warn", DEGRADED, UNHEALTHY), ("info", UNHEALTHY, HEALTHY)]


async def test_queue_check_reads_real_bullmq_queues(redis_url):
    from bullmq import Queue
    q = Queue("health-q", {"connection": redis_url})
    try:
        await q.add("send", {"to": "x"})
        await q.add("send", {"to": "y"}, {"priority": 2})
        await q.add("later", {}, {"delay": 60_000})
        expected = await q.getJobCounts()
        ex = exporter_for(redis_url)
        try:
            r = (await ex.health.run())["checks"]["queue"]
            assert r["status"] == HEALTHY
            assert r["detail"]["queues"]["health-q"] == {
                s: expected[s] for s in ("waiting", "active", "completed", "failed")}
            assert r["detail"]["waiting_total"] == expected["waiting"] + expected["prioritized"] == 2
        finally:
            await ex.stop()
    finally:
        await q.obliterate(force=True)
        await q.close()

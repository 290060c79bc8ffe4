"""Health checks: run concurrently, each within a timeout, summarised for /health.

A check is an async function returning ``CheckResult``; a check that raises or runs out
of time is unhealthy with the reason as its detail. Overall status: unhealthy when any
critical check is unhealthy, degraded when any check is not healthy, else healthy.
Every run also updates ``health_check_status{check}`` and ``health_check_duration_seconds``.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import psutil

from .collectors.system import disk_usage
from .logs import get_logger

log = get_logger("health")

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"
STATUS_VALUE = {HEALTHY: 1.0, DEGRADED: 0.5, UNHEALTHY: 0.0}


@dataclass
class CheckResult:
    status: str
    detail: dict = field(default_factory=dict)


@dataclass
class Check:
    name: str
    run: Callable[[], Awaitable[CheckResult]]
    critical: bool = True  # an unhealthy critical check makes the whole service unhealthy


class Health:
    def __init__(self, checks: list[Check], timeout: float, metrics=None):
        self.checks = checks
        self.timeout = timeout
        self.metrics = metrics  # a MetricSet, or None in tests that only want the report
        self.last: dict | None = None
        self._status: str | None = None

    async def _one(self, check: Check) -> dict:
        start = time.perf_counter()
        try:
            result = await asyncio.wait_for(check.run(), self.timeout)
        except asyncio.TimeoutError:
            result = CheckResult(UNHEALTHY, {"error": f"timed out after {self.timeout}s"})
        except Exception as e:  # noqa: BLE001 - a broken check is reported, not raised
            result = CheckResult(UNHEALTHY, {"error": type(e).__name__})
        seconds = time.perf_counter() - start
        if self.metrics is not None:
            self.metrics.set("health_check_status", STATUS_VALUE[result.status], check=check.name)
            self.metrics.set("health_check_duration_seconds", seconds, check=check.name)
        return {"status": result.status, "latency_ms": round(seconds * 1000, 2),
                "critical": check.critical, "detail": result.detail}

    async def run(self) -> dict:
        results = await asyncio.gather(*(self._one(c) for c in self.checks))
        by_name = {c.name: r for c, r in zip(self.checks, results)}
        if any(r["status"] == UNHEALTHY and r["critical"] for r in results):
            status = UNHEALTHY
        elif any(r["status"] != HEALTHY for r in results):
            status = DEGRADED
        else:
            status = HEALTHY
        self.last = {"status": status, "timestamp": time.time(), "checks": by_name}
        if status != self._status:  # log transitions once, not every request
            failing = sorted(n for n, r in by_name.items() if r["status"] != HEALTHY)
            level = log.info if status == HEALTHY else log.warning
            level("health changed", extra={"from": self._status, "to": status,
                                           "failing": failing})
            self._status = status
        return self.last


class HealthPoller:
    """Runs the checks every ``interval`` seconds, so ``health_check_status`` in /metrics
    and the transition log stay current even when nothing polls /health."""

    def __init__(self, health: Health, interval: float):
        self.health, self.interval = health, interval

    async def run(self) -> None:
        while True:
            try:
                await self.health.run()  # check failures are results; this guards the rest
            except Exception as e:  # noqa: BLE001 - the poller must outlive one bad round
                log.warning("health poll failed", extra={"error": type(e).__name__})
            await asyncio.sleep(self.interval)


def graded(value: float, degraded: float, unhealthy: float) -> str:
    """healthy below ``degraded``, degraded up to ``unhealthy``, unhealthy above it."""
    if value > unhealthy:
        return UNHEALTHY
    return DEGRADED if value > degraded else HEALTHY


def worst(*statuses: str) -> str:
    return min(statuses, key=lambda s: STATUS_VALUE[s])


# --- the six checks ---------------------------------------------------------------------

def redis_check(redis) -> Check:
    """The BullMQ Redis answers PING; detail carries its uptime."""

    async def run() -> CheckResult:
        start = time.perf_counter()
        await redis.ping()
        ping_ms = round((time.perf_counter() - start) * 1000, 2)
        info = await redis.info("server")
        return CheckResult(HEALTHY, {"ping_ms": ping_ms,
                                     "uptime_seconds": int(info.get("uptime_in_seconds", 0))})

    return Check("redis", run)


def analytics_redis_check(redis) -> Check:
    """The analytics Redis answers and keeps what is written: SET with a TTL, GET back."""
    # Random per exporter: replicas in containers all run as pid 1, and two replicas
    # writing one key would read each other's token back and report a false failure.
    key = f"anclora:health:analytics:{secrets.token_hex(8)}"

    async def run() -> CheckResult:
        start = time.perf_counter()
        await redis.ping()
        token = secrets.token_hex(8)
        await redis.set(key, token, ex=60)
        back = await redis.get(key)
        ms = round((time.perf_counter() - start) * 1000, 2)
        if (back.decode() if isinstance(back, bytes) else back) != token:
            return CheckResult(UNHEALTHY, {"error": "value read back differs", "round_trip_ms": ms})
        return CheckResult(HEALTHY, {"round_trip_ms": ms})

    return Check("analytics_redis", run, critical=False)


def queue_check(job_counts: Callable[[], Awaitable[dict]], waiting_degraded: int) -> Check:
    """Job counts per queue; degraded when too many jobs wait in all queues together."""

    async def run() -> CheckResult:
        counts = await job_counts()
        detail = {q: {s: c.get(s, 0) for s in ("waiting", "active", "completed", "failed")}
                  for q, c in counts.items()}
        waiting = sum(c.get("waiting", 0) + c.get("prioritized", 0) + c.get("paused", 0)
                      for c in counts.values())
        status = DEGRADED if waiting > waiting_degraded else HEALTHY
        return CheckResult(status, {"queues": detail, "waiting_total": waiting,
                                    "waiting_degraded_above": waiting_degraded})

    return Check("queue", run, critical=False)


def memory_check(cfg, app_heaps: Callable[[], dict]) -> Check:
    """The exporter's RSS, and every heap the app reports (``runtime`` events)."""
    proc = psutil.Process()

    async def run() -> CheckResult:
        rss = proc.memory_info().rss
        status = graded(rss, cfg.health_rss_degraded, cfg.health_rss_unhealthy)
        heaps = {labels[0]: value for labels, value in app_heaps().items()}
        # A big app heap is the app's problem, not the exporter's: it degrades, never 503s
        # (the CriticalMemoryUsage alert is where it pages).
        if any(heap > cfg.health_heap_degraded for heap in heaps.values()):
            status = worst(status, DEGRADED)
        # Python's own heap, as live pymalloc blocks: O(arenas), under 1 us, so it can run
        # on every check (tracemalloc would tax every allocation). A leak signal for the
        # detail only; RSS is what the thresholds judge.
        return CheckResult(status, {"exporter_rss_bytes": rss,
                                    "python_allocated_blocks": sys.getallocatedblocks(),
                                    "app_heap_used_bytes": heaps})

    return Check("memory", run)


def event_loop_check(current_lag: Callable[[], float], degraded: float, unhealthy: float
                     ) -> Check:
    """The exporter's own event-loop lag, worst of the monitor's window."""

    async def run() -> CheckResult:
        lag = current_lag()
        return CheckResult(graded(lag, degraded, unhealthy), {"lag_ms": round(lag * 1000, 2)})

    return Check("event_loop", run)


def disk_check(path: str, degraded: float, unhealthy: float) -> Check:
    """Share of the watched filesystem in use."""

    async def run() -> CheckResult:
        usage = await disk_usage(path)
        ratio = usage.used / usage.total if usage.total else 0.0
        return CheckResult(graded(ratio, degraded, unhealthy),
                           {"path": path, "used_ratio": round(ratio, 4), "free_bytes": usage.free})

    return Check("disk", run, critical=False)


def default_checks(cfg, *, redis, analytics_redis, job_counts: Callable[[], Awaitable[dict]],
                   app_heaps: Callable[[], dict], loop_lag: Callable[[], float]) -> list[Check]:
    """The six checks /health runs (catalog.HEALTH_CHECKS), given what each one reads."""
    return [
        redis_check(redis),
        analytics_redis_check(analytics_redis),
        queue_check(job_counts, cfg.health_queue_waiting_degraded),
        memory_check(cfg, app_heaps),
        event_loop_check(loop_lag, cfg.health_loop_lag_degraded, cfg.health_loop_lag_unhealthy),
        disk_check(cfg.disk_path, cfg.health_disk_degraded, cfg.health_disk_unhealthy),
    ]

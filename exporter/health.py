"""Health checks: run concurrently, each within a timeout, summarised for /health.

A check is an async function returning ``CheckResult``; a check that raises or runs out
of time is unhealthy with the reason as its detail. Overall status: unhealthy when any
critical check is unhealthy, degraded when any check is not healthy, else healthy.
Every run also updates ``health_check_status{check}`` and ``health_check_duration_seconds``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

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
        return self.last


def redis_check(redis) -> Check:
    """Redis answers PING; detail carries its uptime."""

    async def run() -> CheckResult:
        start = time.perf_counter()
        await redis.ping()
        ping_ms = round((time.perf_counter() - start) * 1000, 2)
        info = await redis.info("server")
        return CheckResult(HEALTHY, {"ping_ms": ping_ms,
                                     "uptime_seconds": int(info.get("uptime_in_seconds", 0))})

    return Check("redis", run)


def default_checks(exporter) -> list[Check]:
    """The checks /health runs for a running exporter."""
    return [redis_check(exporter.redis)]

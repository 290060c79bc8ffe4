"""Runs the collect-on-scrape collectors and times each one (node_exporter's pattern).

A collector is any object with a ``name`` and ``async def collect() -> list[Metric]``.
On each /metrics request the runner awaits every collector concurrently, each within
the scrape timeout, and keeps the families they return as a snapshot; the registry then
renders that snapshot synchronously. One failing or slow collector never fails the
scrape: it reports ``exporter_scrape_collector_success{collector} 0`` and, if it raised
``PartialScrape``, the families it still had (e.g. ``exporter_redis_up 0``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from prometheus_client.core import Metric

from . import errors
from .logs import RateLimitedLog, get_logger
from .metrics import gauge

log = get_logger("exporter")


class Collector(Protocol):
    name: str

    async def collect(self) -> list[Metric]: ...


class PartialScrape(Exception):
    """Raised by a collector that failed but still has families to publish."""

    def __init__(self, message: str, families: list[Metric]):
        super().__init__(message)
        self.families = families


class ScrapeRunner:
    """Also a prometheus_client collector: register it and it yields the last snapshot."""

    def __init__(self, collectors: list[Collector], namespace: str, timeout: float):
        self.collectors = list(collectors)
        self.namespace = namespace
        self.timeout = timeout
        self._snapshot: list[Metric] = []
        self._lock = asyncio.Lock()
        self._warn = RateLimitedLog(log, 60)
        self.last_error_time: dict[str, float] = {}
        self.scrapes = 0
        self.last_success: dict[str, bool] = {}

    async def _run_one(self, c: Collector) -> tuple[list[Metric], bool, float]:
        start = time.perf_counter()
        try:
            fams = await asyncio.wait_for(c.collect(), self.timeout)
            ok = True
        except PartialScrape as e:
            fams, ok = e.families, False
            self._warn.warning(c.name, "collector failed", collector=c.name, error=str(e))
        except asyncio.TimeoutError:
            fams, ok = [], False
            self._warn.warning(c.name, "collector timed out", collector=c.name,
                               timeout_seconds=self.timeout)
        except Exception as e:  # noqa: BLE001 - one broken collector must not break /metrics
            fams, ok = [], False
            self._warn.warning(c.name, "collector failed", collector=c.name,
                               error=f"{type(e).__name__}: {e}")
            errors.report(e)
        if not ok:
            self.last_error_time[c.name] = time.time()
        return fams, ok, time.perf_counter() - start

    async def refresh(self) -> None:
        """Collect everything once; concurrent scrapes share one refresh."""
        if self._lock.locked():
            async with self._lock:  # another request is refreshing: wait for its result
                return
        async with self._lock:
            results = await asyncio.gather(*(self._run_one(c) for c in self.collectors))
            snapshot: list[Metric] = []
            durations, successes = [], []
            for c, (fams, ok, seconds) in zip(self.collectors, results):
                snapshot.extend(fams)
                durations.append(((c.name,), seconds))
                successes.append(((c.name,), 1.0 if ok else 0.0))
                self.last_success[c.name] = ok
            ns = self.namespace
            snapshot.append(gauge("exporter_scrape_collector_duration_seconds", ns, durations))
            snapshot.append(gauge("exporter_scrape_collector_success", ns, successes))
            if self.last_error_time:
                snapshot.append(gauge("exporter_last_scrape_error_timestamp_seconds", ns,
                                      (((k,), v) for k, v in self.last_error_time.items())))
            self._snapshot = snapshot
            self.scrapes += 1

    def describe(self):
        return []

    def collect(self):
        yield from self._snapshot

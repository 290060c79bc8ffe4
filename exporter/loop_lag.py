"""The exporter's own event-loop lag: how late a scheduled wake-up runs.

Every ``interval`` seconds the monitor sleeps and measures how much later than asked it
woke up. It publishes the worst lag of the last ``window`` seconds, so a stall between
two scrapes (15 s apart) is still seen, and feeds the event_loop health check.
"""

from __future__ import annotations

import asyncio
import collections
import time

from .metrics import gauge


class LoopLagMonitor:
    def __init__(self, namespace: str, interval: float = 0.5, window: float = 15.0):
        self.ns, self.interval, self.window = namespace, interval, window
        self._samples: collections.deque[tuple[float, float]] = collections.deque()

    def record(self, lag: float, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._samples.append((now, max(lag, 0.0)))
        while self._samples and now - self._samples[0][0] > self.window:
            self._samples.popleft()

    def current(self) -> float:
        """Worst lag seen in the last window (0 before the first sample)."""
        return max((lag for _, lag in self._samples), default=0.0)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.interval)
            self.record(loop.time() - start - self.interval)

    # prometheus_client collector interface
    def describe(self):
        return []

    def collect(self):
        yield gauge("exporter_event_loop_lag_seconds", self.ns, [((), self.current())])

"""The busy demo's event traffic, at any multiple, without BullMQ or sleeping workers.

``anclora_demo.demo.Traffic`` makes its events as a side effect of real BullMQ jobs, with real
waits for the simulated WhatsApp API; at 10x that would measure the bench's own worker,
not the exporter. This generator makes the same events, through the same
``anclora_client.EventClient`` helpers, with the same shapes, label values and
proportions (scenario "busy": outbound jobs, inbound conversations, bulk campaigns, slow
periods, gauge facts every 0.5 s), at ``multiplier`` times the rates: 10x "busy" is about
4,000 events/s. A job's whole life (added, API call, sent or failed, delivered, read)
is emitted in the tick it is added: the counts are what matter here, not the delays.
"""

from __future__ import annotations

import math
import random

from anclora_client import EventClient
from anclora_demo.demo import (MESSAGE_TYPES, PRIORITIES, QUEUE, SCENARIOS, _pick,
                                app_gauges, conversation)

PRIORITY_NAMES = {0: "normal", 1: "critical", 2: "high", 3: "medium", 4: "low"}


class _Capture:
    """A transport that keeps what the client sends (the bench decides where it goes)."""

    def __init__(self):
        self.events: list[dict] = []

    def send(self, events: list[dict]) -> None:
        self.events.extend(events)


class BusyTraffic:
    def __init__(self, multiplier: float = 10.0, seed: int = 1, scenario: str = "busy"):
        self.sc, self.k = SCENARIOS[scenario], multiplier
        self.rng = random.Random(seed)
        self._out, self._in = _Capture(), _Capture()
        self.outbound = EventClient(self._out, batch_size=1 << 30, max_buffer=1 << 30)
        self.inbound = EventClient(self._in, batch_size=1 << 30, max_buffer=1 << 30)
        self.t = 0.0
        self._next_bulk = 0.0
        self._next_gauges = 0.0

    def slow(self) -> bool:
        t = self.t - 30  # as the demo: the first 30 s are healthy
        return t >= 0 and t % self.sc.slow_every_s < self.sc.slow_for_s

    def _poisson(self, lam: float) -> int:
        if lam > 30:  # normal approximation: Knuth's loop underflows for large rates
            return max(0, round(self.rng.gauss(lam, math.sqrt(lam))))
        k, p, limit = 0, 1.0, math.exp(-lam)
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1

    def _job(self, campaign: str | None = None) -> None:
        e, rng, slow = self.outbound, self.rng, self.slow()
        mtype = "template" if campaign else _pick(rng, MESSAGE_TYPES)
        pname = PRIORITY_NAMES.get(0 if campaign else _pick(rng, PRIORITIES), "other")
        e.record_queue_message(mtype, pname, QUEUE)
        r = rng.random()
        latency = rng.lognormvariate(math.log(0.12), 0.5) * (15 if slow else 1)
        status = 200
        if r < (0.12 if slow else 0.01):
            status = rng.choice((500, 502, 503))
        elif r < (0.16 if slow else 0.02):
            status = 429
        elif r < (0.18 if slow else 0.025):
            status = 0
        e.record_whatsapp_api_call("messages", "POST", status, latency)
        elapsed = latency + rng.uniform(0.001, 0.01)
        if status != 200:
            if status == 429:
                e.record_rate_limit_hit(rng.choice(("sales-1", "sales-2")))
            e.record_queue_failed(mtype, {429: "rate_limited", 0: "timeout"}.get(status, "server_error"),
                                  elapsed, pname, QUEUE)
            return
        e.record_message_sent(mtype, campaign or "none")
        e.record_queue_processed(mtype, elapsed, pname, QUEUE)
        if rng.random() < (0.75 if slow else 0.95):
            e.record_message_delivered()
            e.record_webhook("statuses", "sales-1")
            if rng.random() < 0.7:
                e.record_message_read()
                e.record_webhook("statuses", "sales-1")

    def _converse(self) -> None:
        conversation(self.inbound, self.rng, self.slow())

    def _gauges(self) -> None:
        rng, slow = self.rng, self.slow()
        # The app's RSS as a function of its heap, drawn as the demo draws the heap.
        heap = (rng.uniform(820, 1100) if slow else rng.uniform(180, 320)) * (1 << 20)
        app_gauges(self.outbound, rng, slow, self.sc, int(heap * 1.6),
                   rng.uniform(0.001, 0.01))

    def tick(self, dt: float) -> tuple[list[dict], list[dict]]:
        """The events of the next ``dt`` seconds: (outbound + gauges, inbound)."""
        self.t += dt
        for _ in range(self._poisson(self.sc.outbound_per_s * self.k * dt)):
            self._job()
        while self._next_bulk <= self.t:
            n = self.rng.randint(*self.sc.bulk_size)
            for _ in range(n):
                self._job(campaign="spring-campaign")
            self.outbound.record_bulk_operation(n, QUEUE)
            self._next_bulk += self.sc.bulk_every_s / self.k
        for _ in range(self._poisson(self.sc.inbound_per_s * self.k * dt)):
            self._converse()
        while self._next_gauges <= self.t:
            self._gauges()
            self._next_gauges += 0.5
        self.outbound.flush()
        self.inbound.flush()
        out, inb = self._out.events, self._in.events
        self._out.events, self._in.events = [], []
        return out, inb

"""What both inputs (POST /events and the events stream) share: validate, count, apply.

Validation is side-effect free (``check``), so a stream consumer can validate a whole
batch, acknowledge it, then apply it without an await in between (``apply``).
Every refusal is counted in ``exporter_events_rejected_total{reason}`` and logged at most
once per reason per minute, with the reason and a short message but never the raw body
(it may hold phone numbers).
"""

from __future__ import annotations

from collections import Counter

from ..logs import RateLimitedLog, get_logger
from . import schema
from .mapping import Applier

log = get_logger("ingest")


class Ingestor:
    RESOLVED_LIMIT = 10_000  # raw payloads whose metric updates are kept resolved

    def __init__(self, metrics, gauges, log_interval: float = 60.0):
        self.metrics = metrics
        self.applier = Applier(metrics, gauges)
        self._resolved: dict[bytes, tuple[str, list]] = {}
        self._warn = RateLimitedLog(log, log_interval)
        metrics.declare(["exporter_events_ingested_total", "exporter_events_rejected_total"])
        self._ingested = {t: metrics.child("exporter_events_ingested_total", type=t)
                          for t in schema.BY_TYPE}

    @staticmethod
    def check(event: object) -> dict:
        """The validated event (defaults filled), or ``schema.Invalid``. No side effects."""
        return schema.validate(event)

    def reject(self, reason: str, message: str, source: str, count: int = 1) -> None:
        self.metrics.inc("exporter_events_rejected_total", count, reason=reason)
        self._warn.warning(reason, "event rejected", reason=reason, detail=message,
                           input=source)

    def apply(self, events: list[dict]) -> None:
        """Apply validated events and count them by type (synchronous: no await inside)."""
        per_type: Counter = Counter()
        for e in events:
            try:
                self.applier.apply(e)
            except Exception as exc:  # noqa: BLE001 - a bug must cost one event, not the batch
                self.reject("internal_error", f"{type(exc).__name__}", "apply")
                continue
            per_type[e["type"]] += 1
        for t, n in per_type.items():
            self._ingested[t].inc(n)

    def known(self, raw: bytes) -> bool:
        """True when ``raw`` was applied before: it needs no decoding nor validation."""
        return raw in self._resolved

    def apply_raw(self, plan: list[tuple[bytes, dict | None, int]]) -> None:
        """Apply (raw payload, validated event or None when ``known``, count) triples.

        Streams repeat the same payloads all the time (``{"type":"message_read"}``): each
        distinct payload is resolved to its metric updates once and kept (bounded)."""
        per_type: Counter = Counter()
        resolved = self._resolved
        for raw, event, n in plan:
            hit = resolved.get(raw)
            if hit is None:
                try:
                    hit = (event["type"], self.applier.actions(event))
                except Exception as exc:  # noqa: BLE001 - as in apply()
                    self.reject("internal_error", f"{type(exc).__name__}", "apply", n)
                    continue
                if len(resolved) >= self.RESOLVED_LIMIT:
                    resolved.clear()
                resolved[raw] = hit
            for action in hit[1]:
                action(n)
            per_type[hit[0]] += n
        for t, n in per_type.items():
            self._ingested[t].inc(n)

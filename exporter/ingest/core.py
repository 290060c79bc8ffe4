"""What both inputs (POST /events and the events stream) share: validate, count, apply.

Validation is side-effect free (``check``), so a stream consumer can validate a whole
batch, acknowledge it, then apply it without an await in between (``apply``).

Streams repeat the same payloads all the time (``{"type":"message_read"}``): each distinct
payload is resolved to its metric updates once and kept, keyed by the payload itself when
it is short (``KEY_BYTES``: free, bytes hash once) and by a 16-byte digest otherwise, so
the cache stays within a few MB whatever the payloads' size (large payloads must not
stay in memory after Redis trimmed them). A batch takes its own references to what it found kept
(``resolved``), so an eviction while it applies cannot take anything away from it.
Applying is isolated per payload: one payload whose updates raise is counted as
``internal_error`` for its own entries and costs its neighbours nothing.
Every refusal is counted in ``exporter_events_rejected_total{reason}`` and logged at most
once per reason per minute, with the reason and a short message but never the raw body
(it may hold phone numbers).
"""

from __future__ import annotations

from collections import Counter
from hashlib import blake2b

from .. import errors
from ..logs import RateLimitedLog, get_logger
from . import schema
from .mapping import Applier

log = get_logger("ingest")


class Ingestor:
    RESOLVED_LIMIT = 10_000  # distinct payloads whose metric updates are kept resolved
    KEY_BYTES = 256  # longer payloads are kept by digest (a digest costs ~0.6 us)

    def __init__(self, metrics, gauges, log_interval: float = 60.0):
        self.metrics = metrics
        self.applier = Applier(metrics, gauges)
        self._resolved: dict[bytes, tuple[str, list]] = {}  # cache_key -> (type, actions)
        # resolved(cache_key) -> (type, actions) | None: what a kept payload resolved to (it
        # needs no decoding nor validation); the caller holds it until it applies, so an
        # eviction in between takes nothing away. A bound dict.get: no frame per payload.
        self.resolved = self._resolved.get
        self._warn = RateLimitedLog(log, log_interval)
        metrics.declare(["exporter_events_ingested_total", "exporter_events_rejected_total"])
        # Every reason at 0 from the start: a panel or a rate() over a reason never seen
        # yet shows 0, not "No data" (client_python's advice for known label values).
        for reason in schema.REASONS:
            metrics.child("exporter_events_rejected_total", reason=reason)
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
                errors.report(exc)
                continue
            per_type[e["type"]] += 1
        for t, n in per_type.items():
            self._ingested[t].inc(n)

    def cache_key(self, raw: bytes | str) -> bytes | str:
        """The key a payload is kept under: itself when short, else a 16-byte digest
        (callers on a hot path test ``len(raw) <= KEY_BYTES`` themselves)."""
        if len(raw) <= self.KEY_BYTES:
            return raw
        return blake2b(raw.encode() if isinstance(raw, str) else raw, digest_size=16).digest()

    def apply_raw(self, plan: list[tuple[bytes | str, dict | tuple, int]]) -> None:
        """Apply (cache_key, validated event or its ``resolved`` value, count) triples; a
        payload whose updates raise is counted ``internal_error`` and costs only its own
        entries (an update may already have been made for them: it is not undone)."""
        per_type: Counter = Counter()
        kept = self._resolved
        for key, item, n in plan:
            if type(item) is dict:  # new: resolve it, and keep it for the next batches
                try:
                    hit = (item["type"], self.applier.actions(item))
                except Exception as exc:  # noqa: BLE001 - as in apply()
                    self.reject("internal_error", f"{type(exc).__name__}", "apply", n)
                    errors.report(exc)
                    continue
                if len(kept) >= self.RESOLVED_LIMIT:
                    del kept[next(iter(kept))]  # the oldest; in-flight batches hold theirs
                kept[key] = hit
            else:
                hit = item
            try:
                for action in hit[1]:
                    action(n)
            except Exception as exc:  # noqa: BLE001 - e.g. OverflowError from a huge number
                self.reject("internal_error", f"{type(exc).__name__}", "apply", n)
                errors.report(exc)
                kept.pop(key, None)  # not a payload to apply without looking again
                continue
            per_type[hit[0]] += n
        for t, n in per_type.items():
            self._ingested[t].inc(n)

"""The events stream input: each entry of ANCLORA_EVENTS_STREAM holds one event, as JSON,
in the field ``event``:

    XADD anclora:events MAXLEN ~ 100000 * event '{"type":"message_sent","message_type":"text"}'

The stream is read through a consumer group (``exporter.streams.StreamConsumer``):
at-least-once delivery, entries acknowledged only once counted, a crashed consumer's
pending entries reclaimed by the next one, and the group's position kept in Redis, so
an exporter restart neither loses nor double counts. The group starts at the stream's
beginning ("0"): events the app wrote before the exporter first started are counted.

A malformed entry (no ``event`` field, not JSON, not a valid event) is acknowledged and
counted in ``exporter_events_rejected_total{reason}``: never retried forever, never
silently dropped.
"""

from __future__ import annotations

import json
from collections import Counter

from . import schema
from .core import Ingestor

FIELD = b"event"


class EventsHandler:
    """``prepare`` validates a batch without side effects and returns the function that
    applies it; the consumer acknowledges the batch between the two, with no await
    between the acknowledgement and the apply."""

    def __init__(self, ingestor: Ingestor):
        self.ingestor = ingestor

    async def prepare(self, stream, entries):
        return self.prepare_sync(entries)

    def prepare_sync(self, entries):
        good: list[dict] = []
        bad: Counter = Counter()
        check = self.ingestor.check
        for _id, fields in entries:
            if not fields:  # an entry deleted or trimmed while pending: nothing to count
                continue
            raw = fields.get(FIELD)
            if raw is None:
                raw = fields.get("event")
            if raw is None:
                bad["malformed"] += 1
                continue
            try:
                good.append(check(json.loads(raw)))
            except schema.Invalid as e:
                bad[e.reason] += 1
            except ValueError:  # not JSON (or not UTF-8)
                bad["malformed"] += 1

        def apply() -> None:
            for reason, n in bad.items():
                self.ingestor.reject(reason, f"{n} stream entries refused", "stream", n)
            self.ingestor.apply(good)
        return apply

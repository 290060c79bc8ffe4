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

from ..logs import get_logger
from . import schema
from .core import Ingestor

log = get_logger("ingest")

FIELD = "event"


class EventsHandler:
    """``prepare`` validates a batch without side effects and returns the applier that
    ``exporter.streams.StreamConsumer`` calls with the ids whose XACK succeeded, right
    after the ack and with no await between: only acknowledged entries are counted."""

    def __init__(self, ingestor: Ingestor):
        self.ingestor = ingestor

    async def prepare(self, stream, entries):
        return self.prepare_sync(entries)

    def prepare_sync(self, entries):
        raws: dict[str, str] = {}   # entry id -> raw payload
        bad: dict[str, str] = {}    # entry id -> rejection reason
        for eid, fields in entries:
            if not fields:  # an entry deleted or trimmed while pending: nothing to count
                continue
            raw = fields.get(FIELD)
            if raw is None:
                bad[eid] = "malformed"
            else:
                raws[eid] = raw
        # Identical payloads are decoded and validated once per batch, and not at all
        # once applied before (the ingestor keeps what they resolve to).
        ing = self.ingestor
        checked: dict[str, dict | None] = {}  # raw -> validated event (None: known)
        invalid: dict[str, str] = {}          # raw -> rejection reason
        for raw in set(raws.values()):
            if ing.known(raw):
                checked[raw] = None
                continue
            try:
                checked[raw] = ing.check(json.loads(raw))
            except schema.Invalid as e:
                invalid[raw] = e.reason
            except ValueError:  # not JSON
                invalid[raw] = "malformed"

        def apply(acked: set[str]) -> None:
            counts: Counter = Counter(raw for eid, raw in raws.items() if eid in acked)
            reasons: Counter = Counter(r for eid, r in bad.items() if eid in acked)
            plan = []
            for raw, n in counts.items():
                if raw in invalid:
                    reasons[invalid[raw]] += n
                else:
                    plan.append((raw, checked[raw], n))
            for reason, n in reasons.items():
                ing.reject(reason, f"{n} stream entries refused", "stream", n)
            ing.apply_raw(plan)
        return apply

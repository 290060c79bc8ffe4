"""The events stream input: each entry of ANCLORA_EVENTS_STREAM holds one event, as JSON,
in the field ``event``:

    XADD anclora:events MAXLEN ~ 100000 * event '{"type":"message_sent","message_type":"text"}'

The stream is read through a consumer group (``exporter.streams.StreamConsumer``):
at-least-once delivery, entries acknowledged only once counted, a crashed consumer's
pending entries reclaimed by the next one, and the group's position kept in Redis, so
an exporter restart neither loses nor double counts. The group starts at the stream's
beginning ("0"): events the app wrote before the exporter first started are counted.

A malformed entry (no ``event`` field, not JSON, nested too deep, not a valid event) is
acknowledged and counted in ``exporter_events_rejected_total{reason}``: never retried
forever, never silently dropped, and never at the cost of the other entries of its batch.
"""

from __future__ import annotations

import json
from collections import Counter

from .. import errors
from . import schema
from .core import Ingestor

FIELD = b"event"


class EventsHandler:
    """The handler ``exporter.streams.StreamConsumer`` calls: ``prepare`` validates a batch
    without side effects and returns the applier, which the consumer calls right after
    the XACK with the ids it acknowledged (no await in between)."""

    def __init__(self, ingestor: Ingestor):
        self.ingestor = ingestor

    async def prepare(self, stream, entries):
        return self.prepare_sync(entries)

    def prepare_sync(self, entries):
        ids: list = []        # ids of the entries that hold a payload ...
        raws: list = []       # ... and their payloads, in the same order
        missing: list = []    # ids of entries without an ``event`` field
        for eid, fields in entries:
            if not fields:  # an entry deleted or trimmed while pending: nothing to count
                continue
            raw = fields.get(FIELD)
            if raw is None:
                raw = fields.get("event")
            if raw is None:
                missing.append(eid)
            else:
                ids.append(eid)
                raws.append(raw)
        counts = Counter(raws)  # what the batch applies when every ack succeeds
        # Identical payloads are decoded and validated once per batch, and not at all
        # once applied before (the ingestor keeps what they resolve to). Each payload
        # succeeds or fails alone: one poison entry never costs its neighbours.
        ing = self.ingestor
        checked: dict = {}  # raw -> (cache key, validated event or kept resolution) | reason
        resolved, short = ing.resolved, ing.KEY_BYTES
        for raw in counts:
            key = raw if len(raw) <= short else ing.cache_key(raw)
            hit = resolved(key)  # held here: an eviction cannot take it away
            if hit is not None:
                checked[raw] = (key, hit)
                continue
            try:
                checked[raw] = (key, ing.check(json.loads(raw)))
            except schema.Invalid as e:
                checked[raw] = e.reason
            except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep
                checked[raw] = "malformed"
            except Exception as exc:  # noqa: BLE001 - a validation bug: this payload, not the batch
                checked[raw] = "internal_error"
                errors.report(exc)

        def apply(acked=None) -> None:
            bad: Counter = Counter()
            if acked is None or len(acked) >= len(entries):  # the usual case: all acked
                applied, bad["malformed"] = counts, len(missing)
            else:
                applied = Counter(raw for eid, raw in zip(ids, raws) if eid in acked)
                bad["malformed"] = sum(1 for eid in missing if eid in acked)
            plan = []
            for raw, n in applied.items():
                result = checked[raw]
                if type(result) is str:
                    bad[result] += n
                else:
                    plan.append((*result, n))
            for reason, n in bad.items():
                if n:
                    ing.reject(reason, f"{n} stream entries refused", "stream", n)
            ing.apply_raw(plan)
        return apply

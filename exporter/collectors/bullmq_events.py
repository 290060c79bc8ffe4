"""Processed/failed/added counters from each BullMQ queue's ``events`` stream.

Reads ``<prefix>:<queue>:events`` of every watched queue through one consumer group
(``StreamConsumer``: exporter restarts resume where the group was, replicas share the
work, trimmed-unread entries are counted in ``exporter_stream_gap_entries_total``).
Groups are created at ``$``: events written before the exporter first attached to a
queue are history and not counted (a queue whose stream appears later is read from 0).

What each event counts:
- ``added``     -> ``queue_messages_total{queue,priority,message_type}``
- ``completed`` -> ``queue_messages_processed_total`` and, when the job hash still exists,
  ``queue_processing_duration_seconds`` = finishedOn - processedOn (ms -> s)
- ``failed``    -> ``queue_messages_failed_total{error_type}``, a closed class of the
  event's ``failedReason`` (never the text). BullMQ writes ``failed`` only when a job
  moves to the failed set, i.e. its final failure: a failed attempt that will be retried
  writes ``waiting``/``delayed`` (plus ``retries-exhausted`` after the last one), so a job
  with 3 attempts that never succeeds counts 1 failure, as the failed set does.
Every entry also counts in ``bullmq_events_read_total{queue,event}``. ``message_type`` is
the job's ``name`` (the ``added`` event carries it; others read the job hash, "unknown" once
the hash is gone, e.g. removeOnComplete); ``priority`` is the configured name of the job's
numeric priority. Names pass through the LabelGuard, so a flood of names folds to other.
"""

from __future__ import annotations

import re
from typing import Callable

from ..catalog import BULLMQ_EVENTS
from ..metrics import OTHER
from ..streams import Entry, StreamConsumer

UNKNOWN = "unknown"
_JOB_FIELDS = ("name", "priority", "processedOn", "finishedOn")
_NEEDS_JOB = ("added", "completed", "failed")

# failedReason -> error_type; first match wins, so network comes before not_found
# (ENOTFOUND) and auth before validation ("invalid token").
_ERROR_CLASSES = (
    ("stalled", r"stalled"),
    ("timeout", r"timeout|timed? ?out|etimedout|esockettimedout"),
    ("rate_limited", r"rate.?limit|too many requests|\b429\b|throttl"),
    ("network", r"econnrefused|econnreset|enotfound|eai_again|ehostunreach|enetunreach|epipe"
                r"|socket hang up|network|connection (?:refused|reset|closed)"),
    ("auth", r"\b40[13]\b|unauthori[sz]ed|forbidden|authenticat|invalid token|"
             r"access token|permission denied"),
    ("not_found", r"\b404\b|not found|no such"),
    ("validation", r"\b4(?:00|22)\b|validat|invalid|bad request|malformed|required"),
    ("server_error", r"\b5\d\d\b|internal server error|bad gateway|service unavailable"),
)
_ERROR_RES = tuple((name, re.compile(rx, re.I)) for name, rx in _ERROR_CLASSES)


def error_type(reason: str | None) -> str:
    """The closed error class of a BullMQ ``failedReason`` (catalog.ERROR_TYPES)."""
    for name, rx in _ERROR_RES:
        if reason and rx.search(reason):
            return name
    return OTHER


def _ms(v: str | None) -> float | None:
    try:
        return float(v) if v not in (None, "") else None
    except ValueError:
        return None


class BullMQEventsHandler:
    """StreamConsumer handler: prepare reads job hashes, the applier counts."""

    def __init__(self, redis, prefix: str, priority_names: dict[int, str], metrics,
                 queue_of: Callable[[str], str]):
        self.redis, self.prefix, self.metrics = redis, prefix, metrics
        self.names, self.queue_of = priority_names, queue_of

    def _priority(self, raw: str | None) -> str:
        p = _ms(raw)
        if p is None:
            return UNKNOWN
        return self.names.get(int(p), OTHER)

    async def prepare(self, stream: str, entries: list[Entry]):
        queue = self.queue_of(stream)
        want = [f.get("jobId") for _, f in entries
                if f.get("event") in _NEEDS_JOB and f.get("jobId")]
        jobs: dict[str, list] = {}
        if want:
            pipe = self.redis.pipeline(transaction=False)
            for jid in dict.fromkeys(want):
                pipe.hmget(f"{self.prefix}:{queue}:{jid}", *_JOB_FIELDS)
            replies = await pipe.execute(raise_on_error=False)
            for jid, rep in zip(dict.fromkeys(want), replies):
                if isinstance(rep, list) and any(x is not None for x in rep):
                    jobs[jid] = [x.decode("utf-8", "replace") if isinstance(x, bytes) else x
                                 for x in rep]
        effects = {eid: self._effects(queue, f, jobs) for eid, f in entries}

        def apply(acked: set[str]) -> None:
            for eid in acked:
                for fn in effects.get(eid, ()):
                    fn()
        return apply

    def _effects(self, queue: str, f: dict[str, str], jobs: dict[str, list]) -> list:
        """What one entry will count, as closures (nothing is counted here)."""
        m = self.metrics
        event = f.get("event")
        label = event if event in BULLMQ_EVENTS else OTHER
        out = [lambda: m.inc("bullmq_events_read_total", queue=queue, event=label)]
        if event not in _NEEDS_JOB:
            if not event:
                out.append(lambda: m.inc("bullmq_events_malformed_total", queue=queue))
            return out
        jid = f.get("jobId")
        if not jid:
            out.append(lambda: m.inc("bullmq_events_malformed_total", queue=queue))
            return out
        name, prio, processed, finished = jobs.get(jid) or (None, None, None, None)
        mtype = f.get("name") or name or UNKNOWN
        priority = self._priority(prio) if jid in jobs else UNKNOWN
        if event == "added":
            out.append(lambda: m.inc("queue_messages_total", queue=queue, priority=priority,
                                     message_type=mtype))
        elif event == "completed":
            out.append(lambda: m.inc("queue_messages_processed_total", queue=queue,
                                     message_type=mtype))
            start, end = _ms(processed), _ms(finished)
            if start is not None and end is not None and end >= start:
                out.append(lambda: m.observe("queue_processing_duration_seconds",
                                             (end - start) / 1000.0, queue=queue,
                                             message_type=mtype, priority=priority))
        else:
            etype = error_type(f.get("failedReason"))
            out.append(lambda: m.inc("queue_messages_failed_total", queue=queue,
                                     message_type=mtype, error_type=etype))
        return out


class BullMQEvents:
    """Background task (``run()``) counting every watched queue's events stream."""

    def __init__(self, redis, config, metrics, queue_names,
                 make_consumer: Callable[..., StreamConsumer]):
        """``make_consumer(streams, handler, **options)``: the Exporter's one factory of
        stream consumers (its group, consumer name and timing)."""
        self.prefix = config.bullmq_prefix
        self._queues: dict[str, str] = {}
        self.queue_names = queue_names  # async () -> [queue], the collector's (cached) list
        self.handler = BullMQEventsHandler(redis, self.prefix, dict(config.priority_names),
                                           metrics, self._queue_of)
        metrics.declare(["queue_messages_processed_total", "queue_messages_failed_total"])
        self.consumer = make_consumer(self._streams, self.handler,
                                      stream_label=self._queue_of, start_id="$")

    def _queue_of(self, stream: str) -> str:
        return self._queues.get(stream) or stream[len(self.prefix) + 1:-len(":events")]

    async def _streams(self) -> list[str]:
        self._queues = {f"{self.prefix}:{q}:events": q for q in await self.queue_names()}
        return list(self._queues)

    async def poll_once(self) -> int:
        return await self.consumer.poll_once()

    async def run(self) -> None:
        await self.consumer.run()

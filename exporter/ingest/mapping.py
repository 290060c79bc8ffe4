"""Event -> metric updates: one table (``MAPPING``), compiled once into fast appliers.

Each event type maps to a list of operations on catalog metrics:
  Inc(metric, labels)            add 1 to a counter
  Observe(metric, value, labels) observe the event field ``value`` in a histogram
  Set(metric, value, labels)     set an app-reported gauge (StaleGauges: disappears when
                                 its reporter stops reporting for ANCLORA_GAUGE_TTL_SECONDS)
``labels`` maps each metric label to the event field that fills it (or a ``Const``).
An operation whose value field is absent (optional and not sent) is skipped; ``when``
names a boolean field that must be true.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .. import catalog
from ..fastpath.prometheus import counter_adder, histogram_observer
from . import schema


@dataclass(frozen=True)
class Const:
    value: str


@dataclass(frozen=True)
class Inc:
    metric: str
    labels: dict = field(default_factory=dict)
    when: str | None = None


@dataclass(frozen=True)
class Observe:
    metric: str
    value: str
    labels: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Set:
    metric: str
    value: str | Callable[[dict], float]
    labels: dict = field(default_factory=dict)


def _same(*names: str) -> dict:
    return {n: n for n in names}


def _breaker(state: str) -> Set:
    return Set("circuit_breaker_state", lambda e: 1.0 if e["state"] == state else 0.0,
               {"breaker": "breaker", "state": Const(state)})


_QUEUE_DURATION = Observe("queue_processing_duration_seconds", "duration_seconds",
                          _same("queue", "message_type", "priority"))

MAPPING: dict[str, tuple] = {
    "message_sent": (Inc("analytics_messages_sent_total", _same("message_type", "campaign_id")),),
    "message_delivered": (Inc("analytics_messages_delivered_total"),),
    "message_read": (Inc("analytics_messages_read_total"),),
    "message_received": (Inc("analytics_messages_received_total", _same("message_type")),),
    "conversion": (
        Inc("analytics_conversions_total", _same("conversion_type", "campaign_id")),
        Observe("analytics_conversion_value_euros", "value_euros", _same("conversion_type"))),
    "handoff": (Inc("analytics_handoffs_total", _same("reason")),),
    "lead_captured": (Inc("business_leads_captured_total", _same("source", "quality")),),
    "appointment_scheduled": (Inc("business_appointments_scheduled_total",
                                  {"type": "appointment_type", "source": "source"}),),
    "property_inquiry": (Observe("business_property_inquiry_value_euros", "value_euros"),),
    "whatsapp_api_call": (
        Inc("whatsapp_api_calls_total", _same("endpoint", "method", "status_code")),
        Observe("whatsapp_api_latency_seconds", "latency_seconds", _same("endpoint", "method"))),
    "webhook_received": (Inc("whatsapp_webhooks_received_total",
                             _same("event_type", "instance_name")),),
    "rate_limit_hit": (Inc("whatsapp_rate_limit_hits_total", _same("instance_name")),),
    "intent_detected": (
        Inc("bot_intents_total", _same("intent")),
        Observe("bot_intent_confidence_ratio", "confidence", _same("intent")),
        Inc("bot_automated_responses_total", _same("intent"), when="automated")),
    "response_time": (Observe("analytics_response_time_seconds", "seconds"),),
    "queue_message_added": (Inc("queue_messages_total",
                                _same("queue", "priority", "message_type")),),
    "queue_message_processed": (
        Inc("queue_messages_processed_total", _same("queue", "message_type")), _QUEUE_DURATION),
    "queue_message_failed": (
        Inc("queue_messages_failed_total", _same("queue", "message_type", "error_type")),
        _QUEUE_DURATION),
    "bulk_operation": (Inc("queue_bulk_operations_total",
                           {"queue": "queue", "batch_size_range": "batch_size_range"}),),
    "redis_operation": (
        Inc("redis_operations_total", _same("operation", "status")),
        Observe("redis_operation_latency_seconds", "latency_seconds", _same("operation"))),
    "error_logged": (Inc("errors_total", _same("severity", "service")),),
    "http_request": (Observe("http_request_duration_seconds", "duration_seconds",
                             _same("method", "endpoint", "status_code")),),
    "circuit_breaker_state": tuple(_breaker(s) for s in catalog.CIRCUIT_STATES),
    "rate_limit_rejection": (Inc("rate_limit_rejections_total", _same("limiter")),),
    "cache_request": (Inc("cache_requests_total", _same("cache", "result")),),
    "active_conversations": (Set("analytics_active_conversations", "count"),),
    "active_instances": (Set("whatsapp_active_instances", "count"),),
    "sales_pipeline": (Set("business_sales_pipeline", "count", _same("stage")),),
    "redis_pool": (Set("redis_pool_connections_in_use", "in_use"),
                   Set("redis_pool_connections_max", "max")),
    "runtime": tuple(Set(m, f, _same("service")) for m, f in (
        ("app_heap_used_bytes", "heap_used_bytes"), ("app_heap_total_bytes", "heap_total_bytes"),
        ("app_resident_memory_bytes", "rss_bytes"),
        ("app_event_loop_lag_seconds", "event_loop_lag_seconds"))),
}


def batch_size_range(n: int) -> str:
    for hi, name in ((1, "1"), (10, "2-10"), (50, "11-50"), (100, "51-100"), (500, "101-500")):
        if n <= hi:
            return name
    return "501+"


# Fields computed from others before the labels are read.
DERIVED = {"bulk_operation": lambda e: {**e, "batch_size_range": batch_size_range(int(e["batch_size"]))}}


def _label_text(v: object) -> str:
    # 200.0 (a JSON integer written as a float) is status code "200".
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _counted(action, overflow):
    """``action``, also counting its n updates as folded when ``overflow`` is a child
    of ``exporter_label_overflow_total`` (label sets published as given pay nothing)."""
    if overflow is None:
        return action
    inc = counter_adder(overflow)

    def folded(n):
        action(n)
        inc(n)
    return folded


class ChildCache:
    """A MetricSet's children by metric and raw label values: (child, the
    ``exporter_label_overflow_total`` child to count with it, or None when the labels were
    published as given), so a hot path pays a dict lookup, not the LabelGuard. At most
    ``LIMIT`` entries; full, it starts over: a flood of distinct raw values (which the
    guard folds) costs a refill of the few hot label sets instead of leaving every label
    set seen after the flood on the slow path for good. The events' Applier and the
    webhooks' intake use one each."""

    LIMIT = 20000

    def __init__(self, metrics):
        self.metrics = metrics
        self.cache: dict[tuple, tuple[object, object]] = {}

    def get(self, metric: str, labels: dict) -> tuple[object, object]:
        key = (metric, *labels.values())
        hit = self.cache.get(key)
        if hit is None:
            child, folded = self.metrics.resolve(metric, labels)
            hit = (child, self.metrics.overflow(metric) if folded else None)
            if len(self.cache) >= self.LIMIT:
                self.cache.clear()
            self.cache[key] = hit
        return hit


class Applier:
    """Applies validated events to a MetricSet and StaleGauges.

    ``actions(event)`` resolves an event to its metric updates once (children looked up
    through the LabelGuard); each action takes a multiplicity ``n``, so identical events
    of a batch cost one resolution. Children come from a ``ChildCache``, so the hot path
    is a dict lookup and an ``inc``. A cached child the guard folded into ``other`` keeps
    counting each of its updates in ``exporter_label_overflow_total``.
    """

    CACHE_LIMIT = ChildCache.LIMIT

    def __init__(self, metrics, gauges):
        self.metrics, self.gauges = metrics, gauges
        children = ChildCache(metrics)
        self._cache, self._child = children.cache, children.get
        self._ops = {t: tuple(self._compile(op) for op in ops) for t, ops in MAPPING.items()}

    def _compile(self, op):
        """The op as ``resolve(event) -> action(n) | None``."""
        spec = catalog.get(op.metric)
        names = tuple(spec.labels)
        if set(op.labels) != set(names):
            raise ValueError(f"{op.metric}: mapping labels {sorted(op.labels)} != {list(names)}")
        sources = tuple(op.labels[n] for n in names)

        def labels_of(e: dict) -> dict:
            return {n: (s.value if isinstance(s, Const) else _label_text(e[s]))
                    for n, s in zip(names, sources)}

        metric = op.metric
        if isinstance(op, Inc):
            when = op.when

            def resolve(e):
                if when is None or e.get(when):
                    child, overflow = self._child(metric, labels_of(e))
                    return _counted(counter_adder(child), overflow)
                return None
        elif isinstance(op, Observe):
            value = op.value

            def resolve(e):
                v = e.get(value)
                if v is None:
                    return None
                child, overflow = self._child(metric, labels_of(e))
                return _counted(histogram_observer(child, v), overflow)
        else:
            value = op.value
            get = value if callable(value) else (lambda e: e.get(value))

            def resolve(e):
                v = get(e)
                if v is None:
                    return None
                labels, v = labels_of(e), float(v)
                return lambda n: self.gauges.set(metric, v, **labels)
        return resolve

    def actions(self, event: dict) -> list:
        """The updates one validated event (``schema.validate`` output) makes; call each
        with the number of identical events."""
        t = event["type"]
        derive = DERIVED.get(t)
        if derive is not None:
            event = derive(event)
        return [a for a in (resolve(event) for resolve in self._ops[t]) if a is not None]

    def apply(self, event: dict, n: int = 1) -> None:
        for action in self.actions(event):
            action(n)


def check() -> list[str]:
    """Mapping problems (empty when sound): every event type mapped, every field known."""
    problems = []
    if set(MAPPING) != set(schema.BY_TYPE):
        problems.append(f"types differ: {sorted(set(MAPPING) ^ set(schema.BY_TYPE))}")
    for t, ops in MAPPING.items():
        known = {f.name for f in schema.BY_TYPE[t].fields} if t in schema.BY_TYPE else set()
        if t in DERIVED:
            known.add("batch_size_range")
        for op in ops:
            catalog.get(op.metric)
            used = [s for s in op.labels.values() if not isinstance(s, Const)]
            if isinstance(op, (Observe, Set)) and isinstance(op.value, str):
                used.append(op.value)
            if getattr(op, "when", None):
                used.append(op.when)
            problems += [f"{t}: {op.metric} reads unknown field {u}" for u in used if u not in known]
    return problems

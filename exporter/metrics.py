"""The exporter's registry: catalog specs turned into prometheus_client objects.

Two kinds of metric live here:
- pushed metrics (counters, histograms and gauges fed by events): ``MetricSet`` creates
  one prometheus_client object per catalog entry, lazily, and every label value passes
  through ``LabelGuard`` first, so no metric can grow without bound;
- collect-on-scrape metrics (BullMQ state, Redis, host): collectors build families with
  ``family(...)`` from the same catalog entry.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Iterable

from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram,
                               disable_created_metrics)
from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                    HistogramMetricFamily, Metric)

from . import catalog
from .catalog import COUNTER, GAUGE, HISTOGRAM, MetricSpec

# `*_created` series double the series count and no dashboard or alert of ours reads them.
disable_created_metrics()

OTHER = "other"
MAX_LABEL_VALUE_LEN = 64
# Values that are or contain a phone number, a WhatsApp message id or another opaque id
# (20+ characters of mixed letters and digits) never become label values.
_UNBOUNDED_LOOKING = re.compile(
    r"\d{7,}|^wamid\.|(?<![A-Za-z0-9])(?=[A-Za-z]*\d)(?=\d*[A-Za-z])[A-Za-z0-9]{20,}")


class LabelGuard:
    """Caps the distinct values of each label of each metric.

    A value outside a label's closed set (catalog ``label_values``), longer than 64
    characters, or carrying a long digit run (a phone number or message id), or new once
    the metric already holds ``limit`` distinct values for that label, is replaced with
    ``other`` and counted in ``exporter_label_overflow_total{metric}``.
    """

    def __init__(self, default_limit: int, limits: dict[str, int] | None = None,
                 on_overflow=None):
        self.default_limit = default_limit
        self.limits = dict(limits or {})
        self._seen: dict[tuple[str, str], set[str]] = {}
        self._lock = threading.Lock()
        self._on_overflow = on_overflow or (lambda metric: None)

    def limit_for(self, metric: str) -> int:
        return self.limits.get(metric, self.default_limit)

    def value(self, spec: MetricSpec, label: str, raw: object) -> str:
        v = "" if raw is None else str(raw)
        closed = spec.label_values.get(label)
        if closed is not None:
            if v in closed:
                return v
            self._on_overflow(spec.name)
            return OTHER
        if v == OTHER:
            return v
        if len(v) > MAX_LABEL_VALUE_LEN or _UNBOUNDED_LOOKING.search(v):
            self._on_overflow(spec.name)
            return OTHER
        key = (spec.name, label)
        with self._lock:
            seen = self._seen.setdefault(key, set())
            if v in seen:
                return v
            if len(seen) < self.limit_for(spec.name):
                seen.add(v)
                return v
        self._on_overflow(spec.name)
        return OTHER

    def values(self, spec: MetricSpec, labels: dict[str, object]) -> list[str]:
        missing = [lab for lab in spec.labels if lab not in labels]
        extra = [lab for lab in labels if lab not in spec.labels]
        if missing or extra:
            raise ValueError(f"{spec.name}: labels {sorted(labels)} do not match "
                             f"catalog labels {list(spec.labels)}")
        return [self.value(spec, lab, labels[lab]) for lab in spec.labels]


class MetricSet:
    """prometheus_client objects for pushed metrics, created from the catalog on first use."""

    def __init__(self, namespace: str, registry: CollectorRegistry, guard: LabelGuard):
        self.namespace = namespace
        self.registry = registry
        self.guard = guard
        self._objects: dict[str, object] = {}
        self._lock = threading.Lock()
        self._overflow = Counter(
            catalog.get("exporter_label_overflow_total").full_name(namespace)[:-len("_total")],
            catalog.get("exporter_label_overflow_total").help, ["metric"], registry=registry)
        guard._on_overflow = lambda metric: self._overflow.labels(metric).inc()

    def _object(self, spec: MetricSpec):
        obj = self._objects.get(spec.name)
        if obj is not None:
            return obj
        with self._lock:
            obj = self._objects.get(spec.name)
            if obj is None:
                name = spec.full_name(self.namespace)
                if spec.type == COUNTER:
                    obj = Counter(name[:-len("_total")], spec.help, spec.labels,
                                  registry=self.registry)
                elif spec.type == HISTOGRAM:
                    obj = Histogram(name, spec.help, spec.labels, buckets=spec.buckets,
                                    registry=self.registry)
                else:
                    obj = Gauge(name, spec.help, spec.labels, registry=self.registry)
                self._objects[spec.name] = obj
        return obj

    def declare(self, names: Iterable[str]) -> None:
        """Create these metrics now, so they appear (at zero) before the first event."""
        for n in names:
            self._object(catalog.get(n))

    def child(self, name: str, **labels):
        spec = catalog.get(name)
        obj = self._object(spec)
        if not spec.labels:
            return obj
        return obj.labels(*self.guard.values(spec, labels))

    def inc(self, name: str, amount: float = 1.0, **labels) -> None:
        self.child(name, **labels).inc(amount)

    def observe(self, name: str, value: float, **labels) -> None:
        self.child(name, **labels).observe(value)

    def set(self, name: str, value: float, **labels) -> None:
        self.child(name, **labels).set(value)


def family(spec_name: str, namespace: str) -> Metric:
    """An empty metric family for a collect-on-scrape catalog entry."""
    spec = catalog.get(spec_name)
    name = spec.full_name(namespace)
    if spec.type == GAUGE:
        return GaugeMetricFamily(name, spec.help, labels=spec.labels)
    if spec.type == COUNTER:
        return CounterMetricFamily(name[:-len("_total")], spec.help, labels=spec.labels)
    return HistogramMetricFamily(name, spec.help, labels=spec.labels)


def gauge(spec_name: str, namespace: str, samples: Iterable[tuple[Iterable[str], float]]
          ) -> Metric:
    """A gauge family filled with (label values, value) pairs."""
    fam = family(spec_name, namespace)
    for labels, value in samples:
        fam.add_metric(list(labels), value)
    return fam


class StaleGauges:
    """Gauges set by app events that disappear when their reporter goes quiet.

    Each series remembers when it was last set; ``collect`` yields only series set within
    ``ttl`` seconds (state, like active conversations, must not outlive its reporter).
    """

    def __init__(self, namespace: str, guard: LabelGuard, ttl: float, clock=time.monotonic):
        self.namespace, self.guard, self.ttl, self.clock = namespace, guard, ttl, clock
        self._values: dict[str, dict[tuple[str, ...], tuple[float, float]]] = {}
        self._lock = threading.Lock()

    def set(self, name: str, value: float, **labels) -> None:
        spec = catalog.get(name)
        if spec.type != GAUGE:
            raise ValueError(f"{name} is a {spec.type}, not a gauge")
        key = tuple(self.guard.values(spec, labels))
        with self._lock:
            self._values.setdefault(name, {})[key] = (value, self.clock())

    def current(self, name: str) -> dict[tuple[str, ...], float]:
        """The fresh (not stale) series of one gauge: label values -> value."""
        now = self.clock()
        with self._lock:
            return {k: v for k, (v, t) in self._values.get(name, {}).items()
                    if now - t <= self.ttl}

    def describe(self):
        return []

    def collect(self):
        now = self.clock()
        with self._lock:
            for name, series in self._values.items():
                for key in [k for k, (_, t) in series.items() if now - t > self.ttl]:
                    del series[key]
                if series:
                    yield gauge(name, self.namespace, ((k, v) for k, (v, _) in series.items()))

"""The exporter's registry: catalog specs turned into prometheus_client objects.

Two kinds of metric live here:
- pushed metrics (counters, histograms and gauges fed by events): ``MetricSet`` creates
  one prometheus_client object per catalog entry, lazily, and every label value passes
  through ``LabelGuard`` first, so no metric can grow without bound; a scrape writes
  their lines from label text kept per series (``exposition.MetricLines``, and the same
  in ``StaleGauges``), not from the sample objects prometheus_client's collect() makes;
- collect-on-scrape metrics (BullMQ state, Redis, host): collectors build families with
  ``family(...)`` from the same catalog entry.
"""

from __future__ import annotations

import threading
import time
from typing import Iterable

from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram,
                               disable_created_metrics)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from . import catalog
from .catalog import COUNTER, GAUGE, HISTOGRAM, MetricSpec
from .exposition import MetricLines, TextFamily, line_prefix, value_text
from .labels import MAX_LEN, label_value

# `*_created` series double the series count and no dashboard or alert of ours reads them.
disable_created_metrics()

OTHER = "other"
MAX_LABEL_VALUE_LEN = MAX_LEN
# Budgets: label sets per metric, and series as Prometheus counts them over all pushed
# metrics together, where a histogram's label set is len(buckets) + 3 series (its buckets,
# +Inf, _sum, _count). The total is what bounds memory and the size of /metrics: 50,000
# series are about 5 MB of exposition text.
DEFAULT_SERIES_LIMIT = 2000
DEFAULT_SERIES_LIMIT_TOTAL = 50000


# The exporter's own metrics have labels bounded by its code (event types, reasons,
# streams) and must keep reporting when app input has spent the budget: never budgeted.
_SELF = ("self",)


def series_weight(spec: MetricSpec) -> int:
    """Series one label set of this metric exposes."""
    return len(spec.buckets) + 3 if spec.type == HISTOGRAM else 1


class LabelGuard:
    """Bounds what pushed metrics publish: each label value, and each metric's label sets.

    ``values(spec, labels)`` turns raw label values into the ones published:
    - a value outside a label's closed set (catalog ``label_values``) becomes ``other``;
    - a value ``labels.label_value`` refuses (phone numbers, ids, secrets, control
      characters, text not encodable as UTF-8, over 64 characters) becomes ``other``;
    - a new value once the metric's label already has ``limit`` values becomes ``other``;
    - a new label set once the metric has ``series_limit`` label sets, or once it would
      take all metrics together past ``series_limit_total`` series (``series_weight``),
      becomes the one overflow label set, every label ``other``: so a metric has at
      most ``series_limit`` + 1 label sets. The exporter's own metrics (source
      ``self``) are vetted but not budgeted.
    Each folded update is counted in ``exporter_label_overflow_total{metric}``. Label sets
    already admitted keep working; ``release`` (a stale gauge expiring) frees its budget
    and its label values.
    """

    def __init__(self, default_limit: int, limits: dict[str, int] | None = None,
                 on_overflow=None, series_limit: int = DEFAULT_SERIES_LIMIT,
                 series_limit_total: int = DEFAULT_SERIES_LIMIT_TOTAL):
        self.default_limit = default_limit
        self.limits = dict(limits or {})
        self.series_limit, self.series_limit_total = series_limit, series_limit_total
        # (metric, label) -> admitted value -> how many admitted label sets use it
        self._values: dict[tuple[str, str], dict[str, int]] = {}
        self._series: dict[str, set[tuple[str, ...]]] = {}
        self._total = 0
        self._lock = threading.Lock()
        self._on_overflow = on_overflow or (lambda metric, n=1: None)

    def limit_for(self, metric: str) -> int:
        return self.limits.get(metric, self.default_limit)

    @property
    def total(self) -> int:
        """Series admitted over all metrics (``series_weight`` of each label set)."""
        return self._total

    def series_count(self, metric: str) -> int:
        return len(self._series.get(metric, ()))

    def _vet(self, spec: MetricSpec, label: str, raw: object) -> str | None:
        """The value if it may be published at all, else None (closed set, privacy)."""
        v = "" if raw is None else str(raw)
        closed = spec.label_values.get(label)
        if closed is not None:
            return v if v in closed else None
        if v == OTHER or v in self._values.get((spec.name, label), ()):
            return v  # vetted when it was admitted: the privacy check runs once per value
        return label_value(v, spec.label_kinds.get(label))

    def admit(self, spec: MetricSpec, raw: dict[str, object]) -> tuple[tuple[str, ...], bool]:
        """The published label values for ``raw`` and whether anything was folded.
        Counts nothing (``values`` does)."""
        names = spec.labels
        if len(raw) != len(names) or any(lab not in raw for lab in names):
            raise ValueError(f"{spec.name}: labels {sorted(raw)} do not match "
                             f"catalog labels {list(names)}")
        vetted = [self._vet(spec, lab, raw[lab]) for lab in names]
        folded = None in vetted
        metric = spec.name
        with self._lock:
            limit = self.limit_for(metric)
            key = []
            for lab, v in zip(names, vetted):
                if v is not None and v != OTHER and lab not in spec.label_values:
                    seen = self._values.get((metric, lab))
                    if seen is not None and v not in seen and len(seen) >= limit:
                        v = None  # this label already has its limit of values
                if v is None:
                    v, folded = OTHER, True
                key.append(v)
            key = tuple(key)
            series = self._series.setdefault(metric, set())
            if key in series:
                return key, folded
            weight = series_weight(spec) if spec.source != _SELF else 0
            if weight and (len(series) >= self.series_limit
                           or self._total + weight > self.series_limit_total):
                return (OTHER,) * len(names), True
            series.add(key)
            self._total += weight
            for lab, v in zip(names, key):
                if v != OTHER and lab not in spec.label_values:
                    seen = self._values.setdefault((metric, lab), {})
                    seen[v] = seen.get(v, 0) + 1
        return key, folded

    def values(self, spec: MetricSpec, labels: dict[str, object]) -> list[str]:
        """``admit``, counting a fold in the overflow counter."""
        key, folded = self.admit(spec, labels)
        if folded:
            self._on_overflow(spec.name)
        return list(key)

    def release(self, spec: MetricSpec, key: tuple[str, ...]) -> None:
        """Forget an admitted label set (a stale gauge gone): its budget is free again."""
        metric = spec.name
        with self._lock:
            series = self._series.get(metric)
            if not series or key not in series:
                return  # the overflow label set, or never admitted
            series.discard(key)
            self._total -= series_weight(spec) if spec.source != _SELF else 0
            for lab, v in zip(spec.labels, key):
                if v != OTHER and lab not in spec.label_values:
                    seen = self._values.get((metric, lab))
                    if seen is not None and v in seen:
                        seen[v] -= 1
                        if seen[v] <= 0:
                            del seen[v]


class _Rendered:
    """A prometheus_client metric as the registry sees it, its lines written straight from
    its children (``exposition.MetricLines``: at 10,000 series, the Sample objects its
    collect() makes, and their formatting, were most of a scrape). Its samples are its own
    collect()'s, when something asks for them (tests compare the two renderings)."""

    def __init__(self, metric):
        self.metric = metric
        self._lines = MetricLines(metric)
        self._empty = metric.describe()[0]  # name, help and type, no samples

    def describe(self):
        return self.metric.describe()

    def collect(self):
        lines = self._lines()
        if lines is None:
            return self.metric.collect()
        return [TextFamily(self._empty, lines, lambda: self.metric.collect()[0].samples)]


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
            catalog.get("exporter_label_overflow_total").help, ["metric"], registry=None)
        registry.register(_Rendered(self._overflow))
        guard._on_overflow = lambda metric, n=1: self._overflow.labels(metric).inc(n)

    def overflow(self, name: str):
        """The ``exporter_label_overflow_total`` child of one metric."""
        return self._overflow.labels(name)

    def _object(self, spec: MetricSpec):
        obj = self._objects.get(spec.name)
        if obj is not None:
            return obj
        with self._lock:
            obj = self._objects.get(spec.name)
            if obj is None:
                name = spec.full_name(self.namespace)
                if spec.type == COUNTER:
                    obj = Counter(name[:-len("_total")], spec.help, spec.labels, registry=None)
                elif spec.type == HISTOGRAM:
                    obj = Histogram(name, spec.help, spec.labels, buckets=spec.buckets,
                                    registry=None)
                else:
                    obj = Gauge(name, spec.help, spec.labels, registry=None)
                self.registry.register(_Rendered(obj))
                self._objects[spec.name] = obj
        return obj

    def declare(self, names: Iterable[str]) -> None:
        """Create these metrics now, so they appear (at zero) before the first event."""
        for n in names:
            self._object(catalog.get(n))

    def resolve(self, name: str, labels: dict) -> tuple[object, bool]:
        """The child for these raw label values and whether the guard folded any of
        them into ``other``; the fold is not counted (``child`` counts it)."""
        spec = catalog.get(name)
        obj = self._object(spec)
        if not spec.labels:
            return obj, False
        key, folded = self.guard.admit(spec, labels)
        return obj.labels(*key), folded

    def child(self, name: str, **labels):
        child, folded = self.resolve(name, labels)
        if folded:
            self._overflow.labels(name).inc()
        return child

    def inc(self, name: str, amount: float = 1.0, **labels) -> None:
        self.child(name, **labels).inc(amount)

    def observe(self, name: str, value: float, **labels) -> None:
        self.child(name, **labels).observe(value)

    def set(self, name: str, value: float, **labels) -> None:
        self.child(name, **labels).set(value)


def family(spec_name: str, namespace: str) -> Metric:
    """An empty gauge or counter family for a collect-on-scrape catalog entry (no
    collector yields a histogram: those are pushed, through ``MetricSet``)."""
    spec = catalog.get(spec_name)
    name = spec.full_name(namespace)
    if spec.type == GAUGE:
        return GaugeMetricFamily(name, spec.help, labels=spec.labels)
    if spec.type == COUNTER:
        return CounterMetricFamily(name[:-len("_total")], spec.help, labels=spec.labels)
    raise ValueError(f"{spec_name} is a {spec.type}; collectors yield gauges and counters")


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
    An expired series gives its label set back to the guard's budget; expiry also runs
    on ``set`` (at most once a second), so budget comes back without scrapes. The
    families are TextFamily: lines written from label text kept while a series lives.
    """

    SWEEP_INTERVAL = 1.0

    def __init__(self, namespace: str, guard: LabelGuard, ttl: float, clock=time.monotonic):
        self.namespace, self.guard, self.ttl, self.clock = namespace, guard, ttl, clock
        self._values: dict[str, dict[tuple[str, ...], tuple[float, float]]] = {}
        self._texts: dict[str, dict[tuple[str, ...], str]] = {}  # each series' label text
        self._lock = threading.Lock()
        self._swept = clock()

    def set(self, name: str, value: float, **labels) -> None:
        spec = catalog.get(name)
        if spec.type != GAUGE:
            raise ValueError(f"{name} is a {spec.type}, not a gauge")
        now = self.clock()
        if now - self._swept >= self.SWEEP_INTERVAL:
            self._expire(now)
        key = tuple(self.guard.values(spec, labels))
        with self._lock:
            self._values.setdefault(name, {})[key] = (value, now)

    def _expire(self, now: float) -> None:
        """Drop series older than ttl and release their label sets."""
        with self._lock:
            self._swept = now
            gone = []
            for name, series in self._values.items():
                for key in [k for k, (_, t) in series.items() if now - t > self.ttl]:
                    del series[key]
                    gone.append((name, key))
        for name, key in gone:
            self._texts.get(name, {}).pop(key, None)
            self.guard.release(catalog.get(name), key)

    def current(self, name: str) -> dict[tuple[str, ...], float]:
        """The fresh (not stale) series of one gauge: label values -> value."""
        now = self.clock()
        with self._lock:
            return {k: v for k, (v, t) in self._values.get(name, {}).items()
                    if now - t <= self.ttl}

    def describe(self):
        return []

    def collect(self):
        self._expire(self.clock())
        with self._lock:
            fresh = [(name, list(series.items())) for name, series in self._values.items()
                     if series]
        for name, series in fresh:
            yield self._family(name, series)

    def _family(self, name: str, series: list) -> TextFamily:
        """A gauge's lines, with each series' label text kept while the series lives."""
        empty = family(name, self.namespace)
        texts = self._texts.setdefault(name, {})
        labelnames = catalog.get(name).labels
        out = []
        for key, (value, _) in series:
            text = texts.get(key)
            if text is None:
                text = texts[key] = line_prefix(empty.name, dict(zip(labelnames, key))) + " "
            out.append(f"{text}{value_text(value)}\n")
        return TextFamily(empty, "".join(out), lambda: gauge(
            name, self.namespace, ((k, v) for k, (v, _) in series)).samples)

"""prometheus_client fast paths: label escaping, counter increments, histogram observes,
reading a metric's children.

``escape_label_value`` is the text format's escaping, written here instead of calling
prometheus_client's private ``openmetrics._escape``. The others reach into a metric's and
its children's private fields (``_metrics``, ``_lock``, ``_value``, ``_upper_bounds``,
``_buckets``, ``_sum``) and fall back to the public API (``inc``, ``observe``, the
metric's own ``collect``) when those fields are not there.
tests/fastpath/test_prometheus.py compares each with prometheus_client's own result.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import NamedTuple

from prometheus_client import metrics as _metrics_core


def escape_label_value(v: str) -> str:
    """A label value as the text format (0.0.4) writes it: backslash, newline and double
    quote escaped, every other character (UTF-8 included) as is."""
    return v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def counter_adder(child):
    """``add(n)``: add n to a counter child. Its value's own ``inc`` when the child has
    that shape: ``Counter.inc``'s checks (a negative amount, an exemplar) never apply
    here, and cost a fifth of the stream's apply."""
    value = getattr(child, "_value", None)
    inc = getattr(value, "inc", None)
    return inc if callable(inc) else child.inc


def histogram_observer(child, v: float):
    """``observe_n(n)``: observe ``v`` n times. The bucket is found once, here, and n
    observations cost two increments: one histogram observe per event was most of the
    stream's ingestion cost. Falls back to n calls of ``observe``."""
    bounds = getattr(child, "_upper_bounds", None)
    buckets, total = getattr(child, "_buckets", None), getattr(child, "_sum", None)
    if (bounds is None or buckets is None or total is None or len(bounds) != len(buckets)
            or not callable(getattr(total, "inc", None))):
        observe = child.observe

        def slow(n):
            for _ in range(int(n)):
                observe(v)
        return slow
    bucket = buckets[bisect_left(bounds, v)]  # the first bound >= v, as observe() does

    def observe_n(n):
        total.inc(v * n)
        bucket.inc(n)
    return observe_n


class Children(NamedTuple):
    """What a metric's own collect() reads, without the Sample objects it makes."""
    kind: str                   # counter, gauge or histogram
    name: str                   # the family name (a counter's without _total)
    labelnames: tuple
    items: list                 # [(label values, value getter (counter, gauge) | child)]
    bounds: tuple = ()          # a histogram's upper bounds, +Inf last


def children(metric) -> Children | None:
    """The children of a prometheus_client Counter, Gauge or Histogram, a copy taken under
    the metric's lock as its collect() does; for a counter or gauge each with its value's
    getter, for a histogram the child itself (``histogram_counts``). None when the metric
    does not have that shape (another type, a Gauge with ``set_function``, a histogram
    without its buckets, ``_created`` samples enabled, prometheus_client changed): then
    render its samples."""
    kind = getattr(metric, "_type", None)
    if kind not in ("counter", "gauge", "histogram") or _metrics_core._use_created:
        return None
    labelnames = getattr(metric, "_labelnames", None)
    if labelnames:
        lock, by_labels = getattr(metric, "_lock", None), getattr(metric, "_metrics", None)
        if lock is None or not isinstance(by_labels, dict):
            return None
        with lock:
            items = list(by_labels.items())
    else:
        items = [((), metric)]
    bounds = ()
    if kind == "histogram":
        bounds = tuple(getattr(metric, "_upper_bounds", ()))
        if not all(len(getattr(c, "_buckets", ())) == len(bounds) > 0
                   and callable(getattr(getattr(c, "_sum", None), "get", None))
                   for _, c in items[:1]):
            return None
    else:
        getters = []
        for key, child in items:
            get = getattr(getattr(child, "_value", None), "get", None)
            if not callable(get) or "_child_samples" in vars(child):  # set_function
                return None
            getters.append((key, get))
        items = getters
    return Children(kind, metric._name, tuple(labelnames or ()), items, bounds)


def histogram_counts(child) -> tuple[list[float], float]:
    """(cumulative bucket counts, sum) of a histogram child, as its collect() reads them."""
    acc, cumulative = 0.0, []
    for bucket in child._buckets:
        acc += bucket.get()
        cumulative.append(acc)
    return cumulative, child._sum.get()

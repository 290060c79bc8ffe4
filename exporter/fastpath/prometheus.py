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
    keys: list                  # each child's label values
    values: list                # each child's value (``.get()``), or a histogram child
    bounds: tuple = ()          # a histogram's upper bounds, +Inf last


def children(metric) -> Children | None:
    """The children of a prometheus_client Counter, Gauge or Histogram, a copy taken under
    the metric's lock as its collect() does (two lists: no object made per child, so a
    render of 10,000 series does not feed the garbage collector 10,000 of them); for a
    counter or gauge each child's value, for a histogram the child (``histogram_counts``).
    None when the metric does not have that shape (another type, a Gauge with
    ``set_function``, ``_created`` samples enabled, prometheus_client changed): then render
    its samples."""
    kind = getattr(metric, "_type", None)
    if kind not in ("counter", "gauge", "histogram") or _metrics_core._use_created:
        return None
    if getattr(metric, "_labelnames", None):
        lock, by_labels = getattr(metric, "_lock", None), getattr(metric, "_metrics", None)
        if lock is None or not isinstance(by_labels, dict):
            return None
        with lock:
            keys, kids = list(by_labels), list(by_labels.values())
    else:
        keys, kids = [()], [metric]
    bounds = ()
    if kind == "histogram":
        bounds = tuple(getattr(metric, "_upper_bounds", ()))
        if kids and not (len(getattr(kids[0], "_buckets", ())) == len(bounds) > 0
                         and callable(getattr(getattr(kids[0], "_sum", None), "get", None))):
            return None
        values = kids
    else:
        if kids and not callable(getattr(getattr(kids[0], "_value", None), "get", None)):
            return None
        if kind == "gauge" and any("_child_samples" in vars(c) for c in kids):  # set_function
            return None
        values = [c._value for c in kids]
    return Children(kind, metric._name, tuple(metric._labelnames), keys, values, bounds)


def histogram_counts(child) -> tuple[list, object]:
    """(its buckets' values, not cumulative; its sum's value) of a histogram child: each
    with ``.get()``, as its collect() reads them."""
    return child._buckets, child._sum

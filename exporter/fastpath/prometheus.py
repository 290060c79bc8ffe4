"""prometheus_client fast paths: label escaping, counter increments, histogram observes.

``escape_label_value`` is the text format's escaping, written here instead of calling
prometheus_client's private ``openmetrics._escape``. The other two reach into a metric
child's private fields (``_value``, ``_upper_bounds``, ``_buckets``, ``_sum``) and fall
back to the public ``inc``/``observe`` when those fields are not there.
tests/fastpath/test_prometheus.py compares each with prometheus_client's own result.
"""

from __future__ import annotations

from bisect import bisect_left


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

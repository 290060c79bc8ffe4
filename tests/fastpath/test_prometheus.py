"""exporter.fastpath.prometheus against prometheus_client's own output: if an upgrade
changes the library's escaping or its metric internals, one of these fails."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from exporter.fastpath.prometheus import counter_adder, escape_label_value, histogram_observer

BUCKETS = (0.005, 0.3, 60.0)


@pytest.mark.parametrize("v", ["plain", "", 'a "quote"', "back\\slash", "new\nline",
                               "\\n literal", "café ñ 🚀", '\\"\n'])
def test_escape_label_value_is_generate_latests(v):
    reg = CollectorRegistry()
    Gauge("g", "help", ["l"], registry=reg).labels(v).set(1)
    line = [x for x in generate_latest(reg).decode().splitlines() if x.startswith("g{")]
    assert line == [f'g{{l="{escape_label_value(v)}"}} 1.0']


class PublicOnly:
    """A metric child with nothing but its public methods (internals gone)."""

    def __init__(self, child, *methods):
        for m in methods:
            setattr(self, m, getattr(child, m))


def counters():
    reg = CollectorRegistry()
    return reg, Counter("c", "help", ["l"], registry=reg).labels("x")


def test_counter_adder_takes_the_fast_path_and_counts_as_inc():
    ref_reg, ref = counters()
    ref.inc(3)
    ref.inc(0.5)
    reg, child = counters()
    add = counter_adder(child)
    assert add != child.inc  # the value's own inc: prometheus_client still has that shape
    add(3)
    add(0.5)
    assert generate_latest(reg) == generate_latest(ref_reg)


def test_counter_adder_falls_back_to_inc():
    ref_reg, ref = counters()
    ref.inc(3)
    reg, child = counters()
    counter_adder(PublicOnly(child, "inc"))(3)
    assert generate_latest(reg) == generate_latest(ref_reg)


def histograms():
    reg = CollectorRegistry()
    return reg, Histogram("h", "help", ["l"], buckets=BUCKETS, registry=reg).labels("x")


# On a bound, between bounds, past every bound (+Inf), zero.
@pytest.mark.parametrize("v", [0, 0.005, 0.0051, 0.3, 60.0, 61.0, 6e5])
@pytest.mark.parametrize("public_only", [False, True])
def test_histogram_observer_is_n_observes(v, public_only):
    ref_reg, ref = histograms()
    for _ in range(3):
        ref.observe(v)
    reg, child = histograms()
    observe_n = histogram_observer(PublicOnly(child, "observe") if public_only else child, v)
    # The fast path is taken while prometheus_client's histogram has the expected shape.
    assert observe_n.__name__ == ("slow" if public_only else "observe_n")
    observe_n(3)
    assert generate_latest(reg) == generate_latest(ref_reg)

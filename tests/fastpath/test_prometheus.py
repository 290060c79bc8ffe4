"""exporter.fastpath.prometheus against prometheus_client's own output: if an upgrade
changes the library's escaping or its metric internals, one of these fails (and the
exporter's MetricLines, which read the children through it, go back to the samples)."""

from __future__ import annotations

import pytest
from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram, Summary,
                               disable_created_metrics, enable_created_metrics,
                               generate_latest)

from exporter.exposition import MetricLines
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


def library_lines(metric) -> str:
    """The sample lines prometheus_client's generate_latest writes for ``metric``."""
    reg = CollectorRegistry()
    reg.register(metric)
    return "".join(line + "\n" for line in generate_latest(reg).decode().splitlines()
                   if not line.startswith("#"))


def kinds():
    c = Counter("reqs", "h", ["path", "code"], registry=None)
    c.labels('/a"b\\c\nd', "200").inc(3)
    c.labels("/ünï", "500").inc(1e7)
    g = Gauge("temp", "h", registry=None)
    g.set(-1.25)
    h = Histogram("lat", "h", ["op"], buckets=[0.1, 1, 10], registry=None)
    h.labels("get").observe(0.05)
    h.labels("put").observe(5)
    h.labels("put").observe(50)
    neg = Histogram("delta", "h", buckets=[-1, 0, 1], registry=None)  # no _sum line
    neg.observe(-3)
    return c, g, h, neg


def test_metric_lines_are_generate_latests():
    for metric in kinds():
        lines = MetricLines(metric)
        assert lines() == library_lines(metric)
        assert lines() == library_lines(metric)  # with the label text kept
    c, _, h, _ = kinds()
    lines = MetricLines(c)
    lines()
    c.labels("/new", "404").inc()
    c.remove("/ünï", "500")
    assert lines() == library_lines(c)
    assert MetricLines(Counter("empty", "h", ["x"], registry=None))() == ""


def test_metric_lines_leave_what_they_do_not_read_to_the_samples():
    g = Gauge("f", "h", registry=None)
    g.set_function(lambda: 4.0)
    assert MetricLines(g)() is None
    assert MetricLines(Summary("s", "h", registry=None))() is None
    c = Counter("c", "h", registry=None)
    enable_created_metrics()  # _created samples: not written by the fast path
    try:
        assert MetricLines(c)() is None
    finally:
        disable_created_metrics()
    assert MetricLines(c)() == library_lines(c)

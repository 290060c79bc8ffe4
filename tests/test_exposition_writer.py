"""exporter.exposition renders exactly what prometheus_client's generate_latest does."""

from __future__ import annotations

import math

from prometheus_client import (CollectorRegistry, Counter, Enum, Gauge, Histogram, Info,
                               Summary, generate_latest)
from prometheus_client.core import (CounterMetricFamily, GaugeHistogramMetricFamily,
                                    GaugeMetricFamily, StateSetMetricFamily,
                                    UnknownMetricFamily)

from exporter.exposition import Renderer


class Custom:
    """Families a collector may yield: created samples, timestamps, ints, odd values."""

    def __init__(self):
        self.value = 1.0

    def collect(self):
        c = CounterMetricFamily("custom_jobs", "Jobs.\nWith a \\ newline", labels=["q"],
                                created=1700000000.5)
        c.add_metric(["a"], self.value, created=1700000000.25)
        c.add_metric(["b"], 7, timestamp=1700000001.5)
        yield c
        g = GaugeMetricFamily("custom_values", "Values", labels=["kind"])
        for kind, v in [("nan", math.nan), ("inf", math.inf), ("minf", -math.inf),
                        ("big", 123456789.0), ("edge", 999999.9999), ("million", 1e6),
                        ("tiny", 1e-07), ("neg", -2.5e9), ("int", 3), ("zero", 0.0),
                        ("bool", True), ("exp", 1.5e22)]:
            g.add_metric([kind], v)
        yield g
        gh = GaugeHistogramMetricFamily("custom_gh", "GH", buckets=[("1.0", 2), ("+Inf", 3)],
                                        gsum_value=4.5)
        yield gh
        s = StateSetMetricFamily("custom_state", "State", {"on": True, "off": False})
        yield s
        u = UnknownMetricFamily("custom_unknown", "Unknown", value=2)
        yield u


def registry() -> tuple[CollectorRegistry, Custom]:
    reg = CollectorRegistry()
    c = Counter("reqs", "Requests", ["path", "code"], registry=reg)
    c.labels('/a"b\\c\nd', "200").inc(3)
    c.labels("/ünïcode", "500").inc(0.1)
    Gauge("temp", "Temperature", registry=reg).set(-1.25)
    h = Histogram("lat", "Latency", ["op"], buckets=[0.1, 1, 10], registry=reg)
    h.labels("get").observe(0.05)
    h.labels("put").observe(5)
    Summary("size", "Size", registry=reg).observe(12)
    Info("build", "Build", registry=reg).info({"version": "1.2", "rev": "x\"y"})
    Enum("mode", "Mode", states=["a", "b"], registry=reg).state("b")
    custom = Custom()
    reg.register(custom)
    return reg, custom


def test_same_bytes_as_generate_latest_and_again_after_changes():
    reg, custom = registry()
    render = Renderer()
    assert render(reg) == generate_latest(reg)
    # A second scrape reuses the kept label sets: values and new series still right.
    custom.value = 2.5
    c = reg._names_to_collectors["reqs_total"]
    c.labels("/new", "404").inc()
    assert render(reg) == generate_latest(reg)
    c.remove("/new", "404")
    assert render(reg) == generate_latest(reg)

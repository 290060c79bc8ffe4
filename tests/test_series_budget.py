"""Hostile volumes of distinct label sets through event ingestion stay bounded (issue 9,
item 12): at most the series budget + 1 per metric, the Applier's cache bounded, and every
folded update counted."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from exporter.ingest import mapping
from exporter.ingest.core import Ingestor
from exporter.metrics import (DEFAULT_SERIES_LIMIT, DEFAULT_SERIES_LIMIT_TOTAL, LabelGuard,
                              MetricSet, StaleGauges)

NS = "anclora"


def make(series_limit=DEFAULT_SERIES_LIMIT, total=DEFAULT_SERIES_LIMIT_TOTAL):
    reg = CollectorRegistry()
    guard = LabelGuard(100, series_limit=series_limit, series_limit_total=total)
    metrics = MetricSet(NS, reg, guard)
    gauges = StaleGauges(NS, guard, 60)
    reg.register(gauges)
    return reg, Ingestor(metrics, gauges), guard


def label_sets(reg, family):
    for fam in reg.collect():
        if fam.name == family:
            return {tuple(sorted(s.labels.items())) for s in fam.samples
                    if not s.name.endswith(("_bucket", "_sum"))}
    return set()


def test_100k_distinct_api_calls_give_at_most_budget_plus_one_series():
    reg, ing, guard = make()
    n = 100_000
    # 100 endpoints x 20 methods x 50 status codes: no label past its own 100-value limit
    events = [ing.check({"type": "whatsapp_api_call", "endpoint": f"/e{i % 100}",
                         "method": f"M{i // 100 % 20}", "status_code": 100 + i // 2000 % 50,
                         "latency_seconds": 0.1}) for i in range(n)]
    ing.apply(events)
    calls = label_sets(reg, f"{NS}_whatsapp_api_calls")
    latency = label_sets(reg, f"{NS}_whatsapp_api_latency_seconds")
    assert len(calls) == DEFAULT_SERIES_LIMIT + 1
    assert len(latency) == DEFAULT_SERIES_LIMIT  # exactly 2,000 endpoint x method pairs: fit
    other3 = {"endpoint": "other", "method": "other", "status_code": "other"}
    assert reg.get_sample_value(f"{NS}_whatsapp_api_calls_total", other3) == n - 2000
    assert reg.get_sample_value(f"{NS}_exporter_label_overflow_total",
                                {"metric": "whatsapp_api_calls_total"}) == n - 2000
    assert reg.get_sample_value(f"{NS}_exporter_events_ingested_total",
                                {"type": "whatsapp_api_call"}) == n
    assert len(ing.applier._cache) <= mapping.Applier.CACHE_LIMIT
    # 2,000 counter + 2,000 histogram label sets of 16 series each
    assert guard.total == 2000 + 2000 * 16
    assert len(generate_latest(reg)) < 3_500_000


def test_global_budget_counts_histogram_series_and_bounds_the_exposition():
    reg, ing, guard = make()
    n = 100_000
    for etype, fields in (("whatsapp_api_call", {"latency_seconds": 0.1}),
                          ("http_request", {"duration_seconds": 0.1})):
        ing.apply([ing.check({"type": etype, "endpoint": f"/e{i % 100}",
                              "method": f"M{i // 100 % 20}", "status_code": 100 + i // 2000 % 50,
                              **fields}) for i in range(n)])
    assert guard.total <= DEFAULT_SERIES_LIMIT_TOTAL
    http = label_sets(reg, f"{NS}_http_request_duration_seconds")
    # 34,000 series were taken by the API metrics: 16,000 left = 1,000 histogram label sets
    assert len(http) == 1000 + 1
    size = len(generate_latest(reg))
    assert size < 6_000_000, size


def test_a_cached_folded_label_set_counts_every_update():
    reg, ing, _ = make(series_limit=1)
    first = {"type": "rate_limit_hit", "instance_name": "a"}
    folded = {"type": "rate_limit_hit", "instance_name": "b"}
    ing.apply([ing.check(first)] + [ing.check(folded)] * 3)
    ing.applier.apply(ing.check(folded), 4)  # a batch of 4 identical events
    assert reg.get_sample_value(f"{NS}_whatsapp_rate_limit_hits_total",
                                {"instance_name": "other"}) == 7
    assert reg.get_sample_value(f"{NS}_exporter_label_overflow_total",
                                {"metric": "whatsapp_rate_limit_hits_total"}) == 7


def test_cache_stays_bounded_and_serves_label_sets_seen_after_a_flood():
    reg, ing, _ = make()
    limit = mapping.Applier.CACHE_LIMIT
    ing.apply([ing.check({"type": "handoff", "reason": f"r{i}"}) for i in range(limit + 10)])
    assert len(ing.applier._cache) <= limit
    ing.apply([ing.check({"type": "intent_detected", "intent": "book_viewing",
                          "confidence": 0.9, "automated": False})])
    assert ("bot_intents_total", "book_viewing") in ing.applier._cache
    assert reg.get_sample_value(f"{NS}_bot_intents_total", {"intent": "book_viewing"}) == 1

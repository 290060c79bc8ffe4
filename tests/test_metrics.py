"""LabelGuard caps label values; MetricSet and StaleGauges publish catalog metrics."""

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporter import catalog
from exporter.metrics import LabelGuard, MetricSet, StaleGauges


def make(limit=3, limits=None):
    reg = CollectorRegistry()
    guard = LabelGuard(limit, limits)
    return reg, MetricSet("anclora", reg, guard), guard


def test_values_past_the_limit_fold_into_other_and_are_counted():
    reg, ms, _ = make(limit=2)
    for campaign in ["a", "b", "c", "d", "a"]:
        ms.inc("analytics_messages_sent_total", message_type="text", campaign_id=campaign)
    v = lambda c: reg.get_sample_value("anclora_analytics_messages_sent_total",
                                       {"message_type": "text", "campaign_id": c})
    assert (v("a"), v("b"), v("c"), v("other")) == (2.0, 1.0, None, 2.0)
    assert reg.get_sample_value("anclora_exporter_label_overflow_total",
                                {"metric": "analytics_messages_sent_total"}) == 2.0


def test_per_metric_limit_overrides_default():
    reg, ms, guard = make(limit=100, limits={"analytics_handoffs_total": 1})
    ms.inc("analytics_handoffs_total", reason="angry")
    ms.inc("analytics_handoffs_total", reason="asked_human")
    assert reg.get_sample_value("anclora_analytics_handoffs_total", {"reason": "other"}) == 1.0
    assert guard.limit_for("analytics_messages_sent_total") == 100


@pytest.mark.parametrize("value", ["+34600123456", "34600123456@s.whatsapp.net",
                                   "wamid.HBgLMzQ2MDAxMjM0NTYVAgARGBI", "x" * 65])
def test_unbounded_looking_values_never_become_labels(value):
    reg, ms, _ = make(limit=100)
    ms.inc("analytics_handoffs_total", reason=value)
    text = generate_latest(reg).decode()
    assert value not in text
    assert reg.get_sample_value("anclora_analytics_handoffs_total", {"reason": "other"}) == 1.0


def test_closed_label_sets_only_take_their_values():
    reg, ms, _ = make()
    ms.inc("queue_messages_failed_total", queue="q", message_type="t", error_type="timeout")
    ms.inc("queue_messages_failed_total", queue="q", message_type="t",
           error_type="ECONNREFUSED 10.0.0.1:443")
    get = lambda e: reg.get_sample_value("anclora_queue_messages_failed_total",
                                         {"queue": "q", "message_type": "t", "error_type": e})
    assert (get("timeout"), get("other")) == (1.0, 1.0)


def test_wrong_labels_are_a_programming_error():
    _, ms, _ = make()
    with pytest.raises(ValueError, match="do not match catalog labels"):
        ms.inc("analytics_handoffs_total", why="x")


def test_histogram_uses_catalog_buckets():
    reg, ms, _ = make()
    ms.observe("analytics_conversion_value_euros", 250_000, conversion_type="sale")
    spec = catalog.get("analytics_conversion_value_euros")
    labels = {"conversion_type": "sale"}
    assert reg.get_sample_value("anclora_analytics_conversion_value_euros_sum", labels) == 250_000
    assert reg.get_sample_value("anclora_analytics_conversion_value_euros_bucket",
                                {**labels, "le": "250000.0"}) == 1.0
    assert reg.get_sample_value("anclora_analytics_conversion_value_euros_bucket",
                                {**labels, "le": "100000.0"}) == 0.0
    assert 250_000 in spec.buckets


def test_stale_gauges_disappear_after_ttl():
    now = [1000.0]
    reg = CollectorRegistry()
    g = StaleGauges("anclora", LabelGuard(10), ttl=60, clock=lambda: now[0])
    reg.register(g)
    g.set("analytics_active_conversations", 12)
    g.set("business_sales_pipeline", 3, stage="viewing")
    assert reg.get_sample_value("anclora_analytics_active_conversations") == 12
    now[0] += 30
    g.set("business_sales_pipeline", 4, stage="viewing")
    now[0] += 45  # conversations last set 75 s ago, pipeline 45 s ago
    assert reg.get_sample_value("anclora_analytics_active_conversations") is None
    assert reg.get_sample_value("anclora_business_sales_pipeline", {"stage": "viewing"}) == 4


def test_stale_gauges_refuse_non_gauges():
    g = StaleGauges("anclora", LabelGuard(10), ttl=60)
    with pytest.raises(ValueError, match="not a gauge"):
        g.set("analytics_handoffs_total", 1, reason="x")

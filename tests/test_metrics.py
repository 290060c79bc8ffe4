"""LabelGuard caps label values; MetricSet and StaleGauges publish catalog metrics."""

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporter import catalog
from exporter.metrics import LabelGuard, MetricSet, StaleGauges, family


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


# --- series budgets (issue 9, item 12) ---------------------------------------------------

def series(reg, name):
    """Label sets of one pushed metric in the registry (a histogram's counted once)."""
    for fam in reg.collect():
        if fam.name == name:
            return {tuple(sorted(s.labels.items())) for s in fam.samples
                    if not s.name.endswith(("_bucket", "_sum", "_created"))}
    return set()


def budget(series_limit, total=100_000, label_limit=100_000):
    reg = CollectorRegistry()
    guard = LabelGuard(label_limit, series_limit=series_limit, series_limit_total=total)
    return reg, MetricSet("anclora", reg, guard), guard


def test_label_sets_past_the_series_budget_fold_into_one_other_series():
    reg, ms, guard = budget(series_limit=50)
    # every label alone stays far below its per-label limit: only the series budget holds
    for i in range(1000):
        ms.inc("whatsapp_api_calls_total", endpoint=f"e{i % 40}", method=f"M{i % 7}",
               status_code=str(200 + i % 13))
    got = series(reg, "anclora_whatsapp_api_calls")
    assert len(got) == 51 and guard.series_count("whatsapp_api_calls_total") == 50
    other = {"endpoint": "other", "method": "other", "status_code": "other"}
    assert reg.get_sample_value("anclora_whatsapp_api_calls_total", other) == 950
    assert reg.get_sample_value("anclora_exporter_label_overflow_total",
                                {"metric": "whatsapp_api_calls_total"}) == 950
    # an admitted label set keeps counting after the budget is spent
    ms.inc("whatsapp_api_calls_total", endpoint="e0", method="M0", status_code="200")
    assert reg.get_sample_value("anclora_whatsapp_api_calls_total",
                                {"endpoint": "e0", "method": "M0", "status_code": "200"}) == 2


def test_histogram_label_sets_are_budgeted_too():
    reg, ms, _ = budget(series_limit=10)
    for i in range(100):
        ms.observe("http_request_duration_seconds", 0.1, method="GET", endpoint=f"/p{i}",
                   status_code="200")
    assert len(series(reg, "anclora_http_request_duration_seconds")) == 11
    assert reg.get_sample_value("anclora_http_request_duration_seconds_count",
                                {"method": "other", "endpoint": "other",
                                 "status_code": "other"}) == 90


def test_global_budget_spans_all_metrics():
    reg, ms, guard = budget(series_limit=100, total=30)
    for i in range(25):
        ms.inc("bot_intents_total", intent=f"i{i}")
    for i in range(25):
        ms.inc("analytics_handoffs_total", reason=f"r{i}")
    assert guard.total == 30
    assert guard.series_count("bot_intents_total") == 25
    assert guard.series_count("analytics_handoffs_total") == 5
    assert reg.get_sample_value("anclora_analytics_handoffs_total", {"reason": "other"}) == 20


def test_expired_stale_gauges_give_their_budget_back():
    now = [1000.0]
    reg = CollectorRegistry()
    guard = LabelGuard(100_000, series_limit=5, series_limit_total=100)
    g = StaleGauges("anclora", guard, ttl=60, clock=lambda: now[0])
    reg.register(g)
    for i in range(8):
        g.set("business_sales_pipeline", i, stage=f"s{i}")
    assert reg.get_sample_value("anclora_business_sales_pipeline", {"stage": "other"}) == 7
    assert reg.get_sample_value("anclora_business_sales_pipeline", {"stage": "s5"}) is None
    now[0] += 61  # all stale: the next set sweeps them and frees the budget, no scrape needed
    for i in range(5, 10):
        g.set("business_sales_pipeline", i, stage=f"s{i}")
    assert guard.series_count("business_sales_pipeline") == 5 and guard.total == 5
    assert {k: v for k, v in g.current("business_sales_pipeline").items()} == {
        (f"s{i}",): float(i) for i in range(5, 10)}


def test_stale_gauge_expiry_frees_label_values_too():
    now = [0.0]
    guard = LabelGuard(2, series_limit=100, series_limit_total=100)  # 2 values per label
    reg = CollectorRegistry()
    g = StaleGauges("anclora", guard, ttl=10, clock=lambda: now[0])
    reg.register(g)
    g.set("app_heap_used_bytes", 1, service="a")
    g.set("app_heap_used_bytes", 2, service="b")
    now[0] += 11
    generate_latest(reg)  # the scrape expires a and b
    g.set("app_heap_used_bytes", 3, service="c")
    assert reg.get_sample_value("anclora_app_heap_used_bytes", {"service": "c"}) == 3


def test_values_folded_for_the_series_budget_do_not_use_up_the_label_limit():
    reg, ms, _ = budget(series_limit=2, label_limit=3)
    ms.inc("whatsapp_api_calls_total", endpoint="a", method="GET", status_code="200")
    ms.inc("whatsapp_api_calls_total", endpoint="b", method="GET", status_code="200")
    for e in "cdefg":  # over budget: folded, and must not take a slot of `endpoint`
        ms.inc("whatsapp_api_calls_total", endpoint=e, method="GET", status_code="200")
    ms.inc("whatsapp_api_calls_total", endpoint="a", method="GET", status_code="200")
    assert reg.get_sample_value("anclora_whatsapp_api_calls_total",
                                {"endpoint": "a", "method": "GET", "status_code": "200"}) == 2
    assert ms.guard._values[("whatsapp_api_calls_total", "endpoint")] == {"a": 1, "b": 1}


def test_lone_surrogate_label_value_does_not_break_the_scrape():
    reg, ms, _ = make(limit=100)
    ms.inc("analytics_handoffs_total", reason="\ud800")
    ms.inc("analytics_handoffs_total", reason="angry")
    text = generate_latest(reg).decode("utf-8")
    assert 'reason="angry"' in text and 'reason="other"' in text


def test_default_budgets_come_from_config():
    from exporter.app import Exporter
    from exporter.config import Config
    exp = Exporter(Config.defaults(redis_url="redis://127.0.0.1:1/0", bullmq_events=False))
    assert (exp.guard.series_limit, exp.guard.series_limit_total) == (2000, 50000)
    exp2 = Exporter(Config.from_env({"ANCLORA_SERIES_LIMIT": "7",
                                     "ANCLORA_SERIES_LIMIT_TOTAL": "70",
                                     "ANCLORA_REDIS_URL": "redis://127.0.0.1:1/0"}))
    assert (exp2.guard.series_limit, exp2.guard.series_limit_total) == (7, 70)


def test_own_metrics_keep_reporting_when_app_input_spent_the_budget():
    reg, ms, guard = budget(series_limit=100, total=3)
    for i in range(5):
        ms.inc("bot_intents_total", intent=f"i{i}")
    for reason in ("bad_json", "unknown_type", "too_big"):
        ms.inc("exporter_events_rejected_total", reason=reason)
    assert guard.total == 3
    assert reg.get_sample_value("anclora_exporter_events_rejected_total",
                                {"reason": "too_big"}) == 1


def test_family_builds_gauges_and_counters_and_refuses_a_histogram():
    assert family("queue_active_messages", "anclora").name == "anclora_queue_active_messages"
    assert family("exporter_http_connections_closed_total", "anclora").type == "counter"
    with pytest.raises(ValueError, match="histogram"):
        family("queue_processing_duration_seconds", "anclora")

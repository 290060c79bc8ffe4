"""The catalog holds every SPEC.md metric exactly and follows Prometheus conventions.
(docs/metrics.md is checked against it by test_generated.py.)"""

import pytest

from exporter import catalog

# Copied from SPEC.md by hand (name, type, labels), so the test is independent of the catalog.
# The catalog adds a `queue` label to queue metrics (SPEC: "plus a queue label where
# several queues exist").
SPEC = [
    ("anclora_queue_messages_total", "counter", {"priority", "message_type"}),
    ("anclora_queue_messages_processed_total", "counter", {"message_type"}),
    ("anclora_queue_messages_failed_total", "counter", {"message_type", "error_type"}),
    ("anclora_queue_processing_duration_seconds", "histogram", {"message_type", "priority"}),
    ("anclora_queue_waiting_messages", "gauge", {"priority"}),
    ("anclora_queue_active_messages", "gauge", set()),
    ("anclora_queue_dlq_messages", "gauge", set()),
    ("anclora_queue_bulk_operations_total", "counter", {"batch_size_range"}),
    ("anclora_analytics_messages_sent_total", "counter", {"message_type", "campaign_id"}),
    ("anclora_analytics_messages_received_total", "counter", {"message_type"}),
    ("anclora_analytics_messages_delivered_total", "counter", set()),
    ("anclora_analytics_messages_read_total", "counter", set()),
    ("anclora_analytics_conversions_total", "counter", {"conversion_type", "campaign_id"}),
    ("anclora_analytics_conversion_value_euros", "histogram", {"conversion_type"}),
    ("anclora_analytics_active_conversations", "gauge", set()),
    ("anclora_analytics_response_time_seconds", "histogram", set()),
    ("anclora_analytics_handoffs_total", "counter", {"reason"}),
    ("anclora_whatsapp_api_calls_total", "counter", {"endpoint", "method", "status_code"}),
    ("anclora_whatsapp_api_latency_seconds", "histogram", {"endpoint", "method"}),
    ("anclora_whatsapp_active_instances", "gauge", set()),
    ("anclora_whatsapp_rate_limit_hits_total", "counter", {"instance_name"}),
    ("anclora_whatsapp_webhooks_received_total", "counter", {"event_type", "instance_name"}),
    ("anclora_business_leads_captured_total", "counter", {"source", "quality"}),
    ("anclora_business_appointments_scheduled_total", "counter", {"type", "source"}),
    ("anclora_business_property_inquiry_value_euros", "histogram", set()),
    ("anclora_business_sales_pipeline", "gauge", {"stage"}),
]


@pytest.mark.parametrize("name,type_,labels", SPEC, ids=[s[0] for s in SPEC])
def test_spec_metric_in_catalog(name, type_, labels):
    by_full = {m.full_name("anclora"): m for m in catalog.METRICS}
    assert name in by_full, f"{name} missing from the catalog"
    m = by_full[name]
    assert m.type == type_
    extra = set(m.labels) - labels
    assert labels <= set(m.labels)
    assert extra <= {"queue"}, f"{name} has labels SPEC does not name: {extra}"
    if name.startswith("anclora_queue_"):
        assert "queue" in m.labels
    assert m.spec, f"{name} must be flagged spec=True so nobody renames it"


def test_spec_flags_match_spec_list():
    flagged = {m.full_name("anclora") for m in catalog.METRICS if m.spec}
    assert flagged == {s[0] for s in SPEC}


def test_spec_leaves_us_redis_bot_system_names():
    names = {m.name for m in catalog.METRICS}
    assert {"redis_operations_total", "redis_operation_latency_seconds",
            "redis_pool_connections_in_use", "redis_pool_connections_max"} <= names
    assert {"bot_intents_total", "bot_intent_confidence_ratio",
            "bot_automated_responses_total"} <= names
    assert {"system_cpu_usage_ratio", "app_heap_used_bytes", "app_event_loop_lag_seconds",
            "errors_total", "http_request_duration_seconds", "circuit_breaker_state",
            "rate_limit_rejections_total", "cache_requests_total",
            "health_check_status"} <= names


def test_catalog_follows_conventions():
    assert catalog.validate() == []


def test_validate_catches_convention_errors():
    bad = [catalog.MetricSpec("x_total", "gauge", "h"),
           catalog.MetricSpec("y", "counter", "h"),
           catalog.MetricSpec("z_seconds", "histogram", "h", unit="seconds"),
           catalog.MetricSpec("w", "gauge", "h", unit="bytes"),
           catalog.MetricSpec("w", "gauge", "h")]
    problems = catalog.validate(bad)
    assert any("x_total" in p and "_total" in p for p in problems)
    assert any(p.startswith("y:") for p in problems)
    assert any("without buckets" in p for p in problems)
    assert any("unit bytes" in p for p in problems)
    assert any("declared twice" in p for p in problems)


def test_unknown_metric_names_the_catalog():
    with pytest.raises(KeyError, match="not in the catalog"):
        catalog.get("no_such_metric")


def test_namespace_is_applied():
    assert catalog.get("queue_active_messages").full_name("acme") == "acme_queue_active_messages"



def test_label_kinds_must_name_a_label_and_a_known_rule():
    problems = catalog.validate([
        catalog.MetricSpec("a_total", "counter", "h", ("x",), label_kinds={"y": "instance"}),
        catalog.MetricSpec("b_total", "counter", "h", ("x",), label_kinds={"x": "nope"})])
    assert problems == ["a_total: label kind instance for label y",
                        "b_total: label kind nope for label x"]
    instance_labelled = {m.name for m in catalog.METRICS if "instance_name" in m.labels}
    assert {m.name for m in catalog.METRICS if m.label_kinds} == instance_labelled


def test_meta_error_codes_are_the_documented_table_plus_other():
    from exporter.ingest import meta_codes
    assert catalog.META_ERROR_CODES[-1] == "other"
    assert set(catalog.META_ERROR_CODES[:-1]) == set(meta_codes.MEANINGS)
    assert {"131047", "131026", "131049", "368", "130429", "131048", "131056"} <= \
        set(meta_codes.MEANINGS)
    assert meta_codes.RATE_LIMIT_CODES <= set(meta_codes.MEANINGS)

"""The pushed metrics (MetricSet, StaleGauges) bring their lines already written (label
text kept per series): the exporter's renderer writes exactly what prometheus_client's
generate_latest renders from their samples. How much faster: ``python -m bench scrape``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from exporter.exposition import Renderer, TextFamily
from exporter.metrics import LabelGuard, MetricSet, StaleGauges


def test_pushed_metrics_render_as_their_samples():
    reg = CollectorRegistry()
    guard = LabelGuard(3)
    ms, gauges = MetricSet("anclora", reg, guard), StaleGauges("anclora", guard, ttl=60)
    reg.register(gauges)
    render = Renderer()
    for round_ in range(3):  # new series, changed values, label text kept in between
        for i in range(5):  # past the label limit of 3: folded into "other", counted
            ms.inc("whatsapp_webhooks_received_total", 1 + round_,
                   event_type=f"event_{i}", instance_name='in"st\\1')
        ms.observe("queue_processing_duration_seconds", 0.2 * round_, queue="q",
                   message_type="text", priority="high")
        ms.set("business_sales_pipeline", 7 - round_, stage="lead")
        gauges.set("app_heap_used_bytes", 2e9 + round_, service=f"bot-{round_}")
        fams = list(reg.collect())
        assert {type(f) for f in fams} == {TextFamily}
        assert render(reg) == generate_latest(reg)
    assert reg.get_sample_value("anclora_exporter_label_overflow_total",
                                {"metric": "whatsapp_webhooks_received_total"}) == 6

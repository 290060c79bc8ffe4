"""No phone number, id, secret or unencodable text becomes a label value (issue 9, items
14 and 5): ``label_value`` decides, and every pushed metric goes through it."""

from __future__ import annotations

import pytest
import redis as redis_sync
from prometheus_client import CollectorRegistry, generate_latest

from exporter.app import Exporter
from exporter.config import Config
from exporter.ingest.core import Ingestor
from exporter.labels import label_value
from exporter.metrics import LabelGuard, MetricSet, StaleGauges
from tests.privacy_cases import INSTANCE_OK, INSTANCE_REFUSED, LABEL_OK, LABEL_REFUSED

NS = "anclora"


def make():
    reg = CollectorRegistry()
    guard = LabelGuard(1000)
    metrics = MetricSet(NS, reg, guard)
    gauges = StaleGauges(NS, guard, 60)
    reg.register(gauges)
    return reg, metrics, gauges


def overflow(reg, metric):
    return reg.get_sample_value(f"{NS}_exporter_label_overflow_total", {"metric": metric})


@pytest.mark.parametrize("case", LABEL_REFUSED, ids=[c.shape for c in LABEL_REFUSED])
def test_private_or_unsafe_values_are_refused(case):
    assert label_value(case.value) is None


@pytest.mark.parametrize("case", LABEL_OK, ids=[c.shape for c in LABEL_OK])
def test_ordinary_values_are_kept(case):
    assert label_value(case.value) == case.value


@pytest.mark.parametrize("case", INSTANCE_OK, ids=[c.shape for c in INSTANCE_OK])
def test_instance_names_and_meta_phone_number_ids_are_kept(case):
    assert label_value(case.value, "instance") == case.value


@pytest.mark.parametrize("case", INSTANCE_REFUSED, ids=[c.shape for c in INSTANCE_REFUSED])
def test_no_phone_number_passes_as_an_instance(case):
    assert label_value(case.value, "instance") is None


def test_a_phone_number_id_is_published_a_display_number_never():
    """The instance rule reaches every metric whose catalog entry marks instance_name."""
    reg, metrics, _ = make()
    for value in ("106540352242922", "15550783881", "+1 555-078-3881", "sales-1"):
        metrics.inc("whatsapp_rate_limit_hits_total", instance_name=value)
        metrics.inc("analytics_messages_sent_total", message_type=value, campaign_id="x")
    get = lambda name, **labels: reg.get_sample_value(f"{NS}_{name}", labels)
    assert get("whatsapp_rate_limit_hits_total", instance_name="106540352242922") == 1
    assert get("whatsapp_rate_limit_hits_total", instance_name="sales-1") == 1
    assert get("whatsapp_rate_limit_hits_total", instance_name="other") == 2
    # a label without the instance kind keeps the plain rule: the id is refused there
    assert get("analytics_messages_sent_total", message_type="other", campaign_id="x") == 3
    text = generate_latest(reg).decode()
    assert "5550783881" not in text and "555-078" not in text


@pytest.mark.parametrize("case", LABEL_REFUSED, ids=[c.shape for c in LABEL_REFUSED])
def test_refused_values_never_reach_metrics(case):
    """Counter, histogram and stale gauge: folded into `other`, counted, scrape still works."""
    reg, metrics, gauges = make()
    metrics.inc("analytics_messages_sent_total", message_type=case.value, campaign_id="spring")
    metrics.observe("whatsapp_api_latency_seconds", 0.2, endpoint=case.value, method="POST")
    gauges.set("business_sales_pipeline", 3, stage=case.value)
    text = generate_latest(reg).decode("utf-8")  # raised UnicodeEncodeError on "\ud800"
    assert case.value not in text
    assert reg.get_sample_value(f"{NS}_analytics_messages_sent_total",
                                {"message_type": "other", "campaign_id": "spring"}) == 1
    assert reg.get_sample_value(f"{NS}_whatsapp_api_latency_seconds_count",
                                {"endpoint": "other", "method": "POST"}) == 1
    assert reg.get_sample_value(f"{NS}_business_sales_pipeline", {"stage": "other"}) == 3
    for metric in ("analytics_messages_sent_total", "whatsapp_api_latency_seconds",
                   "business_sales_pipeline"):
        assert overflow(reg, metric) == 1


@pytest.mark.parametrize("value", ["+34 600 123 456", "+34-600-123-456", "+34.600.123.456",
                                   "(+34) 600 123 456", "+34 600 12 34 56"])
def test_phone_numbers_in_events_never_reach_metrics(value):
    """The issue's own formats, through event validation and the mapping."""
    reg, metrics, gauges = make()
    ing = Ingestor(metrics, gauges)
    ing.apply([ing.check({"type": "message_sent", "message_type": value, "campaign_id": value}),
               ing.check({"type": "message_received", "message_type": value}),
               ing.check({"type": "queue_message_added", "queue": "q", "message_type": value})])
    text = generate_latest(reg).decode()
    digits = "".join(ch for ch in value if ch.isdigit())
    assert value not in text and digits[-6:] not in text
    assert reg.get_sample_value(f"{NS}_analytics_messages_received_total",
                                {"message_type": "other"}) == 1
    assert reg.get_sample_value(f"{NS}_queue_messages_total",
                                {"queue": "q", "priority": "normal", "message_type": "other"}) == 1


async def test_bullmq_job_named_with_a_phone_number_is_not_published(redis_url):
    """A BullMQ job's name becomes message_type: it goes through the same rule."""
    exp = Exporter(Config.defaults(redis_url=redis_url, redis_timeout=1.0, queues=("ev",),
                                   consumer_name="privacy"))
    exp.bullmq_events.consumer.block_ms = 20
    r = redis_sync.Redis.from_url(redis_url)
    r.hset("bull:ev:meta", "opts.maxLenEvents", 10000)
    r.xadd("bull:ev:events", {"event": "drained"})
    await exp.bullmq_events.poll_once()  # creates the group at $
    names = ["+34 600 123 456", "send_34600123456", "34600123456@s.whatsapp.net",
             "token=abc123def456", "welcome"]
    for i, name in enumerate(names):
        r.xadd("bull:ev:events", {"event": "added", "jobId": str(i), "name": name})
    r.close()
    for _ in range(3):
        await exp.bullmq_events.poll_once()
    text = generate_latest(exp.registry).decode()
    for name in names[:-1]:
        assert name not in text
    assert "600123456" not in text and "abc123def456" not in text
    get = lambda t: exp.registry.get_sample_value(
        f"{NS}_queue_messages_total", {"queue": "ev", "priority": "unknown", "message_type": t})
    assert (get("other"), get("welcome")) == (4, 1)
    assert overflow(exp.registry, "queue_messages_total") == 4
    await exp.stop()

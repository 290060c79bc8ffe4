"""Every event type becomes the exact counter/histogram/gauge values the mapping promises,
and the schema file and the fast validator agree on valid and invalid events."""

import json
from pathlib import Path

import jsonschema
import pytest
from prometheus_client import CollectorRegistry

from exporter import catalog
from exporter.ingest import mapping, schema
from exporter.ingest.core import Ingestor
from exporter.metrics import LabelGuard, MetricSet, StaleGauges
from tests.ingest_cases import CASES, INVALID, NS

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "exporter/ingest/events.schema.json"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def make(clock=None):
    reg = CollectorRegistry()
    guard = LabelGuard(100)
    metrics = MetricSet(NS, reg, guard)
    gauges = StaleGauges(NS, guard, 60, clock or Clock())
    reg.register(gauges)
    return reg, Ingestor(metrics, gauges), gauges


def value(reg, name, labels=()):
    return reg.get_sample_value(f"{NS}_{name}", dict(labels))


def test_every_event_type_has_a_case_and_a_mapping():
    assert set(CASES) == set(schema.BY_TYPE) == set(mapping.MAPPING)
    assert mapping.check() == []


@pytest.mark.parametrize("etype", sorted(CASES))
def test_event_becomes_exact_metric_values(etype):
    event, expected = CASES[etype]
    reg, ing, _ = make()
    ing.apply([ing.check(event)])
    ing.apply([ing.check(dict(event))])  # twice: counters double, gauges stay
    for (name, labels), v in expected.items():
        spec = catalog.BY_NAME.get(name) or catalog.BY_NAME.get(name.rsplit("_", 1)[0])
        twice = 1 if spec is not None and spec.type == catalog.GAUGE else 2
        assert value(reg, name, labels) == pytest.approx(v * twice), (name, labels)
    assert value(reg, "exporter_events_ingested_total", [("type", etype)]) == 2


@pytest.mark.parametrize("etype", sorted(CASES))
def test_schema_file_accepts_every_example(etype):
    jsonschema.validate(CASES[etype][0], json.loads(SCHEMA_FILE.read_text()))


@pytest.mark.parametrize("event,reason", INVALID, ids=[r for _, r in INVALID])
def test_schema_file_and_validator_agree_on_invalid(event, reason):
    with pytest.raises(schema.Invalid) as e:
        schema.validate(event)
    assert e.value.reason == reason
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(event, json.loads(SCHEMA_FILE.read_text()))


def test_schema_is_a_valid_draft_2020_12_schema():
    # Drift of events.schema.json from schema.json_schema_text() is test_generated's.
    jsonschema.Draft202012Validator.check_schema(schema.json_schema())


def test_defaults_are_filled_and_input_not_mutated():
    e = {"type": "message_sent"}
    assert schema.validate(e) == {"type": "message_sent", "message_type": "text",
                                  "campaign_id": "none"}
    assert e == {"type": "message_sent"}


@pytest.mark.parametrize("n,rng", [(1, "1"), (2, "2-10"), (10, "2-10"), (11, "11-50"),
                                   (100, "51-100"), (500, "101-500"), (501, "501+")])
def test_batch_size_ranges(n, rng):
    assert mapping.batch_size_range(n) == rng
    assert rng in catalog.BATCH_SIZE_RANGES


def test_phone_number_or_unknown_error_type_never_becomes_a_label():
    reg, ing, _ = make()
    ing.apply([ing.check({"type": "webhook_received", "event_type": "messages",
                          "instance_name": "34600111222"}),
               ing.check({"type": "queue_message_failed", "queue": "q", "message_type": "text",
                          "error_type": "ECONNRESET by peer"})])
    assert value(reg, "whatsapp_webhooks_received_total",
                 [("event_type", "messages"), ("instance_name", "other")]) == 1
    assert value(reg, "queue_messages_failed_total",
                 [("error_type", "other"), ("message_type", "text"), ("queue", "q")]) == 1
    assert value(reg, "exporter_label_overflow_total",
                 [("metric", "whatsapp_webhooks_received_total")]) == 1


def test_gauges_go_stale_when_the_reporter_stops():
    clock = Clock()
    reg, ing, gauges = make(clock)
    ing.apply([ing.check(CASES["active_conversations"][0]),
               ing.check(CASES["circuit_breaker_state"][0])])
    assert value(reg, "analytics_active_conversations") == 17
    clock.now += 59
    ing.apply([ing.check({"type": "active_conversations", "count": 4})])
    clock.now += 2  # breaker last reported 61 s ago (ttl 60), conversations 2 s ago
    assert value(reg, "analytics_active_conversations") == 4
    assert value(reg, "circuit_breaker_state", [("breaker", "whatsapp"), ("state", "open")]) is None
    clock.now += 60
    assert value(reg, "analytics_active_conversations") is None


# 6e5 s: past every bucket (+Inf), yet within the schema's one-week bound.
@pytest.mark.parametrize("v", [0, 0.005, 0.0051, 0.3, 60.0, 61.0, 6e5])
def test_fast_observe_matches_prometheus_observe(v):
    reg, ing, _ = make()
    event = {"type": "response_time", "seconds": v}
    ing.applier.apply(ing.check(event), 3)
    ref_reg = CollectorRegistry()
    from prometheus_client import Histogram
    ref = Histogram("ref", "ref", buckets=catalog.get("analytics_response_time_seconds").buckets,
                    registry=ref_reg)
    for _ in range(3):
        ref.observe(v)
    for bound in [*map(float, catalog.get("analytics_response_time_seconds").buckets), "+Inf"]:
        le = str(bound) if bound != "+Inf" else bound
        assert value(reg, "analytics_response_time_seconds_bucket", [("le", le)]) == \
            ref_reg.get_sample_value("ref_bucket", {"le": le}), le
    assert value(reg, "analytics_response_time_seconds_sum") == pytest.approx(3 * v)

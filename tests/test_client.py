"""The Python client: every helper makes a schema-valid event, covering every event type,
and both transports deliver to a real exporter / Redis."""

import asyncio
import json

import pytest
import redis as redis_sync

import anclora_client as client_mod
from anclora_client import EventClient, HttpTransport, RedisStreamTransport
from exporter.ingest import schema
from tests.support.scrape import scrape

# One call per helper, with the arguments a bot would pass.
CALLS = {
    "record_queue_message": (("template", "high", "outbound"), {}),
    "record_queue_processed": (("text",), {"duration_seconds": 0.2}),
    "record_queue_failed": (("text", "timeout"), {}),
    "record_bulk_operation": ((40,), {}),
    "record_message_sent": (("template",), {"campaign_id": "spring"}),
    "record_message_delivered": ((), {}),
    "record_message_read": ((), {}),
    "record_message_received": ((), {}),
    "record_conversion": (("sale", 350000), {}),
    "record_handoff": (("customer_request",), {}),
    "record_response_time": ((12.5,), {}),
    "set_active_conversations": ((17,), {}),
    "record_whatsapp_api_call": (("messages",), {"status_code": 503, "latency_seconds": 1.2}),
    "record_webhook": (("statuses",), {}),
    "record_rate_limit_hit": ((), {"instance_name": "sales-1"}),
    "set_active_instances": ((2,), {}),
    "record_intent": (("book_viewing",), {"confidence": 0.9, "automated": True}),
    "record_lead": (("whatsapp", "hot"), {}),
    "record_appointment": (("viewing",), {}),
    "record_property_inquiry": ((420000,), {}),
    "set_sales_pipeline": (("negotiation", 4), {}),
    "record_redis_operation": (("get",), {"latency_seconds": 0.001}),
    "set_redis_pool": ((3, 20), {}),
    "record_error": (("critical", "api"), {}),
    "record_http_request": (("/api/leads", 200, 0.05), {}),
    "set_circuit_breaker_state": (("whatsapp", "half_open"), {}),
    "record_rate_limit_rejection": (("api",), {}),
    "record_cache_request": (("properties", True), {}),
    "set_runtime": (("api",), {"heap_used_bytes": 10_000_000, "event_loop_lag_seconds": 0.01}),
}


class Collect:
    def __init__(self, fail=0):
        self.events, self.fail = [], fail

    def send(self, events):
        if self.fail:
            self.fail -= 1
            raise ConnectionError("down")
        self.events.extend(events)


def all_events():
    t = Collect()
    c = EventClient(t, validate=True)
    for name, (args, kwargs) in CALLS.items():
        getattr(c, name)(*args, **kwargs)
    return t.events


def test_every_helper_makes_a_valid_event_and_every_type_has_a_helper():
    assert set(CALLS) == set(client_mod.HELPERS)
    events = all_events()
    assert len(events) == len(CALLS)
    for e in events:
        schema.validate(e)
    assert {e["type"] for e in events} == set(schema.BY_TYPE)


def test_validate_raises_on_bad_event_and_default_client_sends_anyway():
    with pytest.raises(ValueError):
        EventClient(Collect(), validate=True).record_conversion("sale", -5)
    t = Collect()
    EventClient(t).record_conversion("sale", -5)  # the exporter counts it as rejected
    assert t.events == [{"type": "conversion", "conversion_type": "sale", "value_euros": -5,
                         "campaign_id": "none"}]


def test_batching_and_retry_after_transport_failure():
    t = Collect(fail=2)
    c = EventClient(t, batch_size=3, max_buffer=4)
    c.record_message_read()
    c.record_message_read()
    assert t.events == []
    c.record_message_read()  # third: flush, which fails; events kept
    assert t.events == [] and c.errors == 1
    c.record_message_delivered()  # fails again, 4 kept
    assert c.errors == 2 and c.dropped == 0
    c.record_message_delivered()  # 5 > max_buffer 4: the oldest is dropped, then sent
    assert c.dropped == 1 and c.sent == 4
    assert [e["type"] for e in t.events] == ["message_read"] * 2 + ["message_delivered"] * 2


def test_module_level_helpers_use_the_configured_client():
    t = Collect()
    client_mod.configure(t)
    try:
        client_mod.record_lead("web")
        client_mod.set_active_conversations(3)
    finally:
        client_mod._default = None
    assert t.events == [{"type": "lead_captured", "source": "web", "quality": "unknown"},
                        {"type": "active_conversations", "count": 3}]


def test_module_helper_imported_before_configure_reaches_the_configured_client():
    from anclora_client import record_message_read  # before configure, as an app may
    with pytest.raises(RuntimeError, match="configure"):
        record_message_read()
    t = Collect()
    client_mod.configure(t)
    try:
        record_message_read()
    finally:
        client_mod._default = None
    assert t.events == [{"type": "message_read"}]
    assert "record_message_read" in dir(client_mod)
    with pytest.raises(AttributeError):
        client_mod.record_nothing  # noqa: B018 - only HELPERS are helpers


def test_stream_transport_writes_one_json_event_per_entry(redis_url):
    r = redis_sync.Redis.from_url(redis_url)
    c = EventClient(RedisStreamTransport(r, stream="s"), batch_size=10)
    c.record_message_sent()
    c.record_conversion("sale", 1000)
    assert r.xlen("s") == 0
    c.close()
    entries = r.xrange("s")
    assert [json.loads(f[b"event"]) for _, f in entries] == [
        {"type": "message_sent", "message_type": "text", "campaign_id": "none"},
        {"type": "conversion", "conversion_type": "sale", "value_euros": 1000,
         "campaign_id": "none"}]
    r.close()


async def test_http_transport_against_the_exporter(http):  # noqa: F811
    server = await http(auth_token="t0k")
    url = str(server.make_url("/events"))
    c = EventClient(HttpTransport(url, token="t0k"), batch_size=100)
    for name, (args, kwargs) in CALLS.items():
        getattr(c, name)(*args, **kwargs)
    c.record_conversion("sale", -1)  # refused by the exporter, counted there
    assert await asyncio.to_thread(c.flush) == len(CALLS) + 1
    assert c.errors == 0
    s = await scrape(server)
    total = sum(v for (n, _), v in s.items() if n == "anclora_exporter_events_ingested_total")
    assert total == len(CALLS)
    assert s[("anclora_exporter_events_rejected_total", (("reason", "invalid_value"),))] == 1
    assert s[("anclora_analytics_conversion_value_euros_sum", (("conversion_type", "sale"),))] == 350000

    bad = EventClient(HttpTransport(url, token="wrong"))
    bad.record_message_read()
    assert bad.errors == 1 and bad.sent == 0

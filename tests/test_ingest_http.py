"""POST /events: JSON, arrays, NDJSON, partial batches, 400/401/413, all counted by reason."""

import json

import pytest

from tests.ingest_cases import CASES
from tests.support.scrape import rejected, scrape


async def test_every_case_through_http_as_one_array(http):
    client = await http()
    r = await client.post("/events", json=[e for e, _ in CASES.values()])
    assert r.status == 200
    assert await r.json() == {"accepted": len(CASES), "rejected": [], "rejected_count": 0}
    s = await scrape(client)
    for etype, (_, expected) in CASES.items():
        assert s[("anclora_exporter_events_ingested_total", (("type", etype),))] == 1
        for (name, labels), v in expected.items():
            if v:
                assert s[(f"anclora_{name}", labels)] == pytest.approx(v), name


async def test_single_object_and_ndjson(http):
    client = await http()
    r = await client.post("/events", json={"type": "message_delivered"})
    assert r.status == 200 and (await r.json())["accepted"] == 1
    body = b'{"type":"message_delivered"}\n\n{"type":"message_read"}\n'
    r = await client.post("/events", data=body, headers={"Content-Type": "application/x-ndjson"})
    assert r.status == 200 and (await r.json())["accepted"] == 2
    s = await scrape(client)
    assert s[("anclora_analytics_messages_delivered_total", ())] == 2
    assert s[("anclora_analytics_messages_read_total", ())] == 1


async def test_batch_with_one_bad_event_counts_the_good_ones(http):
    client = await http()
    batch = [{"type": "message_sent"}, {"type": "message_sent", "to": "+34600111222"},
             {"type": "message_read"}]
    r = await client.post("/events", json=batch)
    assert r.status == 207
    body = await r.json()
    assert body["accepted"] == 2 and body["rejected_count"] == 1
    assert body["rejected"][0]["index"] == 1 and body["rejected"][0]["reason"] == "unknown_field"
    assert "34600111222" not in json.dumps(body)
    s = await scrape(client)
    assert s[("anclora_analytics_messages_sent_total",
              (("campaign_id", "none"), ("message_type", "text")))] == 1
    assert s[("anclora_analytics_messages_read_total", ())] == 1
    assert rejected(s, "unknown_field") == 1
    assert s[("anclora_exporter_events_ingested_total", (("type", "message_sent"),))] == 1


async def test_ndjson_bad_line_is_rejected_by_index(http):
    client = await http()
    body = b'{"type":"message_read"}\n{not json\n{"type":"nope"}\n'
    r = await client.post("/events", data=body, headers={"Content-Type": "application/x-ndjson"})
    assert r.status == 207
    body = await r.json()
    assert [(x["index"], x["reason"]) for x in body["rejected"]] == [(1, "malformed"),
                                                                    (2, "unknown_type")]
    s = await scrape(client)
    assert rejected(s, "malformed") == 1 and rejected(s, "unknown_type") == 1


async def test_malformed_json_is_400_and_counted(http):
    client = await http()
    r = await client.post("/events", data=b'{"type": "message_read"',
                          headers={"Content-Type": "application/json"})
    assert r.status == 400 and "not JSON" in (await r.json())["error"]
    r = await client.post("/events", data=b'"just a string"',
                          headers={"Content-Type": "application/json"})
    assert r.status == 400
    r = await client.post("/events", json=[{"type": "nope"}])  # nothing accepted
    assert r.status == 400 and (await r.json())["accepted"] == 0
    s = await scrape(client)
    assert rejected(s, "malformed") == 1
    assert rejected(s, "not_an_object") == 1
    assert rejected(s, "unknown_type") == 1
    assert ("anclora_analytics_messages_read_total", ()) not in s


async def test_oversized_body_is_413_counted_and_not_applied(http):
    client = await http(max_body_bytes=1024)
    big = [{"type": "message_read"}] * 100  # ~2.6 kB
    r = await client.post("/events", json=big)
    assert r.status == 413 and "ANCLORA_MAX_BODY_BYTES" in (await r.json())["error"]

    async def chunks():  # no Content-Length: the limit applies while reading
        for _ in range(100):
            yield b'{"type":"message_read"}\n'
    r = await client.post("/events", data=chunks(),
                          headers={"Content-Type": "application/x-ndjson"})
    assert r.status == 413
    s = await scrape(client)
    assert rejected(s, "too_large") == 2
    assert ("anclora_analytics_messages_read_total", ()) not in s


async def test_token_required_when_configured(http):
    client = await http(auth_token="s3cret")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        r = await client.post("/events", json={"type": "message_read"}, headers=headers)
        assert r.status == 401 and "error" in await r.json()
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = await client.post("/events", json={"type": "message_read"},
                          headers={"Authorization": "Bearer s3cret"})
    assert r.status == 200
    s = await scrape(client)
    assert rejected(s, "unauthorized") == 3
    assert s[("anclora_analytics_messages_read_total", ())] == 1


async def test_rejections_are_logged_once_per_reason_without_the_body(http, caplog):
    client = await http()
    with caplog.at_level("WARNING", logger="anclora.ingest"):
        for _ in range(3):
            await client.post("/events", json={"type": "message_sent", "to": "+34600111222"})
    lines = [r for r in caplog.records if r.name == "anclora.ingest"]
    assert len(lines) == 1 and lines[0].reason == "unknown_field"
    assert "34600111222" not in repr(lines[0].__dict__)
    assert rejected(await scrape(client), "unknown_field") == 3

"""Hostile input on both inputs: each refused with a clear reason and counted, never a 500,
never a /metrics that stops rendering, never a loop blocked for seconds (issue 9, items
5, 6, 7, 8 and 10)."""

import asyncio
import json
import time

import pytest

from exporter.ingest import schema
from tests.support.scrape import rejected, scrape
from tests.support.streams import drain, val

SURROGATE = '{"type":"message_sent","message_type":"\\ud800"}'  # valid JSON, not UTF-8-able


# --- 5: a lone surrogate --------------------------------------------------------------

def test_schema_refuses_labels_not_encodable_as_utf8():
    with pytest.raises(schema.Invalid) as e:
        schema.validate(json.loads(SURROGATE))
    assert e.value.reason == "invalid_field" and "UTF-8" in str(e.value)
    # Non-ASCII but valid text stays accepted.
    assert schema.validate({"type": "message_sent", "message_type": "café ñ 🚀"})


async def test_surrogate_over_http_is_refused_and_metrics_keep_rendering(http):
    client = await http()
    r = await client.post("/events", data=SURROGATE, headers={"Content-Type": "application/json"})
    assert r.status == 400 and (await r.json())["rejected"][0]["reason"] == "invalid_field"
    m = await client.get("/metrics")
    assert m.status == 200
    assert rejected(await scrape(client), "invalid_field") == 1


async def test_surrogate_in_the_stream_is_refused_and_metrics_keep_rendering(exporters, r):
    from exporter.exposition import generate_latest
    e, consumer = exporters()
    r.xadd("anclora:events", {"event": SURROGATE})
    r.xadd("anclora:events", {"event": '{"type":"message_read"}'})
    await drain(consumer)
    assert val(e, "exporter_events_rejected_total", [("reason", "invalid_field")]) == 1
    assert val(e, "exporter_events_ingested_total", [("type", "message_read")]) == 1
    assert b"message_read" in generate_latest(e.registry)  # renders: no UnicodeEncodeError


# --- 6: deep nesting --------------------------------------------------------------------

@pytest.mark.parametrize("ndjson", [False, True])
async def test_deeply_nested_body_is_400_malformed_and_counted(http, ndjson):
    client = await http()
    body = b"[" * 1000 + b"]" * 1000  # 2 kB
    headers = {"Content-Type": "application/x-ndjson" if ndjson else "application/json"}
    r = await client.post("/events", data=body, headers=headers)
    assert r.status == 400
    answer = await r.json()
    assert answer["rejected"][0]["reason"] == "malformed" and "nested" in answer["rejected"][0]["error"]
    assert rejected(await scrape(client), "malformed") == 1


async def test_ndjson_line_not_utf8_costs_that_line_only(http):
    client = await http()
    body = b'{"type":"message_read"}\n"\xff\xfe"\n{"type":"message_read"}\n'
    r = await client.post("/events", data=body, headers={"Content-Type": "application/x-ndjson"})
    assert r.status == 207
    answer = await r.json()
    assert answer["accepted"] == 2
    assert [(x["index"], x["reason"]) for x in answer["rejected"]] == [(1, "malformed")]
    s = await scrape(client)
    assert s[("anclora_analytics_messages_read_total", ())] == 2


# --- 7: huge and non-finite numbers -------------------------------------------------------

def test_schema_table_bounds():
    """Every number field has a finite maximum, and the JSON Schema carries it."""
    for t in schema.EVENT_TYPES:
        for f in schema.COMMON + t.fields:
            if f.kind in (schema.NUMBER, schema.INT):
                assert f.minimum is not None and f.maximum is not None, (t.name, f.name)
                assert f.maximum <= 1e19, (t.name, f.name)
    defs = schema.json_schema()["$defs"]
    assert defs["conversion"]["properties"]["value_euros"]["maximum"] == schema.EUR_MAX
    assert defs["runtime"]["properties"]["rss_bytes"]["maximum"] == schema.COUNT_MAX
    assert "invalid_value" in schema.REASONS


@pytest.mark.parametrize("event", [
    {"type": "conversion", "conversion_type": "sale", "value_euros": 10 ** 400},
    {"type": "conversion", "conversion_type": "sale", "value_euros": 1e308},
    {"type": "conversion", "conversion_type": "sale", "value_euros": float("inf")},
    {"type": "conversion", "conversion_type": "sale", "value_euros": float("nan")},
    {"type": "conversion", "conversion_type": "sale", "value_euros": -1},
    {"type": "response_time", "seconds": 10 ** 6},
    {"type": "active_conversations", "count": 2 ** 53 + 1},
    {"type": "active_conversations", "count": 10 ** 400},
    {"type": "runtime", "service": "api", "rss_bytes": 1e300},
    {"type": "message_read", "ts": 10 ** 400},
])
def test_schema_refuses_out_of_range_numbers_as_invalid_value(event):
    with pytest.raises(schema.Invalid) as e:
        schema.validate(event)
    assert e.value.reason == "invalid_value"


async def test_huge_numbers_over_http_are_refused_not_half_applied(http):
    client = await http()
    body = ('[{"type":"conversion","conversion_type":"sale","value_euros":' + "9" * 400 + "},"
            '{"type":"conversion","conversion_type":"sale","value_euros":1e308},'
            '{"type":"conversion","conversion_type":"sale","value_euros":1e308},'
            '{"type":"conversion","conversion_type":"sale","value_euros":1e400},'
            '{"type":"conversion","conversion_type":"sale","value_euros":250000}]')
    r = await client.post("/events", data=body, headers={"Content-Type": "application/json"})
    assert r.status == 207
    answer = await r.json()
    assert answer["accepted"] == 1
    assert [(x["index"], x["reason"]) for x in answer["rejected"]] == [
        (0, "invalid_value"), (1, "invalid_value"), (2, "invalid_value"), (3, "invalid_value")]
    s = await scrape(client)
    assert rejected(s, "invalid_value") == 4 and rejected(s, "internal_error") == 0
    sale = (("conversion_type", "sale"),)
    assert s[("anclora_analytics_conversion_value_euros_sum", sale)] == 250000
    assert s[("anclora_analytics_conversion_value_euros_count", sale)] == 1
    total = sum(v for (n, labels), v in s.items() if n == "anclora_analytics_conversions_total")
    assert total == 1


# --- 8: a non-UTF-8 Authorization header --------------------------------------------------

async def test_non_utf8_authorization_is_401_and_counted(http):
    client = await http(auth_token="s3cret")
    host, port = client.server.host, client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    body = b'{"type":"message_read"}'
    writer.write(b"POST /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n"
                 b"Content-Type: application/json\r\nConnection: close\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 401"), status_line
    s = await scrape(client)
    assert rejected(s, "unauthorized") == 1
    assert ("anclora_analytics_messages_read_total", ()) not in s


# --- 10: one body must not block the loop ------------------------------------------------

async def test_metrics_answer_quickly_during_three_ndjson_floods(http):
    client = await http()
    flood = b"1\n" * (1 << 19)  # 1 MiB of non-objects: 524,288 refusals
    headers = {"Content-Type": "application/x-ndjson"}
    await client.get("/metrics")  # warm
    floods = [asyncio.create_task(client.post("/events", data=flood, headers=headers))
              for _ in range(3)]
    await asyncio.sleep(0.05)  # the floods are being read
    latencies = []
    while not all(f.done() for f in floods) and len(latencies) < 200:
        started = time.perf_counter()
        m = await client.get("/metrics")
        await m.read()
        assert m.status == 200
        latencies.append(time.perf_counter() - started)
    answers = [await f for f in floods]
    assert [a.status for a in answers] == [400] * 3
    body = await answers[0].json()
    assert body["rejected_count"] == 1 << 19 and len(body["rejected"]) == 100
    assert rejected(await scrape(client), "not_an_object") == 3 << 19
    assert latencies, "no scrape ran during the floods"
    latencies.sort()
    print(f"/metrics during 3 floods: n={len(latencies)} max={latencies[-1]:.3f}s "
          f"p50={latencies[len(latencies) // 2]:.3f}s")
    assert latencies[-1] < 1.0, latencies

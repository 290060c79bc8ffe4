"""Evolution API v2 webhooks (issue 12): the token (header, or query for the global webhook),
both event spellings, every event the exporter reads, statuses counted once across
retries and replicas, and the response time, against a real redis-server. Payloads are
Evolution's ``{event, instance, data, date_time, sender, server_url, apikey}``."""

from __future__ import annotations

import json

import pytest

from anclora_demo import whatsapp as wa
from tests.support.scrape import rejected, scrape

TOKEN = "evo-token-1"
CONFIG = {"evolution_webhook_token": TOKEN, "health_interval": 0, "bullmq_events": False,
          "events_stream": ""}
NUMBER, T0 = "34600123456", 1_764_500_000
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def post(client, doc, headers=AUTH, path="/webhooks/evolution", params=None):
    return await client.post(path, data=json.dumps(doc).encode(), params=params,
                             headers={"Content-Type": "application/json", **headers})


def get(s, name, **labels):
    return s.get((f"anclora_{name}", tuple(sorted(labels.items()))), 0)


async def test_token_in_the_header_or_the_query_else_401(http):
    client = await http(**CONFIG)
    doc = wa.evolution("qrcode.updated", {"qrcode": {"code": "2@abc", "base64": "data:..."}})
    assert (await post(client, doc)).status == 200
    # Evolution's global webhook sends no header: the token rides in the URL; with
    # webhook_by_events Evolution appends /<event> to it (to the query's value, too)
    assert (await post(client, doc, {}, params={"token": TOKEN})).status == 200
    assert (await post(client, doc, {}, "/webhooks/evolution/qrcode-updated",
                       {"token": f"{TOKEN}/qrcode-updated"})).status == 200
    for headers, params in (({}, None), ({"Authorization": "Bearer nope"}, None),
                            ({"Authorization": TOKEN}, None), ({}, {"token": "nope"})):
        r = await post(client, doc, headers, params=params)
        assert r.status == 401 and TOKEN not in await r.text()
    s = await scrape(client)
    assert rejected(s, "bad_signature") == 4
    assert get(s, "whatsapp_qr_required_total", instance_name="sales-2") == 3


@pytest.mark.parametrize("spelling", ["connection.update", "CONNECTION_UPDATE"])
async def test_connection_state_and_active_instances_from_both_spellings(http, spelling):
    client = await http(**CONFIG)
    for instance, state in (("sales-2", "connecting"), ("sales-2", "open"),
                            ("sales-3", "open"), ("sales-4", "close"), ("sales-3", "close")):
        doc = wa.evolution(spelling, {"instance": instance, "state": state,
                                      "statusReason": 200}, instance)
        assert (await post(client, doc)).status == 200
    s = await scrape(client)
    assert get(s, "whatsapp_instance_connected", instance_name="sales-2") == 1
    assert get(s, "whatsapp_instance_connected", instance_name="sales-3") == 0
    assert get(s, "whatsapp_instance_connected", instance_name="sales-4") == 0
    assert get(s, "whatsapp_active_instances") == 1
    assert get(s, "whatsapp_webhooks_received_total", event_type="connection.update",
               instance_name="sales-2") == 2


async def test_every_event_read_and_unknown_ones_counted(http):
    client = await http(**CONFIG)
    upserts = [wa.upsert("3EB0A1", NUMBER, False, T0),
               wa.upsert("3EB0A2", NUMBER, False, T0, "imageMessage"),
               wa.upsert("3EB0A3", NUMBER, False, T0, "someFutureMessage"),
               wa.upsert("BAE5F1", NUMBER, True, T0 + 30)]  # the business's own
    docs = [wa.evolution("messages.upsert", m) for m in upserts] + [
        wa.evolution("MESSAGES_UPSERT", wa.upsert("3EB0A4", NUMBER, False, T0)),
        wa.evolution("messages.update", wa.update("BAE5F1", NUMBER, "SERVER_ACK")),
        wa.evolution("messages.update", wa.update("BAE5F1", NUMBER, "DELIVERY_ACK")),
        wa.evolution("MESSAGES_UPDATE", wa.update("BAE5F1", NUMBER, "READ")),
        wa.evolution("messages.update", wa.update("BAE5F2", NUMBER, "PLAYED")),
        wa.evolution("messages.update", wa.update("BAE5F3", NUMBER, "ERROR")),
        wa.evolution("messages.update", wa.update("BAE5F4", NUMBER, "PENDING")),
        wa.evolution("messages.update", wa.update("3EB0A1", NUMBER, "READ", from_me=False)),
        wa.evolution("send.message", wa.upsert("BAE5F5", NUMBER, True, T0 + 40)),
        wa.evolution("qrcode.updated", {"message": "QR code limit reached, please login "
                                                   "again", "statusCode": 500}),
        wa.evolution("presence.update", {"id": f"{NUMBER}@s.whatsapp.net"}),
        wa.evolution("logout.instance", {"instance": "sales-2"}),
        {"event": "messages.upsert"}]
    for doc in docs:
        assert (await post(client, doc)).status == 200
    s = await scrape(client)
    assert get(s, "analytics_messages_received_total", message_type="text") == 2
    assert get(s, "analytics_messages_received_total", message_type="image") == 1
    assert get(s, "analytics_messages_received_total", message_type="other") == 1
    for status, n in (("sent", 1), ("delivered", 2), ("read", 2), ("failed", 1)):
        # PLAYED is read and implies delivered
        assert get(s, "whatsapp_message_statuses_total", status=status, category="unknown") == n
    assert get(s, "analytics_messages_delivered_total") == 2
    assert get(s, "whatsapp_qr_required_total", instance_name="sales-2") == 1
    assert get(s, "whatsapp_instance_connected", instance_name="sales-2") == 0
    ignored = lambda reason: get(s, "exporter_webhook_ignored_total", source="evolution",
                                 reason=reason)
    assert (ignored("unhandled_status"), ignored("unhandled_event"), ignored("malformed")) \
        == (2, 1, 1)
    assert get(s, "whatsapp_webhooks_received_total", event_type="messages.upsert",
               instance_name="sales-2") == 5
    # Evolution reports no Meta error code: its failures are statuses, not codes
    assert not [k for k in s if k[0] == "anclora_whatsapp_message_failures_total"]


async def test_a_removed_instance_is_forgotten(http):
    client = await http(**CONFIG)
    await post(client, wa.evolution("connection.update", {"state": "open"}, "old-1"))
    assert get(await scrape(client), "whatsapp_instance_connected", instance_name="old-1") == 1
    await post(client, wa.evolution("remove.instance", {"instance": "old-1"}, "old-1"))
    assert ("anclora_whatsapp_instance_connected", (("instance_name", "old-1"),)) not in \
        await scrape(client)


async def test_retries_and_replicas_count_a_status_once(http):
    a, b = await http(**CONFIG), await http(**CONFIG)
    doc = wa.evolution("messages.update", wa.update("BAE5AA", NUMBER, "DELIVERY_ACK"))
    for client in (a, b, a):
        assert (await post(client, doc)).status == 200
    sa, sb = await scrape(a), await scrape(b)
    assert sum(get(s, "analytics_messages_delivered_total") for s in (sa, sb)) == 1
    assert sum(get(s, "exporter_webhook_duplicates_total", source="evolution")
               for s in (sa, sb)) == 2


async def test_response_time_from_a_customer_message_to_the_bot_reply(http):
    client = await http(**CONFIG)
    for m in (wa.upsert("3EB0B1", NUMBER, False, T0), wa.upsert("BAE5B2", NUMBER, True, T0 + 7),
              wa.upsert("BAE5B3", NUMBER, True, T0 + 9)):  # only the first reply answers
        await post(client, wa.evolution("messages.upsert", m))
    s = await scrape(client)
    assert get(s, "analytics_response_time_seconds_count") == 1
    assert get(s, "analytics_response_time_seconds_sum") == 7

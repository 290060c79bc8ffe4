"""Meta Cloud API webhooks (issue 12): the handshake, the signature, statuses counted once
whatever the retries, the order and the replicas, failures by every documented code, CBP
and PMP billing, templates, quality, the Graph API poll and the forwarder, against a real
redis-server and loopback stand-ins. Payloads are shaped as Meta's webhooks reference
shows them (anclora_demo.whatsapp builds them; the literal ones below are copied from it)."""

from __future__ import annotations

import asyncio
import json
import logging
import math

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, TestServer

from anclora_demo import whatsapp as wa
from exporter.app import Exporter
from exporter.config import Config
from exporter.ingest import meta, meta_codes
from exporter.server import make_app
from tests.support.procs import free_port
from tests.support.scrape import rejected, scrape

SECRET, VERIFY = "app-secret-1", "verify-me"
PNID, WAID = wa.PHONE_NUMBER_ID, "34600123456"
CONFIG = {"meta_app_secret": SECRET, "meta_verify_token": VERIFY, "health_interval": 0,
          "bullmq_events": False, "events_stream": ""}
T0 = 1_764_500_000

# Meta's webhooks reference, errors example (value-level errors: tied to no message).
ERRORS_EXAMPLE = {"object": "whatsapp_business_account", "entry": [{
    "id": "102290129340398", "changes": [{"value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "errors": [{"code": 130429, "title": "Rate limit hit", "message": "Rate limit hit",
                    "error_data": {"details": "Message failed to send because there were too "
                                              "many messages sent from this phone number in a "
                                              "short period of time"},
                    "href": "/documentation/business-messaging/whatsapp/support/error-codes"}]},
        "field": "messages"}]}]}


async def post(client, doc, secret=SECRET, signature=None, raw=None):
    body = raw if raw is not None else json.dumps(doc).encode()
    headers = {"Content-Type": "application/json"}
    sig = signature if signature is not None else meta.signature(secret, body)
    if sig:
        headers[meta.SIGNATURE_HEADER] = sig
    return await client.post("/webhooks/meta", data=body, headers=headers)


def statuses_doc(*statuses):
    return wa.meta_webhook(wa.messages(statuses=statuses))


def get(s, name, **labels):
    return s.get((f"anclora_{name}", tuple(sorted(labels.items()))), 0)


async def test_handshake_answers_the_challenge_only_with_the_verify_token(http):
    client = await http(**CONFIG)
    ok = await client.get("/webhooks/meta", params={
        "hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"})
    assert ok.status == 200 and await ok.text() == "1158201444"
    assert ok.content_type == "text/plain"
    for params in ({"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
                   {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY, "hub.challenge": "1"},
                   {}):
        r = await client.get("/webhooks/meta", params=params)
        assert r.status == 403 and "1" not in await r.text()
    assert rejected(await scrape(client), "bad_signature") == 3


async def test_signature_good_bad_and_missing(http):
    client = await http(**CONFIG)
    doc = statuses_doc(wa.status(wa.wamid(WAID, 1), "delivered", WAID, T0))
    assert (await post(client, doc)).status == 200
    assert (await post(client, doc, secret="another-secret")).status == 401
    assert (await post(client, doc, signature="")).status == 401   # missing
    assert (await post(client, doc, signature="sha256=" + "0" * 64)).status == 401
    body = json.dumps(doc).encode()
    tampered = body.replace(b'"delivered"', b'"read"')
    r = await post(client, None, raw=tampered, signature=meta.signature(SECRET, body))
    assert r.status == 401
    s = await scrape(client)
    assert rejected(s, "bad_signature") == 4
    assert get(s, "whatsapp_message_statuses_total", status="delivered", category="utility") == 1
    assert get(s, "whatsapp_message_statuses_total", status="read", category="utility") == 0


async def test_endpoints_are_off_without_secrets_and_the_start_log_says_so(http, caplog):
    client = await http(health_interval=0, events_stream="", bullmq_events=False)
    assert (await client.get("/webhooks/meta")).status == 404
    assert (await client.post("/webhooks/meta", data=b"{}")).status == 404
    assert (await client.post("/webhooks/evolution", data=b"{}")).status == 404
    with caplog.at_level(logging.INFO, logger="anclora.exporter"):
        await client.exporter.start()
    line = next(r for r in caplog.records if r.getMessage() == "whatsapp webhooks")
    assert line.meta == "off (404): no ANCLORA_META_APP_SECRET"
    assert line.evolution == "off (404): no ANCLORA_EVOLUTION_WEBHOOK_TOKEN"


async def test_funnel_pricing_pmp_and_cbp_and_the_cost(http):
    client = await http(**CONFIG, meta_rates={"marketing": 0.0509, "utility": 0.0166})
    m1, m2, m3 = (wa.wamid(WAID, n) for n in (1, 2, 3))
    doc = statuses_doc(
        # PMP: billed once, when delivered (Meta charges delivered templates)
        wa.status(m1, "sent", WAID, T0, "marketing"),
        wa.status(m1, "delivered", WAID, T0 + 1, "marketing"),
        wa.status(m1, "read", WAID, T0 + 2, "marketing"),
        # CBP: two messages in one conversation, billed once
        wa.status(m2, "delivered", WAID, T0, "utility", "CBP", conversation="CONV1"),
        wa.status(m3, "delivered", WAID, T0 + 5, "utility", "CBP", conversation="CONV1"),
        # service inside the customer service window: not billable
        wa.status(wa.wamid(WAID, 4), "delivered", WAID, T0, "service", billable=False))
    assert (await post(client, doc)).status == 200
    s = await scrape(client)
    assert get(s, "whatsapp_message_statuses_total", status="sent", category="marketing") == 1
    assert get(s, "whatsapp_message_statuses_total", status="delivered", category="marketing") == 1
    assert get(s, "whatsapp_message_statuses_total", status="read", category="marketing") == 1
    assert get(s, "whatsapp_message_statuses_total", status="delivered", category="utility") == 2
    assert get(s, "analytics_messages_delivered_total") == 4
    assert get(s, "analytics_messages_read_total") == 1
    assert get(s, "whatsapp_billable_messages_total", category="marketing",
               pricing_model="PMP") == 1
    assert get(s, "whatsapp_billable_messages_total", category="utility",
               pricing_model="CBP") == 1
    assert get(s, "whatsapp_billable_messages_total", category="service",
               pricing_model="PMP") == 0
    assert get(s, "whatsapp_estimated_cost_euros_total", category="marketing") == \
        pytest.approx(0.0509)
    assert get(s, "whatsapp_estimated_cost_euros_total", category="utility") == \
        pytest.approx(0.0166)
    assert get(s, "whatsapp_webhooks_received_total", event_type="messages",
               instance_name=PNID) == 1


async def test_a_retried_webhook_and_out_of_order_statuses_count_once(http):
    client = await http(**CONFIG)
    m = wa.wamid(WAID, 7)
    read_first = statuses_doc(wa.status(m, "read", WAID, T0 + 9, "marketing"))
    for _ in range(3):  # Meta's retries
        assert (await post(client, read_first)).status == 200
    # delivered arrives after read; then sent, last
    assert (await post(client, statuses_doc(
        wa.status(m, "delivered", WAID, T0 + 5, "marketing")))).status == 200
    assert (await post(client, statuses_doc(
        wa.status(m, "sent", WAID, T0, "marketing")))).status == 200
    s = await scrape(client)
    for st in ("sent", "delivered", "read"):
        assert get(s, "whatsapp_message_statuses_total", status=st, category="marketing") == 1
    assert get(s, "analytics_messages_delivered_total") == 1
    assert get(s, "whatsapp_billable_messages_total", category="marketing",
               pricing_model="PMP") == 1
    assert get(s, "exporter_webhook_duplicates_total", source="meta") == 3  # 2 reads, 1 delivered
    assert get(s, "whatsapp_webhooks_received_total", event_type="messages",
               instance_name=PNID) == 5


async def test_two_replicas_receiving_the_same_webhook_count_it_once(http):
    a, b = await http(**CONFIG), await http(**CONFIG)
    doc = statuses_doc(*(wa.status(wa.wamid(WAID, n), st, WAID, T0, "utility")
                         for n in range(50) for st in ("sent", "delivered")))
    answers = await asyncio.gather(*(post(c, doc) for c in (a, b, a, b)))
    assert [r.status for r in answers] == [200] * 4
    sa, sb = await scrape(a), await scrape(b)
    total = sum(get(s, "whatsapp_message_statuses_total", status="delivered", category="utility")
                for s in (sa, sb))
    assert total == 50
    assert sum(get(s, "analytics_messages_delivered_total") for s in (sa, sb)) == 50
    assert sum(get(s, "exporter_webhook_duplicates_total", source="meta")
               for s in (sa, sb)) == 300


async def test_a_1000_status_batch_is_counted_whole(http, r):
    client = await http(**CONFIG)
    kinds = ("sent", "delivered", "read", "failed")
    doc = statuses_doc(*(wa.status(wa.wamid(WAID, n), kinds[n % 4], WAID, T0, "marketing",
                                   errors=(131026,)) for n in range(1000)))
    assert len(json.dumps(doc)) < 1 << 20  # within ANCLORA_MAX_BODY_BYTES' default
    assert (await post(client, doc)).status == 200
    s = await scrape(client)
    for st in ("sent", "read"):
        assert get(s, "whatsapp_message_statuses_total", status=st, category="marketing") == 250
    # 250 delivered, and 250 implied by the reads of other messages
    assert get(s, "whatsapp_message_statuses_total", status="delivered",
               category="marketing") == 500
    assert get(s, "whatsapp_message_statuses_total", status="failed", category="unknown") == 250
    assert get(s, "whatsapp_message_failures_total", error_code="131026") == 250
    assert len(r.keys("anclora:wh:m:*")) == r.dbsize() - 1 == 1000  # a hash per message,
    # and the display number -> phone_number_id pairs


async def test_unknown_fields_statuses_and_bodies_are_ignored_and_counted(http):
    client = await http(**CONFIG)
    doc = wa.meta_webhook(
        ("account_update", {"phone_number": "15550783881", "event": "VERIFIED_ACCOUNT"}),
        wa.messages(statuses=[{"id": wa.wamid(WAID, 1), "status": "deleted",
                               "timestamp": str(T0), "recipient_id": WAID},
                              {"status": "sent", "timestamp": str(T0)},
                              wa.status(wa.wamid(WAID, 2), "sent", WAID, T0, "brand_new")]),
        ("messages", "not an object"))
    doc["entry"].append({"id": "1", "changes": "nope"})
    assert (await post(client, doc)).status == 200
    for raw in (b"not json", b'{"object": "page"}', b"[]", b'{"object": "whatsapp_business_'
                                                           b'account", "entry": 3}'):
        assert (await post(client, None, raw=raw)).status == 200
    s = await scrape(client)
    ignored = lambda reason: get(s, "exporter_webhook_ignored_total", source="meta", reason=reason)
    assert ignored("unhandled_field") == 1
    assert ignored("unhandled_status") == 1
    assert ignored("malformed") == 3 + 4  # the id-less status, bad change and entry; 4 bodies
    assert get(s, "whatsapp_message_statuses_total", status="sent", category="other") == 1
    assert get(s, "whatsapp_webhooks_received_total", event_type="account_update",
               instance_name="unknown") == 1


async def test_a_failed_status_for_each_documented_code(http):
    client = await http(**CONFIG)
    codes = [int(c) for c in meta_codes.MEANINGS] + [999_999]
    doc = statuses_doc(*(wa.status(wa.wamid(WAID, i), "failed", WAID, T0, errors=(code,))
                         for i, code in enumerate(codes)))
    assert (await post(client, doc)).status == 200
    s = await scrape(client)
    for code in meta_codes.MEANINGS:
        assert get(s, "whatsapp_message_failures_total", error_code=code) == 1, code
    assert get(s, "whatsapp_message_failures_total", error_code="other") == 1
    assert get(s, "whatsapp_message_statuses_total", status="failed",
               category="unknown") == len(codes)
    assert get(s, "whatsapp_rate_limit_hits_total", instance_name=PNID) == 3  # 130429 131048 131056
    assert get(s, "exporter_label_overflow_total", metric="whatsapp_message_failures_total") == 0


async def test_errors_tied_to_no_message_count_as_failures(http):
    client = await http(**CONFIG)
    assert (await post(client, ERRORS_EXAMPLE)).status == 200
    s = await scrape(client)
    assert get(s, "whatsapp_message_failures_total", error_code="130429") == 1
    assert get(s, "whatsapp_rate_limit_hits_total", instance_name=PNID) == 1


async def test_templates_and_number_quality_newest_wins(http):
    client = await http(**CONFIG)
    posts = [wa.meta_webhook(wa.template_update("spring_offer", "APPROVED"), at=T0),
             wa.meta_webhook(wa.template_update("spring_offer", "PAUSED"), at=T0 + 60),
             wa.meta_webhook(wa.template_update("spring_offer", "APPROVED"), at=T0 + 30),  # late
             wa.meta_webhook(wa.template_update("viewing_reminder", "REJECTED"), at=T0),
             wa.meta_webhook(wa.quality_update("FLAGGED", "TIER_1K"), at=T0),
             wa.meta_webhook(wa.quality_update("UPGRADE", "TIER_UNLIMITED"), at=T0 + 10)]
    for doc in posts:
        assert (await post(client, doc)).status == 200
    s = await scrape(client)
    assert get(s, "whatsapp_template_status", template="spring_offer", status="PAUSED") == 1
    assert get(s, "whatsapp_template_status", template="spring_offer", status="APPROVED") == 0
    assert ("anclora_whatsapp_template_status",
            (("status", "APPROVED"), ("template", "spring_offer"))) in s
    assert get(s, "whatsapp_template_status", template="viewing_reminder", status="REJECTED") == 1
    # The quality webhook names the number by its display number only: "unknown" until a
    # messages webhook pairs it with its phone_number_id.
    assert get(s, "whatsapp_quality_flagged", instance_name="unknown") == 1
    assert get(s, "whatsapp_messaging_limit", instance_name="unknown") == math.inf
    assert (await post(client, statuses_doc(wa.status(wa.wamid(WAID, 1), "sent", WAID, T0))
                       )).status == 200
    assert (await post(client, wa.meta_webhook(wa.quality_update("UNFLAGGED", "TIER_1K"),
                                                at=T0 + 20))).status == 200
    s = await scrape(client)
    assert get(s, "whatsapp_quality_flagged", instance_name=PNID) == 0
    assert get(s, "whatsapp_messaging_limit", instance_name=PNID) == 1000
    assert not any(k[0] == "anclora_whatsapp_quality_flagged" and ("instance_name", "unknown")
                   in k[1] for k in s)


async def test_graph_api_poll_against_a_stand_in(http, r):
    graph = await wa.GraphStandIn("graph-token", {PNID: {
        "quality_rating": "YELLOW", "messaging_limit_tier": "TIER_10K",
        "display_phone_number": "+1 555-078-3881"}},
        unknown_fields={"whatsapp_business_manager_messaging_limit"}).start()
    try:
        conf = {**CONFIG, "meta_access_token": "graph-token", "meta_graph_url": graph.url,
                "meta_phone_number_ids": (PNID,)}
        a, b = await http(**conf), await http(**conf)
        pollers = [c.exporter.graph_poller for c in (a, b)]
        async with ClientSession(headers={"Authorization": "Bearer graph-token"}) as session:
            done = [await p.poll_once(session) for p in pollers]
        assert done == [1, 0]  # the other replica found the interval's lock taken
        first, second = graph.requests
        assert {"quality_rating", "messaging_limit_tier"} <= set(first["fields"])
        assert "whatsapp_business_manager_messaging_limit" not in second["fields"]  # dropped
        assert first["authorized"] and second["id"] == PNID
        # a quality webhook (display number only) now lands on the polled number
        await post(a, wa.meta_webhook(wa.quality_update("FLAGGED", "TIER_10K"), at=T0))
        s = await scrape(b)
        assert get(s, "whatsapp_quality_rating", instance_name=PNID, rating="YELLOW") == 1
        assert get(s, "whatsapp_messaging_limit", instance_name=PNID) == 10_000
        assert get(s, "whatsapp_quality_flagged", instance_name=PNID) == 1
        assert get(await scrape(a), "exporter_graph_api_polls_total", result="ok") == 1
    finally:
        await graph.stop()


@pytest.fixture
async def app_stand_in():
    """The team's app on loopback: keeps what it receives, answers ``answers[0]``."""
    seen, answers = [], [200]

    async def receive(request):
        seen.append((await request.read(), dict(request.headers)))
        return web.Response(status=answers[0])
    app = web.Application()
    app.router.add_post("/whatsapp", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/whatsapp", seen, answers
    await runner.cleanup()


async def test_forwarding_to_the_app_with_the_original_body_and_signature(http, app_stand_in):
    url, seen, answers = app_stand_in
    client = await http(**CONFIG, meta_forward_url=url, meta_forward_timeout=2)
    doc = statuses_doc(wa.status(wa.wamid(WAID, 1), "delivered", WAID, T0))
    body = json.dumps(doc).encode()
    assert (await post(client, None, raw=body)).status == 200
    assert seen[0][0] == body
    assert seen[0][1][meta.SIGNATURE_HEADER] == meta.signature(SECRET, body)
    answers[0] = 500  # the app fails: Meta is told to send it again, we count it once
    assert (await post(client, None, raw=body)).status == 502
    assert (await post(client, doc, secret="wrong")).status == 401  # never forwarded
    assert len(seen) == 2
    s = await scrape(client)
    assert get(s, "exporter_webhook_forwards_total", result="ok") == 1
    assert get(s, "exporter_webhook_forwards_total", result="rejected") == 1
    assert get(s, "whatsapp_message_statuses_total", status="delivered", category="utility") == 1


async def test_forwarding_to_an_app_that_is_down_asks_meta_to_retry(http):
    client = await http(**CONFIG, meta_forward_url=f"http://127.0.0.1:{free_port()}/x")
    doc = statuses_doc(wa.status(wa.wamid(WAID, 1), "sent", WAID, T0))
    assert (await post(client, doc)).status == 502
    assert get(await scrape(client), "exporter_webhook_forwards_total", result="failed") == 1


async def test_redis_down_answers_503_and_the_retry_counts_once(own_redis):
    exporter = Exporter(Config.defaults(redis_url=own_redis.url, redis_timeout=0.3, **CONFIG))
    client = TestClient(TestServer(make_app(exporter)))
    await client.start_server()
    try:
        doc = statuses_doc(wa.status(wa.wamid(WAID, 1), "delivered", WAID, T0))
        own_redis.stop()
        assert (await post(client, doc)).status == 503
        own_redis.start()
        for _ in range(30):
            r = await post(client, doc)
            if r.status == 200:
                break
            await asyncio.sleep(0.1)
        assert r.status == 200
        s = await scrape(client)
        assert rejected(s, "unavailable") >= 1
        assert get(s, "analytics_messages_delivered_total") == 1
    finally:
        await client.close()
        await exporter.stop()


async def test_response_time_from_an_inbound_message_to_the_first_reply(http):
    client = await http(**CONFIG)
    question = wa.meta_webhook(wa.messages(inbound=[wa.inbound(wa.wamid(PNID, 1), WAID, T0)]))
    follow_up = wa.meta_webhook(wa.messages(inbound=[wa.inbound(wa.wamid(PNID, 2), WAID,
                                                                T0 + 20)]))
    reply = statuses_doc(wa.status(wa.wamid(WAID, 9), "sent", WAID, T0 + 42, "service"))
    late_old = statuses_doc(wa.status(wa.wamid(WAID, 8), "sent", WAID, T0 - 5, "service"))
    for doc in (question, follow_up, question, late_old, reply, reply):
        assert (await post(client, doc)).status == 200
    s = await scrape(client)
    assert get(s, "analytics_response_time_seconds_count") == 1
    assert get(s, "analytics_response_time_seconds_sum") == 42  # from the oldest question
    assert get(s, "analytics_messages_received_total", message_type="text") == 2


async def test_response_time_can_be_turned_off(http):
    client = await http(**CONFIG, webhook_response_time=False)
    await post(client, wa.meta_webhook(wa.messages(inbound=[wa.inbound("wamid.A", WAID, T0)])))
    await post(client, statuses_doc(wa.status("wamid.B", "sent", WAID, T0 + 3)))
    assert ("anclora_analytics_response_time_seconds_count", ()) not in await scrape(client)


async def test_replay_posts_recorded_webhooks_signed(http, tmp_path, monkeypatch, capsys):
    from exporter import cli
    client = await http(**CONFIG, evolution_webhook_token="evo")
    recorded = statuses_doc(wa.status(wa.wamid(WAID, 1), "delivered", WAID, T0))
    (tmp_path / "one.json").write_text(json.dumps(recorded, indent=1))  # posted as is
    (tmp_path / "many.json").write_text(json.dumps([
        statuses_doc(wa.status(wa.wamid(WAID, 2), "delivered", WAID, T0)),
        wa.evolution("qrcode.updated", {"qrcode": {"code": "x"}})]))
    (tmp_path / "other.json").write_text('{"hello": 1}')
    (tmp_path / "broken.json").write_text("{")
    monkeypatch.setenv("ANCLORA_META_APP_SECRET", SECRET)
    monkeypatch.setenv("ANCLORA_EVOLUTION_WEBHOOK_TOKEN", "evo")
    url = str(client.make_url("/"))
    files = [str(tmp_path / n) for n in ("one.json", "many.json", "other.json", "broken.json")]
    code = await asyncio.to_thread(cli.main, ["replay", "--url", url, *files])
    out = capsys.readouterr().out.splitlines()
    assert code == 1  # two files were not webhooks
    assert [line.split(": ", 1)[1] for line in out] == [
        "/webhooks/meta: 200", "/webhooks/meta: 200", "/webhooks/evolution: 200",
        "not sent: neither a Meta nor an Evolution webhook", "cannot read it (not JSON)"]
    s = await scrape(client)
    assert get(s, "analytics_messages_delivered_total") == 2
    assert get(s, "whatsapp_qr_required_total", instance_name="sales-2") == 1
    assert rejected(s, "bad_signature") == 0


def test_the_claims_are_packed_as_redis_py_packs_them():
    from redis.asyncio.connection import Connection
    from exporter.ingest import webhook_dedupe as d
    cmd = d.Dedupe(None, 604800, 86400)._call("EVALSHA", d._SHA, [
        d.Claim("anclora:wh:m:ab", "s", d.OUTBOUND, "anclora:wh:c:cd", 1764500000.5),
        d.Claim("anclora:wh:v:ef", "b")])
    assert d._resp(cmd) == b"".join(Connection().pack_command(*cmd))


async def test_claims_made_while_the_connection_is_given_back_are_sent(redis_url, monkeypatch):
    """The claims' sender gives its connection back when no claim waits; a claim arriving
    during that (an await) is sent all the same, not left waiting forever."""
    from exporter.app import make_redis
    from exporter.fastpath import redis as fastpath
    from exporter.ingest.webhook_dedupe import Claim, Dedupe
    client = make_redis(redis_url, 1.0)
    dedupe = Dedupe(client, 60, 60)
    late, release = [], fastpath.Lease.release

    async def release_then_claim(lease):
        if not late:
            late.append(dedupe.claim([Claim("anclora:wh:m:late", "d")], lambda *a: None))
        await asyncio.sleep(0)
        await release(lease)
    monkeypatch.setattr(fastpath.Lease, "release", release_then_claim)
    try:
        await dedupe.claim([Claim("anclora:wh:m:early", "d")], lambda *a: None)
        await asyncio.wait_for(late[0], 2)
        assert await client.hgetall("anclora:wh:m:late") == {b"d": b"1"}
    finally:
        await client.aclose()

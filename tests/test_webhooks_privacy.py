"""Phone numbers reach no label, no log line, no answer and nothing in Redis (issue 12).

Webhooks carry numbers everywhere: wa_ids (``from``, ``recipient_id``), JIDs
(``remoteJid``, ``sender``), Meta's display number, message ids (a ``wamid.`` is the
recipient's number in base64), instance and template names someone chose badly. One run
sends all of them through both endpoints (with refusals, so the warnings are logged too,
and the Graph API poll), then reads every output: /metrics, every log line as written
(JSON, at trace level), every answer, and every key and value in Redis."""

from __future__ import annotations

import base64
import io
import json
import logging

from aiohttp import ClientSession

from anclora_demo import whatsapp as wa
from exporter import logs
from exporter.ingest import meta
from tests.support.scrape import scrape

SECRET, TOKEN = "app-secret-p", "evo-token-p"
CUSTOMERS = ("34600123456", "34611222333", "447700900123")
BAD_INSTANCE, BAD_TEMPLATE = "34622333444", "promo_34633444555"
T0 = 1_764_500_000


def private_texts() -> list[str]:
    """What must appear nowhere: each number's digits, and its base64 (inside wamids)."""
    out = []
    for n in (*CUSTOMERS, wa.DISPLAY_NUMBER, BAD_INSTANCE, "34633444555"):
        out += [n, n[-9:], base64.b64encode(n.encode()).decode()[:12]]
    return out


def redis_dump(r) -> str:
    """Every key and every value in Redis, as text."""
    parts = []
    for key in r.scan_iter(count=1000):
        kind = r.type(key).decode()
        parts.append(key.decode(errors="replace"))
        if kind == "string":
            parts.append(r.get(key).decode(errors="replace"))
        elif kind == "hash":
            parts += [x.decode(errors="replace") for kv in r.hgetall(key).items() for x in kv]
        else:
            parts.append(f"<{kind}>")
    return "\n".join(parts)


async def test_no_phone_number_in_metrics_logs_answers_or_redis(http, r):
    graph = await wa.GraphStandIn("graph-token", {wa.PHONE_NUMBER_ID: {
        "quality_rating": "GREEN", "messaging_limit_tier": "TIER_1K",
        "display_phone_number": "+1 555-078-3881"}}).start()
    buf = io.StringIO()
    root = logging.getLogger(logs.ROOT)
    saved = (root.handlers[:], root.level, root.propagate)
    logs.setup("trace", "privacy-test", stream=buf)
    answers = []
    try:
        client = await http(meta_app_secret=SECRET, meta_verify_token="v",
                            evolution_webhook_token=TOKEN, meta_access_token="graph-token",
                            meta_graph_url=graph.url, health_interval=0, events_stream="",
                            bullmq_events=False, meta_rates={"marketing": 0.05})
        metas = []
        for i, number in enumerate(CUSTOMERS):
            out, into = wa.wamid(number, i), wa.wamid(wa.PHONE_NUMBER_ID, i)
            metas += [
                wa.meta_webhook(wa.messages(inbound=[wa.inbound(into, number, T0)])),
                wa.meta_webhook(wa.messages(statuses=[
                    wa.status(out, "sent", number, T0 + 5, "marketing"),
                    wa.status(out, "read", number, T0 + 9, "marketing", "CBP",
                              conversation=f"conv-{number}"),
                    wa.status(wa.wamid(number, 99), "failed", number, T0, errors=(131026,))])),
                # a second question, unanswered: its chat stays pending in Redis
                wa.meta_webhook(wa.messages(inbound=[wa.inbound(into + "2", number, T0 + 20)])),
            ]
        metas += [wa.meta_webhook(wa.quality_update("FLAGGED", "TIER_1K"), at=T0),
                  wa.meta_webhook(wa.template_update(BAD_TEMPLATE, "PAUSED"), at=T0)]
        for doc in metas:
            body, headers = wa.signed(SECRET, doc)
            answers.append(await client.post("/webhooks/meta", data=body, headers=headers))
            headers[meta.SIGNATURE_HEADER] = "sha256=" + "0" * 64  # refused: logged
            answers.append(await client.post("/webhooks/meta", data=body, headers=headers))
        evo = []
        for i, number in enumerate(CUSTOMERS):
            evo += [wa.evolution("messages.upsert", wa.upsert(f"3EB0{i}", number, False, T0)),
                    wa.evolution("messages.upsert", wa.upsert(f"BAE5{i}", number, True, T0 + 3)),
                    wa.evolution("messages.update", wa.update(f"BAE5{i}", number, "READ")),
                    wa.evolution("messages.upsert", wa.upsert(f"3EB1{i}", number, False, T0 + 9)),
                    wa.evolution("connection.update", {"state": "open", "wuid":
                                                       f"{number}@s.whatsapp.net"}, BAD_INSTANCE),
                    wa.evolution("qrcode.updated", {"qrcode": {"code": number}}, BAD_INSTANCE)]
        for doc in evo:
            body = json.dumps(doc).encode()
            answers.append(await client.post("/webhooks/evolution", data=body,
                                             headers={"Authorization": f"Bearer {TOKEN}"}))
            answers.append(await client.post("/webhooks/evolution", data=body))  # refused
        async with ClientSession(headers={"Authorization": "Bearer graph-token"}) as session:
            assert await client.exporter.graph_poller.poll_once(session) == 1
        metrics_text = await (await client.get("/metrics")).text()
        s = await scrape(client)
    finally:
        root.handlers[:], root.level, root.propagate = saved
        await graph.stop()
    bodies = "\n".join([await a.text() for a in answers])
    assert sorted({a.status for a in answers}) == [200, 401]
    logged, stored = buf.getvalue(), redis_dump(r)
    assert "webhook refused" in logged and len(logged.splitlines()) > 5
    # Things happened, with numbers everywhere in the input ...
    get = lambda name, **labels: s.get((f"anclora_{name}", tuple(sorted(labels.items()))), 0)
    assert get("analytics_messages_received_total", message_type="text") == 12
    assert len(list(r.scan_iter("anclora:wh:c:*"))) == 6  # the questions still pending
    assert get("analytics_response_time_seconds_count") == 6
    assert get("whatsapp_instance_connected", instance_name="other") == 1
    assert get("whatsapp_template_status", template="other", status="PAUSED") == 1
    assert get("whatsapp_quality_flagged", instance_name=wa.PHONE_NUMBER_ID) == 1
    # ... and none of them anywhere in the output.
    for text in private_texts():
        for where, out in (("/metrics", metrics_text), ("logs", logged), ("answers", bodies),
                           ("redis", stored)):
            assert text not in out, f"{text!r} found in {where}"
    for where, out in (("redis", stored), ("/metrics", metrics_text), ("logs", logged)):
        assert "wamid." not in out and "@s.whatsapp.net" not in out, where
    assert "B6D711FCDE4D4FD5936544120E713976" not in logged + stored + metrics_text  # apikey
    assert SECRET not in logged and TOKEN not in logged and "graph-token" not in logged

"""WhatsApp platforms for the demo: webhooks shaped as Meta and Evolution send them, a
sender, and a loopback stand-in for Meta's Graph API.

The payloads follow the platforms' public references: Meta's webhooks reference
(``messages`` with ``statuses``/``messages``/``errors``, ``pricing`` with
``pricing_model`` CBP or PMP, ``message_template_status_update``,
``phone_number_quality_update``; the ids below are the ones Meta's examples use) and
Evolution API v2's webhook body (``event``, ``instance``, ``data``, ``date_time``,
``sender``, ``apikey``). Message ids are made the way WhatsApp makes them: a ``wamid.``
is the recipient's number in base64, and an Evolution chat is ``<number>@s.whatsapp.net``,
so the exporter's privacy is tested against the real shapes. The demo, the benchmark and
the tests use these builders.
"""

from __future__ import annotations

import base64
import json
import os
import socket

import aiohttp
from aiohttp import web

from exporter.ingest import meta

WABA_ID = "102290129340398"          # Meta's examples: WhatsApp Business Account id
PHONE_NUMBER_ID = "106540352242922"  # ... the business number's phone_number_id
DISPLAY_NUMBER = "15550783881"       # ... and its display number
EVOLUTION_INSTANCE = "sales-2"
ERROR_TITLES = {130429: "Rate limit hit", 131026: "Message undeliverable",
                131047: "Re-engagement message", 131049: "Healthy ecosystem engagement",
                368: "Temporarily blocked for policies violations"}


def wamid(number: str, n: int) -> str:
    """A WhatsApp message id as Meta makes them: the number, base64-encoded, then a tag."""
    raw = b"\x1c\x18\x0b" + number.encode() + b"\x15\x02\x00\x11\x18\x12" + f"{n:018X}".encode()
    return "wamid." + base64.b64encode(raw).decode().rstrip("=")


# --- Meta Cloud API ---------------------------------------------------------------------

def meta_webhook(*changes: tuple[str, dict], at: int | None = None) -> dict:
    """``{"object": "whatsapp_business_account", "entry": [...]}`` with these (field, value)
    changes."""
    entry: dict = {"id": WABA_ID, "changes": [{"value": v, "field": f} for f, v in changes]}
    if at is not None:
        entry["time"] = at
    return {"object": "whatsapp_business_account", "entry": [entry]}


def messages(statuses=(), inbound=(), errors=(), phone_number_id=PHONE_NUMBER_ID,
             display_number=DISPLAY_NUMBER) -> tuple[str, dict]:
    """A ``messages`` change: statuses of sent messages, inbound messages (with their
    ``contacts``), errors tied to no message."""
    value: dict = {"messaging_product": "whatsapp",
                   "metadata": {"display_phone_number": display_number,
                                "phone_number_id": phone_number_id}}
    if statuses:
        value["statuses"] = list(statuses)
    if inbound:
        value["contacts"] = [{"profile": {"name": "Ana"}, "wa_id": m["from"]} for m in inbound]
        value["messages"] = list(inbound)
    if errors:
        value["errors"] = [error(code) for code in errors]
    return "messages", value


def error(code: int) -> dict:
    title = ERROR_TITLES.get(code, "Something went wrong")
    return {"code": code, "title": title, "message": title,
            "error_data": {"details": title},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}


def status(message_id: str, status_: str, recipient: str, at: int, category: str = "utility",
           model: str = "PMP", billable: bool = True, conversation: str = "",
           errors=()) -> dict:
    """One entry of ``statuses``: failed ones carry ``errors`` and no pricing; CBP ones a
    ``conversation``, PMP ones a pricing ``type``."""
    s: dict = {"id": message_id, "status": status_, "timestamp": str(at),
               "recipient_id": recipient}
    if status_ == "failed":
        s["errors"] = [error(code) for code in errors]
        return s
    s["pricing"] = {"billable": billable, "pricing_model": model, "category": category}
    if model == "PMP":
        s["pricing"]["type"] = "regular" if billable else "free_customer_service"
    if conversation:
        s["conversation"] = {"id": conversation, "expiration_timestamp": str(at + 86400),
                             "origin": {"type": category}}
    return s


def inbound(message_id: str, sender: str, at: int, kind: str = "text") -> dict:
    m: dict = {"from": sender, "id": message_id, "timestamp": str(at), "type": kind}
    m[kind] = {"body": "Hola, ¿sigue disponible el piso?"} if kind == "text" else {"id": "1"}
    return m


def template_update(name: str, event: str, language: str = "es", template_id: int = 1
                    ) -> tuple[str, dict]:
    return "message_template_status_update", {
        "event": event, "message_template_id": template_id, "message_template_name": name,
        "message_template_language": language, "reason": "NONE"}


def quality_update(event: str, limit: str, display_number: str = DISPLAY_NUMBER
                   ) -> tuple[str, dict]:
    return "phone_number_quality_update", {
        "display_phone_number": display_number, "event": event, "current_limit": limit,
        "max_daily_conversations_per_business": limit}


def signed(secret: str, doc: dict) -> tuple[bytes, dict]:
    """The body and headers Meta sends for ``doc``."""
    body = json.dumps(doc).encode()
    return body, {"Content-Type": "application/json",
                  meta.SIGNATURE_HEADER: meta.signature(secret, body)}


# --- Evolution API ----------------------------------------------------------------------

def evolution(event: str, data, instance: str = EVOLUTION_INSTANCE,
              date_time: str = "2026-11-30T10:00:00.000Z") -> dict:
    return {"event": event, "instance": instance, "data": data,
            "destination": "http://exporter:9464/webhooks/evolution", "date_time": date_time,
            "sender": "34600111222@s.whatsapp.net", "server_url": "http://evolution:8080",
            "apikey": "B6D711FCDE4D4FD5936544120E713976"}


def upsert(message_id: str, number: str, from_me: bool, at: int,
           message_type: str = "conversation") -> dict:
    return {"key": {"remoteJid": f"{number}@s.whatsapp.net", "fromMe": from_me,
                    "id": message_id},
            "pushName": "Ana", "message": {"conversation": "Hola"},
            "messageType": message_type, "messageTimestamp": at, "source": "android"}


def update(message_id: str, number: str, status_: str, from_me: bool = True) -> dict:
    return {"keyId": message_id, "remoteJid": f"{number}@s.whatsapp.net", "fromMe": from_me,
            "participant": None, "status": status_, "instanceId": "3f1c"}


# --- sending, and a Graph API stand-in --------------------------------------------------

class WebhookSender:
    """Posts webhooks to an exporter as the platforms would."""

    def __init__(self, base_url: str, meta_secret: str, evolution_token: str):
        self.base, self.secret, self.token = base_url.rstrip("/"), meta_secret, evolution_token
        self.session: aiohttp.ClientSession | None = None

    async def meta(self, doc: dict) -> int:
        body, headers = signed(self.secret, doc)
        return await self._post("/webhooks/meta", body, headers)

    async def evolution(self, doc: dict) -> int:
        return await self._post("/webhooks/evolution", json.dumps(doc).encode(),
                                {"Content-Type": "application/json",
                                 "Authorization": f"Bearer {self.token}"})

    async def _post(self, path: str, body: bytes, headers: dict) -> int:
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        async with self.session.post(self.base + path, data=body, headers=headers) as r:
            await r.read()
            return r.status

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


class GraphStandIn:
    """Meta's Graph API on loopback, for a phone number node: ``GET /<version>/<id>`` with
    ``Authorization: Bearer <token>`` answers the fields asked for; a field listed in
    ``unknown_fields`` gets Graph's error 100, as an API version without it would."""

    def __init__(self, token: str, numbers: dict[str, dict], unknown_fields=()):
        self.token, self.numbers, self.unknown = token, numbers, set(unknown_fields)
        self.requests: list[dict] = []  # what was asked: path, fields, authorized
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def _node(self, request: web.Request) -> web.Response:
        fields = request.query.get("fields", "").split(",")
        authorized = request.headers.get("Authorization") == f"Bearer {self.token}"
        self.requests.append({"id": request.match_info["id"], "fields": fields,
                              "authorized": authorized})
        if not authorized:
            return web.json_response({"error": {"message": "Invalid OAuth access token.",
                                                "type": "OAuthException", "code": 190}},
                                     status=401)
        unknown = [f for f in fields if f in self.unknown]
        if unknown:
            return web.json_response({"error": {
                "message": f"(#100) Tried accessing nonexisting field ({unknown[0]}) on node "
                           "type (WhatsAppBusinessPhoneNumber)",
                "type": "OAuthException", "code": 100}}, status=400)
        node = self.numbers.get(request.match_info["id"])
        if node is None:
            return web.json_response({"error": {"message": "Unsupported get request.",
                                                "type": "GraphMethodException", "code": 100}},
                                     status=400)
        return web.json_response({"id": request.match_info["id"],
                                  **{f: node[f] for f in fields if f in node}})

    async def start(self, version: str = "v26.0") -> "GraphStandIn":
        app = web.Application()
        app.router.add_get(f"/{version}/{{id}}", self._node)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/{version}"
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def demo_secret() -> str:
    """A fresh secret for one demo run (the demo signs its own webhooks)."""
    return os.urandom(16).hex()

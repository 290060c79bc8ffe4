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

import asyncio
import base64
import functools
import json
import os
import socket
import time

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

    async def _post(self, path: str, body: bytes, headers: dict, retry_for: float = 10.0) -> int:
        """The answer's status (0: none). Like the platforms, it sends again when the
        exporter is not there yet or answers 5xx, for ``retry_for`` seconds."""
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        deadline = time.monotonic() + retry_for
        while True:
            try:
                async with self.session.post(self.base + path, data=body, headers=headers) as r:
                    await r.read()
                    status_ = r.status
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                status_ = 0
            if 0 < status_ < 500 or time.monotonic() > deadline:
                return status_
            await asyncio.sleep(0.2)

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

    async def start(self, version: str = "v26.0", port: int | None = None) -> "GraphStandIn":
        app = web.Application()
        app.router.add_get(f"/{version}/{{id}}", self._node)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        port = port or free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/{version}"
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_secret() -> str:
    """A fresh secret for one demo run (the demo signs its own webhooks)."""
    return os.urandom(16).hex()


# --- the platforms' side of the demo's traffic -------------------------------------------

# Meta error codes of messages accepted and then not delivered, weighted.
LATE_FAILURES = ((131026, 0.4), (131047, 0.3), (131049, 0.15), (368, 0.05), (131048, 0.05),
                 (130429, 0.05))


class Platforms:
    """What Meta and Evolution tell the exporter about the demo bot's messages.

    The bot's number on Meta's Cloud API (``sales-1`` in the app's events) and an Evolution
    instance (``sales-2``): customers write on both; the bot's outbound jobs go through
    Meta and come back as statuses (sent, delivered, read, some failed later with Meta's
    codes), priced PMP, some older conversations CBP; templates get approved, one
    rejected; the number is flagged at first, then cleared; the Evolution instance shows
    its QR, connects, and drops during slow periods. Meta's webhooks are batched every
    ``FLUSH`` seconds, as Meta batches; Evolution's go one by one, as Evolution sends them.
    """

    FLUSH = 0.5
    RECOVERY = 120  # seconds the number stays flagged

    def __init__(self, sender: WebhookSender, rng):
        self.sender, self.rng = sender, rng
        self.graph: GraphStandIn | None = None
        self.statuses: list[dict] = []
        self.inbound_meta: list[dict] = []
        self.n = 0
        self.tasks: set = set()
        self.evolution_open = False
        self.closed = False

    def _number(self) -> str:
        return "346" + "".join(str(self.rng.randint(0, 9)) for _ in range(8))

    def _later(self, delay: float, fn, *args, **kwargs) -> None:
        asyncio.get_running_loop().call_later(delay, functools.partial(fn, *args, **kwargs))

    def _spawn(self, coro) -> None:
        if self.closed:  # a delayed status after the demo stopped: never sent
            coro.close()
            return
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _send_evolution(self, doc: dict) -> None:
        self._spawn(self.sender.evolution(doc))

    def _status(self, message_id: str, status_: str, number: str, **pricing) -> None:
        self.statuses.append(status(message_id, status_, number, int(time.time()), **pricing))

    # --- what the bot does ---------------------------------------------------------------
    def sent(self, campaign: bool, slow: bool) -> None:
        """A message the worker sent through Meta's API: its statuses follow."""
        self.n += 1
        number = self._number()
        message_id = wamid(number, self.n)
        if campaign:
            pricing = {"category": "marketing", "model": "PMP"}
        elif self.rng.random() < 0.2:  # an older conversation, priced per conversation
            pricing = {"category": "utility", "model": "CBP", "conversation": f"c{self.n % 50}"}
        else:
            pricing = {"category": "utility", "model": "PMP",
                       "billable": self.rng.random() < 0.5}
        self._status(message_id, "sent", number, **pricing)
        if self.rng.random() < (0.1 if slow else 0.03):
            code = self.rng.choices([c for c, _ in LATE_FAILURES], [w for _, w in LATE_FAILURES])[0]
            self._later(self.rng.uniform(0.3, 2), self._failed, message_id, number, code)
            return
        delivered = self.rng.uniform(0.3, 2)
        self._later(delivered, self._status, message_id, "delivered", number, **pricing)
        if self.rng.random() < 0.7:
            self._later(delivered + self.rng.uniform(0.5, 3), self._status, message_id, "read",
                        number, **pricing)

    def _failed(self, message_id: str, number: str, code: int) -> None:
        self._status(message_id, "failed", number, errors=(code,))

    def conversation(self, message_type: str, reply_after: float) -> None:
        """A customer writes, on Meta or on Evolution; the bot (or a person) answers
        ``reply_after`` seconds later: the exporter sees the response time."""
        self.n += 1
        number, now = self._number(), int(time.time())
        if self.evolution_open and self.rng.random() < 0.4:
            baileys = {"text": "conversation", "media": "imageMessage",
                       "location": "locationMessage"}.get(message_type, "conversation")
            self._send_evolution(evolution("messages.upsert", upsert(
                f"3EB0{self.n:016X}", number, False, now, baileys)))
            self._later(reply_after, self._evolution_reply, number)
            return
        kind = {"media": "image"}.get(message_type, message_type)
        self.inbound_meta.append(inbound(wamid(PHONE_NUMBER_ID, self.n), number, now, kind))
        reply = wamid(number, self.n)
        self._later(reply_after, self._status, reply, "sent", number, category="service",
                    billable=False)
        self._later(reply_after + 1, self._status, reply, "delivered", number,
                    category="service", billable=False)

    def _evolution_reply(self, number: str) -> None:
        self.n += 1
        message_id = f"BAE5{self.n:012X}"
        self._send_evolution(evolution("send.message", upsert(message_id, number, True,
                                                              int(time.time()))))
        for delay, st in ((0.2, "SERVER_ACK"), (1.0, "DELIVERY_ACK"), (3.0, "READ")):
            self._later(delay, self._send_evolution,
                        evolution("messages.update", update(message_id, number, st)))

    def slow_period(self, slow: bool) -> None:
        """The Evolution instance drops while the platform is slow, and comes back."""
        if slow and self.evolution_open and self.rng.random() < 0.02:
            self._connection("close")
            self._later(self.rng.uniform(20, 90), self._connection, "open")

    def _connection(self, state: str) -> None:
        self.evolution_open = state == "open"
        self._send_evolution(evolution("connection.update", {
            "instance": EVOLUTION_INSTANCE, "state": state, "statusReason": 200}))

    # --- running -------------------------------------------------------------------------
    async def start(self) -> None:
        """The state a fresh install finds: templates reviewed, the number's limit and
        quality, the Evolution instance asking for its QR code, then connected."""
        now = int(time.time())
        await self.sender.meta(meta_webhook(
            template_update("spring_offer", "APPROVED", template_id=1),
            template_update("viewing_reminder", "APPROVED", template_id=2),
            template_update("price_drop_v1", "REJECTED", template_id=3), at=now))
        await self.sender.meta(meta_webhook(quality_update("FLAGGED", "TIER_1K"), at=now))
        await self.sender.meta(meta_webhook(messages(errors=(130429,))))
        await self.sender.evolution(evolution("qrcode.updated", {"qrcode": {
            "instance": EVOLUTION_INSTANCE, "code": "2@demo", "base64": "data:image/png;base64,"}}))
        self._connection("connecting")
        self._later(1.0, self._connection, "open")
        self._later(self.RECOVERY, self._recovered)

    def _recovered(self) -> None:
        """The number's quality recovers and its limit goes up."""
        if self.graph is not None:
            self.graph.numbers[PHONE_NUMBER_ID].update(
                quality_rating="GREEN", messaging_limit_tier="TIER_10K")
        self._spawn(self.sender.meta(meta_webhook(quality_update("UNFLAGGED", "TIER_10K"),
                                                  at=int(time.time()))))

    async def start_graph(self, port: int, token: str) -> None:
        """Meta's Graph API for the exporter's poll, on loopback (the number is YELLOW
        while flagged)."""
        self.graph = await GraphStandIn(token, {PHONE_NUMBER_ID: {
            "quality_rating": "YELLOW", "messaging_limit_tier": "TIER_1K",
            "display_phone_number": DISPLAY_NUMBER}}).start(port=port)

    async def flush(self) -> None:
        """Meta's batch of the last FLUSH seconds: every status and inbound message."""
        statuses, self.statuses = self.statuses, []
        arrived, self.inbound_meta = self.inbound_meta, []
        if (statuses or arrived) and not self.closed:
            await self.sender.meta(meta_webhook(messages(statuses=statuses, inbound=arrived)))

    async def close(self) -> None:
        """Stop at once: what is still on its way is dropped (the exporter stops too)."""
        self.closed = True
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.sender.close()
        if self.graph is not None:
            await self.graph.stop()

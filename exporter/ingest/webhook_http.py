"""The webhook endpoints: GET/POST /webhooks/meta, POST /webhooks/evolution[/<event>].

Answers (docs/whatsapp.md):
  GET  /webhooks/meta       200 ``hub.challenge`` (text/plain) with the verify token,
                            else 403
  POST /webhooks/meta       401 without a valid X-Hub-Signature-256; else 200, whatever the
                            body holds (unknown fields and malformed bodies are counted in
                            exporter_webhook_ignored_total: Meta would only send them again)
  POST /webhooks/evolution  401 without the token (Bearer header or ``?token=``); else 200
Both POSTs: 413/408 for a body over ANCLORA_MAX_BODY_BYTES or not in time; 503 when Redis
cannot be reached (nothing was counted: the platform sends the webhook again); with
forwarding on, Meta gets the app's result (``meta_forward``). Every refusal counts in
``exporter_events_rejected_total{reason}``: ``bad_signature`` for any failed
authentication (signature, verify token, bearer token), ``too_large``, ``timeout``,
``unavailable``; and is logged at most once a minute per reason, never with the body,
a header or a query string.
A route exists only when its secret is configured: without it, 404.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web
from redis.exceptions import RedisError

from ..logs import RateLimitedLog, get_logger
from . import evolution, meta
from .http import _decode_str, read_body
from .meta_forward import Forwarder
from .webhooks import WebhookIntake

log = get_logger("whatsapp")
REASONS = ("bad_signature", "too_large", "timeout", "unavailable")


def _decode(body: bytes) -> object:
    try:  # UTF-8, as JSON between systems must be (RFC 8259 8.1)
        return _decode_str(body.decode())
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deeply
        return None


def _json(status: int, **body) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type="application/json")


class WebhookEndpoints:
    def __init__(self, intake: WebhookIntake, metrics, max_body: int, body_timeout: float,
                 meta_secret: str = "", verify_token: str = "", evolution_token: str = "",
                 forwarder: Forwarder | None = None):
        self.intake, self.metrics = intake, metrics
        self.max_body, self.body_timeout = max_body, body_timeout
        self.meta_secret, self.verify_token = meta_secret, verify_token
        self.signer = meta.Signer(meta_secret)
        self.evolution_token, self.forwarder = evolution_token, forwarder
        self._warn = RateLimitedLog(log, 60.0)
        for reason in REASONS:
            metrics.child("exporter_events_rejected_total", reason=reason)

    def routes(self) -> list[tuple[str, str, object]]:
        out = []
        if self.meta_secret:
            out += [("GET", "/webhooks/meta", self.meta_verify),
                    ("POST", "/webhooks/meta", self.meta_post)]
        if self.evolution_token:
            out += [("POST", "/webhooks/evolution", self.evolution_post),
                    ("POST", "/webhooks/evolution/{event}", self.evolution_post)]
        return out

    def _refuse(self, reason: str, source: str, detail: str) -> None:
        self.metrics.inc("exporter_events_rejected_total", reason=reason)
        self._warn.warning(f"{source}:{reason}", "webhook refused", source=source,
                           reason=reason, detail=detail)

    def _refuse_meta(self, reason: str, detail: str) -> None:
        self._refuse(reason, "meta", detail)

    async def _ingest(self, source: str, body: bytes) -> bool:
        """Count the webhook; False when Redis could not be reached."""
        parse = meta.parse if source == "meta" else evolution.parse
        try:  # a client that hangs up does not stop its claims being counted (webhook_dedupe)
            await self.intake.ingest(source, parse(_decode(body)))
        except (RedisError, OSError) as e:
            self._unavailable(source, e)
            return False
        return True

    def _unavailable(self, source: str, e: Exception) -> web.Response:
        self._refuse("unavailable", source, f"Redis unreachable ({type(e).__name__}); "
                     "answered 503 so the platform sends it again")
        return _json(503, error="unavailable")

    async def meta_verify(self, request: web.Request) -> web.Response:
        challenge = meta.handshake(request.query, self.verify_token)
        if challenge is None:
            self._refuse("bad_signature", "meta", "verification handshake with a wrong "
                         "hub.verify_token, or no ANCLORA_META_VERIFY_TOKEN")
            return web.Response(text="forbidden\n", status=403)
        return web.Response(text=challenge, content_type="text/plain")

    async def meta_post(self, request: web.Request) -> web.Response:
        body = await read_body(request, self.max_body, self.body_timeout, self._refuse_meta)
        if isinstance(body, web.Response):
            return body
        header = request.headers.get(meta.SIGNATURE_HEADER)
        if not self.signer.ok(body, header):
            self._refuse("bad_signature", "meta", f"X-Hub-Signature-256 "
                         f"{'does not match the body' if header else 'missing'}")
            return _json(401, error="invalid X-Hub-Signature-256")
        if self.forwarder is None:
            # _ingest's work inlined: the handler then awaits the claim itself, and the
            # claim's answer wakes one coroutine less (a few microseconds a webhook).
            try:
                await self.intake.ingest("meta", meta.parse(_decode(body)))
            except (RedisError, OSError) as e:
                return self._unavailable("meta", e)
            return web.Response(text="ok\n")
        counted, forwarded = await asyncio.gather(
            self._ingest("meta", body), self.forwarder.forward(body, request.headers))
        if counted and forwarded == "ok":
            return web.Response(text="ok\n")
        status = 502 if forwarded in ("rejected", "failed") else 503
        return _json(status, error="not delivered: send it again")

    async def evolution_post(self, request: web.Request) -> web.Response:
        if not evolution.token_ok(self.evolution_token, request.headers.get("Authorization"),
                                  request.query.get("token")):
            self._refuse("bad_signature", "evolution", "missing or wrong token")
            return web.Response(text=json.dumps({"error": "unauthorized"}), status=401,
                                content_type="application/json",
                                headers={"WWW-Authenticate": 'Bearer realm="webhooks"'})
        body = await read_body(request, self.max_body, self.body_timeout,
                               lambda reason, detail: self._refuse(reason, "evolution", detail))
        if isinstance(body, web.Response):
            return body
        if await self._ingest("evolution", body):
            return web.Response(text="ok\n")
        return _json(503, error="unavailable")

"""Meta's WhatsApp Cloud API webhooks: the verification handshake, the signature, the
payload's shape (pure functions, no I/O).

Payload (Meta's webhooks reference): ``{"object": "whatsapp_business_account", "entry":
[{"id": WABA id, "time"?, "changes": [{"field": F, "value": {...}}]}]}``. Fields read:
- ``messages``: ``value.metadata`` (``phone_number_id``, ``display_phone_number``),
  ``statuses[]`` (``id``, ``status``, ``timestamp``, ``recipient_id``, ``pricing`` with
  ``billable``, ``pricing_model`` CBP/PMP and ``category``, ``conversation.id``,
  ``errors[].code``), ``messages[]`` (``id``, ``from``, ``type``, ``timestamp``) and
  ``errors[]`` (errors tied to no message);
- ``message_template_status_update``: ``event``, ``message_template_name``,
  ``message_template_language``;
- ``phone_number_quality_update``: ``display_phone_number`` (its only name for the number),
  ``event`` (FLAGGED, UNFLAGGED, UPGRADE, DOWNGRADE, ONBOARDING, THROUGHPUT_UPGRADE),
  ``max_daily_conversations_per_business`` or the older ``current_limit``.
Any other field, a status other than sent/delivered/read/failed (``played`` counts as
read), and anything malformed becomes ``Ignored``: counted, never an error.
"""

from __future__ import annotations

import hashlib
import hmac

from .webhook_facts import (DELIVERED, FAILED, READ, SENT, ErrorNotice, Ignored, Inbound,
                            NumberSeen, NumberUpdate, Received, Status, TemplateUpdate,
                            messaging_limit, timestamp)

SIGNATURE_HEADER = "X-Hub-Signature-256"
OBJECT = "whatsapp_business_account"
STATUSES = {"sent": SENT, "delivered": DELIVERED, "read": READ, "failed": FAILED,
            "played": READ}  # a voice message played: it was read
UNKNOWN = "unknown"


def signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends: ``sha256=`` + HMAC-SHA256 of the raw
    body, keyed with the app secret."""
    return Signer(secret).signature(body)


class Signer:
    """``signature`` for one app secret, keyed once: each body then costs a copy of the
    keyed HMAC and the hash of the body (the key's own hashing is not redone)."""

    def __init__(self, secret: str):
        self._keyed = hmac.new(secret.encode(), digestmod=hashlib.sha256)

    def signature(self, body: bytes) -> str:
        h = self._keyed.copy()
        h.update(body)
        return "sha256=" + h.hexdigest()

    def ok(self, body: bytes, header: str | None) -> bool:
        """True when ``header`` is the body's signature, compared in constant time."""
        if not header:
            return False
        # aiohttp keeps bytes that are not UTF-8 as surrogate escapes: back to the bytes sent.
        given = header.encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, self.signature(body).encode())


def handshake(query, verify_token: str) -> str | None:
    """The challenge to answer Meta's ``GET ?hub.mode=subscribe&hub.verify_token=T&
    hub.challenge=C`` with, or None when T is not ours (or no token is configured)."""
    given = query.get("hub.verify_token", "")
    if (not verify_token or query.get("hub.mode") != "subscribe"
            or not hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                                       verify_token.encode())):
        return None
    return query.get("hub.challenge", "")


def _text(v: object) -> str:
    return v if isinstance(v, str) else (str(v) if isinstance(v, (int, float)) else "")


def _dicts(v: object) -> list[dict]:
    return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []


_NONE: dict = {}


def _dict(v: object) -> dict:
    return v if isinstance(v, dict) else _NONE


def _codes(errors: object) -> tuple[str, ...]:
    return tuple(_text(e.get("code")) for e in _dicts(errors)) if errors else ()


def parse(doc: object) -> list:
    """The facts a decoded payload holds (``webhook_facts``), in order."""
    if not isinstance(doc, dict) or doc.get("object") != OBJECT or not isinstance(
            doc.get("entry"), list):
        return [Ignored("malformed")]
    facts: list = []
    for entry in doc["entry"]:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            facts.append(Ignored("malformed"))
            continue
        when = timestamp(entry.get("time"))
        for change in changes:
            field = change.get("field") if isinstance(change, dict) else None
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(field, str) or not isinstance(value, dict):
                facts.append(Ignored("malformed"))
                continue
            parse_field = FIELDS.get(field)
            metadata = _dict(value.get("metadata"))
            instance = _text(metadata.get("phone_number_id")) or UNKNOWN
            facts.append(Received(field, instance))
            if parse_field is None:
                facts.append(Ignored("unhandled_field"))
            else:
                parse_field(value, instance, metadata, when, facts)
    return facts


def _messages(value: dict, instance: str, metadata: dict, when, facts: list) -> None:
    display = _text(metadata.get("display_phone_number"))
    if display and instance != UNKNOWN:
        facts.append(NumberSeen(display, instance))
    for s in _dicts(value.get("statuses")):
        status, message_id = STATUSES.get(_text(s.get("status"))), _text(s.get("id"))
        if status is None or not message_id:
            facts.append(Ignored("unhandled_status" if message_id else "malformed"))
            continue
        pricing, conversation = _dict(s.get("pricing")), _dict(s.get("conversation"))
        facts.append(Status(  # by position: the hot path of every status webhook
            message_id, status, instance, _text(pricing.get("category")) or UNKNOWN,
            pricing.get("billable") is True, _text(pricing.get("pricing_model")),
            _text(conversation.get("id")), _codes(s.get("errors")),
            _text(s.get("recipient_id")), timestamp(s.get("timestamp"))))
    for m in _dicts(value.get("messages")):
        message_id = _text(m.get("id"))
        if not message_id:
            facts.append(Ignored("malformed"))
            continue
        facts.append(Inbound(message_id, _text(m.get("type")) or UNKNOWN, _text(m.get("from")),
                             timestamp(m.get("timestamp"))))
    errors = _codes(value.get("errors"))
    if errors:
        facts.append(ErrorNotice(errors, instance))


def _template(value: dict, instance: str, metadata: dict, when, facts: list) -> None:
    name = _text(value.get("message_template_name")) or _text(value.get("message_template_id"))
    status = _text(value.get("event"))
    if not name or not status:
        facts.append(Ignored("malformed"))
        return
    facts.append(TemplateUpdate(name, _text(value.get("message_template_language")), status,
                                when))


def _quality(value: dict, instance: str, metadata: dict, when, facts: list) -> None:
    display = _text(value.get("display_phone_number"))
    if not display:
        facts.append(Ignored("malformed"))
        return
    limit = value.get("max_daily_conversations_per_business", value.get("current_limit"))
    event = _text(value.get("event"))
    flagged = {"FLAGGED": 1, "UNFLAGGED": 0}.get(event)
    facts.append(NumberUpdate(display, messaging_limit(limit), flagged, when))


FIELDS = {"messages": _messages, "message_template_status_update": _template,
          "phone_number_quality_update": _quality}

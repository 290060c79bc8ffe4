"""Evolution API (v2) webhooks: the token, the payload's shape (pure functions, no I/O).

Evolution posts ``{"event", "instance", "data", "date_time", "sender", "server_url",
"apikey"}`` (its webhook controller, ``webhookData``), for a global webhook or per
instance, to the URL itself or, with ``webhook_by_events``, to ``<url>/<event-name>``.
The event is spelt ``messages.upsert`` or ``MESSAGES_UPSERT``: both are read as one
(as Evolution itself does: ``.``/``-`` to ``_``, upper case). Read:
- ``connection.update``: ``data.state`` (open, connecting, close, refused);
- ``qrcode.updated``: a QR code to scan (the instance is logged out);
- ``messages.upsert`` (and ``send.message``): ``data.key`` (``id``, ``remoteJid``,
  ``fromMe``), ``data.messageType``, ``data.messageTimestamp``; one object or a list;
- ``messages.update``: ``data.keyId``, ``data.remoteJid``, ``data.fromMe``,
  ``data.status``: SERVER_ACK sent, DELIVERY_ACK delivered, READ and PLAYED read, ERROR
  failed, for the business's own messages (``fromMe``);
- ``logout.instance`` (closed) and ``remove.instance`` (forgotten).
The body carries ``apikey`` (Evolution's own key) and ``sender`` (a number): neither is
ever logged or kept.
"""

from __future__ import annotations

import hmac
from datetime import datetime

from .webhook_facts import (DELIVERED, FAILED, READ, SENT, Connection, Ignored, Inbound,
                            InstanceRemoved, Outbound, QrCode, Received, Status, timestamp)

STATUSES = {"SERVER_ACK": SENT, "DELIVERY_ACK": DELIVERED, "READ": READ, "PLAYED": READ,
            "ERROR": FAILED}
# Baileys' message types as the names Meta uses (one message_type vocabulary for both).
MESSAGE_TYPES = {
    "conversation": "text", "extendedTextMessage": "text", "imageMessage": "image",
    "videoMessage": "video", "ptvMessage": "video", "audioMessage": "audio",
    "documentMessage": "document", "documentWithCaptionMessage": "document",
    "stickerMessage": "sticker", "locationMessage": "location",
    "liveLocationMessage": "location", "contactMessage": "contacts",
    "contactsArrayMessage": "contacts", "reactionMessage": "reaction",
    "buttonsResponseMessage": "button", "templateButtonReplyMessage": "button",
    "listResponseMessage": "interactive", "interactiveResponseMessage": "interactive",
    "pollCreationMessage": "poll", "pollUpdateMessage": "poll",
}
NOT_A_CHAT = "status@broadcast"  # WhatsApp status (stories), not a conversation


def token_ok(token: str, authorization: str | None, query_token: str | None) -> bool:
    """``Authorization: Bearer <token>``, or ``?token=<token>`` (Evolution's global webhook
    sends no custom header; with ``webhook_by_events`` it appends ``/<event>`` to the URL,
    hence to the query's value), compared in constant time."""
    expected = token.encode()
    given = (authorization or "").encode("utf-8", "surrogateescape")
    if hmac.compare_digest(given, b"Bearer " + expected):
        return True
    from_query = (query_token or "").split("/", 1)[0]
    return hmac.compare_digest(from_query.encode("utf-8", "surrogateescape"), expected)


def canonical(event: str) -> str:
    """``messages.upsert`` and ``MESSAGES_UPSERT`` -> ``MESSAGES_UPSERT``."""
    return event.replace(".", "_").replace("-", "_").upper()


def event_type(event: str) -> str:
    """The ``event_type`` label: the event in Evolution's dotted lower case."""
    return canonical(event).lower().replace("_", ".")


def _time(raw: object) -> float | None:
    """``date_time`` (ISO 8601, Evolution's local time with an offset) as a Unix time."""
    if isinstance(raw, str):
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return timestamp(raw)


def _items(data: object) -> list[dict]:
    if isinstance(data, dict):
        return [data]
    return [x for x in data if isinstance(x, dict)] if isinstance(data, list) else []


def _text(v: object) -> str:
    return v if isinstance(v, str) else ""


def parse(doc: object) -> list:
    """The facts a decoded payload holds (``webhook_facts``)."""
    if not isinstance(doc, dict) or not _text(doc.get("event")) or not _text(
            doc.get("instance")):
        return [Ignored("malformed")]
    event, instance = canonical(doc["event"]), doc["instance"]
    facts: list = [Received(event_type(event), instance)]
    parse_event = EVENTS.get(event)
    if parse_event is None:
        facts.append(Ignored("unhandled_event"))
    else:
        parse_event(doc.get("data"), instance, _time(doc.get("date_time")), facts)
    return facts


def _connection(data, instance: str, when, facts: list) -> None:
    state = _text(data.get("state")) if isinstance(data, dict) else ""
    facts.append(Connection(instance, state, when) if state else Ignored("malformed"))


def _qrcode(data, instance: str, when, facts: list) -> None:
    facts.append(QrCode(instance))


def _upsert(data, instance: str, when, facts: list) -> None:
    items = _items(data)
    if not items:
        facts.append(Ignored("malformed"))
    for m in items:
        key = m.get("key") if isinstance(m.get("key"), dict) else {}
        message_id, chat = _text(key.get("id")), _text(key.get("remoteJid"))
        if not message_id:
            facts.append(Ignored("malformed"))
            continue
        if chat == NOT_A_CHAT:
            facts.append(Ignored("unhandled_status"))
            continue
        at = timestamp(m.get("messageTimestamp")) or when
        scoped = f"{instance}\0{message_id}"  # Evolution's ids are unique per instance
        if key.get("fromMe") is True:
            facts.append(Outbound(scoped, chat, at))
        else:
            kind = MESSAGE_TYPES.get(_text(m.get("messageType")), "other")
            facts.append(Inbound(scoped, kind, chat, at))


def _update(data, instance: str, when, facts: list) -> None:
    items = _items(data)
    if not items:
        facts.append(Ignored("malformed"))
    for u in items:
        status = STATUSES.get(_text(u.get("status")))
        key = u.get("key") if isinstance(u.get("key"), dict) else {}
        message_id = _text(u.get("keyId")) or _text(key.get("id"))
        if not message_id:
            facts.append(Ignored("malformed"))
        elif status is None or u.get("fromMe") is False or _text(u.get("remoteJid")) == NOT_A_CHAT:
            facts.append(Ignored("unhandled_status"))  # PENDING, DELETED, or a customer's
        else:
            facts.append(Status(f"{instance}\0{message_id}", status, instance,
                                chat=_text(u.get("remoteJid")), timestamp=when))


def _logout(data, instance: str, when, facts: list) -> None:
    facts.append(Connection(instance, "close", when))


def _removed(data, instance: str, when, facts: list) -> None:
    facts.append(InstanceRemoved(instance, when))


EVENTS = {"CONNECTION_UPDATE": _connection, "QRCODE_UPDATED": _qrcode,
          "MESSAGES_UPSERT": _upsert, "SEND_MESSAGE": _upsert, "MESSAGES_UPDATE": _update,
          "LOGOUT_INSTANCE": _logout, "REMOVE_INSTANCE": _removed}

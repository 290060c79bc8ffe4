"""What a webhook says, once parsed: the facts both platforms' parsers produce.

``meta.parse`` and ``evolution.parse`` turn a platform's payload into a list of these;
``webhooks.WebhookIntake`` turns facts into metrics. Private values (message ids, chats,
display numbers) stay in memory: the intake hashes them before they reach Redis and
never logs them.
"""

from __future__ import annotations

from typing import NamedTuple

SENT, DELIVERED, READ, FAILED = "sent", "delivered", "read", "failed"


class Received(NamedTuple):
    """One change (Meta) or event (Evolution) arrived."""
    event_type: str
    instance: str


class Ignored(NamedTuple):
    reason: str  # catalog.WEBHOOK_IGNORED_REASONS


class Status(NamedTuple):
    """A status of a message the business sent."""
    message_id: str
    status: str                       # sent, delivered, read or failed
    instance: str
    category: str = "unknown"         # Meta's pricing category
    billable: bool = False
    pricing_model: str = ""           # CBP or PMP (Meta)
    conversation: str = ""            # Meta's conversation id (CBP)
    error_codes: tuple[str, ...] = ()
    chat: str = ""                    # the recipient (wa_id, JID)
    timestamp: float | None = None


class Inbound(NamedTuple):
    """A message a customer sent."""
    message_id: str
    message_type: str
    chat: str
    timestamp: float | None


class Outbound(NamedTuple):
    """A message the business sent, seen as itself (Evolution), not as a status."""
    message_id: str
    chat: str
    timestamp: float | None


class ErrorNotice(NamedTuple):
    """Meta's errors that belong to no message (``value.errors``)."""
    error_codes: tuple[str, ...]
    instance: str


class TemplateUpdate(NamedTuple):
    name: str
    language: str
    status: str
    timestamp: float | None


class NumberUpdate(NamedTuple):
    """phone_number_quality_update: it names the number by its display number only."""
    display_number: str
    messaging_limit: float | None     # messages a day; inf for unlimited
    flagged: int | None               # 1 FLAGGED, 0 UNFLAGGED, None otherwise
    timestamp: float | None


class NumberSeen(NamedTuple):
    """A display number and its phone_number_id side by side (Meta's ``metadata``)."""
    display_number: str
    phone_number_id: str


class Connection(NamedTuple):
    instance: str
    state: str                        # open, connecting, close, refused...
    timestamp: float | None


class QrCode(NamedTuple):
    instance: str


class InstanceRemoved(NamedTuple):
    instance: str
    timestamp: float | None


def messaging_limit(raw: object) -> float | None:
    """Meta's limit as messages a day: ``TIER_250`` 250, ``TIER_2K`` 2000, ``TIER_UNLIMITED``
    +Inf, a plain number as is (-1: unlimited); None when unknown (``TIER_NOT_SET``)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        return float("inf") if raw < 0 else float(raw)
    text = str(raw or "").strip().upper()
    if text == "TIER_UNLIMITED":
        return float("inf")
    digits = text.removeprefix("TIER_")
    scale = 1000 if digits.endswith("K") else 1
    digits = digits.removesuffix("K")
    return float(int(digits) * scale) if digits.isdigit() else None


def timestamp(raw: object) -> float | None:
    """A Unix time in seconds (a number or a numeric string), else None."""
    if raw is None:  # often absent (Meta's entry.time): no exception raised and caught
        return None
    try:
        v = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if 0 < v < 1e11 else None

"""WhatsApp webhooks -> metrics: what both platforms' facts (``webhook_facts``) count.

``WebhookIntake.ingest(source, facts)`` does, for one webhook:
1. counts at once what needs no Redis: every change/event received
   (``whatsapp_webhooks_received_total``), what is ignored, Meta's error notices, QR codes;
2. claims every (message, status), every inbound and outbound message and every CBP
   conversation in one round trip (``webhook_dedupe``): only first claims count, so a
   platform's retry and another replica's copy count nothing, in any order; the same
   round trip moves each chat's response-time clock (a first inbound message starts it,
   the first message sent to that chat afterwards stops it);
3. counts them: statuses by status and pricing category, delivered and read in the
   user's analytics counters, failures by Meta error code (rate-limit codes also in
   ``whatsapp_rate_limit_hits_total``), billable deliveries and their estimated cost,
   received messages by type, response times;
4. writes the platform's state (``webhook_state``), for the rare webhooks that carry it.

A read status claims ``delivered`` too: Meta skips the delivered webhook when a message is
read at once (its status webhook reference), so a read implies delivered, counted once
either way. A message is billable when delivered (per-message pricing, PMP; Meta charges
delivered templates), once per conversation under conversation pricing (CBP).

Redis unreachable: the error goes up before anything of steps 2-4 is counted; the HTTP
handler answers 503 and the platform sends the webhook again (Meta for up to 7 days).
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable

from .. import catalog
from ..labels import INSTANCE_KIND, label_value
from ..metrics import OTHER
from . import meta_codes
from .mapping import ChildCache
from .webhook_dedupe import INBOUND, OUTBOUND, Claim, Dedupe
from .webhook_facts import (DELIVERED, FAILED, READ, SENT, Connection, ErrorNotice, Ignored,
                            Inbound, InstanceRemoved, NumberSeen, NumberUpdate, Outbound,
                            QrCode, Received, Status, TemplateUpdate)
from .webhook_keys import Keys
from .webhook_state import FLAGGED, INSTANCE, LIMIT, TEMPLATE, WebhookState

# The hash field each status claims in its message's hash (webhook_keys' layout).
_FIELD = {SENT: "s", DELIVERED: "d", READ: "r", FAILED: "f"}
_CATEGORIES = frozenset(catalog.WA_PRICING_CATEGORIES)
_MODELS = frozenset(catalog.WA_PRICING_MODELS)
_CODES = frozenset(catalog.META_ERROR_CODES)
_TEMPLATE_STATUSES = frozenset(catalog.WA_TEMPLATE_STATUSES)
# Declared (at zero) when webhooks are on, so a rate() over them never says "No data".
COUNTERS = ("whatsapp_webhooks_received_total", "whatsapp_message_statuses_total",
            "whatsapp_message_failures_total", "whatsapp_billable_messages_total",
            "whatsapp_rate_limit_hits_total", "analytics_messages_received_total",
            "analytics_messages_delivered_total", "analytics_messages_read_total",
            "exporter_webhook_duplicates_total", "exporter_webhook_ignored_total")


def published(raw: str) -> str:
    """A template's or an instance's name as the state keeps it: the label it may have,
    else ``other`` (a name holding a phone number never reaches Redis)."""
    return label_value(raw, INSTANCE_KIND) or OTHER


def _closed(value: str, allowed: frozenset) -> str:
    return value if value in allowed else OTHER


class WebhookIntake:
    MAPPED_LIMIT = 10_000  # (display number, id) pairs remembered as written already

    def __init__(self, metrics, keys: Keys, dedupe: Dedupe, state: WebhookState,
                 rates: dict[str, float], response_time: bool = True):
        self.metrics, self.keys, self.dedupe, self.state = metrics, keys, dedupe, state
        self.rates, self.response_time = rates, response_time
        self._children = ChildCache(metrics)
        self._hot = self._children.cache
        self._mapped: set[tuple[str, str]] = set()
        metrics.declare(COUNTERS)
        if rates:
            metrics.declare(["whatsapp_estimated_cost_euros_total"])
        for source in catalog.WEBHOOK_SOURCES:
            metrics.child("exporter_webhook_duplicates_total", source=source)

    def ingest(self, source: str, facts: list) -> Awaitable[None]:
        """Count ``facts`` (one webhook's); await the result: it raises the Redis error when
        Redis cannot be reached (then only what needs no Redis was counted)."""
        inc = self._inc
        claims: list[Claim] = []
        counted: list[tuple] = []  # (fact, index of its claim, of delivered, of conversation)
        later: list = []
        for f in facts:
            kind = type(f)
            if kind is Status:
                counted.append(self._claims(source, f, claims))
            elif kind is Inbound or kind is Outbound:
                claims.append(self._chat(source, f, self.keys.message(source, f.message_id),
                                         INBOUND if kind is Inbound else OUTBOUND))
                counted.append((f, len(claims) - 1, None, None))
            elif kind is Received:
                inc("whatsapp_webhooks_received_total", event_type=f.event_type,
                    instance_name=f.instance)
            elif kind is Ignored:
                inc("exporter_webhook_ignored_total", source=source, reason=f.reason)
            elif kind is ErrorNotice:
                self._failures(f.error_codes, f.instance)
            elif kind is QrCode:
                inc("whatsapp_qr_required_total", instance_name=f.instance)
            elif kind is not NumberSeen or (f.display_number,
                                            f.phone_number_id) not in self._mapped:
                later.append(f)  # state to write (a pair written already is not again)
        claimed = self.dedupe.claim(claims, lambda first, waited: self._count(
            source, counted, first, waited)) if claims else None
        if claimed is not None and not later:
            return claimed  # the common case: no coroutine between the handler and Redis
        return self._finish(claimed, later)

    async def _finish(self, claimed: asyncio.Future | None, later: list) -> None:
        if claimed is not None:
            await claimed
        for f in later:
            await self._keep(f)

    def _chat(self, source: str, f, key: str, kind: str) -> Claim:
        """The claim of an inbound or outbound message: it also moves the chat's
        response-time clock, unless that is off or the chat is unknown."""
        field = "i" if kind == INBOUND else ("o" if type(f) is Outbound else _FIELD[f.status])
        if not (self.response_time and f.chat):
            return Claim(key, field)
        return Claim(key, field, kind, self.keys.chat(source, f.chat), f.timestamp or time.time())

    def _claims(self, source: str, f: Status, claims: list) -> tuple:
        key = self.keys.message(source, f.message_id)
        # "sent": the business answered; it stops the chat's response-time clock
        claims.append(self._chat(source, f, key, OUTBOUND) if f.status == SENT
                      else Claim(key, _FIELD[f.status]))
        at = len(claims) - 1
        delivered = conversation = None
        if f.status == READ:  # a read implies delivered
            claims.append(Claim(key, "d"))
            delivered = len(claims) - 1
        if (f.billable and f.pricing_model == "CBP" and f.conversation
                and f.status in (DELIVERED, READ)):
            claims.append(Claim(self.keys.conversation(f.conversation), "b"))
            conversation = len(claims) - 1
        return f, at, delivered, conversation

    def _count(self, source: str, counted: list, new: list[bool],
               waited: list[float | None]) -> None:
        inc = self._inc
        for seconds in waited:
            if seconds is not None:
                self.metrics.observe("analytics_response_time_seconds", seconds)
        duplicates = 0
        for f, at, delivered, conversation in counted:
            if not new[at]:
                duplicates += 1
            kind = type(f)
            if kind is Inbound:
                if new[at]:
                    inc("analytics_messages_received_total", message_type=f.message_type)
                continue
            if kind is Outbound:
                continue
            category = _closed(f.category, _CATEGORIES)
            if new[at]:
                inc("whatsapp_message_statuses_total", status=f.status, category=category)
                if f.status == DELIVERED:
                    inc("analytics_messages_delivered_total")
                elif f.status == READ:
                    inc("analytics_messages_read_total")
                elif f.status == FAILED and source == "meta":
                    self._failures(f.error_codes or (OTHER,), f.instance)
            implied = delivered is not None and new[delivered]
            if implied:
                inc("whatsapp_message_statuses_total", status=DELIVERED, category=category)
                inc("analytics_messages_delivered_total")
            first_delivery = implied or (f.status == DELIVERED and new[at])
            if first_delivery and f.billable and (conversation is None or new[conversation]):
                self._billed(category, f.pricing_model)
        if duplicates:
            inc("exporter_webhook_duplicates_total", duplicates, source=source)

    def _inc(self, name: str, n: float = 1, **labels) -> None:
        # The cache's dict read here, not through its method: this runs a few times per
        # status, and a call was a fifth of the counting.
        hit = self._hot.get((name, *labels.values()))
        child, overflow = hit if hit is not None else self._children.get(name, labels)
        child.inc(n)
        if overflow is not None:
            overflow.inc(n)

    def _failures(self, codes: tuple[str, ...], instance: str) -> None:
        inc = self._inc
        for code in codes:
            inc("whatsapp_message_failures_total", error_code=_closed(code, _CODES))
            if code in meta_codes.RATE_LIMIT_CODES:
                inc("whatsapp_rate_limit_hits_total", instance_name=instance)

    def _billed(self, category: str, model: str) -> None:
        self._inc("whatsapp_billable_messages_total", category=category,
                  pricing_model=_closed(model, _MODELS))
        rate = self.rates.get(category)
        if rate:
            self._inc("whatsapp_estimated_cost_euros_total", rate, category=category)

    async def _keep(self, f) -> None:
        """Write a state fact to Redis (the collector publishes it)."""
        state, keys, kind = self.state, self.keys, type(f)
        if kind is NumberSeen:
            pair = (f.display_number, f.phone_number_id)
            if label_value(f.phone_number_id, INSTANCE_KIND) is None:
                return
            await state.map_number(keys.number(f.display_number), f.phone_number_id)
            if len(self._mapped) >= self.MAPPED_LIMIT:
                self._mapped.clear()
            self._mapped.add(pair)
        elif kind is NumberUpdate:
            number = "d:" + keys.number(f.display_number)
            if f.messaging_limit is not None:
                await state.put(LIMIT, number, repr(f.messaging_limit), f.timestamp)
            if f.flagged is not None:
                await state.put(FLAGGED, number, str(f.flagged), f.timestamp)
        elif kind is TemplateUpdate:
            name, status = published(f.name), _closed(f.status, _TEMPLATE_STATUSES)
            await state.put(TEMPLATE, keys.digest("template", f"{f.name}\0{f.language}"),
                            f"{name}|{status}", f.timestamp)
            await state.seen(name, status)
        elif kind is Connection:
            await state.put(INSTANCE, keys.digest("instance", f.instance),
                            f"{published(f.instance)}|{f.state}", f.timestamp)
        elif kind is InstanceRemoved:
            await state.forget(INSTANCE, keys.digest("instance", f.instance))

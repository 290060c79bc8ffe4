"""Poll Meta's Graph API for each phone number's quality rating and messaging limit.

Runs when ANCLORA_META_ACCESS_TOKEN is set, every ANCLORA_META_POLL_SECONDS, in one
replica at a time (a Redis lock taken for the interval). Each number is read with
``GET {ANCLORA_META_GRAPH_URL}/{phone_number_id}?fields=quality_rating,
messaging_limit_tier,...`` (the token in an ``Authorization: Bearer`` header, never in
the URL). The numbers are those of ANCLORA_META_PHONE_NUMBER_IDS and every
phone_number_id a webhook named. What is read goes to the shared state
(``webhook_state``): ``whatsapp_quality_rating`` (GREEN, YELLOW, RED, UNKNOWN) and
``whatsapp_messaging_limit``; the display number (hashed) is paired with its id so the
quality webhooks, which name a number by its display number only, find it.

Meta deprecated ``messaging_limit_tier`` for ``whatsapp_business_manager_messaging_limit``
(its messaging limits page); both are asked for, the newer wins, and a field the API
version does not know (Graph error 100 naming it) is dropped from later requests.
Every read counts in ``exporter_graph_api_polls_total{result}``.
"""

from __future__ import annotations

import asyncio

import aiohttp
from redis.asyncio import Redis
from redis.exceptions import RedisError

from .. import catalog
from ..labels import INSTANCE_KIND, label_value
from ..logs import RateLimitedLog, get_logger
from .webhook_facts import messaging_limit
from .webhook_keys import NUMBERS, POLL_LOCK, Keys
from .webhook_state import LIMIT, RATING, WebhookState

log = get_logger("whatsapp")
REQUIRED = ("quality_rating", "display_phone_number")
OPTIONAL = ("whatsapp_business_manager_messaging_limit", "messaging_limit_tier")
NONEXISTING_FIELD = 100  # Graph's code for a field the node (or API version) lacks


class GraphPoller:
    def __init__(self, redis: Redis, state: WebhookState, keys: Keys, metrics, url: str,
                 token: str, interval: float, phone_number_ids: tuple[str, ...],
                 owner: str, timeout: float):
        self.redis, self.state, self.keys, self.metrics = redis, state, keys, metrics
        self.url, self.token, self.interval = url, token, interval
        self.configured, self.owner, self.timeout = phone_number_ids, owner, timeout
        self.fields = list(REQUIRED + OPTIONAL)
        self._warn = RateLimitedLog(log, max(60.0, interval))
        for result in catalog.GRAPH_POLL_RESULTS:
            metrics.child("exporter_graph_api_polls_total", result=result)

    async def run(self) -> None:
        async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"Authorization": f"Bearer {self.token}"}) as session:
            while True:
                try:
                    await self.poll_once(session)
                except (RedisError, OSError) as e:
                    self._warn.warning("redis", "Graph API poll skipped: Redis unreachable",
                                       error=type(e).__name__)
                except Exception as e:  # noqa: BLE001 - the poll must outlive a bad answer
                    self._warn.warning("bug", "Graph API poll failed",
                                       error=f"{type(e).__name__}: {e}"[:200])
                await asyncio.sleep(self.interval)

    async def numbers(self) -> list[str]:
        learned = [v.decode() for v in await self.redis.hvals(NUMBERS)]
        ids = dict.fromkeys([*self.configured, *learned])
        return [i for i in ids if label_value(i, INSTANCE_KIND) is not None or i in self.configured]

    async def poll_once(self, session: aiohttp.ClientSession) -> int:
        """Read every number once, if no other replica does this interval; how many
        numbers were read."""
        lock_seconds = max(1, int(self.interval * 0.9))
        if not await self.redis.set(POLL_LOCK, self.owner, nx=True, ex=lock_seconds):
            return 0
        done = 0
        for number_id in await self.numbers():
            done += await self._read(session, number_id)
        return done

    async def _read(self, session: aiohttp.ClientSession, number_id: str) -> int:
        for _ in range(len(OPTIONAL) + 1):  # each retry drops one field the API lacks
            try:
                async with session.get(f"{self.url}/{number_id}",
                                       params={"fields": ",".join(self.fields)}) as resp:
                    doc = await resp.json(content_type=None)
                    status = resp.status
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as e:
                return self._result("unreachable", number_id, type(e).__name__)
            if status == 200 and isinstance(doc, dict) and "error" not in doc:
                await self._keep(number_id, doc)
                return self._result("ok", number_id)
            error = doc.get("error") if isinstance(doc, dict) else None
            error = error if isinstance(error, dict) else {}
            dropped = [f for f in OPTIONAL if f in self.fields and f in str(error.get("message"))]
            if error.get("code") != NONEXISTING_FIELD or not dropped:
                return self._result("error", number_id, f"HTTP {status}, Graph error "
                                    f"{error.get('code')} ({error.get('type')})")
            self.fields.remove(dropped[0])
        return self._result("error", number_id, "fields refused")

    async def _keep(self, number_id: str, doc: dict) -> None:
        field = "i:" + number_id
        rating = doc.get("quality_rating")
        rating = rating if rating in catalog.WA_QUALITY_RATINGS else "UNKNOWN"
        await self.state.put(RATING, field, rating)
        limit = messaging_limit(doc.get("whatsapp_business_manager_messaging_limit")
                                or doc.get("messaging_limit_tier"))
        if limit is not None:
            await self.state.put(LIMIT, field, repr(limit))
        display = doc.get("display_phone_number")
        if isinstance(display, str) and display:
            await self.state.map_number(self.keys.number(display), number_id)

    def _result(self, result: str, number_id: str, why: str = "") -> int:
        self.metrics.inc("exporter_graph_api_polls_total", result=result)
        if why:
            self._warn.warning(result, "Graph API poll failed", number=number_id,
                               result=result, detail=why)
        return int(result == "ok")

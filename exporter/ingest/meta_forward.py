"""Forward each verified Meta webhook to the app (ANCLORA_META_FORWARD_URL).

Meta allows one webhook URL per app; with the exporter at that URL, the app still gets
every webhook: the same bytes, with Meta's own ``X-Hub-Signature-256`` (and
``Content-Type``), so the app checks the signature as if Meta had called it.

Semantics: the exporter answers Meta with the app's result. 200 once the app answered
2xx; otherwise 502 (the app answered another status, or not within
ANCLORA_META_FORWARD_TIMEOUT_SECONDS) or 503 (already ``MAX_IN_FLIGHT`` forwards waiting
on the app), and Meta delivers the webhook again later, as it would have to the app
itself (with backoff, for up to 7 days). So the app's copy is never lost because of the
exporter, even when it restarts or is killed mid-forward: nothing is queued in its
memory, Meta holds the webhook until someone said 200. The retries are Meta's, bounded
by Meta; the exporter's own counting is deduplicated (``webhook_dedupe``), so a
redelivered webhook is forwarded again but counted once. The app must accept a webhook
twice, as it must from Meta anyway. Every forward is counted in
``exporter_webhook_forwards_total{result}``: ok, rejected, failed, busy.
"""

from __future__ import annotations

import asyncio

import aiohttp

from ..logs import RateLimitedLog, get_logger

log = get_logger("whatsapp")
FORWARDED_HEADERS = ("X-Hub-Signature-256", "X-Hub-Signature", "Content-Type")


class Forwarder:
    MAX_IN_FLIGHT = 64  # forwards waiting on the app at once; more answer Meta 503

    def __init__(self, url: str, timeout: float, metrics):
        self.url, self.timeout, self.metrics = url, timeout, metrics
        self.in_flight = 0
        self._session: aiohttp.ClientSession | None = None
        self._warn = RateLimitedLog(log, 60.0)
        for result in ("ok", "rejected", "failed", "busy"):
            metrics.child("exporter_webhook_forwards_total", result=result)

    async def forward(self, body: bytes, headers) -> str:
        """Post ``body`` with Meta's headers to the app; the result (``ok`` when it
        answered 2xx)."""
        if self.in_flight >= self.MAX_IN_FLIGHT:
            return self._done("busy", f"{self.in_flight} forwards already waiting on the app")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                connector=aiohttp.TCPConnector(limit=self.MAX_IN_FLIGHT))
        sent = {h: headers[h] for h in FORWARDED_HEADERS if h in headers}
        self.in_flight += 1
        try:
            async with self._session.post(self.url, data=body, headers=sent) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    return self._done("ok")
                return self._done("rejected", f"the app answered {resp.status}")
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            return self._done("failed", type(e).__name__)
        finally:
            self.in_flight -= 1

    def _done(self, result: str, why: str = "") -> str:
        self.metrics.inc("exporter_webhook_forwards_total", result=result)
        if why:
            self._warn.warning(result, "webhook not forwarded to the app; Meta will send it "
                               "again", result=result, detail=why)
        return result

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

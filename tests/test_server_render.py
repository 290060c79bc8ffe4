"""Concurrent scrapes share one render (several rendering threads would starve the loop)."""

import asyncio
import threading
import time

from exporter import server
from tests.test_server import client_for


async def test_concurrent_scrapes_share_one_render(redis_url, monkeypatch):
    calls = []
    real = server.generate_latest

    def slow_render(registry):
        calls.append(threading.get_ident())
        time.sleep(0.3)
        return real(registry)

    monkeypatch.setattr(server, "generate_latest", slow_render)
    client, exporter = await client_for(redis_url)
    try:
        started = time.perf_counter()
        first = asyncio.create_task(client.get("/metrics"))
        await asyncio.sleep(0.1)  # the first render is under way
        live = await client.get("/health/live")
        live_seconds = time.perf_counter() - started
        rest = await asyncio.gather(*(client.get("/metrics") for _ in range(3)))
        responses = [await first, *rest]
        assert [r.status for r in responses] == [200] * 4
        assert len(calls) == 1
        assert live.status == 200 and live_seconds < 0.3  # answered while rendering
        bodies = {await r.read() for r in responses}
        assert len(bodies) == 1
        await client.get("/metrics")  # a later scrape renders afresh
        assert len(calls) == 2
    finally:
        await client.close()
        await exporter.stop()

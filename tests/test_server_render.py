"""Concurrent scrapes share one render (several rendering threads would starve the loop),
and the event loop keeps answering while it runs. How fast it answers is measured by
``python -m bench scrape`` (/health/live while scrapes render)."""

import asyncio
import threading

from exporter import server
from tests.support.scrape import client_for


async def test_concurrent_scrapes_share_one_render(redis_url, monkeypatch):
    calls, release = [], threading.Event()
    real = server.generate_latest

    def held_render(registry):
        calls.append(threading.get_ident())
        assert release.wait(10), "the test never released the render"
        return real(registry)

    monkeypatch.setattr(server, "generate_latest", held_render)
    client, exporter = await client_for(redis_url)
    refreshed, real_refresh = [], exporter.runner.refresh

    async def refresh():  # a scrape past this point goes straight to the render
        await real_refresh()
        refreshed.append(1)
    exporter.runner.refresh = refresh
    try:
        first = asyncio.create_task(client.get("/metrics"))
        while not calls:  # the first render is under way, held until released
            await asyncio.sleep(0.01)
        live = await client.get("/health/live")
        assert live.status == 200 and not first.done()  # answered while rendering
        rest = [asyncio.create_task(client.get("/metrics")) for _ in range(3)]
        while len(refreshed) < 4:  # the three reach the render under way
            await asyncio.sleep(0.01)
        release.set()
        responses = [await first, *await asyncio.gather(*rest)]
        assert [r.status for r in responses] == [200] * 4
        assert len(calls) == 1
        bodies = {await r.read() for r in responses}
        assert len(bodies) == 1
        await client.get("/metrics")  # a later scrape renders afresh
        assert len(calls) == 2
    finally:
        release.set()
        await client.close()
        await exporter.stop()

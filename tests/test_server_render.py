"""Concurrent scrapes share one render (several rendering threads would starve the loop),
whatever encoding each asks for, and the event loop keeps answering while it runs. How
fast it answers is measured by ``python -m bench scrape`` (/health/live while scrapes
render)."""

import asyncio
import gzip
import threading

import pytest

from exporter import server
from tests.support.scrape import client_for


class HeldRenders:
    """Renders wait until ``release``; ``calls`` has the thread of each render begun,
    ``refreshed`` one entry per scrape past its refresh (it then goes straight to the
    render, shared or its own)."""

    def __init__(self, exporter, monkeypatch):
        self.calls, self.refreshed, self._release = [], [], threading.Event()
        real = server.generate_latest

        def held_render(registry):
            self.calls.append(threading.get_ident())
            assert self._release.wait(10), "the test never released the render"
            return real(registry)
        monkeypatch.setattr(server, "generate_latest", held_render)
        real_refresh = exporter.runner.refresh

        async def refresh():
            await real_refresh()
            self.refreshed.append(1)
        exporter.runner.refresh = refresh

    async def until(self, renders: int = 1, refreshed: int = 0) -> None:
        while len(self.calls) < renders or len(self.refreshed) < refreshed:
            await asyncio.sleep(0.01)

    def release(self) -> None:
        self._release.set()


@pytest.fixture
async def held(redis_url, monkeypatch):
    client, exporter = await client_for(redis_url, auto_decompress=False)
    renders = HeldRenders(exporter, monkeypatch)
    yield client, renders
    renders.release()
    await client.close()
    await exporter.stop()


async def test_concurrent_scrapes_share_one_render(held):
    client, renders = held
    first = asyncio.create_task(client.get("/metrics"))
    await renders.until(1)  # the first render is under way, held until released
    live = await client.get("/health/live")
    assert live.status == 200 and not first.done()  # answered while rendering
    rest = [asyncio.create_task(client.get("/metrics")) for _ in range(3)]
    await renders.until(1, refreshed=4)  # the three reach the render under way
    renders.release()
    responses = [await first, *await asyncio.gather(*rest)]
    assert [r.status for r in responses] == [200] * 4
    assert len(renders.calls) == 1
    bodies = {await r.read() for r in responses}
    assert len(bodies) == 1
    await client.get("/metrics")  # a later scrape renders afresh
    assert len(renders.calls) == 2


async def test_a_shared_render_serves_gzip_and_identity(held):
    client, renders = held
    plain = asyncio.create_task(client.get("/metrics", headers={"Accept-Encoding": "identity"}))
    await renders.until(1)
    zipped = asyncio.create_task(client.get("/metrics", headers={"Accept-Encoding": "gzip"}))
    await renders.until(1, refreshed=2)
    renders.release()
    plain, zipped = await plain, await zipped
    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(await zipped.read()) == await plain.read()
    assert len(renders.calls) == 1

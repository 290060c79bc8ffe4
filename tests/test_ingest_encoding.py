"""POST /events with Content-Encoding: gzip or deflate bodies are accepted (aiohttp
inflates them), and a gzip bomb is refused at ANCLORA_MAX_BODY_BYTES of inflated body
without holding the event loop (aiohttp inflates in bounded steps as it is read)."""

import asyncio
import gzip
import json
import time
import zlib

from tests.support.scrape import rejected, scrape

NDJSON = {"Content-Type": "application/x-ndjson"}


def _bomb(inflated: int = 256 << 20) -> bytes:
    """~250 KB of gzip that inflates to ``inflated`` bytes of zeros."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    return b"".join(c.compress(zeros) for _ in range(inflated >> 20)) + c.flush()


async def test_gzip_and_deflate_bodies_are_accepted(http):
    client = await http()
    body = b'{"type":"message_read"}\n' * 3
    for encoding, data in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body))):
        r = await client.post("/events", data=data,
                              headers={**NDJSON, "Content-Encoding": encoding})
        assert r.status == 200 and (await r.json())["accepted"] == 3, encoding
    s = await scrape(client)
    assert s[("anclora_exporter_events_ingested_total", (("type", "message_read"),))] == 6


async def test_a_gzip_bomb_is_413_and_never_holds_the_loop(http):
    client = await http()
    bomb = _bomb()
    await client.get("/health/live")  # warm
    post = asyncio.create_task(client.post(
        "/events", data=bomb, headers={**NDJSON, "Content-Encoding": "gzip"}))
    worst = 0.0
    while not post.done():
        started = time.perf_counter()
        assert (await client.get("/health/live")).status == 200
        worst = max(worst, time.perf_counter() - started)
        await asyncio.sleep(0.01)
    r = await post
    assert r.status == 413
    assert rejected(await scrape(client), "too_large") == 1
    # Inflating all 256 MiB took the loop for ~1.4 s; stopping at the limit takes ms.
    assert worst < 0.3, worst

"""/metrics is gzipped for a scraper that accepts gzip (Prometheus sends
``Accept-Encoding: gzip``), and sent as is otherwise (a render shared by scrapes asking
for both: tests/test_server_render.py). What it costs and saves is measured by
``python -m bench bullmq`` and ``python -m bench scrape``."""

from __future__ import annotations

import gzip

import pytest

from exporter.server import accepts_gzip
from tests.support.scrape import client_for


@pytest.mark.parametrize("header, accepted", [
    ("gzip", True), ("gzip, deflate", True), ("deflate, gzip;q=0.5", True), ("*", True),
    ("GZIP", True), ("x-gzip", True), ("", False), ("identity", False), ("deflate", False),
    ("gzip;q=0", False), ("*;q=0", False), ("gzip;q=0, *", False), ("gzip;q=bad", False),
    ("identity, *;q=0.1", True)])
def test_accepts_gzip(header, accepted):
    assert accepts_gzip(header) is accepted


async def test_gzip_when_accepted_as_is_otherwise(redis_url):
    client, exporter = await client_for(redis_url, auto_decompress=False)  # bodies as sent
    try:
        plain = await client.get("/metrics", headers={"Accept-Encoding": "identity"})
        assert plain.status == 200 and "Content-Encoding" not in plain.headers
        assert plain.headers["Vary"] == "Accept-Encoding"
        zipped = await client.get("/metrics", headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["Content-Encoding"] == "gzip"
        body = await zipped.read()
        text = gzip.decompress(body).decode()
        assert "# TYPE anclora_exporter_redis_up gauge\nanclora_exporter_redis_up 1.0\n" in text
        assert len(body) * 3 < len(text.encode())
    finally:
        await client.close()
        await exporter.stop()

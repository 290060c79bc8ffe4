"""Reading /metrics in tests: an exporter behind a test HTTP client, its samples by key."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from exporter.app import Exporter
from exporter.config import Config
from exporter.server import make_app


def samples(text: str) -> dict:
    """{(sample name, sorted label pairs): value} of an exposition text."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def scrape(client) -> dict:
    """The samples of one GET /metrics."""
    return samples(await (await client.get("/metrics")).text())


def rejected(s: dict, reason: str) -> float:
    return s.get(("anclora_exporter_events_rejected_total", (("reason", reason),)), 0)


async def client_for(url: str, **client_options) -> tuple[TestClient, Exporter]:
    """A started test client of an Exporter on ``url`` with short Redis/health timeouts;
    the caller closes the client and stops the exporter. ``client_options`` go to the
    client session (``auto_decompress=False``: bodies as sent)."""
    exporter = Exporter(Config.defaults(redis_url=url, redis_timeout=0.5, health_timeout=1.0))
    client = TestClient(TestServer(make_app(exporter)), **client_options)
    await client.start_server()
    return client, exporter

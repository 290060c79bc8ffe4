"""Shared fixtures. Tests run against real redis-server processes they start themselves.
Shared helpers that are not fixtures live in tests/support/; test modules import nothing
from each other."""

from __future__ import annotations

import pytest
import redis as redis_sync
from aiohttp.test_utils import TestClient, TestServer

from exporter.app import Exporter
from exporter.config import Config
from exporter.server import make_app
from tests.support.procs import RedisServer


@pytest.fixture(scope="session")
def redis_server():
    """One redis-server for the session; tests get a clean database from `redis_url`."""
    server = RedisServer().start()
    yield server
    server.cleanup()


@pytest.fixture
def redis_url(redis_server):
    client = redis_sync.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def own_redis():
    """A redis-server for this test alone, so it can be stopped and restarted."""
    server = RedisServer().start()
    yield server
    server.cleanup()


@pytest.fixture
def r(redis_url):
    """A synchronous client of the test's clean Redis, to write state and read it back."""
    c = redis_sync.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
async def http(redis_url):
    """``await http(**config overrides)`` -> a test client of a new Exporter on the test's
    Redis (``client.exporter``); every one made is closed and stopped after the test."""
    async def start(**overrides):
        exporter = Exporter(Config.defaults(redis_url=redis_url, **overrides))
        client = TestClient(TestServer(make_app(exporter)))
        client.exporter = exporter
        await client.start_server()
        made.append((client, exporter))
        return client
    made = []
    yield start
    for client, exporter in made:
        await client.close()
        await exporter.stop()


@pytest.fixture
async def exporters(redis_url):
    """``exporters(name, **consumer options)`` -> (Exporter, its events-stream consumer),
    not started (tests drive ``poll_once``); every one made is stopped after the test."""
    made = []

    def make(name="c1", **options):
        e = Exporter(Config.defaults(redis_url=redis_url, consumer_name=name))
        options.setdefault("block_ms", 20)
        made.append(e)
        return e, e.events_consumer(**options)
    yield make
    for e in made:
        await e.stop()  # again for those a test stopped: harmless

"""Shared fixtures. Tests run against real redis-server processes they start themselves."""

from __future__ import annotations

import pytest
import redis as redis_sync

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

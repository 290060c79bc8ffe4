"""exporter.fastpath.redis against redis-py's own pipeline, on a real redis-server: if an
upgrade changes the raw connection calls, ``test_the_fast_path_is_taken`` fails and the
exporter keeps working on the pipeline."""

from __future__ import annotations

import pytest

from exporter.app import make_redis
from exporter.collectors.bullmq import queue_reads
from exporter.fastpath import redis as fastpath


@pytest.fixture
async def r(redis_url):
    client = make_redis(redis_url, 1.0)
    await client.rpush("bull:q:wait", "1", "2")
    await client.zadd("bull:q:prioritized", {"3": 2 ** 32 + 1})
    await client.hset("bull:q:meta", mapping={"paused": "1", "version": "bullmq:5.1.0"})
    await client.hset("bull:q:1", "timestamp", "1700000000000")
    await client.set("bull:broken:wait", "a string: WRONGTYPE for LLEN")
    yield client
    await client.aclose()


CMDS = (queue_reads("bull", "q", [1, 2]) + queue_reads("bull", "broken", [1])
        + queue_reads("bull", "absent", []) + [("HGET", "bull:q:1", "timestamp")])


def comparable(replies):
    return [(type(x).__name__, str(x)) if isinstance(x, Exception) else x for x in replies]


async def test_the_fast_path_is_taken(r):
    conn = await r.connection_pool.get_connection()
    try:
        assert fastpath.has_raw_calls(conn)
    finally:
        await r.connection_pool.release(conn)


async def test_raw_replies_are_the_pipelines(r):
    fast, packed = await fastpath.round_trip(r, CMDS)
    slow = await fastpath.pipeline_round_trip(r, CMDS)
    assert comparable(fast) == comparable(slow)
    assert fast[:3] == [2, 0, 0] and fast[8] == [b"1", b"bullmq:5.1.0"] and fast[-1] == b"1700000000000"
    # bull:broken:wait is a string: its LLEN and LINDEX are WRONGTYPE errors, in place.
    assert [i for i, x in enumerate(fast) if isinstance(x, Exception)] == [13, 22]
    again, same = await fastpath.round_trip(r, CMDS, packed)  # the packed bytes, reused
    assert comparable(again) == comparable(fast) and same is packed


async def test_without_the_raw_calls_the_pipeline_answers(r, monkeypatch):
    expected = comparable(await fastpath.pipeline_round_trip(r, CMDS))
    monkeypatch.setattr(fastpath, "has_raw_calls", lambda conn: False)
    replies, packed = await fastpath.round_trip(r, CMDS)
    assert comparable(replies) == expected and packed is None
    assert await fastpath.round_trip(r, []) == ([], None)

"""exporter.fastpath.redis against redis-py's own pipeline, on a real redis-server: if an
upgrade changes the raw connection calls, ``test_the_fast_path_is_taken`` fails and the
exporter keeps working on the pipeline."""

from __future__ import annotations

import asyncio

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
        assert fastpath.raw_io(conn) is not None
    finally:
        await r.connection_pool.release(conn)


async def test_raw_replies_are_the_pipelines(r):
    part = fastpath.Part(CMDS)
    fast = await fastpath.round_trip(r, part)
    slow = await fastpath.pipeline_round_trip(r, CMDS)
    assert comparable(fast) == comparable(slow)
    assert fast[:3] == [2, 0, 0] and fast[8] == [b"1", b"bullmq:5.1.0"] and fast[-1] == b"1700000000000"
    # bull:broken:wait is a string: its LLEN and LINDEX are WRONGTYPE errors, in place.
    assert [i for i, x in enumerate(fast) if isinstance(x, Exception)] == [13, 22]
    packed = part.packed
    # Packed once, sent again; several parts in one trip answer in order.
    again = await fastpath.round_trip(r, part, fastpath.Part(CMDS[:3]), fastpath.Part([]))
    assert comparable(again) == comparable(fast + fast[:3]) and part.packed is packed


async def test_a_reply_bigger_than_a_socket_read(r):
    """Replies that arrive over several socket reads (one list of 200 KB here)."""
    await r.rpush("big", *[b"x" * 1000] * 200)
    cmds = [("LRANGE", "big", 0, -1), ("LLEN", "big")] * 3
    fast = await fastpath.round_trip(r, fastpath.Part(cmds))
    assert fast == await fastpath.pipeline_round_trip(r, cmds)
    assert fast[1] == 200 and fast[0] == [b"x" * 1000] * 200


async def test_without_the_raw_calls_the_pipeline_answers(r, monkeypatch):
    expected = comparable(await fastpath.pipeline_round_trip(r, CMDS))
    monkeypatch.setattr(fastpath, "raw_io", lambda conn: None)
    part = fastpath.Part(CMDS)
    replies = await fastpath.round_trip(r, part)
    assert comparable(replies) == expected and part.packed is None
    assert await fastpath.round_trip(r, fastpath.Part([])) == []


async def test_push_notifications_amid_the_replies_are_not_taken_for_replies(r):
    """RESP3 pushes (here a client-side caching invalidation: the trip changes a key it
    read) arriving among the replies go to redis-py's handler; the replies stay in step."""
    pool = r.connection_pool
    conn = await pool.get_connection()
    pushes = []
    try:
        if fastpath.raw_io(conn).push_type is None:
            pytest.skip("RESP2 connection: no push notifications")
        await conn.send_command("CLIENT", "TRACKING", "ON")
        assert await conn.read_response() == b"OK"
        handler = conn._parser.handle_push_response

        async def counted(push, **kw):
            pushes.append(push)
            return await handler(push, **kw)
        conn._parser.handle_push_response = counted
    finally:
        await pool.release(conn)  # the pool hands it out again next (last in, first out)
    cmds = [("GET", "tracked"), ("SET", "tracked", "x"), ("LLEN", "bull:q:wait")]
    assert await fastpath.round_trip(r, fastpath.Part(cmds)) == [None, b"OK", 2]
    assert len(pushes) == 1 and pushes[0][0] == b"invalidate"
    assert await fastpath.round_trip(r, fastpath.Part(CMDS[:3])) == [2, 0, 0]


async def test_a_lease_keeps_one_connection_across_trips_until_released(r):
    pool = r.connection_pool
    lease = fastpath.Lease(r)
    ids = [(await lease.round_trip(fastpath.Part([("CLIENT", "ID"), ("LLEN", "bull:q:wait")])))
           for _ in range(3)]
    assert ids[0] == ids[1] == ids[2] and ids[0][1] == 2
    assert lease.conn in pool._in_use_connections
    await lease.release()
    assert lease.conn is None and not pool._in_use_connections


async def test_a_lease_cut_off_drops_its_connection_and_the_next_trip_takes_another(r):
    """A trip cancelled while Redis still owes its reply: that connection is dropped (its
    late reply must not answer the next trip) and given back; the next trip takes another."""
    lease = fastpath.Lease(r)
    (first,) = await lease.round_trip(fastpath.Part([("CLIENT", "ID")]))
    waiting = asyncio.create_task(lease.round_trip(fastpath.Part([("BLPOP", "never", 5)])))
    await asyncio.sleep(0.05)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert lease.conn is None and not r.connection_pool._in_use_connections
    await r.rpush("never", "late")  # would have answered the BLPOP, had it stayed
    second, length = await lease.round_trip(fastpath.Part([("CLIENT", "ID"), ("LLEN", "never")]))
    assert second != first and length == 1
    await lease.release()

"""redis-py fast path: many commands in one write, raw replies read under one timeout.

redis-py's pipeline gives each reply its own timeout and runs a response callback on it,
and even its raw ``read_response`` costs a coroutine, a timeout and a few checks per reply:
at ~750 replies a BullMQ scrape spent most of its time there. ``round_trip`` instead takes
a pooled connection, writes the packed commands (``Connection.pack_commands``) straight to
its stream writer and feeds the socket's bytes to the connection's own hiredis reader,
taking every complete reply from it in one loop, under one timeout for the whole trip.
Those attributes (``_writer``, ``_parser._reader``, ``_parser._stream``) are not redis-py's
documented API: when their shape is missing (no hiredis, an upgrade), ``round_trip``
sends a plain non-transactional pipeline instead, whose replies are the same for the
commands the exporter sends (tests/fastpath/test_redis.py compares the two).
"""

from __future__ import annotations

import asyncio
import functools
from typing import NamedTuple

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

try:
    from redis._parsers.hiredis import NOT_ENOUGH_DATA
except ImportError:  # moved or gone: the pipeline answers
    NOT_ENOUGH_DATA = None

_SERVER_CLOSED = "Connection closed by server."


def raw_io(conn):
    """The parts ``round_trip`` uses of a connected redis-py connection, or None when it
    does not have that shape (then use ``pipeline_round_trip``)."""
    parser = getattr(conn, "_parser", None)
    reader, stream = getattr(parser, "_reader", None), getattr(parser, "_stream", None)
    writer = getattr(conn, "_writer", None)
    push_type = getattr(parser, "_hiredis_PushNotificationType", None)
    if (NOT_ENOUGH_DATA is None or type(parser).__name__ != "_AsyncHiredisParser"
            or (push_type is not None
                and not callable(getattr(parser, "handle_push_response", None)))
            or not callable(getattr(reader, "gets", None))
            or not callable(getattr(reader, "feed", None))
            or not callable(getattr(stream, "read", None))
            or not callable(getattr(writer, "writelines", None))):
        return None
    return _RawIO(writer, stream, reader, getattr(parser, "_read_size", 65536), push_type,
                  getattr(parser, "handle_push_response", None))


class _RawIO(NamedTuple):
    writer: object
    stream: object      # the connection's asyncio.StreamReader
    reader: object      # its hiredis.Reader
    read_size: int
    push_type: type | None      # RESP3 push notifications (not replies): redis-py's handler
    handle_push: object


class Part:
    """Commands sent together in a ``round_trip``, with their bytes once packed (kept by
    the caller: the same commands are not packed again)."""

    __slots__ = ("cmds", "packed")

    def __init__(self, cmds: list[tuple]):
        self.cmds, self.packed = cmds, None


async def round_trip(redis: Redis, *parts: Part) -> list:
    """The replies to the commands of every part, in order, in one write.

    Replies are raw (bytes, ints, lists); a reply that is an error (e.g. WRONGTYPE) is
    the ``ResponseError``, in its place. The whole trip is bounded by the connection's
    ``socket_timeout``. Cut off before every reply was read (timeout, cancellation, a
    broken socket), the connection is dropped rather than returned with replies pending.
    """
    lease = Lease(redis)
    try:
        return await lease.round_trip(*parts)
    finally:
        await lease.release()


class Lease:
    """A pooled connection held for several round trips in a row, each as ``round_trip``
    makes it: a caller making them back to back (webhook claims under load) takes the
    connection from the pool and gives it back once, not per trip (redis-py's pool takes
    a lock and records its metrics both times). ``release`` it when the run ends; a trip
    cut off drops the connection and releases it, and the next trip takes another."""

    __slots__ = ("redis", "conn", "io")

    def __init__(self, redis: Redis):
        self.redis, self.conn, self.io = redis, None, None

    async def round_trip(self, *parts: Part) -> list:
        n = sum(len(p.cmds) for p in parts)
        if not n:
            return []
        conn = self.conn
        if conn is None:
            conn = self.conn = await self.redis.connection_pool.get_connection()
            self.io = raw_io(conn)
        if self.io is None:
            await self.release()
            return await pipeline_round_trip(self.redis, [c for p in parts for c in p.cmds])
        loop = asyncio.get_running_loop()
        done = False
        try:
            async with asyncio.timeout(conn.socket_timeout):
                if conn.health_check_interval and loop.time() > conn.next_health_check:
                    await conn.check_health()  # a PING: it may reconnect (new streams)
                    self.io = raw_io(conn)
                io = self.io
                for p in parts:
                    if p.packed is None and p.cmds:
                        p.packed = b"".join(conn.pack_commands(p.cmds))
                io.writer.writelines([p.packed for p in parts if p.cmds])  # one send
                await io.writer.drain()
                out = await _read(io, n)
            done = True
        finally:
            if not done:
                await conn.disconnect()
                await self.release()
        if conn.health_check_interval:  # as read_response does: the connection was just used
            conn.next_health_check = loop.time() + conn.health_check_interval
        if any(issubclass(t, RedisConnectionError) for t in set(map(type, out))):
            raise next(r for r in out if isinstance(r, RedisConnectionError))  # e.g. LOADING
        return out

    async def release(self) -> None:
        conn, self.conn, self.io = self.conn, None, None
        if conn is not None:
            await self.redis.connection_pool.release(conn)


async def _read(io: _RawIO, n: int) -> list:
    """``n`` replies: socket bytes fed to the hiredis reader, every complete reply taken
    from it at once (``iter`` calls ``gets`` until it says it needs more data)."""
    out: list = []
    gets = functools.partial(io.reader.gets, False)
    while True:
        start = len(out)
        out.extend(iter(gets, NOT_ENOUGH_DATA))
        if io.push_type is not None and io.push_type in set(map(type, out[start:])):
            pushes = [r for r in out[start:] if type(r) is io.push_type]
            out[start:] = [r for r in out[start:] if type(r) is not io.push_type]
            for push in pushes:  # not replies: redis-py's handler takes them
                await io.handle_push(push)
        if len(out) >= n:
            if len(out) > n:  # more replies than commands: the stream is out of step
                raise RedisConnectionError("unexpected replies from Redis")
            return out
        data = await io.stream.read(io.read_size)
        if not data:
            raise RedisConnectionError(_SERVER_CLOSED)
        io.reader.feed(data)


async def pipeline_round_trip(redis: Redis, cmds: list[tuple]) -> list:
    """The public-API equivalent of ``round_trip``'s replies (slower: per-reply timeouts
    and response callbacks)."""
    async with redis.pipeline(transaction=False) as pipe:
        for cmd in cmds:
            pipe.execute_command(*cmd)
        return await pipe.execute(raise_on_error=False)

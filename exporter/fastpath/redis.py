"""redis-py fast path: many commands in one write, raw replies read under one timeout.

redis-py's pipeline gives each reply its own timeout and runs a response callback on it,
which was most of a BullMQ scrape's cost at ~750 replies. ``round_trip`` instead packs
the commands (``Connection.pack_commands``), writes them at once and reads raw replies
(``read_response(disable_decoding=True, timeout=...)``) on one pooled connection. Those
connection methods are not redis-py's documented API: when their shape is missing,
``round_trip`` sends a plain non-transactional pipeline instead, whose replies are the same
for the commands the exporter sends (tests/fastpath/test_redis.py compares the two).
"""

from __future__ import annotations

import asyncio
import inspect
import math

from redis.asyncio import Redis
from redis.exceptions import ResponseError

_FAST: dict[type, bool] = {}  # connection class -> has the raw calls round_trip uses


def has_raw_calls(conn) -> bool:
    cls = type(conn)
    if cls not in _FAST:
        read = getattr(cls, "read_response", None)
        params = inspect.signature(read).parameters if callable(read) else {}
        _FAST[cls] = (callable(getattr(cls, "pack_commands", None))
                      and callable(getattr(cls, "send_packed_command", None))
                      and "disable_decoding" in params and "timeout" in params)
    return _FAST[cls]


async def round_trip(redis: Redis, cmds: list[tuple],
                     packed: bytes | None = None) -> tuple[list, bytes | None]:
    """(replies to ``cmds``, their packed bytes for a later call with the same ``cmds``).

    Replies are raw (bytes, ints, lists); a reply that is an error (e.g. WRONGTYPE) is
    the ``ResponseError``, in its place. The whole trip is bounded by the connection's
    ``socket_timeout``. Cut off before every reply was read (timeout, cancellation, a
    broken socket), the connection is dropped rather than returned with replies pending.
    """
    if not cmds:
        return [], packed
    pool = redis.connection_pool
    conn = await pool.get_connection()
    if not has_raw_calls(conn):
        await pool.release(conn)
        return await pipeline_round_trip(redis, cmds), None
    done = False
    try:
        async with asyncio.timeout(conn.socket_timeout):
            if packed is None:
                packed = conn.pack_commands(cmds)
            await conn.send_packed_command(packed)
            out = []
            for _ in cmds:
                try:  # math.inf: no per-reply timeout, the trip's one applies
                    out.append(await conn.read_response(disable_decoding=True,
                                                        timeout=math.inf))
                except ResponseError as e:
                    out.append(e)
        done = True
        return out, packed
    finally:
        if not done:
            await conn.disconnect()
        await pool.release(conn)


async def pipeline_round_trip(redis: Redis, cmds: list[tuple]) -> list:
    """The public-API equivalent of ``round_trip``'s replies (slower: per-reply timeouts
    and response callbacks)."""
    async with redis.pipeline(transaction=False) as pipe:
        for cmd in cmds:
            pipe.execute_command(*cmd)
        return await pipe.execute(raise_on_error=False)

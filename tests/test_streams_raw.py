"""StreamConsumer's read takes XREADGROUP's replies raw (fastpath.redis), without
redis-py's per-entry conversion: the entries a handler gets are the same over RESP2 and
RESP3 connections, decoded or not, whatever their fields."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from exporter.streams import StreamConsumer, _pairs, _stream_replies


class Recording:
    def __init__(self):
        self.entries = []

    async def prepare(self, stream, entries):
        self.entries += [(stream, e) for e in entries]
        return lambda acked: None


ENTRIES = [{"event": '{"type":"message_read"}'},
           {"a": "1", "b": "2", "c": "3"},
           {"bytes": b"\xff\xfe not UTF-8"}]


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("decode", [True, False])
async def test_entries_as_the_handler_gets_them(redis_url, protocol, decode):
    r = Redis.from_url(redis_url, protocol=protocol, socket_timeout=2)
    try:
        handler = Recording()
        c = StreamConsumer(r, lambda: ["s1", "s2"], "g", "c1", handler, start_id="0",
                           block_ms=20, decode=decode)
        ids = [await r.xadd("s1", fields) for fields in ENTRIES] + [await r.xadd("s2", {"n": "9"})]
        assert await c.poll_once() == 4
        if decode:
            expected = [(s, (i.decode(), {k: v.decode("utf-8", "replace") if isinstance(v, bytes)
                                          else v for k, v in f.items()}))
                        for s, i, f in zip(["s1"] * 3 + ["s2"], ids, ENTRIES + [{"n": "9"}])]
        else:
            expected = [(s, (i, {k.encode(): v if isinstance(v, bytes) else v.encode()
                                 for k, v in f.items()}))
                        for s, i, f in zip(["s1"] * 3 + ["s2"], ids, ENTRIES + [{"n": "9"}])]
        assert handler.entries == expected
        assert await c.poll_once() == 0
    finally:
        await r.aclose()


def test_raw_replies_of_both_protocols():
    entries = [[b"1-0", [b"event", b"x"]], [b"2-0", None], [b"3-0", [b"a", b"1", b"b", b"2"]]]
    assert _pairs(entries) == [(b"1-0", {b"event": b"x"}), (b"2-0", {}),
                               (b"3-0", {b"a": b"1", b"b": b"2"})]
    assert _stream_replies([[b"s", entries]]) == _stream_replies({b"s": entries}) == [
        ("s", entries)]
    assert _stream_replies(None) == []

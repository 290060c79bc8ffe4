"""Hostile requests, each with what a correct exporter answers and counts.

Every kind is one request (or one stream entry, or one slow connection) and knows its
expected outcome: the HTTP status, the refusals it adds to
``exporter_events_rejected_total{reason}``, and the events it may add (a phone number in
a label is accepted, folded to ``other``). ``send`` returns what really happened, so the
bench can compare. Requests time out (the exporter may be stuck: that is a figure, not
a hung bench), and a 500, a reset or a time-out is reported as such.

Expected outcomes follow issue 9's contract: deep nesting is ``malformed`` (400), numbers
out of range are ``invalid_value`` (400), a lone surrogate is ``invalid_field`` (400),
non-UTF-8 in ``Authorization`` is 401, bodies over ANCLORA_MAX_BODY_BYTES (also once
decompressed) are 413 ``too_large``. A 1 MiB NDJSON body of ``1`` lines follows the
documented per-line contract (400, one ``not_an_object`` per line) unless the exporter
caps events per request; the bench reports what it got either way.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
import zlib
from dataclasses import dataclass, field

import aiohttp

from .harness import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}
NDJSON = {"Content-Type": "application/x-ndjson"}
FLOOD_LINES = (1 << 20) // 2  # b"1\n" * this = exactly 1 MiB
PHONE = "+34 600 123 456"


@dataclass
class Outcome:
    kind: str
    status: object                     # int, "timeout", an exception name, or "closed"
    expected_status: object
    expected_rejects: collections.Counter
    accepted: collections.Counter = field(default_factory=collections.Counter)  # by type
    uncertain: collections.Counter = field(default_factory=collections.Counter)
    seconds: float = 0.0
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.status == self.expected_status


async def post(s: aiohttp.ClientSession, base: str, body: bytes, headers: dict,
               timeout: float = 15.0) -> tuple[object, dict | None]:
    try:
        async with s.post(base + "/events", data=body, headers=headers,
                          timeout=aiohttp.ClientTimeout(total=timeout)) as r:
            raw = await r.read()
            try:
                return r.status, json.loads(raw)
            except ValueError:
                return r.status, None
    except asyncio.TimeoutError:
        return "timeout", None
    except (aiohttp.ClientError, OSError) as e:
        return type(e).__name__, None


def _events_body(events: list[dict]) -> bytes:
    return json.dumps(events).encode() if len(events) != 1 else json.dumps(events[0]).encode()


async def _one(s, base, kind: str, body: bytes, headers: dict, expected_status: int,
               reasons: dict, events: list[dict], timeout: float = 15.0) -> Outcome:
    """One request; the events it carries are accepted/uncertain per the answer."""
    t = time.perf_counter()
    status, answer = await post(s, base, body, headers, timeout)
    out = Outcome(kind, status, expected_status, collections.Counter(reasons),
                  seconds=time.perf_counter() - t)
    types = collections.Counter(e["type"] for e in events if isinstance(e, dict) and "type" in e)
    if isinstance(status, int) and status < 500 and answer is not None:
        accepted = answer.get("accepted", 0)
        if accepted and accepted == sum(types.values()):
            out.accepted = types
        elif accepted:  # a partial acceptance of a mixed body: not used by these kinds
            out.uncertain = types
            out.note = f"accepted {accepted} of {sum(types.values())}"
    elif events:
        out.uncertain = types  # 5xx, reset or time-out: the exporter may or may not count
    return out


def _nest(depth: int) -> str:
    return "[" * depth + "]" * depth


# --- the kinds (each: async (session, base, ctx) -> Outcome) ----------------------------

async def malformed_json(s, base, ctx):
    return await _one(s, base, "malformed_json", b'{"type": "message_sent", ', AUTH, 400,
                      {"malformed": 1}, [])


async def deep_nesting(s, base, ctx):
    return await _one(s, base, "deep_nesting", _nest(1000).encode(), AUTH, 400,
                      {"malformed": 1}, [])


async def huge_int(s, base, ctx):
    body = b'{"type":"conversion","conversion_type":"sale","value_euros":' + b"9" * 400 + b"}"
    return await _one(s, base, "huge_int", body, AUTH, 400, {"invalid_value": 1},
                      [{"type": "conversion"}])


async def huge_float(s, base, ctx):
    body = b'{"type":"conversion","conversion_type":"sale","value_euros":1e308}'
    return await _one(s, base, "huge_float", body, AUTH, 400, {"invalid_value": 1},
                      [{"type": "conversion"}])


async def lone_surrogate(s, base, ctx):
    body = b'{"type":"message_sent","message_type":"\\ud800"}'
    return await _one(s, base, "lone_surrogate", body, AUTH, 400, {"invalid_field": 1},
                      [{"type": "message_sent"}])


async def oversized(s, base, ctx):
    line = b'{"type":"message_read"}\n'
    body = line * (ctx.max_body // len(line) + 64)
    return await _one(s, base, "oversized", body, {**AUTH, **NDJSON}, 413, {"too_large": 1},
                      [{"type": "message_read"}] * body.count(b"\n"))


async def body_20mib(s, base, ctx):
    line = b'{"type":"message_read"}\n'
    body = line * ((20 << 20) // len(line))
    return await _one(s, base, "body_20mib", body, {**AUTH, **NDJSON}, 413, {"too_large": 1},
                      [{"type": "message_read"}] * body.count(b"\n"), timeout=30)


_BOMB: bytes | None = None


def _make_bomb() -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip container
    chunk, parts = b" " * (1 << 20), []
    for _ in range(256):
        parts.append(c.compress(chunk))
    parts.append(c.flush())
    return b"".join(parts)


async def gzip_bomb(s, base, ctx):
    """~250 KB of gzip that inflates to 256 MiB (sent with Content-Encoding: gzip)."""
    global _BOMB
    if _BOMB is None:
        # Built in a thread: compressing 256 MiB takes ~1.4 s, which on this process's
        # loop delayed the bench's own probes (it showed as a slow exporter).
        _BOMB = await asyncio.to_thread(_make_bomb)
    return await _one(s, base, "gzip_bomb", _BOMB, {**AUTH, "Content-Encoding": "gzip",
                                                    "Content-Type": "application/json"},
                      413, {"too_large": 1}, [], timeout=30)


async def bad_token(s, base, ctx):
    return await _one(s, base, "bad_token", b'{"type":"message_read"}',
                      {"Authorization": "Bearer wrong"}, 401, {"unauthorized": 1},
                      [{"type": "message_read"}])


async def missing_token(s, base, ctx):
    return await _one(s, base, "missing_token", b'{"type":"message_read"}', {}, 401,
                      {"unauthorized": 1}, [{"type": "message_read"}])


async def non_utf8_token(s, base, ctx):
    """A raw request (clients refuse to send such a header): ``Bearer \\xff``."""
    body = b'{"type":"message_read"}'
    req = (b"POST /events HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer \xff\xfe\r\n"
           b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
           + b"\r\nConnection: close\r\n\r\n" + body)
    t = time.perf_counter()
    status: object = "closed"
    writer = None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", ctx.port), 5)
        writer.write(req)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 15)
        parts = line.split()
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else "closed"
    except asyncio.TimeoutError:
        status = "timeout"
    except OSError as e:
        status = type(e).__name__
    finally:
        if writer:
            writer.close()
    out = Outcome("non_utf8_token", status, 401, collections.Counter({"unauthorized": 1}),
                  seconds=time.perf_counter() - t)
    if status == 200:
        out.accepted["message_read"] = 1
    elif not isinstance(status, int) or status >= 500:
        out.uncertain["message_read"] = 1
    return out


async def phone_label(s, base, ctx):
    body = json.dumps({"type": "message_sent", "message_type": PHONE,
                       "campaign_id": "+34-600-123-456"}).encode()
    return await _one(s, base, "phone_label", body, AUTH, 200, {},
                      [{"type": "message_sent"}])


async def high_cardinality(s, base, ctx, n: int = 100):
    """``n`` whatsapp_api_call events, each a label set never sent before: 100 endpoints x
    10 methods x 100 status codes, so no single label passes a per-label cap of 100 while
    the series multiply (up to 100,000)."""
    events = []
    for _ in range(n):
        i = ctx.distinct % 100_000
        ctx.distinct += 1
        events.append({"type": "whatsapp_api_call", "endpoint": f"route_{chr(97 + i % 26)}{chr(97 + i // 26 % 4)}",
                       "method": f"method_{chr(97 + i // 100 % 10)}",
                       "status_code": 100 + i // 1000, "latency_seconds": 0.1})
    body = "\n".join(json.dumps(e) for e in events).encode()
    return await _one(s, base, "high_cardinality", body, {**AUTH, **NDJSON}, 200, {}, events)


async def ndjson_flood(s, base, ctx):
    return await _one(s, base, "ndjson_flood", b"1\n" * FLOOD_LINES, {**AUTH, **NDJSON}, 400,
                      {"not_an_object": FLOOD_LINES}, [], timeout=60)


async def slowloris(s, base, ctx, hold: float = 20.0, interval: float = 1.0):
    """Headers sent one byte a second; 'closed' when the exporter hangs up before
    ``hold`` seconds (what a read timeout does), 'held' when it never did."""
    t = time.perf_counter()
    status: object = "held"
    writer = None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", ctx.port), 5)
        writer.write(b"POST /events HTTP/1.1\r\nHost: bench\r\n")
        await writer.drain()
        for b in b"X-Slow: " + b"a" * 10_000:
            if time.perf_counter() - t > hold:
                break
            writer.write(bytes([b]))
            await writer.drain()
            try:  # the server closing shows as EOF on our side
                data = await asyncio.wait_for(reader.read(1024), interval)
                status = "closed" if not data else f"answered {data[:12]!r}"
                break
            except asyncio.TimeoutError:
                pass
    except OSError as e:
        status = "closed" if isinstance(e, ConnectionError) else type(e).__name__
    except asyncio.TimeoutError:
        status = "connect timeout"
    finally:
        if writer:
            writer.close()
    return Outcome("slowloris", status, "closed", collections.Counter(),
                   seconds=time.perf_counter() - t)


# --- poison entries in the stream (each at the head of a batch of valid neighbours) -------

STREAM_POISON = {
    "stream_malformed": (b'{"type": "message_sent", ', {"malformed": 1}),
    "stream_deep": (_nest(1000).encode(), {"malformed": 1}),
    "stream_huge_int": (b'{"type":"conversion","conversion_type":"sale","value_euros":'
                        + b"9" * 400 + b"}", {"invalid_value": 1}),
    "stream_surrogate": (b'{"type":"message_sent","message_type":"\\ud800"}',
                         {"invalid_field": 1}),
}


def stream_poison(kind: str):
    payload, reasons = STREAM_POISON[kind]

    async def send(s, base, ctx):
        ctx.poison.append(payload)  # the load loop XADDs it before its next valid batch
        return Outcome(kind, "queued", "queued", collections.Counter(reasons))
    send.__name__ = kind
    return send


KINDS = {f.__name__: f for f in (
    malformed_json, deep_nesting, huge_int, huge_float, lone_surrogate, oversized,
    bad_token, missing_token, non_utf8_token, phone_label, high_cardinality, ndjson_flood,
    slowloris)}
KINDS.update({k: stream_poison(k) for k in STREAM_POISON})
EXTRA = {f.__name__: f for f in (body_20mib, gzip_bomb)}

# Relative frequency in the soak's hostile mix (floods and slow connections are rare).
WEIGHTS = {"malformed_json": 10, "deep_nesting": 5, "huge_int": 5, "huge_float": 5,
           "lone_surrogate": 3, "oversized": 3, "bad_token": 8, "missing_token": 5,
           "non_utf8_token": 5, "phone_label": 8, "high_cardinality": 5, "ndjson_flood": 2,
           "slowloris": 5, "stream_malformed": 3, "stream_deep": 3, "stream_huge_int": 3,
           "stream_surrogate": 3}


@dataclass
class Target:
    """What the kinds need to know about the exporter they attack."""
    port: int
    max_body: int = 1 << 20
    distinct: int = 0
    poison: list = field(default_factory=list)

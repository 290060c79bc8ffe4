"""POST /events: one JSON event, a JSON array of events, or NDJSON (one event per line).

Answers (always a JSON body):
  200 every event accepted                      {"accepted": n, "rejected": []}
  207 some accepted, some refused               {"accepted": n, "rejected": [{index, reason, error}]}
  400 nothing accepted: the body is not JSON (or nested too deeply), not an object/array,
      or every event was refused
  401 a token is configured and the request lacks it (or has another one, or bytes that
      are not text)
  408 the body did not arrive within ANCLORA_HTTP_BODY_TIMEOUT_SECONDS (10 s)
  413 the body is larger than ANCLORA_MAX_BODY_BYTES (read no further than the limit)
Each refused event, and each refused request (400 malformed, 401, 408, 413), adds 1 to
``exporter_events_rejected_total{reason}``.

One request must not hold the event loop: /metrics and the health probes share it. The
body is bounded (ANCLORA_MAX_BODY_BYTES, 1 MiB by default, i.e. at most ~500,000 lines),
and its events are decoded, validated and applied in time slices (SLICE), large bodies one
at a time with a pause between slices; refusals are counted once per reason and slice,
not once per event. The work runs shielded from cancellation: a client that hangs up
mid-batch does not stop it half way.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections import Counter

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

from . import schema
from .core import Ingestor

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl",
                "application/x-jsonlines")
MAX_LISTED = 100  # rejections listed in one answer; "rejected_count" has them all
# A body is worked on SLICE seconds at a time; a body that needs more than one slice then
# waits for the other large bodies, and pauses PAUSE seconds between its slices. So large
# bodies take at most half of the process, whatever their number: scrapes, probes and the
# threads that render /metrics (they need the GIL) keep their share.
SLICE = 0.005
PAUSE = 0.005
NOT_AN_OBJECT = schema.Invalid("not_an_object", "an event must be a JSON object")


def _answer(status: int, **body) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type="application/json")


async def _answer_and_close(request: web.Request, status: int, **body) -> web.Response:
    """Answer, then close the connection: the rest of the body is never read. (aiohttp
    would otherwise keep the connection open up to 10 s more, reading the rest.)"""
    resp = _answer(status, **body)
    resp.force_close()
    await resp.prepare(request)
    await resp.write_eof()
    if request.transport is not None:
        request.transport.close()
    return resp


async def _read_limited(request: web.Request, limit: int, timeout: float) -> bytes | None:
    """The body, or None as soon as it proves longer than ``limit``."""
    length = request.content_length
    if length is not None and length > limit:
        return None
    if length is not None and hdrs.CONTENT_ENCODING not in request.headers:
        # Its length is known and within the limit: one read (a fifth of a small
        # webhook's cost went to the chunk loop). Inflated bodies take the loop, which
        # stops at the limit whatever the inflation.
        content = request.content
        if content.is_eof():  # all of it came with the headers: nothing to wait for, so
            return content.read_nowait()  # no deadline to arm (a third of the read's cost)
        async with asyncio.timeout(timeout):
            return await request.read()
    buf = bytearray()
    async with asyncio.timeout(timeout):
        async for chunk in request.content.iter_chunked(1 << 16):
            buf += chunk
            if len(buf) > limit:
                return None
    return bytes(buf)


async def read_body(request: web.Request, limit: int, timeout: float,
                    reject) -> bytes | web.Response:
    """The whole body, or the answer refusing it: 408 (not all there within ``timeout``),
    413 (longer than ``limit``: read no further), 400 (the client went away mid-body).
    ``reject(reason, message)`` counts the 408 and the 413 (reasons ``timeout``,
    ``too_large``). POST /events and the webhooks read their bodies through it."""
    try:
        body = await _read_limited(request, limit, timeout)
    except TimeoutError:
        reject("timeout", f"body not received within {timeout:g} s")
        return await _answer_and_close(
            request, 408, error=f"the body did not arrive within {timeout:g} s")
    except (ConnectionError, HttpProcessingError):
        # The client went away mid-body (or sent less than it announced): nobody reads
        # this answer, and nothing was applied, so the client knows its send failed.
        resp = _answer(400, error="incomplete body")
        resp.force_close()
        return resp
    if body is None:
        reject("too_large", f"body over {limit} bytes")
        return await _answer_and_close(
            request, 413, error=f"body larger than {limit} bytes "
                                "(ANCLORA_MAX_BODY_BYTES); send smaller batches")
    return body


_decode_str = json.JSONDecoder().decode  # json.loads minus its per-call type checks


def _loads(raw, decode=json.loads) -> object:
    """json.loads, with nesting too deep for the parser reported as a malformed body."""
    try:
        return decode(raw)
    except RecursionError:  # a few KB of "[[[[..." exhaust the parser's recursion limit
        raise schema.Invalid("malformed", "nested too deeply") from None
    except ValueError:  # not JSON, or not UTF-8
        raise schema.Invalid("malformed", "not JSON") from None


def _items(body: bytes, ndjson: bool):
    """The body's items, in order: decoded objects, or ``schema.Invalid`` for an NDJSON
    line that is not JSON. Raises ``schema.Invalid`` when the body as a whole is unusable."""
    if ndjson:
        try:  # decoded once as a whole: lines as str decode faster than as bytes
            text, decode = body.decode(), _decode_str
        except UnicodeDecodeError:  # then each line on its own: one bad line costs one event
            text, decode = body, json.loads

        def lines():
            for i, line in enumerate(text.split("\n" if decode is _decode_str else b"\n")):
                if line.strip():
                    try:
                        yield _loads(line, decode)
                    except schema.Invalid as e:
                        yield schema.Invalid(e.reason, f"line {i + 1} is {e}")
        return lines()
    try:
        doc = _loads(body)
    except schema.Invalid as e:
        raise schema.Invalid(e.reason, f"the body is {e}") from None
    if isinstance(doc, dict):
        return [doc]
    if isinstance(doc, list):
        return doc
    raise schema.Invalid("not_an_object", "the body must be a JSON object or an array of them")


class _Tally:
    """What a body's events came to: accepted, refused, the refusals listed."""

    __slots__ = ("accepted", "rejected", "listed", "index")

    def __init__(self):
        self.accepted = self.rejected = self.index = 0
        self.listed: list[dict] = []


def _ingest_slice(ingestor: Ingestor, it, tally: _Tally) -> bool:
    """Validate and apply items of ``it`` for about SLICE seconds; True when it is empty."""
    deadline = time.perf_counter() + SLICE
    check = ingestor.check
    good: list[dict] = []
    reasons: Counter = Counter()
    examples: dict[str, str] = {}
    listed = tally.listed
    index = tally.index
    done = True
    for item in it:
        # Refusals are the flood case: no exception raised for a non-object, and the
        # message built only for the listed ones and one example per reason.
        if type(item) is dict:
            try:
                good.append(check(item))
                refusal = None
            except schema.Invalid as e:
                refusal = e
        elif isinstance(item, schema.Invalid):
            refusal = item
        else:
            refusal = NOT_AN_OBJECT
        if refusal is not None:
            reason = refusal.reason
            reasons[reason] += 1
            if reason not in examples:
                examples[reason] = str(refusal)
            if len(listed) < MAX_LISTED:
                listed.append({"index": index, "reason": reason, "error": str(refusal)})
        index += 1
        if not index & 63 and time.perf_counter() > deadline:
            done = False
            break
    for reason, n in reasons.items():
        ingestor.reject(reason, examples[reason], "http", n)
    ingestor.apply(good)
    tally.index = index
    tally.accepted += len(good)
    tally.rejected += sum(reasons.values())
    return done


async def ingest_items(ingestor: Ingestor, items, large_bodies: asyncio.Lock) -> _Tally:
    """Validate and apply ``items``: at once when one slice will do (the usual case),
    else slice by slice, one large body at a time (see SLICE)."""
    it, tally = iter(items), _Tally()
    if _ingest_slice(ingestor, it, tally):
        return tally
    async with large_bodies:
        while True:
            await asyncio.sleep(PAUSE)
            if _ingest_slice(ingestor, it, tally):
                return tally


def make_handler(ingestor: Ingestor, token: str, max_body: int, body_timeout: float):
    """POST /events. ``body_timeout``: once the headers are in, the whole body must arrive
    within it (ANCLORA_HTTP_BODY_TIMEOUT_SECONDS), so a client trickling a body a byte at a
    time cannot hold a connection, and a file, for good."""
    expected = f"Bearer {token}".encode() if token else b""
    large_bodies = asyncio.Lock()

    async def post_events(request: web.Request) -> web.Response:
        if expected:
            # aiohttp keeps bytes that are not UTF-8 as surrogate escapes: encode them back
            # to the bytes sent (which then simply do not match) rather than fail.
            given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
            if not hmac.compare_digest(given, expected):
                ingestor.reject("unauthorized", "missing or wrong bearer token", "http")
                return web.Response(
                    text=json.dumps({"error": "unauthorized: send Authorization: Bearer <token>"}),
                    status=401, content_type="application/json",
                    headers={"WWW-Authenticate": 'Bearer realm="events"'})
        body = await read_body(request, max_body, body_timeout,
                               lambda reason, message: ingestor.reject(reason, message, "http"))
        if isinstance(body, web.Response):
            return body
        try:
            items = _items(body, request.content_type in NDJSON_TYPES)
        except schema.Invalid as e:
            ingestor.reject(e.reason, str(e), "http")
            return _answer(400, error=str(e), accepted=0,
                           rejected=[{"index": 0, "reason": e.reason, "error": str(e)}])
        # Shielded: a cancelled handler (client gone) must not stop a batch half applied.
        tally = await asyncio.shield(
            asyncio.ensure_future(ingest_items(ingestor, items, large_bodies)))
        status = 200 if not tally.rejected else (207 if tally.accepted else 400)
        extra = {"error": "no event accepted"} if status == 400 else {}
        return _answer(status, accepted=tally.accepted, rejected=tally.listed,
                       rejected_count=tally.rejected, **extra)

    return post_events

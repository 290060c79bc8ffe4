"""POST /events: one JSON event, a JSON array of events, or NDJSON (one event per line).

Answers (always a JSON body):
  200 every event accepted                      {"accepted": n, "rejected": []}
  207 some accepted, some refused               {"accepted": n, "rejected": [{index, reason, error}]}
  400 nothing accepted: the body is not JSON, not an object/array, or every event was refused
  401 a token is configured and the request lacks it (or has another one)
  413 the body is larger than ANCLORA_MAX_BODY_BYTES (read no further than the limit)
Each refused event, and each refused request (400 malformed, 401, 413), adds 1 to
``exporter_events_rejected_total{reason}``.
"""

from __future__ import annotations

import hmac
import json

from aiohttp import web

from . import schema
from .core import Ingestor

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl",
                "application/x-jsonlines")
MAX_LISTED = 100  # rejections listed in one answer; "rejected_count" has them all


def _answer(status: int, **body) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type="application/json")


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    """The body, or None as soon as it proves longer than ``limit``."""
    if request.content_length is not None and request.content_length > limit:
        return None
    buf = bytearray()
    async for chunk in request.content.iter_chunked(1 << 16):
        buf += chunk
        if len(buf) > limit:
            return None
    return bytes(buf)


def parse_body(body: bytes, ndjson: bool) -> tuple[list[tuple[int, object]], list[dict]]:
    """(index, decoded item) pairs and the per-line parse failures (NDJSON only).

    Raises ``schema.Invalid`` when the body as a whole is unusable.
    """
    if ndjson:
        items, bad = [], []
        for i, line in enumerate(body.split(b"\n")):
            if not line.strip():
                continue
            try:
                items.append((len(items) + len(bad), json.loads(line)))
            except ValueError:
                bad.append({"index": len(items) + len(bad), "reason": "malformed",
                            "error": f"line {i + 1} is not JSON"})
        return items, bad
    try:
        doc = json.loads(body)
    except ValueError:
        raise schema.Invalid("malformed", "the body is not JSON") from None
    if isinstance(doc, dict):
        return [(0, doc)], []
    if isinstance(doc, list):
        return list(enumerate(doc)), []
    raise schema.Invalid("not_an_object", "the body must be a JSON object or an array of them")


def make_handler(ingestor: Ingestor, token: str, max_body: int):
    expected = f"Bearer {token}".encode() if token else b""

    async def post_events(request: web.Request) -> web.Response:
        if expected:
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                ingestor.reject("unauthorized", "missing or wrong bearer token", "http")
                return web.Response(
                    text=json.dumps({"error": "unauthorized: send Authorization: Bearer <token>"}),
                    status=401, content_type="application/json",
                    headers={"WWW-Authenticate": 'Bearer realm="events"'})
        body = await _read_limited(request, max_body)
        if body is None:
            ingestor.reject("too_large", f"body over {max_body} bytes", "http")
            # The rest of the body is never read: close rather than drain it.
            resp = _answer(413, error=f"body larger than {max_body} bytes "
                                      "(ANCLORA_MAX_BODY_BYTES); send smaller batches")
            resp.force_close()
            return resp
        try:
            items, rejected = parse_body(body, request.content_type in NDJSON_TYPES)
        except schema.Invalid as e:
            ingestor.reject(e.reason, str(e), "http")
            return _answer(400, error=str(e), accepted=0,
                           rejected=[{"index": 0, "reason": e.reason, "error": str(e)}])
        for r in rejected:
            ingestor.reject(r["reason"], r["error"], "http")
        good = []
        for index, item in items:
            try:
                good.append(ingestor.check(item))
            except schema.Invalid as e:
                ingestor.reject(e.reason, str(e), "http")
                rejected.append({"index": index, "reason": e.reason, "error": str(e)})
        ingestor.apply(good)
        rejected.sort(key=lambda r: r["index"])
        status = 200 if not rejected else (207 if good else 400)
        extra = {"error": "no event accepted"} if status == 400 else {}
        return _answer(status, accepted=len(good), rejected=rejected[:MAX_LISTED],
                       rejected_count=len(rejected), **extra)

    return post_events

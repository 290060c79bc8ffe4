"""HTTP endpoints: /metrics, /health, /health/live, /health/ready (and /events, from ingest)."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from .exposition import generate_latest  # prometheus_client's output, byte for byte, faster
from .logs import HTTP, get_logger

log = get_logger("api")


def _json(data: dict, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json")


def make_app(exporter) -> web.Application:
    """The aiohttp application serving ``exporter`` (an ``app.Exporter``)."""

    rendering: list[asyncio.Future] = []  # the render in progress, shared by concurrent scrapes

    async def render() -> bytes:
        # Render in a thread: a scrape of many series must not stall the event loop
        # (health checks and event ingestion keep answering meanwhile). Scrapes that
        # arrive during a render share it: several threads rendering at once would only
        # fight over the GIL, and starve the event loop.
        if not rendering:
            fut = asyncio.get_running_loop().run_in_executor(None, generate_latest,
                                                             exporter.registry)
            rendering.append(fut)
            fut.add_done_callback(lambda _: rendering.clear())
        return await asyncio.shield(rendering[0])

    async def metrics(request: web.Request) -> web.Response:
        await exporter.runner.refresh()
        body = await render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def health(request: web.Request) -> web.Response:
        report = await exporter.health.run()
        return _json(report, 503 if report["status"] == "unhealthy" else 200)

    async def live(request: web.Request) -> web.Response:
        return _json({"status": "alive"})

    async def ready(request: web.Request) -> web.Response:
        ok, reason = await exporter.ready()
        return _json({"status": "ready" if ok else "not ready", "reason": reason},
                     200 if ok else 503)

    async def index(request: web.Request) -> web.Response:
        return web.Response(text="anclora exporter: /metrics /health /health/live /health/ready\n")

    @web.middleware
    async def access_log(request: web.Request, handler):
        response = await handler(request)
        log.log(HTTP, "request", extra={"method": request.method, "path": request.path,
                                        "status": response.status})
        return response

    app = web.Application(middlewares=[access_log], client_max_size=exporter.config.max_body_bytes)
    app.router.add_get("/", index)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health", health)
    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", ready)
    for method, path, handler in exporter.extra_routes:
        app.router.add_route(method, path, handler)
    return app

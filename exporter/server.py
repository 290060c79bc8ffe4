"""HTTP endpoints: /metrics, /health, /health/live, /health/ready (and /events, from ingest).

/metrics is rendered off the event loop, one render shared by concurrent scrapes, and
sent gzipped (level 1) to a scraper that accepts it (Prometheus always does).

Two things keep one client from breaking the exporter for everyone else:

- ``serve_request``, the one middleware: an unexpected error in a handler becomes a JSON
  500 and ONE JSON log line (through ``exporter.logs``, which masks it), never a
  multi-line traceback on stderr; it also writes the access log line.
- ``ConnectionGuard``, applied by ``GuardedSite`` (what ``python -m exporter serve``
  listens with). aiohttp waits for request headers without a deadline, so a client that
  opens connections and never finishes a request (slowloris) held them for good, and at
  the file limit /metrics and /health/live stopped answering. The guard
  (a) closes a connection whose request headers have not all arrived
      ANCLORA_HTTP_HEADER_TIMEOUT_SECONDS after it opened, or after its first bytes of a
      next request (an idle
      keep-alive connection is left to aiohttp's keepalive_timeout: Prometheus reuses its
      connection between scrapes); the body has its own deadline, where it is read
      (ANCLORA_HTTP_BODY_TIMEOUT_SECONDS);
  (b) caps open connections at ANCLORA_HTTP_MAX_CONNECTIONS (at most half the file limit): a new
      connection at the cap is admitted by closing the oldest connection that has never
      completed a request, else the oldest idle one, else the oldest. An attacker's
      sockets thus cannot lock out the scraper: its connection is the newest.
  Closed connections are counted (``exporter_http_connections_closed_total{reason}``,
  the guard is a collector of the exporter's registry) and logged at most once a minute.
- ``route_library_logs``: aiohttp's and asyncio's own records go out as JSON lines too;
  a malformed HTTP request (aiohttp's parser refuses it with a 400) is one short warning
  a minute, not an error with a traceback per request.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import resource
import threading
import time

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CONTENT_TYPE_LATEST

from . import catalog, errors
from .exposition import generate_latest  # prometheus_client's output, byte for byte, faster
from .logs import HTTP, ROOT, RateLimitedLog, get_logger
from .metrics import family, gauge

log = get_logger("api")


def _json(data: dict, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json")


class _Conn:
    __slots__ = ("transport", "waiting_since", "busy", "served", "timer")

    def __init__(self, transport, now: float):
        self.transport = transport
        self.waiting_since: float | None = now  # headers awaited since (None: not waiting)
        self.busy = 0                           # requests being handled
        self.served = 0                         # requests completed
        self.timer: asyncio.TimerHandle | None = None


class ConnectionGuard:
    """Deadline for request headers and a cap on open connections (see the module doc)."""

    def __init__(self, max_connections: int, header_timeout: float, namespace: str):
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY:  # Redis, logs and the listener need files too
            max_connections = min(max_connections, max(8, soft // 2))
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self._conns: dict[object, _Conn] = {}  # by transport, oldest first
        self.closed_slow = 0  # closed: headers overdue
        self.evicted = 0      # closed: to admit a new connection at the cap
        self._warn = RateLimitedLog(log, 60.0)
        self.ns = namespace

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    # --- a collector of the exporter's registry ---

    def describe(self):
        return []

    def collect(self):
        yield gauge("exporter_http_connections", self.ns, [((), float(len(self._conns)))])
        closed = family("exporter_http_connections_closed_total", self.ns)
        for reason, n in zip(catalog.HTTP_CLOSE_REASONS, (self.closed_slow, self.evicted)):
            closed.add_metric([reason], float(n))
        yield closed

    def protocol_factory(self, make_protocol):
        """Wraps aiohttp's protocol factory (``runner.server``)."""
        return lambda: _GuardedProtocol(self, make_protocol())

    # --- connection events (from _GuardedProtocol) ---

    def opened(self, transport) -> _Conn:
        loop = asyncio.get_running_loop()
        if len(self._conns) >= self.max_connections:
            self._evict_one()
        c = self._conns[transport] = _Conn(transport, loop.time())
        c.timer = loop.call_later(self.header_timeout, self._check, c)
        return c

    def bytes_arrived(self, c: _Conn) -> None:
        # First bytes of a next request on an idle connection: its headers are now due.
        loop = asyncio.get_running_loop()
        c.waiting_since = loop.time()
        if c.timer is None:
            c.timer = loop.call_later(self.header_timeout, self._check, c)

    def closed(self, c: _Conn) -> None:
        self._conns.pop(c.transport, None)
        if c.timer is not None:
            c.timer.cancel()
            c.timer = None

    # --- request events (from the middleware) ---

    def request_started(self, transport) -> _Conn | None:
        c = self._conns.get(transport)
        if c is not None:
            c.busy += 1
            c.waiting_since = None
        return c

    @staticmethod
    def request_finished(c: _Conn | None) -> None:
        if c is not None:
            c.busy -= 1
            c.served += 1

    # --- closing ---

    def _check(self, c: _Conn) -> None:
        c.timer = None
        if c.busy or c.waiting_since is None or c.transport not in self._conns:
            return
        due = c.waiting_since + self.header_timeout
        loop = asyncio.get_running_loop()
        if loop.time() < due:  # more bytes of a later request: its own deadline
            c.timer = loop.call_at(due, self._check, c)
            return
        self.closed_slow += 1
        self._close(c, "request headers not received in time")

    def _evict_one(self) -> None:
        conns = self._conns.values()
        victim = (next((c for c in conns if not c.busy and not c.served), None)
                  or next((c for c in conns if not c.busy), None)
                  or next(iter(conns)))
        self.evicted += 1
        self._close(victim, "connection limit reached: oldest connection without a request closed")

    def _close(self, c: _Conn, why: str) -> None:
        self.closed(c)  # forget it now: several accepts in one loop turn evict several
        # abort, not close: a hostile peer that does not read must not keep it half-open.
        c.transport.abort()
        self._warn.warning(why, "connection closed", reason=why,
                           open=len(self._conns), limit=self.max_connections,
                           closed_slow=self.closed_slow, evicted=self.evicted)


class _GuardedProtocol(asyncio.Protocol):
    """aiohttp's protocol, with the guard told when a connection opens, receives, closes."""

    __slots__ = ("_guard", "_inner", "_conn")

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol):
        self._guard, self._inner, self._conn = guard, inner, None

    def connection_made(self, transport) -> None:
        self._conn = self._guard.opened(transport)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        c = self._conn
        if c.waiting_since is None and not c.busy:
            self._guard.bytes_arrived(c)
        self._inner.data_received(data)

    def eof_received(self):
        return self._inner.eof_received()

    def connection_lost(self, exc) -> None:
        self._guard.closed(self._conn)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


GUARD = web.AppKey("connection_guard", ConnectionGuard)


class GuardedSite(web.TCPSite):
    """A TCPSite whose connections pass through the app's ConnectionGuard."""

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site; TCPSite.start would listen unguarded
        guard = self._runner.app[GUARD]
        self._server = await asyncio.get_running_loop().create_server(
            guard.protocol_factory(self._runner.server), self._host, self._port,
            ssl=self._ssl_context, backlog=self._backlog,
            reuse_address=self._reuse_address, reuse_port=self._reuse_port)
        self._bound_port = self._server.sockets[0].getsockname()[1]


class _MalformedRequests(logging.Filter):
    """aiohttp logs every malformed HTTP request (a scanner, a broken client) as an error
    with a traceback: anyone could fill the logs. It becomes one short warning a minute,
    with the parser's complaint and how many were held back."""

    def __init__(self, interval: float = 60.0):
        super().__init__()
        self.interval = interval
        self._last = float("-inf")
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        now = time.monotonic()
        if now - self._last < self.interval:
            self.suppressed += 1
            return False
        self._last = now
        record.levelno, record.levelname = logging.WARNING, "warn"
        record.exc_info = record.exc_text = None
        record.msg, record.args = "malformed HTTP request refused", ()
        record.status = exc.code
        record.error = (exc.message or type(exc).__name__).splitlines()[0][:200]
        record.suppressed, self.suppressed = self.suppressed, 0
        return True


def route_library_logs() -> None:
    """aiohttp's and asyncio's own warnings and errors go out as our JSON lines too (they
    would otherwise reach Python's last-resort handler: plain text and tracebacks on
    stderr). Call after ``logs.setup``."""
    handlers = logging.getLogger(ROOT).handlers
    if not handlers:  # logging not set up (embedded use): leave Python's defaults alone
        return
    for name in ("aiohttp", "asyncio"):
        lib = logging.getLogger(name)
        lib.handlers[:] = handlers
        lib.propagate = False
        if lib.level == logging.NOTSET:
            lib.setLevel(logging.WARNING)
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _MalformedRequests) for f in server_log.filters):
        server_log.addFilter(_MalformedRequests())


GZIP_LEVEL = 1  # a 1 MB scrape in ~1.5 ms to ~4 %; level 6 (promhttp's) is 4x the CPU for ~9 % fewer bytes


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header value accepts gzip (RFC 9110 12.5.3: a coding
    with q=0 is refused, ``*`` stands for the codings not named). Prometheus sends
    ``gzip``."""
    weights = {}
    for part in accept_encoding.lower().split(","):
        coding, _, params = part.partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[coding.strip()] = weight
    return weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0))) > 0


class _Rendered:
    """One render of the registry, and its gzip once a scrape asked for it (made once)."""

    def __init__(self, body: bytes):
        self.body = body
        self.gzipped: bytes | None = None
        self._lock = threading.Lock()

    def compress(self) -> None:
        with self._lock:
            if self.gzipped is None:
                self.gzipped = gzip.compress(self.body, GZIP_LEVEL, mtime=0)


def make_app(exporter, guard: ConnectionGuard | None = None) -> web.Application:
    """The aiohttp application serving ``exporter`` (an ``app.Exporter``)."""

    guard = guard or exporter.connections
    rendering: list[asyncio.Future] = []  # the render in progress, shared by concurrent scrapes

    def render_job(want_gzip: bool) -> _Rendered:
        rendered = _Rendered(generate_latest(exporter.registry))
        if want_gzip:
            rendered.compress()
        return rendered

    async def render(want_gzip: bool) -> bytes:
        # Render in a thread: a scrape of many series must not stall the event loop
        # (health checks and event ingestion keep answering meanwhile). Scrapes that
        # arrive during a render share it: several threads rendering at once would only
        # fight over the GIL, and starve the event loop. Its gzip is made in the same
        # thread job when the scrape that started it asked for gzip (Prometheus does).
        loop = asyncio.get_running_loop()
        if not rendering:
            fut = loop.run_in_executor(None, render_job, want_gzip)
            rendering.append(fut)
            fut.add_done_callback(lambda _: rendering.clear())
        rendered = await asyncio.shield(rendering[0])
        if not want_gzip:
            return rendered.body
        if rendered.gzipped is None:  # a render another scrape started without gzip
            await loop.run_in_executor(None, rendered.compress)
        return rendered.gzipped

    async def metrics(request: web.Request) -> web.Response:
        await exporter.runner.refresh()
        want_gzip = accepts_gzip(request.headers.get("Accept-Encoding", ""))
        body = await render(want_gzip)
        headers = {"Content-Type": CONTENT_TYPE_LATEST, "Vary": "Accept-Encoding"}
        if want_gzip:
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, headers=headers)

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
    async def serve_request(request: web.Request, handler):
        conn = guard.request_started(request.transport)
        status = 499  # the client went away (the handler was cancelled)
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as e:  # 404, 405...: aiohttp answers them
            status = e.status
            raise
        except Exception as e:  # noqa: BLE001 - a bug costs one request, as one log line
            status = 500
            log.error("unhandled error", exc_info=True,
                      extra={"method": request.method, "path": request.path})
            errors.report(e)  # and its stack to the error tracker, when one is set
            return _json({"error": "internal error: see the exporter's log"}, 500)
        finally:
            guard.request_finished(conn)
            if log.isEnabledFor(HTTP):  # the access log is off by default: no record built
                log.log(HTTP, "request", extra={"method": request.method,
                                                "path": request.path, "status": status})

    app = web.Application(middlewares=[serve_request],
                          client_max_size=exporter.config.max_body_bytes)
    app[GUARD] = guard
    app.router.add_get("/", index)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health", health)
    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", ready)
    for method, path, handler in exporter.extra_routes:
        app.router.add_route(method, path, handler)
    return app

"""Error tracking: unexpected exceptions, with their stack, to Sentry or a self-hosted
GlitchTip (it speaks Sentry's API), when ANCLORA_SENTRY_DSN is set. docs/errors.md.

Off (the default), this module imports no SDK and ``report`` returns at once: error
tracking costs nothing. On, ``init`` starts sentry-sdk (the ``sentry`` extra) with:

- the aiohttp integration: ANCLORA_SENTRY_TRACES_SAMPLE_RATE (0.1) of the requests become
  performance transactions, named by route ("GET /metrics");
- ``report(exc)``: what the exporter's own catch-alls call (the HTTP middleware, the scrape
  runner, the ingest path), since they handle the exception and the SDK never sees it. It
  still counts in the metrics it already feeds; here it gets a stack. One site (exception
  type and line) is sent at most once a minute, with how many repeats were held back, so a
  bug hit by every event cannot flood the tracker: the metric has the exact count;
- error logs stay logs (no event per ``log.error``: ``report`` sends the exception once);
- ``ignored_errors``: what is not a bug but the world (a network, Redis, a client's refusal),
  already visible in metrics, never sent;
- ``scrub`` on every event and transaction before it leaves: request headers cut to a few
  harmless ones, the request body and client address dropped, local variables never
  collected, and every remaining string through ``logs.mask`` (phone numbers, wa_ids,
  JIDs, tokens, secrets), the same masker as the logs.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import time
from urllib.parse import urlsplit

from . import __version__
from .logs import mask

# Request headers an event may carry; any other is dropped (Authorization, Cookie,
# X-Hub-Signature-256, Evolution's apikey, a proxy's X-Forwarded-For...).
KEPT_HEADERS = frozenset({"accept", "content-length", "content-type", "host", "user-agent"})
REPORT_INTERVAL = 60.0  # seconds between two reports from the same site
# The SDK's own ids: hex, 16 or 32 digits. The masker would take one with 9 decimal
# digits in a row for a phone number, and break it.
SDK_ID_KEYS = frozenset({"event_id", "trace_id", "span_id", "parent_span_id", "segment_id",
                         "profile_id", "profiler_id", "replay_id"})
_SDK_ID = re.compile(r"[0-9a-f]{16}|[0-9a-f]{32}")


def parse_dsn(raw: str) -> str:
    """ANCLORA_SENTRY_DSN: empty, or ``scheme://key@host[:port]/project`` with sentry-sdk
    installed (a DSN set for an SDK that is missing would silently do nothing)."""
    dsn = raw.strip()
    if not dsn:
        return ""
    parts = urlsplit(dsn)
    if (parts.scheme not in ("http", "https") or not parts.username or not parts.hostname
            or not re.fullmatch(r"/(?:[^/]+/)*\d+", parts.path)):
        raise ValueError("expected a DSN like https://<key>@<host>/<project id>, "
                         "as the project's settings in Sentry or GlitchTip show it")
    if importlib.util.find_spec("sentry_sdk") is None:
        raise ValueError("sentry-sdk is not installed: pip install 'anclora-exporter[sentry]'")
    return dsn


def dsn_host(dsn: str) -> str:
    """Where events go, for the start-up log: host[:port], never the key."""
    parts = urlsplit(dsn)
    return parts.hostname + (f":{parts.port}" if parts.port else "")


class _State:
    sdk = None       # the sentry_sdk module, once init() started it
    last: dict = {}  # site -> (time of its last report, repeats held back since)


def ignored_errors() -> tuple[type[BaseException], ...]:
    """The user's ignore list, as the classes the exporter meets (docs/errors.md says why
    each is there). Subclasses are ignored too."""
    from aiohttp import web
    from aiohttp.http_exceptions import HttpProcessingError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    from .ingest.schema import Invalid
    return (
        ConnectionError,       # network: refused, reset, aborted, broken pipe (ECONNREFUSED...)
        TimeoutError,          # ETIMEDOUT, and asyncio's timeouts (the same class)
        RedisConnectionError,  # Redis down or restarting: exporter_redis_up 0 says so
        RedisTimeoutError,     # Redis slow past ANCLORA_REDIS_TIMEOUT_SECONDS
        web.HTTPClientError,   # 4xx refusals: bad request, unauthorized (bad signature),
                               # too large, too many requests (rate limit exceeded)
        HttpProcessingError,   # a malformed HTTP request, refused by aiohttp's parser
        Invalid,               # an event refused by validation, counted by reason
    )


def init(config) -> str | None:
    """Start error tracking when ``config.sentry_dsn`` is set; returns where events go
    (host[:port]), or None when it is off. Without a DSN, sentry_sdk is not imported."""
    if not config.sentry_dsn:
        return None
    import sentry_sdk
    from sentry_sdk.integrations.aiohttp import AioHttpIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    sentry_sdk.init(
        dsn=config.sentry_dsn,
        release=f"anclora-exporter@{__version__}",
        environment=config.sentry_environment,
        traces_sample_rate=config.sentry_traces_sample_rate,
        ignore_errors=list(ignored_errors()),
        # send_default_pii stays False (the default): no user, IP address or cookies.
        include_local_variables=False,  # frames hold raw bodies, events, tokens
        max_request_body_size="never",
        before_send=scrub,
        before_send_transaction=scrub,
        # Logs become breadcrumbs (masked with the rest), never events of their own.
        integrations=[AioHttpIntegration(transaction_style="method_and_path_pattern"),
                      LoggingIntegration(level=logging.INFO, event_level=None)],
        # Not Redis's: a breadcrumb and a span per command, on every scrape.
        auto_enabling_integrations=False,
        # No session per request: GlitchTip takes none, and it was a sixth of the SDK's
        # cost per request.
        auto_session_tracking=False,
    )
    _State.sdk = sentry_sdk
    return dsn_host(config.sentry_dsn)


def report(exc: BaseException) -> None:
    """Send ``exc`` with its stack, unless tracking is off, ``exc`` is ignored (the SDK
    drops it), or the same site was reported less than REPORT_INTERVAL ago (counted, and
    sent with the next report)."""
    sdk = _State.sdk
    if sdk is None:
        return
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    site = (type(exc), tb.tb_frame.f_code.co_filename, tb.tb_lineno) if tb else (type(exc),)
    now = time.monotonic()
    last, held = _State.last.get(site, (float("-inf"), 0))
    if now - last < REPORT_INTERVAL:
        _State.last[site] = (last, held + 1)
        return
    _State.last[site] = (now, 0)
    with sdk.new_scope() as scope:
        if held:
            scope.set_extra("repeats_not_reported", held)
        sdk.capture_exception(exc)


def scrub(event: dict, hint: dict | None = None) -> dict:
    """``before_send`` and ``before_send_transaction``: what may leave the process."""
    request = event.get("request")
    if request:
        headers = request.get("headers") or {}
        request["headers"] = {k: v for k, v in headers.items() if k.lower() in KEPT_HEADERS}
        for private in ("data", "cookies", "env"):  # body, cookies, client address
            request.pop(private, None)
    scrubbed = mask(event)
    _keep_sdk_ids(event, scrubbed)
    return scrubbed


def _keep_sdk_ids(original, scrubbed) -> None:
    """Put back the SDK's ids that ``mask`` took for phone numbers (see SDK_ID_KEYS)."""
    if isinstance(original, dict) and isinstance(scrubbed, dict):
        for key, value in original.items():
            if key in SDK_ID_KEYS and isinstance(value, str) and _SDK_ID.fullmatch(value):
                scrubbed[key] = value
            elif isinstance(value, (dict, list, tuple)):
                _keep_sdk_ids(value, scrubbed.get(key))
    elif isinstance(original, (list, tuple)) and isinstance(scrubbed, list):
        for value, masked in zip(original, scrubbed):
            _keep_sdk_ids(value, masked)

"""Configuration from environment variables, validated once at start.

Every setting is declared once in ``SETTINGS`` (variable, default, parser, meaning), and
``Config`` is made from it: one attribute per setting, typed by its parser. The
configuration table (docs/configuration.md, also ``python -m exporter config --markdown``)
and ``.env.example`` (with the stack's own variables, ``tools/stack.py``) are generated
from it by ``python -m tools.build``, and a test fails when the committed copies drift. A wrong value
stops the exporter with one line naming the variable and what was expected (``ConfigError``).
"""

from __future__ import annotations

import math
import os
import re
import socket
import tempfile
from dataclasses import dataclass, make_dataclass
from typing import Any, Callable, Mapping
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from .errors import parse_dsn


class ConfigError(ValueError):
    """A setting has a value the exporter cannot use; str() is the one line to print."""


# --- parsers: each takes the raw string and returns the value or raises ValueError -------

def _str(raw: str) -> str:
    return raw.strip()


def _bool(raw: str) -> bool:
    v = raw.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _int(lo: int, hi: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            v = int(raw.strip())
        except ValueError:
            raise ValueError("expected a whole number") from None
        if v < lo or (hi is not None and v > hi):
            raise ValueError(f"expected a number from {lo}" + (f" to {hi}" if hi else " up"))
        return v
    return parse


def _float(lo: float, hi: float | None = None) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            v = float(raw.strip())
        except ValueError:
            raise ValueError("expected a number") from None
        if not math.isfinite(v):  # NaN passes every range check below: all comparisons are false
            raise ValueError("expected a finite number")
        if v < lo or (hi is not None and v > hi):
            raise ValueError(f"expected a number from {lo}" + (f" to {hi}" if hi else " up"))
        return v
    return parse


def _list(raw: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in raw.split(",") if x.strip())


def _redis_url(raw: str) -> str:
    """The URL as redis-py will read it, refused here when redis-py would fail on it later
    (a port that is no number) or quietly use something else (``/abc`` becomes db 0)."""
    v = raw.strip()
    parts = urlsplit(v)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ValueError("expected a redis://, rediss:// or unix:// URL")
    try:
        bad_port = parts.port == 0  # redis-py would quietly use 6379 instead
    except ValueError:  # not a number, or out of range
        bad_port = True
    if bad_port:
        raise ValueError("expected a port from 1 to 65535 after the host")
    dbs = parse_qs(parts.query).get("db", [])
    if parts.scheme != "unix":  # unix:// paths are the socket; the database is ?db=N only
        dbs.append(unquote(parts.path).replace("/", ""))  # as redis-py reads it
    if any(db and not re.fullmatch(r"[0-9]+", db) for db in dbs):
        raise ValueError("expected a database number, e.g. redis://host:6379/0")
    return v


def _optional_redis_url(raw: str) -> str:
    return _redis_url(raw) if raw.strip() else ""


def _listen(raw: str) -> tuple[str, int]:
    host, sep, port = raw.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("expected host:port, e.g. 0.0.0.0:9464")
    return host.strip("[]") or "0.0.0.0", int(port)


def _int_map(raw: str) -> dict[str, int]:
    """``name=N,name=N`` -> {name: N}."""
    out = {}
    for part in _list(raw):
        k, sep, v = part.partition("=")
        if not sep or not k.strip() or not v.strip().isdigit():
            raise ValueError("expected name=number pairs separated by commas")
        out[k.strip()] = int(v)
    return out


def _priority_names(raw: str) -> dict[int, str]:
    """``0=normal,1=critical`` -> {0: "normal", 1: "critical"}."""
    out = {}
    for part in _list(raw):
        k, sep, v = part.partition("=")
        if not sep or not k.strip().isdigit() or not re.fullmatch(r"[a-z_][a-z0-9_]*", v.strip()):
            raise ValueError("expected number=name pairs (names in lower case) separated by commas")
        out[int(k)] = v.strip()
    return out


def _str_map(raw: str) -> dict[str, str]:
    """``queue=dlq-queue,...`` -> {queue: dlq-queue}."""
    out = {}
    for part in _list(raw):
        k, sep, v = part.partition("=")
        if not sep or not k.strip() or not v.strip():
            raise ValueError("expected name=name pairs separated by commas")
        out[k.strip()] = v.strip()
    return out


def _http_url(raw: str) -> str:
    v = raw.strip()
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http:// or https:// URL")
    return v.rstrip("/")


def _optional_http_url(raw: str) -> str:
    return _http_url(raw) if raw.strip() else ""


def _rates(raw: str) -> dict[str, float]:
    """``marketing=0.0509,utility=0.0166`` -> EUR per billable message (or conversation),
    by Meta pricing category."""
    from .catalog import WA_RATED_CATEGORIES
    out = {}
    for part in _list(raw):
        k, sep, v = part.partition("=")
        k = k.strip()
        if not sep or k not in WA_RATED_CATEGORIES:
            raise ValueError("expected category=EUR pairs separated by commas, categories "
                             f"among {', '.join(WA_RATED_CATEGORIES)}")
        out[k] = _float(0, 100)(v)
    return out


def _meta_ids(raw: str) -> tuple[str, ...]:
    ids = _list(raw)
    if any(not i.isdigit() for i in ids):
        raise ValueError("expected Meta phone number ids (digits) separated by commas")
    return ids


def _namespace(raw: str) -> str:
    v = raw.strip()
    if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", v):
        raise ValueError("expected a Prometheus name prefix: letters, digits and _")
    return v


def _level(raw: str) -> str:
    from .logs import LEVELS  # the seven levels live with the logger
    v = raw.strip().lower()
    if v not in LEVELS:
        raise ValueError(f"expected one of {', '.join(LEVELS)}")
    return v


@dataclass(frozen=True)
class Setting:
    """One variable: ``Config.<attr>`` = ``parse(os.environ.get(env, default))``."""
    attr: str
    env: str
    default: str  # the one default, as the string a user would write
    parse: Callable[[str], Any]
    doc: str
    secret: bool = False

    @property
    def type(self) -> str:
        """The type of the parsed value: the return annotation of ``parse``."""
        return self.parse.__annotations__["return"]


SETTINGS: tuple[Setting, ...] = (
    Setting("redis_url", "ANCLORA_REDIS_URL", "redis://127.0.0.1:6379/0", _redis_url,
            "Redis that holds the BullMQ queues (redis://, rediss:// or unix://)."),
    Setting("analytics_redis_url", "ANCLORA_ANALYTICS_REDIS_URL", "", _optional_redis_url,
            "Redis the analytics health check writes to and reads back; empty = ANCLORA_REDIS_URL."),
    Setting("redis_timeout", "ANCLORA_REDIS_TIMEOUT_SECONDS", "2", _float(0.05, 60),
            "Connect and read timeout for every Redis call."),
    Setting("listen", "ANCLORA_LISTEN_ADDRESS", "0.0.0.0:9464", _listen,
            "host:port for /metrics, /health and /events."),
    Setting("namespace", "ANCLORA_NAMESPACE", "anclora", _namespace,
            "Prefix of every metric name."),
    Setting("bullmq_prefix", "ANCLORA_BULLMQ_PREFIX", "bull", _str,
            "BullMQ key prefix (the `prefix` option of your Queue)."),
    Setting("queues", "ANCLORA_QUEUES", "", _list,
            "Comma-separated queue names; empty = discover queues with SCAN."),
    Setting("queue_pattern", "ANCLORA_QUEUE_PATTERN", "*", _str,
            "Glob that discovered queue names must match."),
    Setting("queue_discovery_interval", "ANCLORA_QUEUE_DISCOVERY_SECONDS", "30",
            _float(0.5, 3600),
            "How often queues are looked for again, by a background SCAN of their `meta` "
            "hashes (off the scrape path, paced); a new queue is watched within about this long."),
    Setting("max_queues", "ANCLORA_MAX_QUEUES", "100", _int(1, 10000),
            "At most this many discovered queues are watched; the rest are ignored and "
            "`anclora_exporter_queues_capped` is 1."),
    Setting("priority_names", "ANCLORA_PRIORITY_NAMES", "0=normal,1=critical,2=high,3=medium,4=low",
            _priority_names,
            "BullMQ numeric priority -> `priority` label. 0 = jobs without priority (the wait list); "
            "unlisted priorities are reported as `other`."),
    Setting("dlq_queues", "ANCLORA_DLQ_QUEUES", "", _str_map,
            "queue=dead-letter-queue pairs; a queue without one reports its failed set as DLQ."),
    Setting("bullmq_events", "ANCLORA_BULLMQ_EVENTS", "true", _bool,
            "Count processed/failed messages from each queue's events stream. Turn off when "
            "the app reports queue events itself, or they are counted twice."),
    Setting("consumer_group", "ANCLORA_CONSUMER_GROUP", "anclora-exporter", _str,
            "Redis consumer group shared by all exporter replicas (each event counted once)."),
    Setting("consumer_name", "ANCLORA_CONSUMER_NAME", "", _str,
            "This replica's consumer name; empty = hostname-pid."),
    Setting("stream_claim_idle", "ANCLORA_STREAM_CLAIM_IDLE_SECONDS", "30", _float(0.1, 86400),
            "A stream entry another replica read but did not acknowledge for this long is "
            "taken over (XAUTOCLAIM), so a crashed replica loses no events."),
    Setting("events_stream", "ANCLORA_EVENTS_STREAM", "anclora:events", _str,
            "Redis stream the app writes events to; empty = no stream input (HTTP only)."),
    Setting("auth_token", "ANCLORA_AUTH_TOKEN", "", _str,
            "Bearer token required by POST /events; empty = no token required.", secret=True),
    Setting("max_body_bytes", "ANCLORA_MAX_BODY_BYTES", "1048576", _int(1024, 64 << 20),
            "Largest POST /events or webhook body accepted (larger gets 413)."),
    Setting("http_header_timeout", "ANCLORA_HTTP_HEADER_TIMEOUT_SECONDS", "10", _float(0.1, 600),
            "A connection whose request headers have not all arrived this long after it "
            "opened (or after the first bytes of its next request) is closed (slowloris)."),
    Setting("http_body_timeout", "ANCLORA_HTTP_BODY_TIMEOUT_SECONDS", "10", _float(0.1, 600),
            "POST /events and webhook bodies must arrive within this (else 408, reason "
            "`timeout`)."),
    Setting("http_max_connections", "ANCLORA_HTTP_MAX_CONNECTIONS", "512", _int(8, 100000),
            "Open connections at most (and at most half the file limit); at the cap a new "
            "connection closes the oldest one that never completed a request."),
    # --- WhatsApp webhooks: Meta Cloud API and Evolution API (docs/whatsapp.md) ----------
    Setting("meta_app_secret", "ANCLORA_META_APP_SECRET", "", _str,
            "Meta app secret: POST /webhooks/meta checks X-Hub-Signature-256 with it; empty = "
            "the Meta endpoints are off (404). Also read from ANCLORA_META_APP_SECRET_FILE.",
            secret=True),
    Setting("meta_verify_token", "ANCLORA_META_VERIFY_TOKEN", "", _str,
            "The verify token you gave Meta: GET /webhooks/meta answers its handshake "
            "(hub.challenge) only with it. Also read from ANCLORA_META_VERIFY_TOKEN_FILE.",
            secret=True),
    Setting("meta_forward_url", "ANCLORA_META_FORWARD_URL", "", _optional_http_url,
            "Forward every verified Meta webhook (same body and signature) to your app here, "
            "and answer Meta with the app's result; empty = no forwarding."),
    Setting("meta_forward_timeout", "ANCLORA_META_FORWARD_TIMEOUT_SECONDS", "10",
            _float(0.5, 120), "How long a forward to ANCLORA_META_FORWARD_URL may take."),
    Setting("meta_rates", "ANCLORA_META_RATES", "", _rates,
            "EUR per billable message (per conversation under CBP) by pricing category, e.g. "
            "marketing=0.0509,utility=0.0166,authentication=0.0166 (Meta's rate card for "
            "your recipients' country); empty = no cost estimate."),
    Setting("meta_access_token", "ANCLORA_META_ACCESS_TOKEN", "", _str,
            "Graph API token: poll each phone number's quality rating and messaging limit; "
            "empty = no polling. Also read from ANCLORA_META_ACCESS_TOKEN_FILE.", secret=True),
    Setting("meta_graph_url", "ANCLORA_META_GRAPH_URL", "https://graph.facebook.com/v26.0",
            _http_url, "Graph API base URL, with its version."),
    Setting("meta_poll_interval", "ANCLORA_META_POLL_SECONDS", "300", _float(10, 86400),
            "How often the Graph API is polled (by one replica at a time)."),
    Setting("meta_phone_number_ids", "ANCLORA_META_PHONE_NUMBER_IDS", "", _meta_ids,
            "Phone number ids to poll from the start; the ids seen in webhooks are polled too."),
    Setting("evolution_webhook_token", "ANCLORA_EVOLUTION_WEBHOOK_TOKEN", "", _str,
            "Token POST /webhooks/evolution requires (Authorization: Bearer, or ?token= for "
            "Evolution's global webhook); empty = the endpoint is off (404). Also read from "
            "ANCLORA_EVOLUTION_WEBHOOK_TOKEN_FILE.", secret=True),
    Setting("webhook_dedup_seconds", "ANCLORA_WEBHOOK_DEDUP_SECONDS", "604800",
            _int(60, 90 * 86400),
            "How long a counted message status is remembered in Redis, so a platform retry "
            "or another replica's copy is not counted again (Meta retries for up to 7 days)."),
    Setting("webhook_salt", "ANCLORA_WEBHOOK_SALT", "", _str,
            "Key of the hashes that stand for message ids, chats and numbers in Redis (never "
            "stored in clear); empty = derived from the app secret and the Evolution token. "
            "Set it when those rotate. Also read from ANCLORA_WEBHOOK_SALT_FILE.", secret=True),
    Setting("webhook_response_time", "ANCLORA_WEBHOOK_RESPONSE_TIME", "true", _bool,
            "Observe analytics_response_time_seconds from webhooks (inbound message to the "
            "first outbound one in the chat). Turn off when the app reports response times "
            "itself, or they are counted twice."),
    Setting("response_window", "ANCLORA_RESPONSE_WINDOW_SECONDS", "86400", _int(60, 30 * 86400),
            "An inbound message not answered within this long is forgotten (no observation)."),
    Setting("label_limit", "ANCLORA_LABEL_LIMIT", "100", _int(1, 100000),
            "Distinct values kept per label of a metric; more fold into `other`."),
    Setting("label_limits", "ANCLORA_LABEL_LIMITS", "", _int_map,
            "Per-metric overrides, metric=N pairs (name without namespace)."),
    Setting("series_limit", "ANCLORA_SERIES_LIMIT", "2000", _int(1, 1000000),
            "Label sets kept per pushed metric; new ones past it fold into one label set "
            "whose labels are all `other`, counted in exporter_label_overflow_total."),
    Setting("series_limit_total", "ANCLORA_SERIES_LIMIT_TOTAL", "50000", _int(1, 10000000),
            "Series kept over all pushed metrics together, as Prometheus counts them (a "
            "histogram label set is its buckets + 3): bounds memory and /metrics size "
            "(~5 MB at 50000); new label sets past it fold into `other` as above."),
    Setting("gauge_ttl", "ANCLORA_GAUGE_TTL_SECONDS", "300", _float(1),
            "An app-reported gauge not refreshed for this long disappears."),
    Setting("scrape_timeout", "ANCLORA_SCRAPE_TIMEOUT_SECONDS", "5", _float(0.1, 120),
            "Time budget of each collector per scrape."),
    Setting("health_timeout", "ANCLORA_HEALTH_TIMEOUT_SECONDS", "2", _float(0.05, 60),
            "Time budget of each health check."),
    Setting("health_interval", "ANCLORA_HEALTH_INTERVAL_SECONDS", "15", _float(0, 3600),
            "Run the health checks in the background this often, so the health metrics and "
            "status-change logs are current without /health requests; 0 = only on request."),
    Setting("health_queue_waiting_degraded", "ANCLORA_HEALTH_QUEUE_WAITING_DEGRADED", "10000",
            _int(1), "Queue check is degraded when this many jobs wait across all queues."),
    Setting("health_rss_degraded", "ANCLORA_HEALTH_RSS_DEGRADED_BYTES", "268435456", _int(1),
            "Memory check is degraded when the exporter's RSS passes this (256 MiB)."),
    Setting("health_rss_unhealthy", "ANCLORA_HEALTH_RSS_UNHEALTHY_BYTES", "1073741824", _int(1),
            "Memory check is unhealthy when the exporter's RSS passes this (1 GiB)."),
    Setting("health_heap_degraded", "ANCLORA_HEALTH_APP_HEAP_DEGRADED_BYTES", "805306368",
            _int(1), "Memory check is degraded when an app reports a heap above this (768 MiB)."),
    Setting("health_loop_lag_degraded", "ANCLORA_HEALTH_LOOP_LAG_DEGRADED_SECONDS", "0.1",
            _float(0.001), "Event-loop check is degraded above this lag."),
    Setting("health_loop_lag_unhealthy", "ANCLORA_HEALTH_LOOP_LAG_UNHEALTHY_SECONDS", "1",
            _float(0.001), "Event-loop check is unhealthy above this lag."),
    Setting("health_disk_degraded", "ANCLORA_HEALTH_DISK_DEGRADED_RATIO", "0.85", _float(0, 1),
            "Disk check is degraded when this share of ANCLORA_DISK_PATH is used."),
    Setting("health_disk_unhealthy", "ANCLORA_HEALTH_DISK_UNHEALTHY_RATIO", "0.95", _float(0, 1),
            "Disk check is unhealthy when this share of ANCLORA_DISK_PATH is used."),
    Setting("disk_path", "ANCLORA_DISK_PATH", "/", _str,
            "Filesystem watched by the disk metrics and health check."),
    Setting("service_name", "ANCLORA_SERVICE_NAME", "whatsapp-bot", _str,
            "`service` field of every log line."),
    Setting("log_level", "ANCLORA_LOG_LEVEL", "info", _level,
            "fatal, error, warn, info, http, debug or trace."),
    Setting("log_dir", "ANCLORA_LOG_DIR", "", _str,
            "When set, also write rotating files there (all 14 d, errors 30 d, http 7 d)."),
    # --- error tracking: Sentry or a self-hosted GlitchTip (exporter/errors.py) ---
    Setting("sentry_dsn", "ANCLORA_SENTRY_DSN", "", parse_dsn,
            "Where unexpected exceptions go, with their stack (a Sentry or GlitchTip "
            "project's DSN; needs `pip install 'anclora-exporter[sentry]'`); empty = off. "
            "docs/errors.md.", secret=True),
    Setting("sentry_traces_sample_rate", "ANCLORA_SENTRY_TRACES_SAMPLE_RATE", "0.1",
            _float(0, 1), "Share of HTTP requests sent as performance transactions, 0 to 1."),
    Setting("sentry_environment", "ANCLORA_SENTRY_ENVIRONMENT", "production", _str,
            "`environment` of every event and transaction (production, staging...)."),
)

_ENV = {s.attr: s.env for s in SETTINGS}
_THRESHOLD_PAIRS = (("health_rss_degraded", "health_rss_unhealthy"),
                    ("health_loop_lag_degraded", "health_loop_lag_unhealthy"),
                    ("health_disk_degraded", "health_disk_unhealthy"))


class _ConfigMethods:
    """How a ``Config`` is made; its fields are made from ``SETTINGS`` below."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> "Config":
        """Parse every setting from ``env`` (default: os.environ); ``overrides`` win."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        raws: dict[str, str] = {}
        for s in SETTINGS:
            raw = raws[s.attr] = _secret_file(env, s) if s.secret else env.get(s.env, s.default)
            try:
                values[s.attr] = s.parse(raw)
            except ValueError as e:
                shown = "(hidden)" if s.secret else repr(raw)
                raise ConfigError(f"{s.env}={shown}: {e}") from None
        values.update(overrides)
        if not values["consumer_name"]:
            values["consumer_name"] = f"{socket.gethostname()}-{os.getpid()}"
        if not values["analytics_redis_url"]:
            values["analytics_redis_url"] = values["redis_url"]
        for attr, check in (("label_limits", _check_label_limits), ("log_dir", _check_log_dir)):
            try:
                check(values[attr])
            except ValueError as e:
                shown = values[attr] if attr in overrides else raws[attr]
                raise ConfigError(f"{_ENV[attr]}={shown!r}: {e}") from None
        for low, high in _THRESHOLD_PAIRS:  # a degraded level past the unhealthy one is a typo
            if values[low] > values[high]:
                raise ConfigError(f"{_ENV[low]}={values[low]} is above "
                                  f"{_ENV[high]}={values[high]}: expected degraded <= unhealthy")
        return cls(**values)

    @classmethod
    def defaults(cls, **overrides: Any) -> "Config":
        return cls.from_env({}, **overrides)


# Config's fields come from SETTINGS, so a setting's default lives in one place (its
# Setting) and its type is its parser's return type, e.g. ``listen: tuple[str, int]``.
Config = make_dataclass("Config", [(s.attr, s.type) for s in SETTINGS],
                        bases=(_ConfigMethods,), frozen=True)
Config.__module__ = __name__
Config.__doc__ = "Every setting, parsed and checked: one attribute per entry of SETTINGS."


def _secret_file(env: Mapping[str, str], s: Setting) -> str:
    """A secret's value: its variable, or the content of the file ``<variable>_FILE``
    names (a container secret), without its final line break."""
    path = env.get(s.env + "_FILE", "")
    if not path:
        return env.get(s.env, s.default)
    if env.get(s.env):
        raise ConfigError(f"{s.env} and {s.env}_FILE are both set: keep one")
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as e:
        reason = getattr(e, "strerror", None) or type(e).__name__
        raise ConfigError(f"{s.env}_FILE={path!r}: cannot read it ({reason})") from None


# --- checks of parsed values, run by Config.from_env: each raises ValueError ------------

def _check_label_limits(limits: Mapping[str, int]) -> None:
    """A limit for a metric that does not exist is a typo that would silently do nothing."""
    from .catalog import BY_NAME
    for name in limits:
        if name not in BY_NAME:
            hint = (" (names are without the namespace, e.g. analytics_messages_sent_total)"
                    if any(name.endswith("_" + known) for known in BY_NAME) else "")
            raise ValueError(f"unknown metric {name}{hint}; see `python -m exporter catalog`")


def _check_log_dir(path: str) -> None:
    """Create the log directory and write a file in it now, so a directory that cannot
    hold the log files is one configuration error, not a traceback from logs.setup."""
    if not path:
        return
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ValueError(f"cannot write log files there ({e.strerror or e})") from None


def redact_url(url: str) -> str:
    """The URL with any password replaced, for logs and health details."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    netloc = f"{user}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def as_markdown() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default else "(empty)"
        rows.append(f"| `{s.env}` | {default} | {s.doc} |")
    return "\n".join(rows)

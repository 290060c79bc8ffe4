"""Configuration from environment variables, validated once at start.

Every setting is declared once in ``SETTINGS`` (variable, default, parser, meaning); the
README's configuration table and ``.env.example`` are generated from it
(``python -m exporter config --markdown`` / ``--env-example``), and a test fails when the
committed copies drift. A wrong value stops the exporter with one line naming the
variable and what was expected (``ConfigError``).
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit, urlunsplit


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
        if v < lo or (hi is not None and v > hi):
            raise ValueError(f"expected a number from {lo}" + (f" to {hi}" if hi else " up"))
        return v
    return parse


def _list(raw: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in raw.split(",") if x.strip())


def _redis_url(raw: str) -> str:
    v = raw.strip()
    if urlsplit(v).scheme not in ("redis", "rediss", "unix"):
        raise ValueError("expected a redis://, rediss:// or unix:// URL")
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
    attr: str
    env: str
    default: str
    parse: Callable[[str], Any]
    doc: str
    secret: bool = False


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
            "Largest POST /events body accepted (larger gets 413)."),
    Setting("label_limit", "ANCLORA_LABEL_LIMIT", "100", _int(1, 100000),
            "Distinct values kept per label of a metric; more fold into `other`."),
    Setting("label_limits", "ANCLORA_LABEL_LIMITS", "", _int_map,
            "Per-metric overrides, metric=N pairs (name without namespace)."),
    Setting("gauge_ttl", "ANCLORA_GAUGE_TTL_SECONDS", "300", _float(1),
            "An app-reported gauge not refreshed for this long disappears."),
    Setting("scrape_timeout", "ANCLORA_SCRAPE_TIMEOUT_SECONDS", "5", _float(0.1, 120),
            "Time budget of each collector per scrape."),
    Setting("health_timeout", "ANCLORA_HEALTH_TIMEOUT_SECONDS", "2", _float(0.05, 60),
            "Time budget of each health check."),
    Setting("disk_path", "ANCLORA_DISK_PATH", "/", _str,
            "Filesystem watched by the disk metrics and health check."),
    Setting("service_name", "ANCLORA_SERVICE_NAME", "whatsapp-bot", _str,
            "`service` field of every log line."),
    Setting("log_level", "ANCLORA_LOG_LEVEL", "info", _level,
            "fatal, error, warn, info, http, debug or trace."),
    Setting("log_dir", "ANCLORA_LOG_DIR", "", _str,
            "When set, also write rotating files there (all 14 d, errors 30 d, http 7 d)."),
)


@dataclass(frozen=True)
class Config:
    redis_url: str = "redis://127.0.0.1:6379/0"
    analytics_redis_url: str = ""
    redis_timeout: float = 2.0
    listen: tuple[str, int] = ("0.0.0.0", 9464)
    namespace: str = "anclora"
    bullmq_prefix: str = "bull"
    queues: tuple[str, ...] = ()
    queue_pattern: str = "*"
    max_queues: int = 100
    priority_names: dict[int, str] = field(default_factory=dict)
    dlq_queues: dict[str, str] = field(default_factory=dict)
    bullmq_events: bool = True
    consumer_group: str = "anclora-exporter"
    consumer_name: str = ""
    stream_claim_idle: float = 30.0
    events_stream: str = "anclora:events"
    auth_token: str = ""
    max_body_bytes: int = 1 << 20
    label_limit: int = 100
    label_limits: dict[str, int] = field(default_factory=dict)
    gauge_ttl: float = 300.0
    scrape_timeout: float = 5.0
    health_timeout: float = 2.0
    disk_path: str = "/"
    service_name: str = "whatsapp-bot"
    log_level: str = "info"
    log_dir: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> "Config":
        """Parse every setting from ``env`` (default: os.environ); ``overrides`` win."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for s in SETTINGS:
            raw = env.get(s.env, s.default)
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
        return cls(**values)

    @classmethod
    def defaults(cls, **overrides: Any) -> "Config":
        return cls.from_env({}, **overrides)


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


def as_env_example() -> str:
    out = ["# Every variable the exporter reads, with its default. Copy to .env and edit.",
           "# Generated by `python -m exporter config --env-example`; the stack's own",
           "# variables (Grafana, Alertmanager receivers) follow the exporter's.", ""]
    for s in SETTINGS:
        out.append(f"# {s.doc}")
        out.append(f"{s.env}={s.default}")
        out.append("")
    return "\n".join(out)

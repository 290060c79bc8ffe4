"""Report application events to the exporter from a Python backend.

Standard library only (plus ``redis`` for the stream transport); no aiohttp, no
prometheus_client. Two transports:

    from anclora_client import EventClient, RedisStreamTransport, HttpTransport
    events = EventClient(RedisStreamTransport("redis://localhost:6379/0"))   # XADD
    events = EventClient(HttpTransport("http://exporter:9464/events", token="..."),
                         batch_size=100, flush_interval=1.0)                 # batched POST
    events.record_message_sent(message_type="template", campaign_id="spring")
    events.record_conversion("sale", 350_000)

or configure a process-wide default once and call the module-level helpers:

    import anclora_client as client
    client.configure(client.RedisStreamTransport(redis_client))
    client.record_queue_processed("text", duration_seconds=0.2)

Reporting never raises into the caller: a transport failure is logged, the events are
kept (up to ``max_buffer``, oldest dropped first and counted in ``dropped``) and sent on
the next flush. An event the exporter refuses is counted there, in
``anclora_exporter_events_rejected_total{reason}``; pass ``validate=True`` to have the
client check events against the schema first and raise ``ValueError`` (for development).
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections import deque

log = logging.getLogger("anclora.client")

DEFAULT_STREAM = "anclora:events"


class RedisStreamTransport:
    """XADD each event to the events stream as one entry with field ``event`` (JSON).

    ``maxlen`` trims the stream approximately so it cannot grow without bound while no
    exporter reads it (entries trimmed before being read are lost to counting and show
    in ``anclora_exporter_stream_gap_entries_total``).
    """

    def __init__(self, redis, stream: str = DEFAULT_STREAM, maxlen: int = 100_000):
        if isinstance(redis, str):
            import redis as redis_mod
            redis = redis_mod.Redis.from_url(redis, socket_timeout=2, socket_connect_timeout=2)
        self.redis, self.stream, self.maxlen = redis, stream, maxlen

    def send(self, events: list[dict]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for e in events:
            pipe.xadd(self.stream, {"event": json.dumps(e, separators=(",", ":"))},
                      maxlen=self.maxlen, approximate=True)
        pipe.execute()


class HttpTransport:
    """POST events as NDJSON to the exporter's /events (urllib, no extra dependency)."""

    def __init__(self, url: str, token: str = "", timeout: float = 2.0):
        self.url, self.token, self.timeout = url, token, timeout

    def send(self, events: list[dict]) -> None:
        body = "\n".join(json.dumps(e, separators=(",", ":")) for e in events).encode()
        headers = {"Content-Type": "application/x-ndjson"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                answer = json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            if e.code == 400:  # every event refused: counted by the exporter, do not resend
                answer = json.loads(e.read() or b"{}")
            else:
                raise
        if answer.get("rejected_count"):
            log.warning("exporter refused events", extra={
                "rejected": answer["rejected_count"],
                "reasons": sorted({r["reason"] for r in answer.get("rejected", [])})})


def _event(type_: str, **fields) -> dict:
    e = {"type": type_}
    e.update((k, v) for k, v in fields.items() if v is not None)
    return e


class EventClient:
    """Builds events with the helpers below and hands them to a transport.

    ``batch_size`` 1 sends each event at once; larger values buffer until that many are
    waiting, ``flush()`` is called, or ``flush_interval`` seconds pass (a daemon thread).
    """

    def __init__(self, transport, batch_size: int = 1, flush_interval: float | None = None,
                 max_buffer: int = 10_000, validate: bool = False):
        self.transport, self.batch_size, self.validate = transport, max(1, batch_size), validate
        self._buf: deque = deque()
        self.max_buffer = max_buffer
        self._lock = threading.Lock()
        self.sent = self.dropped = self.errors = 0
        self._stop = threading.Event()
        self._thread = None
        if flush_interval:
            self._thread = threading.Thread(target=self._flusher, args=(flush_interval,),
                                            daemon=True, name="anclora-events-flush")
            self._thread.start()

    def emit(self, event: dict) -> None:
        if self.validate:
            from exporter.ingest.schema import validate  # the exporter's own rule
            validate(event)  # raises schema.Invalid (a ValueError)
        with self._lock:
            self._buf.append(event)
            if len(self._buf) > self.max_buffer:
                self._buf.popleft()
                self.dropped += 1
            full = len(self._buf) >= self.batch_size
        if full:
            self.flush()

    def flush(self) -> int:
        """Send what is buffered; returns how many events went out."""
        with self._lock:
            batch = list(self._buf)
            self._buf.clear()
        if not batch:
            return 0
        try:
            self.transport.send(batch)
        except Exception as e:  # noqa: BLE001 - metrics must never break the bot
            self.errors += 1
            log.warning("cannot send events, will retry", extra={
                "events": len(batch), "error": type(e).__name__})
            with self._lock:
                self._buf.extendleft(reversed(batch))
                while len(self._buf) > self.max_buffer:
                    self._buf.popleft()
                    self.dropped += 1
            return 0
        self.sent += len(batch)
        return len(batch)

    def _flusher(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        self.flush()

    # --- queue ---------------------------------------------------------------------------
    def record_queue_message(self, message_type="text", priority="normal", queue="default"):
        self.emit(_event("queue_message_added", message_type=message_type, priority=priority,
                         queue=queue))

    def record_queue_processed(self, message_type="text", duration_seconds=None,
                               priority="normal", queue="default"):
        self.emit(_event("queue_message_processed", message_type=message_type, priority=priority,
                         queue=queue, duration_seconds=duration_seconds))

    def record_queue_failed(self, message_type="text", error_type="other", duration_seconds=None,
                            priority="normal", queue="default"):
        self.emit(_event("queue_message_failed", message_type=message_type, priority=priority,
                         queue=queue, error_type=error_type, duration_seconds=duration_seconds))

    def record_bulk_operation(self, batch_size: int, queue="default"):
        self.emit(_event("bulk_operation", batch_size=batch_size, queue=queue))

    # --- analytics -----------------------------------------------------------------------
    def record_message_sent(self, message_type="text", campaign_id="none"):
        self.emit(_event("message_sent", message_type=message_type, campaign_id=campaign_id))

    def record_message_delivered(self):
        self.emit(_event("message_delivered"))

    def record_message_read(self):
        self.emit(_event("message_read"))

    def record_message_received(self, message_type="text"):
        self.emit(_event("message_received", message_type=message_type))

    def record_conversion(self, conversion_type: str, value_euros: float, campaign_id="none"):
        self.emit(_event("conversion", conversion_type=conversion_type, value_euros=value_euros,
                         campaign_id=campaign_id))

    def record_handoff(self, reason="unspecified"):
        self.emit(_event("handoff", reason=reason))

    def record_response_time(self, seconds: float):
        self.emit(_event("response_time", seconds=seconds))

    def set_active_conversations(self, count: int):
        self.emit(_event("active_conversations", count=count))

    # --- WhatsApp API --------------------------------------------------------------------
    def record_whatsapp_api_call(self, endpoint: str, method="POST", status_code=200,
                                 latency_seconds=0.0):
        self.emit(_event("whatsapp_api_call", endpoint=endpoint, method=method,
                         status_code=status_code, latency_seconds=latency_seconds))

    def record_webhook(self, event_type: str, instance_name="default"):
        self.emit(_event("webhook_received", event_type=event_type, instance_name=instance_name))

    def record_rate_limit_hit(self, instance_name="default"):
        self.emit(_event("rate_limit_hit", instance_name=instance_name))

    def set_active_instances(self, count: int):
        self.emit(_event("active_instances", count=count))

    # --- bot and business ----------------------------------------------------------------
    def record_intent(self, intent: str, confidence=None, automated=False):
        self.emit(_event("intent_detected", intent=intent, confidence=confidence,
                         automated=bool(automated)))

    def record_lead(self, source: str, quality="unknown"):
        self.emit(_event("lead_captured", source=source, quality=quality))

    def record_appointment(self, appointment_type: str, source="bot"):
        self.emit(_event("appointment_scheduled", appointment_type=appointment_type,
                         source=source))

    def record_property_inquiry(self, value_euros: float):
        self.emit(_event("property_inquiry", value_euros=value_euros))

    def set_sales_pipeline(self, stage: str, count: int):
        self.emit(_event("sales_pipeline", stage=stage, count=count))

    # --- Redis, errors, resilience, runtime ----------------------------------------------
    def record_redis_operation(self, operation: str, latency_seconds=None, status="ok"):
        self.emit(_event("redis_operation", operation=operation, latency_seconds=latency_seconds,
                         status=status))

    def set_redis_pool(self, in_use: int, max: int):  # noqa: A002 - the event's field name
        self.emit(_event("redis_pool", in_use=in_use, max=max))

    def record_error(self, severity: str, service: str):
        self.emit(_event("error_logged", severity=severity, service=service))

    def record_http_request(self, endpoint: str, status_code: int, duration_seconds: float,
                            method="GET"):
        self.emit(_event("http_request", endpoint=endpoint, status_code=status_code,
                         duration_seconds=duration_seconds, method=method))

    def set_circuit_breaker_state(self, breaker: str, state: str):
        self.emit(_event("circuit_breaker_state", breaker=breaker, state=state))

    def record_rate_limit_rejection(self, limiter: str):
        self.emit(_event("rate_limit_rejection", limiter=limiter))

    def record_cache_request(self, cache: str, hit: bool):
        self.emit(_event("cache_request", cache=cache, result="hit" if hit else "miss"))

    def set_runtime(self, service: str, heap_used_bytes=None, heap_total_bytes=None,
                    rss_bytes=None, event_loop_lag_seconds=None):
        self.emit(_event("runtime", service=service, heap_used_bytes=heap_used_bytes,
                         heap_total_bytes=heap_total_bytes, rss_bytes=rss_bytes,
                         event_loop_lag_seconds=event_loop_lag_seconds))


HELPERS = tuple(n for n in vars(EventClient) if n.startswith(("record_", "set_")))
_default: EventClient | None = None


def configure(transport, **options) -> EventClient:
    """Set the process-wide client used by the module-level helpers."""
    global _default
    if _default is not None:
        _default.close()
    _default = EventClient(transport, **options)
    return _default


def __getattr__(name: str):
    """``client.record_lead(...)`` and the other module-level helpers (PEP 562): each calls
    the ``EventClient`` method of that name on the client set by ``configure``, looked up at
    call time, so a helper imported before ``configure`` still reaches the configured client."""
    if name not in HELPERS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    def helper(*args, **kwargs):
        if _default is None:
            raise RuntimeError("call anclora_client.configure(transport) first")
        return getattr(_default, name)(*args, **kwargs)
    helper.__name__ = name
    helper.__doc__ = f"``EventClient.{name}`` on the client set by ``configure``."
    return helper


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(HELPERS))

"""The metric catalog: every metric the exporter publishes, declared exactly once.

Collectors, event ingestion, the generated metric reference (docs/metrics.md) and the
mixin's lint all read this module; nothing else spells a metric name. Names are stored
without the namespace (``queue_messages_total``) and rendered with the configured one
(``anclora`` by default), so ``full_name(spec, "anclora")`` gives the SPEC's name.

Where a value comes from (``source``):
  bullmq_state   read from BullMQ's Redis keys on every scrape (collect-on-scrape)
  bullmq_events  counted from each queue's ``events`` stream through a consumer group
  app            reported by the application as an event (POST /events or the events stream)
  webhooks       taken from the WhatsApp platform's own webhooks (Meta Cloud API, Evolution API)
  redis          Redis INFO / PING by the exporter's own redis collector
  system         psutil, for the host and the exporter process
  self           the exporter about itself (scrapes, ingestion, health checks)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Iterable

COUNTER, GAUGE, HISTOGRAM = "counter", "gauge", "histogram"
SOURCES = ("bullmq_state", "bullmq_events", "app", "webhooks", "redis", "system", "self")

# Buckets, in base units. Latency buckets span 5 ms .. 60 s; business values span EUR 100 .. 10M.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
FAST_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
RESPONSE_TIME_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 14400, 86400)
EURO_BUCKETS = (100, 500, 1_000, 5_000, 10_000, 50_000, 100_000, 250_000, 500_000,
                1_000_000, 2_500_000, 5_000_000, 10_000_000)
RATIO_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)

# Label values that come from a closed set; anything else is folded into "other".
BULLMQ_STATES = ("waiting", "paused", "active", "delayed", "prioritized",
                 "waiting-children", "completed", "failed")
# Event names BullMQ writes to a queue's events stream (QueueEvents' listener names).
BULLMQ_EVENTS = ("added", "waiting", "active", "progress", "completed", "failed", "delayed",
                 "paused", "resumed", "removed", "drained", "stalled", "retries-exhausted",
                 "duplicated", "deduplicated", "debounced", "waiting-children", "cleaned",
                 "error", "other")
BATCH_SIZE_RANGES = ("1", "2-10", "11-50", "51-100", "101-500", "501+")
ERROR_TYPES = ("timeout", "rate_limited", "network", "validation", "auth", "not_found",
               "server_error", "stalled", "other")
SEVERITIES = ("fatal", "critical", "error", "warning")
CIRCUIT_STATES = ("closed", "half_open", "open")
CACHE_RESULTS = ("hit", "miss")
# Redis's maxmemory-policy values (redis.conf); anything else is published as other.
REDIS_MAXMEMORY_POLICIES = ("noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
                            "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl")
HTTP_CLOSE_REASONS = ("header_timeout", "connection_limit")
# WhatsApp webhooks (Meta Cloud API, Evolution API): closed sets from their public docs.
WA_STATUSES = ("sent", "delivered", "read", "failed", "other")
WA_PRICING_CATEGORIES = ("authentication", "authentication_international", "marketing",
                         "marketing_lite", "utility", "service", "referral_conversion",
                         "unknown", "other")
WA_PRICING_MODELS = ("CBP", "PMP", "other")
# Meta's documented error codes (Cloud API error codes page); anything else is "other".
# Their meanings live in exporter/ingest/meta_codes.py, for dashboards and docs.
META_ERROR_CODES = ("0", "1", "2", "3", "4", "10", "33", "100", "190", "200", "368", "470",
                    "80007", "130429", "130472", "130497", "131000", "131005", "131008",
                    "131009", "131016", "131021", "131026", "131031", "131037", "131042",
                    "131045", "131047", "131048", "131049", "131050", "131051", "131052",
                    "131053", "131056", "131057", "132000", "132001", "132005", "132007",
                    "132012", "132015", "132016", "132068", "132069", "133000", "133004",
                    "133005", "133006", "133008", "133009", "133010", "133015", "135000",
                    "other")
WA_TEMPLATE_STATUSES = ("APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED", "FLAGGED",
                        "IN_APPEAL", "PENDING_DELETION", "DELETED", "REINSTATED",
                        "LIMIT_EXCEEDED", "ARCHIVED", "other")
WA_QUALITY_RATINGS = ("GREEN", "YELLOW", "RED", "UNKNOWN")
WEBHOOK_SOURCES = ("meta", "evolution")
HEALTH_CHECKS = ("redis", "analytics_redis", "queue", "memory", "event_loop", "disk")


@dataclass(frozen=True)
class MetricSpec:
    name: str                      # without namespace, e.g. "queue_messages_total"
    type: str                      # counter | gauge | histogram
    help: str
    labels: tuple[str, ...] = ()
    unit: str = ""                 # seconds, bytes, ratio, euros, or "" for plain counts
    source: tuple[str, ...] = ("app",)
    buckets: tuple[float, ...] = ()
    # Closed sets of allowed values for some labels; other labels are capped by count.
    label_values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    spec: bool = False             # named by the user's SPEC.md: never rename

    def full_name(self, namespace: str) -> str:
        return f"{namespace}_{self.name}" if namespace else self.name


def _m(name, type_, help_, labels=(), *, unit="", source=("app",), buckets=(),
       label_values=None, spec=False) -> MetricSpec:
    if isinstance(source, str):
        source = (source,)
    return MetricSpec(name, type_, help_, tuple(labels), unit, tuple(source),
                      tuple(buckets), dict(label_values or {}), spec)


# The user's queue metrics gain a `queue` label: a team runs several BullMQ queues.
METRICS: tuple[MetricSpec, ...] = (
    # --- Queue (SPEC) -------------------------------------------------------------
    _m("queue_messages_total", COUNTER, "Messages added to the queue.",
       ("queue", "priority", "message_type"), source=("bullmq_events", "app"), spec=True),
    _m("queue_messages_processed_total", COUNTER, "Messages processed successfully.",
       ("queue", "message_type"), source=("bullmq_events", "app"), spec=True),
    _m("queue_messages_failed_total", COUNTER, "Messages whose processing failed, by error class.",
       ("queue", "message_type", "error_type"), source=("bullmq_events", "app"),
       label_values={"error_type": ERROR_TYPES}, spec=True),
    _m("queue_processing_duration_seconds", HISTOGRAM,
       "Time from a worker taking a message to finishing it.",
       ("queue", "message_type", "priority"), unit="seconds",
       source=("bullmq_events", "app"), buckets=LATENCY_BUCKETS, spec=True),
    _m("queue_waiting_messages", GAUGE, "Messages waiting to be processed, by priority name.",
       ("queue", "priority"), source="bullmq_state", spec=True),
    _m("queue_active_messages", GAUGE, "Messages being processed now.",
       ("queue",), source="bullmq_state", spec=True),
    _m("queue_dlq_messages", GAUGE,
       "Messages in the dead-letter queue (the failed set when no DLQ queue is configured).",
       ("queue",), source="bullmq_state", spec=True),
    _m("queue_bulk_operations_total", COUNTER, "Bulk enqueue operations, by batch size range.",
       ("queue", "batch_size_range"), label_values={"batch_size_range": BATCH_SIZE_RANGES},
       spec=True),
    # --- BullMQ state, read straight from Redis -----------------------------------
    _m("bullmq_jobs", GAUGE, "Jobs per BullMQ state (BullMQ's own state names).",
       ("queue", "state"), source="bullmq_state", label_values={"state": BULLMQ_STATES}),
    _m("bullmq_oldest_waiting_job_age_seconds", GAUGE,
       "Age of the oldest waiting job; 0 when nothing waits.", ("queue",), unit="seconds",
       source="bullmq_state"),
    _m("bullmq_queue_paused", GAUGE, "1 when the queue is paused.", ("queue",),
       source="bullmq_state"),
    _m("bullmq_workers", GAUGE,
       "Worker connections of the queue in Redis's CLIENT LIST, as BullMQ's getWorkers() "
       "counts them: one per Node BullMQ worker, two per Python worker; 0 is no worker.",
       ("queue",), source="bullmq_state"),
    _m("bullmq_events_read_total", COUNTER,
       "Entries read from the queue's events stream, by BullMQ event name (others: other).",
       ("queue", "event"), source="bullmq_events", label_values={"event": BULLMQ_EVENTS}),
    _m("bullmq_events_malformed_total", COUNTER,
       "Events-stream entries that could not be counted (no event or job id, bad fields).",
       ("queue",), source="bullmq_events"),
    # --- Analytics (SPEC) ---------------------------------------------------------
    _m("analytics_messages_sent_total", COUNTER, "WhatsApp messages sent.",
       ("message_type", "campaign_id"), spec=True),
    _m("analytics_messages_received_total", COUNTER, "WhatsApp messages received.",
       ("message_type",), source=("app", "webhooks"), spec=True),
    _m("analytics_messages_delivered_total", COUNTER, "Sent messages confirmed delivered.",
       source=("app", "webhooks"), spec=True),
    _m("analytics_messages_read_total", COUNTER, "Sent messages confirmed read.", source=("app", "webhooks"), spec=True),
    _m("analytics_conversions_total", COUNTER, "Conversions (sales, bookings...).",
       ("conversion_type", "campaign_id"), spec=True),
    _m("analytics_conversion_value_euros", HISTOGRAM,
       "Value of each conversion in EUR; its _sum is revenue.", ("conversion_type",),
       unit="euros", buckets=EURO_BUCKETS, spec=True),
    _m("analytics_active_conversations", GAUGE, "Conversations open now.", spec=True),
    _m("analytics_response_time_seconds", HISTOGRAM,
       "Time to answer a customer's message.", unit="seconds",
       buckets=RESPONSE_TIME_BUCKETS, source=("app", "webhooks"), spec=True),
    _m("analytics_handoffs_total", COUNTER, "Conversations handed to a human.", ("reason",),
       spec=True),
    # --- WhatsApp API (SPEC) ------------------------------------------------------
    _m("whatsapp_api_calls_total", COUNTER, "Calls to the WhatsApp API.",
       ("endpoint", "method", "status_code"), spec=True),
    _m("whatsapp_api_latency_seconds", HISTOGRAM, "WhatsApp API call latency.",
       ("endpoint", "method"), unit="seconds", buckets=LATENCY_BUCKETS, spec=True),
    _m("whatsapp_active_instances", GAUGE, "WhatsApp instances (numbers/sessions) connected.",
       source=("app", "webhooks"), spec=True),
    _m("whatsapp_rate_limit_hits_total", COUNTER, "Rate-limit responses from the WhatsApp API.",
       ("instance_name",), source=("app", "webhooks"), spec=True),
    _m("whatsapp_webhooks_received_total", COUNTER, "Webhooks received from the WhatsApp API.",
       ("event_type", "instance_name"), source=("app", "webhooks"), spec=True),
    # --- WhatsApp, from the platform's webhooks (issue 12; names fixed by its contract) ---
    _m("whatsapp_message_statuses_total", COUNTER,
       "Message status updates (Meta statuses, Evolution messages.update), each (message, "
       "status) counted once across retries and replicas; category is Meta's pricing "
       "category.", ("status", "category"), source="webhooks",
       label_values={"status": WA_STATUSES, "category": WA_PRICING_CATEGORIES}),
    _m("whatsapp_message_failures_total", COUNTER,
       "Failed message statuses by Meta error code (undocumented codes: other).",
       ("error_code",), source="webhooks", label_values={"error_code": META_ERROR_CODES}),
    _m("whatsapp_billable_messages_total", COUNTER,
       "Billable message statuses by pricing category and model (CBP per conversation, "
       "PMP per message).", ("category", "pricing_model"), source="webhooks",
       label_values={"category": WA_PRICING_CATEGORIES, "pricing_model": WA_PRICING_MODELS}),
    _m("whatsapp_estimated_cost_euros_total", COUNTER,
       "Estimated spend in EUR: billable messages times ANCLORA_META_RATES.", ("category",),
       unit="euros", source="webhooks", label_values={"category": WA_PRICING_CATEGORIES}),
    _m("whatsapp_template_status", GAUGE,
       "1 for a message template's current status, 0 for its earlier ones.",
       ("template", "status"), source="webhooks",
       label_values={"status": WA_TEMPLATE_STATUSES}),
    _m("whatsapp_messaging_limit", GAUGE,
       "Business-initiated conversations a number may open a day (TIER_UNLIMITED: +Inf).",
       ("instance_name",), source="webhooks"),
    _m("whatsapp_quality_flagged", GAUGE, "1 when Meta has flagged the number's quality.",
       ("instance_name",), source="webhooks"),
    _m("whatsapp_quality_rating", GAUGE,
       "1 for the number's current quality rating (Graph API poll).",
       ("instance_name", "rating"), source="webhooks",
       label_values={"rating": WA_QUALITY_RATINGS}),
    _m("whatsapp_instance_connected", GAUGE,
       "1 when the Evolution instance's connection is open.", ("instance_name",),
       source="webhooks"),
    _m("whatsapp_qr_required_total", COUNTER,
       "QR codes an Evolution instance asked to be scanned (it is logged out).",
       ("instance_name",), source="webhooks"),
    # --- Redis, client side as the app sees it (names ours) -----------------------
    _m("redis_operations_total", COUNTER, "Redis commands issued by the app.",
       ("operation", "status")),
    _m("redis_operation_latency_seconds", HISTOGRAM, "Redis command latency seen by the app.",
       ("operation",), unit="seconds", buckets=FAST_LATENCY_BUCKETS),
    _m("redis_pool_connections_in_use", GAUGE, "Connections of the app's Redis pool in use."),
    _m("redis_pool_connections_max", GAUGE, "Size limit of the app's Redis pool."),
    # --- Redis, server side as the exporter sees it -------------------------------
    _m("redis_ping_latency_seconds", GAUGE, "Round trip of the exporter's PING.",
       unit="seconds", source="redis"),
    _m("redis_uptime_seconds", GAUGE, "Redis server uptime.", unit="seconds", source="redis"),
    _m("redis_used_memory_bytes", GAUGE, "Memory used by Redis.", unit="bytes",
       source="redis"),
    _m("redis_connected_clients", GAUGE, "Clients connected to Redis.", source="redis"),
    _m("redis_maxmemory_policy", GAUGE,
       "1 for Redis's maxmemory-policy. BullMQ needs noeviction: under any other policy a "
       "full Redis silently drops jobs.", ("policy",), source="redis",
       label_values={"policy": REDIS_MAXMEMORY_POLICIES}),
    # --- Bot (names ours) ---------------------------------------------------------
    _m("bot_intents_total", COUNTER, "Intents detected by the bot.", ("intent",)),
    _m("bot_intent_confidence_ratio", HISTOGRAM, "Confidence of each detected intent (0-1).",
       ("intent",), unit="ratio", buckets=RATIO_BUCKETS),
    _m("bot_automated_responses_total", COUNTER, "Answers sent by the bot without a human.",
       ("intent",)),
    # --- Business (SPEC) ----------------------------------------------------------
    _m("business_leads_captured_total", COUNTER, "Leads captured.", ("source", "quality"),
       spec=True),
    _m("business_appointments_scheduled_total", COUNTER, "Appointments (viewings) scheduled.",
       ("type", "source"), spec=True),
    _m("business_property_inquiry_value_euros", HISTOGRAM,
       "Value of the property asked about, in EUR.", unit="euros", buckets=EURO_BUCKETS,
       spec=True),
    _m("business_sales_pipeline", GAUGE, "Deals per sales pipeline stage.", ("stage",),
       spec=True),
    # --- Errors and resilience (from the user's other documents) ------------------
    _m("errors_total", COUNTER, "Errors logged by the app, by severity and service.",
       ("severity", "service"), label_values={"severity": SEVERITIES}),
    _m("http_request_duration_seconds", HISTOGRAM, "The app's HTTP request latency.",
       ("method", "endpoint", "status_code"), unit="seconds", buckets=LATENCY_BUCKETS),
    _m("circuit_breaker_state", GAUGE, "1 for the breaker's current state, 0 for the others.",
       ("breaker", "state"), label_values={"state": CIRCUIT_STATES}),
    _m("rate_limit_rejections_total", COUNTER, "Requests the app's own rate limiter refused.",
       ("limiter",)),
    _m("cache_requests_total", COUNTER, "Cache look-ups by result.", ("cache", "result"),
       label_values={"result": CACHE_RESULTS}),
    # --- The app's runtime, as it reports it (seed: heap, event-loop lag) ---------
    _m("app_heap_used_bytes", GAUGE, "Heap in use in the app process.", ("service",),
       unit="bytes"),
    _m("app_heap_total_bytes", GAUGE, "Heap reserved by the app process.", ("service",),
       unit="bytes"),
    _m("app_resident_memory_bytes", GAUGE, "Resident memory of the app process.", ("service",),
       unit="bytes"),
    _m("app_event_loop_lag_seconds", GAUGE, "Event-loop lag of the app process.", ("service",),
       unit="seconds"),
    # --- Host, from psutil --------------------------------------------------------
    _m("system_cpu_usage_ratio", GAUGE, "Host CPU in use (0-1), since the previous scrape.",
       unit="ratio", source="system"),
    _m("system_memory_total_bytes", GAUGE, "Host memory.", unit="bytes", source="system"),
    _m("system_memory_available_bytes", GAUGE, "Host memory available to new work.",
       unit="bytes", source="system"),
    _m("system_disk_total_bytes", GAUGE, "Size of the watched filesystem.", ("mountpoint",),
       unit="bytes", source="system"),
    _m("system_disk_free_bytes", GAUGE, "Free space on the watched filesystem.",
       ("mountpoint",), unit="bytes", source="system"),
    _m("system_load1", GAUGE, "Host 1-minute load average.", source="system"),
    # --- The exporter itself ------------------------------------------------------
    _m("exporter_build_info", GAUGE, "Always 1; labels carry the exporter's version.",
       ("version", "python_version"), source="self"),
    _m("exporter_redis_up", GAUGE, "1 when the exporter reached Redis at the last scrape.",
       source="self"),
    _m("exporter_queue_up", GAUGE, "1 when the queue's keys were read at the last scrape.",
       ("queue",), source="self"),
    _m("exporter_queues_discovered", GAUGE, "BullMQ queues the exporter watches.",
       source="self"),
    _m("exporter_queues_capped", GAUGE,
       "1 when discovery found more queues than ANCLORA_MAX_QUEUES and ignored the rest.",
       source="self"),
    _m("exporter_scrape_collector_duration_seconds", GAUGE,
       "Time each collector took at the last scrape.", ("collector",), unit="seconds",
       source="self"),
    _m("exporter_scrape_collector_success", GAUGE,
       "1 when the collector succeeded at the last scrape.", ("collector",), source="self"),
    _m("exporter_last_scrape_error_timestamp_seconds", GAUGE,
       "When a collector last failed (Unix time), per collector.", ("collector",),
       unit="seconds", source="self"),
    _m("exporter_label_overflow_total", COUNTER,
       "Updates whose labels were folded into 'other': a value refused as private or "
       "unsafe, past its label's value limit, or a label set past the series budget.",
       ("metric",), source="self"),
    _m("exporter_event_loop_lag_seconds", GAUGE, "The exporter's own event-loop lag.",
       unit="seconds", source="self"),
    _m("exporter_http_connections", GAUGE, "Connections open to the exporter's HTTP server.",
       source="self"),
    _m("exporter_http_connections_closed_total", COUNTER,
       "Connections the exporter closed to protect itself: request headers overdue "
       "(header_timeout) or a new connection admitted at the cap (connection_limit).",
       ("reason",), source="self", label_values={"reason": HTTP_CLOSE_REASONS}),
    _m("exporter_events_ingested_total", COUNTER, "Application events turned into metrics.",
       ("type",), source="self"),
    _m("exporter_events_rejected_total", COUNTER, "Application events refused, by reason.",
       ("reason",), source="self"),
    _m("exporter_webhook_duplicates_total", COUNTER,
       "Webhook items already counted (a platform retry, or another replica's copy).",
       ("source",), source="self", label_values={"source": WEBHOOK_SOURCES}),
    _m("exporter_webhook_ignored_total", COUNTER,
       "Webhook changes or events the exporter does not turn into metrics (unknown field "
       "or event), counted, never an error.", ("source", "reason"), source="self",
       label_values={"source": WEBHOOK_SOURCES}),
    _m("exporter_webhook_forwards_total", COUNTER,
       "Verified Meta webhooks forwarded to ANCLORA_META_FORWARD_URL, by result.",
       ("result",), source="self"),
    _m("exporter_stream_lag_entries", GAUGE,
       "Entries in a consumed stream not yet delivered to the exporter's group.", ("stream",),
       source="self"),
    _m("exporter_stream_pending_entries", GAUGE,
       "Entries delivered to the group but not yet acknowledged.", ("stream",), source="self"),
    _m("exporter_stream_gap_entries_total", COUNTER,
       "Entries trimmed from a stream before the exporter read them (lost to counting).",
       ("stream",), source="self"),
    _m("health_check_status", GAUGE,
       "Health check result: 1 healthy, 0.5 degraded, 0 unhealthy.", ("check",),
       source="self", label_values={"check": HEALTH_CHECKS}),
    _m("health_check_duration_seconds", GAUGE, "How long the health check took.", ("check",),
       unit="seconds", source="self", label_values={"check": HEALTH_CHECKS}),
)

BY_NAME: dict[str, MetricSpec] = {m.name: m for m in METRICS}


def get(name: str) -> MetricSpec:
    """The spec for ``name`` (without namespace); a KeyError names what is missing."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"metric {name!r} is not in the catalog (exporter/catalog.py)") from None


def series_names(spec: MetricSpec, namespace: str) -> list[str]:
    """Every sample name the metric produces in the exposition format."""
    base = spec.full_name(namespace)
    if spec.type == HISTOGRAM:
        return [f"{base}_bucket", f"{base}_sum", f"{base}_count"]
    return [base]


def as_json(namespace: str = "anclora") -> str:
    rows = []
    for m in METRICS:
        row = asdict(m)
        row["name"] = m.full_name(namespace)
        row["labels"] = list(m.labels)
        row["source"] = list(m.source)
        row["buckets"] = list(m.buckets)
        row["label_values"] = {k: list(v) for k, v in m.label_values.items()}
        rows.append(row)
    return json.dumps(rows, indent=2)


_SECTIONS = (
    ("Queue", ("queue_",)),
    ("BullMQ state", ("bullmq_",)),
    ("Analytics", ("analytics_",)),
    ("WhatsApp API", ("whatsapp_",)),
    ("Redis", ("redis_",)),
    ("Bot", ("bot_",)),
    ("Business", ("business_",)),
    ("Errors and resilience", ("errors_", "http_", "circuit_", "rate_limit_", "cache_")),
    ("Application runtime", ("app_",)),
    ("Host", ("system_",)),
    ("Exporter and health", ("exporter_", "health_")),
)


def _section(m: MetricSpec) -> str:
    for title, prefixes in _SECTIONS:
        if m.name.startswith(prefixes):
            return title
    raise ValueError(f"{m.name}: no section in catalog._SECTIONS")


def as_markdown(namespace: str = "anclora") -> str:
    """The metric reference (docs/metrics.md), generated; edit the catalog, not the file."""
    out = ["# Metric reference", "",
           "Generated by `python -m exporter catalog --markdown` from `exporter/catalog.py`;",
           "do not edit by hand. Names marked * are the user's (SPEC.md) and never change.",
           "Sources: bullmq_state = read from Redis on each scrape; bullmq_events = counted",
           "from each queue's events stream; app = application events; webhooks = the WhatsApp",
           "platform's webhooks (Meta, Evolution); redis = Redis INFO;",
           "system = psutil; self = the exporter itself.", ""]
    groups: dict[str, list[MetricSpec]] = {}
    for m in METRICS:
        groups.setdefault(_section(m), []).append(m)
    for title, _ in _SECTIONS:
        if title not in groups:
            continue
        out += [f"## {title}", "", "| metric | type | labels | unit | source | help |",
                "|---|---|---|---|---|---|"]
        for m in groups[title]:
            star = " *" if m.spec else ""
            labels = ", ".join(f"`{lab}`" for lab in m.labels) or "-"
            out.append(f"| `{m.full_name(namespace)}`{star} | {m.type} | {labels} | "
                       f"{m.unit or '-'} | {', '.join(m.source)} | {m.help} |")
        out.append("")
    return "\n".join(out)


def validate(metrics: Iterable[MetricSpec] = METRICS) -> list[str]:
    """Convention problems in the catalog (empty when it is sound); a test asserts empty."""
    problems = []
    seen = set()
    for m in metrics:
        if m.name in seen:
            problems.append(f"{m.name}: declared twice")
        seen.add(m.name)
        if m.type not in (COUNTER, GAUGE, HISTOGRAM):
            problems.append(f"{m.name}: unknown type {m.type}")
        if (m.type == COUNTER) != m.name.endswith("_total"):
            problems.append(f"{m.name}: _total is for counters and only counters")
        if m.type == HISTOGRAM and not m.buckets:
            problems.append(f"{m.name}: histogram without buckets")
        if m.unit and not m.name.endswith(
                (f"_{m.unit}", f"_{m.unit}_total")):
            problems.append(f"{m.name}: unit {m.unit} not in the name")
        for s in m.source:
            if s not in SOURCES:
                problems.append(f"{m.name}: unknown source {s}")
        for lab in m.label_values:
            if lab not in m.labels:
                problems.append(f"{m.name}: label_values for undeclared label {lab}")
    return problems

"""Application events: the metrics only the app knows (see docs/events.md).

``install(exporter)`` adds POST /events and the events-stream consumer to an Exporter.
"""

from __future__ import annotations

from .core import Ingestor


def install(exporter) -> Ingestor:
    from .http import make_handler

    cfg = exporter.config
    ingestor = Ingestor(exporter.metrics, exporter.gauges)
    exporter.extra_routes.append(
        ("POST", "/events", make_handler(ingestor, cfg.auth_token, cfg.max_body_bytes,
                                              cfg.http_body_timeout)))
    if cfg.events_stream:
        exporter.background.append(stream_consumer(exporter, ingestor))
    return ingestor


def stream_consumer(exporter, ingestor: Ingestor, **overrides):
    """The consumer of ANCLORA_EVENTS_STREAM. It starts at the stream's beginning ("0"):
    the app may have written events before the exporter first started."""
    from ..streams import StreamConsumer
    from .stream import EventsHandler

    cfg = exporter.config
    stream = cfg.events_stream
    options = dict(start_id="0", count=500, decode=False,  # the handler takes bytes
                   # BLOCK must end well within the client's socket timeout.
                   block_ms=int(min(1000, cfg.redis_timeout * 500)),
                   claim_idle_ms=int(cfg.stream_claim_idle * 1000))
    options.update(overrides)
    return StreamConsumer(exporter.redis, lambda: [stream], cfg.consumer_group,
                          cfg.consumer_name, EventsHandler(ingestor), exporter.metrics,
                          stream_label=lambda key: stream, **options)

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
        ("POST", "/events", make_handler(ingestor, cfg.auth_token, cfg.max_body_bytes)))
    return ingestor

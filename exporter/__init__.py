"""Prometheus exporter for WhatsApp business bots: BullMQ, WhatsApp API, bot and business metrics.

Data flows one way: sources (Redis/BullMQ, app events, psutil) -> collectors/ and ingest/
-> the registry (metrics.py, built from catalog.py) -> /metrics (server.py).
"""

__version__ = "0.1.0"

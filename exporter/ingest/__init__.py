"""Application events: the metrics only the app knows (see docs/events.md).

``core.Ingestor`` checks and applies events; ``http`` serves POST /events and ``stream``
reads the events stream. The Exporter (app.py) builds and wires all three.
"""

"""What the exporter is told rather than reads: application events and platform webhooks.

Application events (docs/events.md): ``core.Ingestor`` checks and applies them; ``http``
serves POST /events and ``stream`` reads the events stream.

WhatsApp webhooks (docs/whatsapp.md): ``meta`` and ``evolution`` parse each platform's
payloads into ``webhook_facts``; ``webhooks.WebhookIntake`` counts them (``webhook_dedupe``
with the response time, ``webhook_state``, all keyed by ``webhook_keys``); ``webhook_http``
serves the endpoints, ``meta_forward`` forwards to the app, ``meta_graph`` polls the Graph
API; ``meta_codes`` is Meta's error code table. The Exporter (app.py) builds and wires all.
"""

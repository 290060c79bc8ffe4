"""The demo: the exporter with realistic WhatsApp-bot traffic behind it (``python -m
anclora_demo``). A tool, not part of the exporter: it needs the ``demo`` extra
(``pip install 'anclora-exporter[demo]'``) for the real ``bullmq`` client."""

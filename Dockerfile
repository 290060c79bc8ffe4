# The anclora exporter: slim, non-root, health-checked on /health/live. Only exporter/ is
# copied: the demo, the client SDK and the build tools never ship in this image.
FROM python:3.11-slim AS exporter

# MALLOC_MMAP_THRESHOLD_: buffers of 64 KiB and more go back to the system when freed
# (large event payloads left RSS high long after under glibc's adaptive threshold).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MALLOC_MMAP_THRESHOLD_=65536

WORKDIR /app
COPY pyproject.toml README.md ./
COPY exporter ./exporter
# The sentry extra: error tracking once ANCLORA_SENTRY_DSN is set (never imported without).
RUN pip install '.[sentry]' \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin anclora

USER 10001
EXPOSE 9464
# /health/live answers while the process serves; Redis trouble shows in /health, not here,
# so a Redis outage does not get the exporter restarted (it must keep reporting redis_up 0).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/health/live', timeout=2)"]

ENTRYPOINT ["python", "-m", "exporter"]
CMD ["serve"]

# The compose `demo` profile's traffic (`docker build --target demo`): the exporter image
# plus the demo and the client SDK, with the real BullMQ client.
FROM exporter AS demo
USER root
COPY anclora_client ./anclora_client
COPY anclora_demo ./anclora_demo
RUN pip install '.[demo]'
USER 10001
HEALTHCHECK NONE
ENTRYPOINT ["python", "-m", "anclora_demo"]
CMD ["--traffic-only"]

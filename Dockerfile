# The anclora exporter: slim, non-root, health-checked on /health/live.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY exporter ./exporter
RUN pip install . \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin anclora

USER 10001
EXPOSE 9464
# /health/live answers while the process serves; Redis trouble shows in /health, not here,
# so a Redis outage does not get the exporter restarted (it must keep reporting redis_up 0).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/health/live', timeout=2)"]

ENTRYPOINT ["python", "-m", "exporter"]
CMD ["serve"]

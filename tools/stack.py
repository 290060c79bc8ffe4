"""The stack's documentation for the build: `.env.example` and the compose file's
exporter environment (``python -m tools.build`` writes both).

``STACK_SETTINGS`` are the variables of docker-compose.monitoring.yml and
alertmanager/entrypoint.sh. The exporter never reads them; they are declared like its own
``SETTINGS`` so that `.env.example` documents every variable the bundle uses in one
generated file.
"""

from __future__ import annotations

from exporter.config import SETTINGS, Setting


def _text(raw: str) -> str:  # never parsed by the exporter: the stack reads these
    return raw.strip()


# Secrets are never values: they are paths to files (mounted as compose secrets), except
# the Grafana admin password, which has no default.
STACK_SETTINGS: tuple[Setting, ...] = (
    Setting("grafana_admin_user", "GRAFANA_ADMIN_USER", "admin", _text,
            "Grafana admin login, applied on Grafana's FIRST start only (see README)."),
    Setting("grafana_admin_password", "GRAFANA_ADMIN_PASSWORD", "", _text,
            "Grafana admin password, required (compose refuses to start without it); "
            "applied on first start only: later use `grafana cli admin reset-admin-password`.",
            secret=True),
    Setting("grafana_port", "GRAFANA_PORT", "3001", _text,
            "Host port of Grafana (published on all interfaces, the one UI meant for people)."),
    Setting("grafana_root_url", "GRAFANA_ROOT_URL", "http://localhost:3001", _text,
            "Public URL of Grafana: Grafana's root_url, and the base of every alert's "
            "dashboard_url (a Prometheus external label, read when the alert fires)."),
    Setting("runbook_base_url", "RUNBOOK_BASE_URL", "", _text,
            "Where your copy of docs/runbooks.md is published (its anchors are the alert "
            "names in lower case); empty: this project's runbooks on GitHub."),
    Setting("prometheus_port", "PROMETHEUS_PORT", "9090", _text,
            "Host port of Prometheus, bound to 127.0.0.1."),
    Setting("prometheus_retention", "PROMETHEUS_RETENTION", "15d", _text,
            "How long Prometheus keeps samples."),
    Setting("prometheus_cluster", "PROMETHEUS_CLUSTER", "anclora", _text,
            "`cluster` external label on every series and alert."),
    Setting("prometheus_env", "PROMETHEUS_ENV", "production", _text,
            "`env` external label on every series and alert."),
    Setting("alertmanager_port", "ALERTMANAGER_PORT", "9093", _text,
            "Host port of Alertmanager, bound to 127.0.0.1."),
    Setting("alertmanager_external_url", "ALERTMANAGER_EXTERNAL_URL", "http://localhost:9093", _text,
            "URL people reach Alertmanager at (silence links in notifications)."),
    Setting("alertmanager_smtp_smarthost", "ALERTMANAGER_SMTP_SMARTHOST", "smtp.example.com:587",
            _text, "SMTP server host:port for alert email."),
    Setting("alertmanager_smtp_from", "ALERTMANAGER_SMTP_FROM", "alertmanager@example.com", _text,
            "From address of alert email."),
    Setting("alertmanager_smtp_username", "ALERTMANAGER_SMTP_USERNAME", "", _text,
            "SMTP login; empty = no authentication."),
    Setting("alertmanager_smtp_require_tls", "ALERTMANAGER_SMTP_REQUIRE_TLS", "true", _text,
            "Require STARTTLS to the SMTP server (true/false)."),
    Setting("alertmanager_email_to", "ALERTMANAGER_EMAIL_TO", "oncall@example.com", _text,
            "Who receives critical and warning alert email."),
    Setting("alertmanager_slack_channel", "ALERTMANAGER_SLACK_CHANNEL", "#whatsapp-bot-alerts",
            _text, "Slack channel of warning, info and unrouted alerts."),
    Setting("alertmanager_slack_critical_channel", "ALERTMANAGER_SLACK_CRITICAL_CHANNEL",
            "#whatsapp-bot-critical", _text, "Slack channel of critical alerts."),
    Setting("alertmanager_slack_business_channel", "ALERTMANAGER_SLACK_BUSINESS_CHANNEL",
            "#whatsapp-bot-business", _text, "Slack channel of business alerts (category=business)."),
    Setting("slack_webhook_url_file", "SLACK_WEBHOOK_URL_FILE", "./secrets/slack_webhook_url", _text,
            "File holding the Slack incoming-webhook URL of the alert channels (not in git)."),
    Setting("slack_business_webhook_url_file", "SLACK_BUSINESS_WEBHOOK_URL_FILE",
            "./secrets/slack_business_webhook_url", _text,
            "File holding the Slack webhook URL of the business channel (not in git)."),
    Setting("smtp_password_file", "SMTP_PASSWORD_FILE", "./secrets/smtp_password", _text,
            "File holding the SMTP password (may be empty; not in git)."),
    Setting("pagerduty_routing_key_file", "PAGERDUTY_ROUTING_KEY_FILE",
            "./secrets/pagerduty_routing_key", _text,
            "File holding the PagerDuty Events API v2 routing key (not in git)."),
    Setting("deadmansswitch_webhook_url_file", "DEADMANSSWITCH_WEBHOOK_URL_FILE",
            "./secrets/deadmansswitch_url", _text,
            "File holding the dead man's switch ping URL that Watchdog reaches every minute, "
            "e.g. https://hc-ping.com/<uuid> (not in git; docs/alerting.md)."),
    Setting("stack_redis_url", "STACK_REDIS_URL", "redis://redis:6379/0", _text,
            "Redis the stack's exporter and redis-exporter read, as seen from a container "
            "(the `demo` profile's Redis is redis://redis:6379/0)."),
    Setting("exporter_port", "EXPORTER_PORT", "9464", _text,
            "Host port of the exporter (POST /events from your app), bound to 127.0.0.1."),
    Setting("loki_port", "LOKI_PORT", "3100", _text,
            "Host port of Loki, bound to 127.0.0.1."),
    Setting("app_log_dir", "APP_LOG_DIR", "./logs", _text,
            "Host directory with your app's JSON log files (*.log) for the log shipper."),
    Setting("prometheus_tag", "PROMETHEUS_TAG", "v2.55.1", _text, "prom/prometheus image tag."),
    Setting("alertmanager_tag", "ALERTMANAGER_TAG", "v0.27.0", _text, "prom/alertmanager image tag."),
    Setting("grafana_tag", "GRAFANA_TAG", "11.3.0", _text, "grafana/grafana image tag."),
    Setting("node_exporter_tag", "NODE_EXPORTER_TAG", "v1.8.2", _text, "prom/node-exporter image tag."),
    Setting("redis_exporter_tag", "REDIS_EXPORTER_TAG", "v1.62.0", _text,
            "oliver006/redis_exporter image tag."),
    Setting("loki_tag", "LOKI_TAG", "3.2.1", _text, "grafana/loki image tag."),
    Setting("alloy_tag", "ALLOY_TAG", "v1.4.2", _text, "grafana/alloy image tag."),
    Setting("promtail_tag", "PROMTAIL_TAG", "3.2.1", _text,
            "grafana/promtail image tag (profile `promtail`)."),
    Setting("redis_tag", "REDIS_TAG", "7.2.6-alpine", _text, "redis image tag (profile `demo`)."),
    Setting("exporter_tag", "EXPORTER_TAG", "0.1.0", _text,
            "Tag of the exporter image built from ./Dockerfile."),
)


def as_env_example() -> str:
    out = ["# Every variable the exporter reads, with its default. Copy to .env and edit.",
           "# Generated by `python -m tools.build` (make generate); the stack's own",
           "# variables (Grafana, Alertmanager receivers) follow the exporter's.", ""]
    sections = (((), SETTINGS),
                (("# --- the stack (docker-compose.monitoring.yml) ---", ""), STACK_SETTINGS))
    for header, settings in sections:
        out += header
        for s in settings:
            out += [f"# {s.doc}", f"{s.env}={s.default}", ""]
    return "\n".join(out)


# How the compose file's exporter service sets a few variables differently from .env:
# Redis as a container sees it, the listen address fixed by the port mapping, logs on stdout.
COMPOSE_FIXED = {"ANCLORA_REDIS_URL": "${STACK_REDIS_URL:-redis://redis:6379/0}",
                 "ANCLORA_LISTEN_ADDRESS": "0.0.0.0:9464", "ANCLORA_LOG_DIR": ""}


def as_compose_env(indent: str = "      ") -> str:
    """The exporter service's `environment:` entries: every setting, default from .env."""
    lines = []
    for s in SETTINGS:
        value = COMPOSE_FIXED.get(s.env, f"${{{s.env}:-{s.default}}}")
        lines.append(f'{indent}{s.env}: "{value}"')
    return "\n".join(lines)

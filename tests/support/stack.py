"""The stack's configs made runnable on loopback: render, point at local paths, shorten timings.

The repo's alertmanager.yml and prometheus.yml are the files compose mounts; tests never edit
them, they derive test copies here (container paths -> repo/temp paths, service names ->
127.0.0.1 ports, minutes -> seconds), so what is checked is what ships.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Mapping

import yaml

ROOT = Path(__file__).resolve().parents[2]
AM_DIR = ROOT / "alertmanager"
PROM_DIR = ROOT / "prometheus"
SECRETS = ("slack_webhook_url", "slack_business_webhook_url", "smtp_password",
           "pagerduty_routing_key", "deadmansswitch_url")
RECEIVERS = ("default", "critical-alerts", "warning-alerts", "info-alerts", "business-alerts",
             "deadmansswitch")
DEADMANSSWITCH_URL = "https://hc-ping.invalid/test-uuid"
# The labels alertmanager.yml routes on, and the receivers each pair must reach.
SEVERITIES = ("critical", "warning", "info")
CATEGORIES = ("queue", "analytics", "whatsapp", "redis", "system", "business", "exporter",
              "resilience", "monitoring")


def expected_receivers(severity: str, category: str, alertname: str = "Test") -> str:
    if alertname == "Watchdog":  # the dead man's switch only, whatever its labels
        return "deadmansswitch"
    by_severity = {"critical": "critical-alerts", "warning": "warning-alerts",
                   "info": "info-alerts"}.get(severity, "default")
    if category == "business":
        # The business channel always; a critical business alert pages as well, and a
        # warning one (NoConversionsToday) reaches on-call by Slack and email too.
        return {"critical": "business-alerts,critical-alerts",
                "warning": "business-alerts,warning-alerts"}.get(severity, "business-alerts")
    return by_severity

# What .env.example gives the entrypoint (the same defaults, read from the generated file).
def env_example() -> dict[str, str]:
    out = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            k, _, v = line.partition("=")
            out[k] = v
    return out


def render_alertmanager(out: Path, env: Mapping[str, str] | None = None) -> str:
    """Run alertmanager/entrypoint.sh in render-only mode; returns the rendered YAML text."""
    secret = out.parent / "deadmansswitch_url.secret"
    secret.write_text(DEADMANSSWITCH_URL)
    full = {**os.environ, **env_example(), "DEADMANSSWITCH_URL_SECRET": str(secret),
            **(env or {}), "RENDER_ONLY": "1"}
    subprocess.run(["sh", str(AM_DIR / "entrypoint.sh"), str(AM_DIR / "alertmanager.yml"),
                    str(out)], env=full, check=True, capture_output=True, text=True)
    return out.read_text()


def localize_alertmanager(text: str, secrets_dir: Path) -> str:
    """Container paths -> the repo's templates and files in ``secrets_dir``."""
    text = text.replace("/etc/alertmanager/templates", str(AM_DIR / "templates"))
    for name in SECRETS:
        text = text.replace(f"/run/secrets/{name}", str(secrets_dir / name))
    return text


def write_secrets(secrets_dir: Path, values: Mapping[str, str] | None = None) -> Path:
    secrets_dir.mkdir(parents=True, exist_ok=True)
    defaults = {"slack_webhook_url": "https://hooks.slack.invalid/ops",
                "slack_business_webhook_url": "https://hooks.slack.invalid/business",
                "smtp_password": "test-only", "pagerduty_routing_key": "test-only-key",
                "deadmansswitch_url": DEADMANSSWITCH_URL}
    for name in SECRETS:
        (secrets_dir / name).write_text({**defaults, **(values or {})}[name])
    return secrets_dir


def alertmanager_config(tmp: Path, env: Mapping[str, str] | None = None,
                        secrets: Mapping[str, str] | None = None) -> Path:
    """A checkable copy of the shipped alertmanager.yml under ``tmp``."""
    tmp.mkdir(parents=True, exist_ok=True)
    text = render_alertmanager(tmp / "rendered.yml", env)
    path = tmp / "alertmanager.yml"
    path.write_text(localize_alertmanager(text, write_secrets(tmp / "secrets", secrets)))
    return path


def fast_timings(cfg: dict[str, Any], wait: str = "1s", interval: str = "2s",
                 repeat: str = "1h") -> dict[str, Any]:
    """Every route's group_wait/group_interval shortened (repeat long: no duplicates)."""
    def walk(route: dict[str, Any]) -> None:
        for key, value in (("group_wait", wait), ("group_interval", interval),
                           ("repeat_interval", repeat)):
            if key in route or route is cfg["route"]:
                route[key] = value
        for child in route.get("routes", []):
            walk(child)
    walk(cfg["route"])
    return cfg


def prometheus_config(tmp: Path, rules_dir: Path, targets: Mapping[str, str] | None = None,
                      alertmanager: str | None = None, interval: str | None = None,
                      expand_external_labels: bool = False) -> Path:
    """A copy of the shipped prometheus.yml: rules from ``rules_dir``; each job in
    ``targets`` (job -> host:port) re-pointed, jobs not in it dropped when targets is given.
    External labels are cluster=test, env=test; or, with ``expand_external_labels``, the
    shipped ``${VAR}`` ones, for a Prometheus run as compose runs it (the feature flag and
    the variables in its environment)."""
    cfg = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    cfg["rule_files"] = [str(rules_dir / "*.yml")]
    if not expand_external_labels:
        cfg["global"]["external_labels"] = {"cluster": "test", "env": "test"}
    if interval:
        cfg["global"].update(scrape_interval=interval, evaluation_interval=interval,
                             scrape_timeout=interval)
    if targets is not None:
        jobs = []
        for job in cfg["scrape_configs"]:
            if job["job_name"] in targets:
                job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
                if interval:
                    job["scrape_timeout"] = interval
                jobs.append(job)
        cfg["scrape_configs"] = jobs
    if alertmanager:
        cfg["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [alertmanager]}]}]
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path

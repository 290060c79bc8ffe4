"""prometheus/prometheus.yml: valid for the real promtool, the six jobs the mixin expects;
the optional remote_write block that prometheus/entrypoint.sh adds (remote-write.yml)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from tests.support.stack import PROM_DIR, prometheus_config

pytestmark = pytest.mark.skipif(not shutil.which("promtool"),
                                reason="promtool missing (apt-get install prometheus)")

RULE = """groups:
  - name: smoke
    rules:
      - alert: Smoke
        expr: vector(1)
        labels: {severity: info, category: system, subject: smoke}
        annotations: {summary: s, description: d, runbook_url: r, dashboard_url: u}
"""


def test_shipped_config_shape():
    cfg = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    jobs = [j["job_name"] for j in cfg["scrape_configs"]]
    assert jobs == ["prometheus", "anclora-exporter", "node-exporter", "redis-exporter",
                    "alertmanager", "loki"]
    assert cfg["global"]["scrape_interval"] == "15s"
    assert cfg["global"]["evaluation_interval"] == "15s"
    assert set(cfg["global"]["external_labels"]) == {"cluster", "env", "replica", "grafana_url",
                                                     "runbook_base_url"}
    assert cfg["global"]["external_labels"]["replica"] == "${PROMETHEUS_REPLICA}"
    # The links' bases are for annotations only, and `replica` would make the two
    # replicas' copies of an alert two alerts: never alert labels.
    assert cfg["alerting"]["alert_relabel_configs"] == [
        {"action": "labeldrop", "regex": "grafana_url|runbook_base_url|replica"}]
    assert "remote_write" not in cfg  # off unless entrypoint.sh adds it
    assert cfg["rule_files"] == ["/etc/prometheus/alerts/*.yml"]
    assert cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"]


def test_promtool_check_config(tmp_path):
    rules = tmp_path / "alerts"
    rules.mkdir()
    (rules / "smoke.yml").write_text(RULE)
    # Only rule_files is re-pointed (the container path does not exist here).
    text = (PROM_DIR / "prometheus.yml").read_text().replace("/etc/prometheus/alerts", str(rules))
    (tmp_path / "prometheus.yml").write_text(text)
    r = subprocess.run(["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 1 rules found" in r.stdout


def test_promtool_check_test_copy(tmp_path):
    rules = tmp_path / "alerts"
    rules.mkdir()
    (rules / "smoke.yml").write_text(RULE)
    path = prometheus_config(tmp_path, rules, targets={"prometheus": "127.0.0.1:1"},
                             alertmanager="127.0.0.1:2", interval="1s")
    r = subprocess.run(["promtool", "check", "config", str(path)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def render(tmp_path, **env: str) -> subprocess.CompletedProcess:
    """prometheus/entrypoint.sh in render-only mode on a copy whose rules exist here."""
    rules = tmp_path / "alerts"
    rules.mkdir(exist_ok=True)
    (rules / "smoke.yml").write_text(RULE)
    conf = tmp_path / "etc"
    conf.mkdir(exist_ok=True)
    (conf / "prometheus.yml").write_text(
        (PROM_DIR / "prometheus.yml").read_text().replace("/etc/prometheus/alerts", str(rules)))
    (conf / "remote-write.yml").write_text((PROM_DIR / "remote-write.yml").read_text())
    base = {k: v for k, v in os.environ.items() if not k.startswith("PROMETHEUS_REMOTE_WRITE")}
    return subprocess.run(["sh", str(PROM_DIR / "entrypoint.sh"), str(conf / "prometheus.yml"),
                           str(tmp_path / "rendered.yml")], env={**base, **env, "RENDER_ONLY": "1"},
                          capture_output=True, text=True, timeout=30)


def test_remote_write_off_by_default(tmp_path):
    r = render(tmp_path)
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "rendered.yml").exists()  # Prometheus runs on prometheus.yml itself
    r = render(tmp_path, PROMETHEUS_REMOTE_WRITE_URL="")
    assert r.returncode == 0 and not (tmp_path / "rendered.yml").exists()


def test_remote_write_block_from_the_environment(tmp_path):
    url = "https://mimir.example.com/api/v1/push?a=1&b=2|x"
    r = render(tmp_path, PROMETHEUS_REMOTE_WRITE_URL=url,
               PROMETHEUS_REMOTE_WRITE_USERNAME="tenant-1")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "rendered.yml"
    assert out.stat().st_mode & 0o077 == 0  # a URL may carry a token
    cfg = yaml.safe_load(out.read_text())
    assert cfg["remote_write"] == [{"url": url, "basic_auth": {
        "username": "tenant-1", "password_file": "/run/secrets/remote_write_password"}}]
    # The rest is prometheus.yml unchanged.
    shipped = yaml.safe_load((tmp_path / "etc/prometheus.yml").read_text())
    assert {k: v for k, v in cfg.items() if k != "remote_write"} == shipped
    # The real promtool accepts it, the password file where compose mounts the secret.
    secret = tmp_path / "remote_write_password"
    secret.write_text("")
    out.write_text(out.read_text().replace("/run/secrets/remote_write_password", str(secret)))
    check = subprocess.run(["promtool", "check", "config", str(out)], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_remote_write_refuses_a_quote_that_would_break_the_yaml(tmp_path):
    r = render(tmp_path, PROMETHEUS_REMOTE_WRITE_URL="http://x/'y")
    assert r.returncode == 2
    assert "PROMETHEUS_REMOTE_WRITE_URL and _USERNAME must not contain a single quote" in r.stderr

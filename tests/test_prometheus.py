"""prometheus/prometheus.yml: valid for the real promtool, the six jobs the mixin expects."""

from __future__ import annotations

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
    assert set(cfg["global"]["external_labels"]) == {"cluster", "env", "grafana_url",
                                                     "runbook_base_url"}
    # The links' bases are for annotations only: never an alert label.
    assert cfg["alerting"]["alert_relabel_configs"] == [
        {"action": "labeldrop", "regex": "grafana_url|runbook_base_url"}]
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

"""Grafana provisioning, Loki and the log shippers: the contracts other parts rely on
(datasource uids the dashboards default to, the dashboards path compose mounts, the three
log labels, retention). No Grafana/Loki/Alloy binary here, so these are read, not run."""

from __future__ import annotations

import re

import yaml

from tests.support.stack import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.monitoring.yml").read_text())
LABELS = {"level", "component", "service"}


def test_datasources_have_the_dashboards_uids():
    doc = yaml.safe_load((ROOT / "grafana/provisioning/datasources/datasources.yml").read_text())
    by_uid = {d["uid"]: d for d in doc["datasources"]}
    assert set(by_uid) == {"prometheus", "prometheus-any", "alertmanager", "loki"}
    assert by_uid["prometheus"]["type"] == "prometheus" and by_uid["prometheus"]["isDefault"]
    assert by_uid["prometheus"]["url"] == "http://prometheus:9090"
    assert by_uid["prometheus-any"]["type"] == "prometheus"
    assert by_uid["alertmanager"]["type"] == "alertmanager"
    assert by_uid["loki"]["type"] == "loki" and by_uid["loki"]["url"] == "http://loki:3100"
    # Each URL's host is a compose service or a network alias of one (the replicas'
    # shared names, tests/test_compose.py::test_grafana_reaches_any_replica).
    names = set(COMPOSE["services"]) | {
        alias for svc in COMPOSE["services"].values() if isinstance(svc["networks"], dict)
        for alias in (svc["networks"]["monitoring"] or {}).get("aliases", [])}
    for d in doc["datasources"]:
        assert re.match(r"http://([a-z-]+):", d["url"]).group(1) in names


def test_dashboards_provider_reads_the_mounted_dashboards():
    doc = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/dashboards.yml").read_text())
    (provider,) = doc["providers"]
    path = provider["options"]["path"]
    assert "./dashboards:" + path + ":ro" in COMPOSE["services"]["grafana"]["volumes"]
    assert provider["folder"] and provider["disableDeletion"] is True


def test_grafana_has_no_default_password():
    env = COMPOSE["services"]["grafana"]["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    for path in (ROOT / "grafana").rglob("*"):
        if path.is_file():
            assert "admin_password" not in path.read_text()


def test_loki_retention_and_compactor():
    cfg = yaml.safe_load((ROOT / "loki/loki.yml").read_text())
    assert cfg["limits_config"]["retention_period"] == "336h"
    assert cfg["compactor"]["retention_enabled"] is True
    assert cfg["schema_config"]["configs"][0]["store"] == "tsdb"
    assert cfg["server"]["http_listen_port"] == 3100


def test_alloy_promotes_only_three_labels():
    text = (ROOT / "alloy/config.alloy").read_text()
    labels = re.search(r"stage\.labels \{\s*values = \{([^}]*)\}", text).group(1)
    assert set(re.findall(r"(\w+) = \"\"", labels)) == LABELS
    keep = re.search(r"stage\.label_keep \{\s*values = \[([^\]]*)\]", text).group(1)
    assert set(re.findall(r'"(\w+)"', keep)) == LABELS
    assert 'url = "http://loki:3100/loki/api/v1/push"' in text
    # Braces balance: a cheap syntax check without the alloy binary.
    assert text.count("{") == text.count("}")


def test_promtail_promotes_only_three_labels():
    cfg = yaml.safe_load((ROOT / "promtail/promtail.yml").read_text())
    assert cfg["clients"][0]["url"] == "http://loki:3100/loki/api/v1/push"
    for job in cfg["scrape_configs"]:
        stages = job["pipeline_stages"]
        labels = next(s["labels"] for s in stages if "labels" in s)
        assert set(labels) == LABELS
        assert any("labeldrop" in s for s in stages)
    assert COMPOSE["services"]["promtail"]["profiles"] == ["promtail"]

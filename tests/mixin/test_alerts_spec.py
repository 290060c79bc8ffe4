"""The alerts match the user's matrix (SPEC.md, copied here as a literal table so CI does not
depend on ../shared), and every alert follows the conventions: labels, annotations, runbook
section, dashboard panel, config-driven expressions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.utils import floatToGoString

from exporter import catalog
from tools import mixin_build

ROOT = Path(__file__).resolve().parents[2]

# group, alert, condition as it must appear in the expression (regex on the expression with
# whitespace collapsed), for ("0" = instant), severity. Thresholds are the user's.
MATRIX = [
    ("queue", "CriticalQueueLatency", r"^histogram_quantile\(0\.99, .*\) > 1$", "2m", "critical"),
    ("queue", "CriticalQueueBacklog", r"waiting_messages.*\) > 50000$", "5m", "critical"),
    ("queue", "CriticalQueueErrorRate", r"failed_total.*\) > 0\.05 and on \(queue\)", "2m", "critical"),
    ("queue", "QueueProcessingStopped", r"waiting_messages.*\) > 0 unless on \(queue\)", "5m", "critical"),
    ("queue", "HighQueueLatency", r"^histogram_quantile\(0\.99, .*\) > 0\.5$", "5m", "warning"),
    ("queue", "HighQueueBacklog", r"waiting_messages.*\) > 10000$", "10m", "warning"),
    ("queue", "HighQueueErrorRate", r"failed_total.*\) > 0\.01 and on \(queue\)", "5m", "warning"),
    ("queue", "HighDLQMessages", r"dlq_messages.*\) > 1000$", "15m", "warning"),
    ("analytics", "CriticalDeliveryRate", r"delivered_total.*sent_total.*\) < 0\.5 and", "5m", "critical"),
    ("analytics", "LowDeliveryRate", r"delivered_total.*sent_total.*\) < 0\.8 and", "10m", "warning"),
    ("analytics", "HighResponseTime", r"^histogram_quantile\(0\.95, .*response_time.*\) > 300$", "10m", "warning"),
    ("analytics", "HighHandoffRate", r"handoffs_total.*\) > 0\.5$", "15m", "info"),
    ("whatsapp", "NoActiveInstances", r"active_instances.*\) < 1$", "2m", "critical"),
    ("whatsapp", "HighWhatsAppAPILatency", r"^histogram_quantile\(0\.95, .*api_latency.*\) > 2$", "5m", "warning"),
    ("whatsapp", "WhatsAppAPIErrors", r'status_code=~"5\.\.".*\) > 0\.1$', "5m", "warning"),
    ("whatsapp", "WhatsAppRateLimitHit", r"rate_limit_hits_total.*\) > 1$", "5m", "warning"),
    ("redis", "HighRedisLatency", r"^histogram_quantile\(0\.95, .*redis_operation_latency.*\) > 0\.01$", "5m", "warning"),
    ("redis", "RedisConnectionPoolExhausted", r"in_use.*connections_max.*\) >= 1$", "5m", "warning"),
    ("system", "CriticalMemoryUsage", r"heap_used_bytes.*\) > 1073741824$", "5m", "critical"),
    ("system", "HighMemoryUsage", r"heap_used_bytes.*\) > 805306368$", "10m", "warning"),
    ("system", "HighEventLoopLag", r"event_loop_lag_seconds.*\) > 0\.1$", "5m", "warning"),
    ("system", "HighCPUUsage", r"cpu_usage_ratio.*\) > 0\.8$", "10m", "warning"),
    ("business", "NoConversionsToday", r"conversions_total.*\) < 1 and", "6h", "warning"),
    ("business", "LowLeadCaptureRate", r"leads_captured_total.*\* 3600 < 0\.1 and", "2h", "info"),
    ("business", "HighValueSale", r'conversion_value_euros_bucket.*le="5e\+06"', "0", "info"),
]
USER_GROUPS = ("queue", "analytics", "whatsapp", "redis", "system", "business")
CATEGORIES = {"queue", "analytics", "whatsapp", "redis", "system", "business", "exporter",
              "resilience", "monitoring"}
SEVERITIES = {"critical", "warning", "info"}


def _groups() -> dict[str, list[dict]]:
    out = {}
    for path in sorted((ROOT / "alerts").glob("*.yml")):
        for g in yaml.safe_load(path.read_text())["groups"]:
            assert path.stem == g["name"] or path.name == "recording-rules.yml", path
            out[g["name"]] = g["rules"]
    return out


def _alerts() -> list[tuple[str, dict]]:
    return [(g, r) for g, rules in _groups().items() for r in rules if "alert" in r]


def _flat(expr: str) -> str:
    return re.sub(r"\(\s+", "(", re.sub(r"\s+\)", ")", re.sub(r"\s+", " ", expr))).strip()


def test_matrix_has_25_rows():
    assert len(MATRIX) == 25 and len({row[1] for row in MATRIX}) == 25


@pytest.mark.parametrize("group,name,condition,for_,severity", MATRIX, ids=[r[1] for r in MATRIX])
def test_matrix_row(group, name, condition, for_, severity):
    rules = {r["alert"]: r for r in _groups()[group] if "alert" in r}
    assert name in rules, f"{name} missing from alerts/{group}.yml"
    rule = rules[name]
    assert rule.get("for", "0") == for_
    assert rule["labels"]["severity"] == severity
    assert re.search(condition, _flat(rule["expr"])), _flat(rule["expr"])


def test_the_users_count_of_29_holds():
    """29 alerts (25 from the matrix plus ours) outside the SLO groups, in the user's
    six groups plus `exporter`."""
    plain = [r for g, r in _alerts() if not g.startswith("slo-")]
    assert len(plain) >= 29
    assert set(USER_GROUPS) <= set(_groups())


def test_alert_names_are_unique():
    names = [r["alert"] for _, r in _alerts()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("group,rule", _alerts(), ids=[r["alert"] for _, r in _alerts()])
def test_alert_conventions(group, rule):
    # subject/depends_on feed Alertmanager's inhibition (tests/test_alert_contract.py)
    assert set(rule["labels"]) - {"depends_on"} == {"severity", "category", "subject"}
    # Watchdog alone is severity "none" (kube-prometheus): routed to the dead man's switch.
    assert rule["labels"]["severity"] in (SEVERITIES if rule["alert"] != "Watchdog" else {"none"})
    assert rule["labels"]["category"] in CATEGORIES
    ann = rule["annotations"]
    assert set(ann) == {"summary", "description", "runbook_url", "dashboard_url"}
    # $value is always shown in human units
    for m in re.finditer(r"\{\{[^}]*\$value[^}]*\}\}", ann["description"]):
        assert re.search(r"humanize|printf", m.group(0)), m.group(0)
    # runbook: a section of docs/runbooks.md named after the alert
    anchor = ann["runbook_url"].rsplit("#", 1)[1]
    assert anchor == rule["alert"].lower()
    headings = re.findall(r"^## (\S+)$", (ROOT / "docs/runbooks.md").read_text(), re.M)
    assert rule["alert"] in headings, "no runbook section"
    # dashboard: an existing dashboard and panel
    m = re.search(r"/d/([^?]+)\?viewPanel=(\d+)", ann["dashboard_url"])
    dashboards = {d["uid"]: d for d in
                  (json.loads(p.read_text()) for p in (ROOT / "dashboards").glob("*.json"))}
    assert m and m.group(1) in dashboards
    assert int(m.group(2)) in {p["id"] for p in dashboards[m.group(1)]["panels"]}


def test_every_runbook_section_is_an_alert():
    headings = re.findall(r"^## (\S+)$", (ROOT / "docs/runbooks.md").read_text(), re.M)
    assert sorted(headings) == sorted(r["alert"] for _, r in _alerts())


def test_sources_carry_no_job_names():
    """Selectors come from config.libsonnet only."""
    for path in (ROOT / "mixin").rglob("*.libsonnet"):
        if path.name != "config.libsonnet":
            assert "job=" not in path.read_text(), path


def test_high_value_sale_threshold_is_a_bucket_spelled_as_the_exporter_does():
    cfg = mixin_build.evaluate(ROOT, "config")
    buckets = catalog.get("analytics_conversion_value_euros").buckets
    assert cfg["highValueSaleEuros"] in buckets
    assert cfg["highValueSaleLe"] == floatToGoString(cfg["highValueSaleEuros"])


def test_slo_burn_windows_follow_the_sre_workbook():
    cfg = mixin_build.evaluate(ROOT, "config")
    assert [(w["long"], w["short"], w["burn"], w["severity"]) for w in cfg["sloWindows"]] == [
        ("1h", "5m", 14.4, "critical"), ("6h", "30m", 6, "critical"),
        ("1d", "2h", 3, "warning"), ("3d", "6h", 1, "warning")]


def test_an_importer_overrides_config_everywhere():
    """README's import example: a `_config+::` override reaches every alert and dashboard."""
    import _jsonnet

    out = json.loads(_jsonnet.evaluate_snippet("x", """
        local anclora = (import 'mixin/mixin.libsonnet') + {
          _config+:: { exporterSelector: 'job="bot-exporter"', queueBacklogWarning: 5000,
                       grafanaUrl: 'https://grafana.example.com' },
        };
        { alerts: anclora.prometheusAlerts, rules: anclora.prometheusRules,
          dashboards: anclora.grafanaDashboards }
    """, jpathdir=[str(ROOT)]))
    text = json.dumps(out)
    assert 'anclora-exporter' not in text and 'job=\\"bot-exporter\\"' in text
    rules = {r["alert"]: r for g in out["alerts"]["groups"] for r in g["rules"]}
    assert rules["HighQueueBacklog"]["expr"].rstrip().endswith("> 5000")
    # The importer's Grafana URL is the links' fallback (see docs/mixin.md).
    assert rules["HighQueueBacklog"]["annotations"]["dashboard_url"].startswith(
        "{{ with $externalLabels.grafana_url }}{{ . }}{{ else }}"
        "https://grafana.example.com{{ end }}/d/")

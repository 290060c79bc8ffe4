"""Lint of the generated dashboards (and the metric names of the alerts): provisioning-safe,
queries that parse and name only metrics that exist, a clean 24-column grid, units, and the
user's exact Queue and Analytics panels."""

from __future__ import annotations

import json
import re
from pathlib import Path

import promql_parser
import pytest
import yaml

from exporter import catalog
from tools import mixin_build

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "dashboards").glob("*.json"))

# Metrics we read from other exporters (documented in docs/dashboards.md).
NODE_EXPORTER = {"node_cpu_seconds_total"}
# Read by alerts only (mixin/alerts/system.libsonnet, monitoring.libsonnet).
NODE_EXPORTER |= {"node_filesystem_avail_bytes", "node_filesystem_size_bytes",
                  "node_filesystem_readonly"}
REDIS_EXPORTER = {"redis_up", "redis_uptime_in_seconds", "redis_connected_clients",
                  "redis_memory_used_bytes", "redis_commands_processed_total",
                  "redis_keyspace_hits_total", "redis_keyspace_misses_total"}
PROMETHEUS = {"up", "ALERTS"}                          # Prometheus' own series
# Read by alerts only (mixin/alerts/monitoring.libsonnet): Prometheus' and Alertmanager's own.
PROMETHEUS |= {"prometheus_rule_evaluation_failures_total",
               "alertmanager_notifications_failed_total", "alertmanager_notifications_total"}
CLIENT_PYTHON = {"process_resident_memory_bytes"}      # the exporter's ProcessCollector

SPEC_QUEUE = ["Throughput", "Processing latency p95", "Queue depth", "Success vs failed",
              "Error rate", "Processing duration", "Bulk operations", "DLQ messages",
              "Average processing time", "Total messages today"]
SPEC_ANALYTICS = ["Message flow (sent, delivered, read)", "Delivery rate", "Read rate",
                  "Active conversations", "Average response time", "Conversions by type",
                  "Conversion value", "Handoffs", "Response time", "Today's conversions",
                  "Today's revenue", "Leads captured today", "Appointments today"]

# Pure layout: a row only groups panels and shows nothing of its own.
LAYOUT_PANELS = {"row"}

# Grafana's variables, replaced by something PromQL accepts before parsing.
GRAFANA_RANGES = {"$__rate_interval": "5m", "$__range": "1d", "$__interval": "1m"}


def _known_metrics() -> set[str]:
    names = {n for m in catalog.METRICS for n in catalog.series_names(m, "anclora")}
    recorded = yaml.safe_load((ROOT / "alerts/recording-rules.yml").read_text())
    names |= {r["record"] for g in recorded["groups"] for r in g["rules"]}
    return names | NODE_EXPORTER | REDIS_EXPORTER | PROMETHEUS | CLIENT_PYTHON


def _dashboards() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in DASHBOARDS}


def _targets(d: dict):
    for p in d["panels"]:
        for t in p.get("targets", []):
            yield p, t


def _parse_promql(expr: str):
    for var, value in GRAFANA_RANGES.items():
        expr = expr.replace(var, value)
    expr = re.sub(r"\$\{?(\w+)\}?", r"\1", expr)  # $queue in a label regex
    return promql_parser.parse(expr)


def _metric_names(ast) -> set[str]:
    names = set()

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            names.add(node.name)
    promql_parser.walk(ast, visit)
    return names


def test_the_expected_dashboards_exist():
    assert {p.stem for p in DASHBOARDS} == {
        "overview", "queue", "bullmq", "analytics", "whatsapp", "redis", "system", "business",
        "errors", "logs"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_provisioning_safe(path):
    text = path.read_text()
    d = json.loads(text)
    assert d["id"] is None
    assert 0 < len(d["uid"]) <= 40
    assert d["schemaVersion"] >= 39
    assert "__inputs" not in d and "${DS_" not in text
    variables = {v["name"]: v for v in d["templating"]["list"]}
    cfg = mixin_build.evaluate(ROOT, "config")
    ds_var = "loki" if path.stem == "logs" else "datasource"
    assert variables[ds_var]["type"] == "datasource"
    assert variables[ds_var]["current"]["value"] == cfg["datasources"][ds_var if ds_var == "loki" else "prometheus"]
    for p in d["panels"]:  # every data source is a variable, never a name or fixed uid
        for ds in [p.get("datasource")] + [t.get("datasource") for t in p.get("targets", [])]:
            assert ds is None or ds["uid"] in ("${datasource}", "${loki}"), (p["title"], ds)
    assert any(link.get("tags") == [cfg["dashboardTags"][0]] for link in d["links"])


def test_uids_are_unique():
    uids = [d["uid"] for d in _dashboards().values()]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_grid_titles_units(path):
    d = json.loads(path.read_text())
    cells: dict[tuple[int, int], str] = {}
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    for p in d["panels"]:
        assert p["title"].strip(), p
        g = p["gridPos"]
        assert g["x"] >= 0 and g["y"] >= 0 and g["w"] > 0 and g["h"] > 0
        assert g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = p["title"]
        if p["type"] not in ("text", "logs", *LAYOUT_PANELS):
            assert p["fieldConfig"]["defaults"].get("unit"), f"{p['title']}: no unit"


@pytest.mark.parametrize("path", [p for p in DASHBOARDS if p.stem != "logs"], ids=lambda p: p.stem)
def test_promql_targets_parse_and_name_known_metrics(path):
    known = _known_metrics()
    d = json.loads(path.read_text())
    for panel, t in _targets(d):
        ast = _parse_promql(t["expr"])
        names = _metric_names(ast)
        assert names, f"{panel['title']}: no metric in {t['expr']}"
        assert names <= known, f"{panel['title']}: unknown metrics {names - known}"
        # rates follow Grafana's interval; several replicas add up
        for window in re.findall(r"\b(?:rate|irate)\([^\[]*\[([^\]]+)\]", t["expr"]):
            assert window in ("$__rate_interval", "$__range"), (panel["title"], window)
        assert re.search(r"\b(sum|max|min|avg|count)\b", t["expr"]), (panel["title"], t["expr"])


def test_logql_targets():
    """LogQL has no parser here: the stream selector from config plus the component,
    balanced brackets, JSON parsing with errors dropped. Which labels the selector may use
    (those Alloy and Promtail keep) is tests/test_log_shipping.py's."""
    d = _dashboards()["logs"]
    cfg = mixin_build.evaluate(ROOT, "config")
    targets = list(_targets(d))
    assert len(targets) == 3
    for panel, t in targets:
        expr = t["expr"]
        assert '{%s, component=~"$component"} | json | __error__=""' % cfg["lokiSelector"] in expr
        for a, b in ("()", "{}", "[]"):
            assert expr.count(a) == expr.count(b), (panel["title"], expr)
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert cfg["lokiSelector"] == 'service=~"$service"'
    assert variables["service"]["allValue"] == ".+"  # `.*` would match the empty string
    assert variables["component"]["allValue"] == ".*"


def test_alert_and_recording_expressions_name_known_metrics():
    known = _known_metrics()
    for path in (ROOT / "alerts").glob("*.yml"):
        for g in yaml.safe_load(path.read_text())["groups"]:
            for r in g["rules"]:
                names = _metric_names(promql_parser.parse(r["expr"]))
                assert names <= known, (r.get("alert") or r.get("record"), names - known)


def test_queue_dashboard_is_the_users():
    d = _dashboards()["queue"]
    assert [p["title"] for p in d["panels"]] == SPEC_QUEUE
    assert d["refresh"] == "10s"
    assert {"queue", "instance"} <= {v["name"] for v in d["templating"]["list"]}
    types = {p["title"]: p["type"] for p in d["panels"]}
    assert types["Processing duration"] == "heatmap"
    assert [t for t in types.values()].count("stat") == 4


def test_analytics_dashboard_is_the_users():
    d = _dashboards()["analytics"]
    assert [p["title"] for p in d["panels"]] == SPEC_ANALYTICS
    types = {p["title"]: p["type"] for p in d["panels"]}
    assert types["Delivery rate"] == types["Read rate"] == "gauge"
    assert types["Response time"] == "heatmap"
    units = {p["title"]: p["fieldConfig"]["defaults"]["unit"] for p in d["panels"]}
    assert units["Today's revenue"] == units["Conversion value"] == "currencyEUR"
    today = [p for p in d["panels"] if "today" in p["title"].lower()]
    assert len(today) == 4 and all(p.get("timeFrom") == "now/d" for p in today)


def test_overview_links_every_dashboard():
    d = _dashboards()
    text = next(p for p in d["overview"]["panels"] if p["type"] == "text")["options"]["content"]
    for key, other in d.items():
        if key != "overview":
            assert f"/d/{other['uid']}" in text


def test_redis_dashboard_falls_back_to_the_exporters_own_redis_metrics():
    """Without redis-exporter the Redis dashboard went blank, though the exporter reads
    INFO itself: each server figure it also publishes is redis_exporter's `or` its own."""
    own = {"Uptime": "anclora_redis_uptime_seconds",
           "Connected clients": "anclora_redis_connected_clients",
           "Memory used": "anclora_redis_used_memory_bytes"}
    panels = {p["title"]: p for p in _dashboards()["redis"]["panels"]}
    for title, metric in own.items():
        (target,) = panels[title]["targets"]
        names = _metric_names(_parse_promql(target["expr"]))
        assert metric in names and any(n.startswith("redis_") for n in names), (title, names)
        assert " or " in target["expr"], title


def test_bullmq_state_is_on_a_dashboard():
    """The BullMQ state the exporter reads from Redis was on no dashboard."""
    used = set()
    for name, d in _dashboards().items():
        if name == "logs":  # LogQL, not PromQL
            continue
        for _, t in _targets(d):
            if "expr" in t:
                used |= _metric_names(_parse_promql(t["expr"]))
    assert {"anclora_bullmq_jobs", "anclora_bullmq_oldest_waiting_job_age_seconds",
            "anclora_bullmq_queue_paused"} <= used



def test_every_panel_has_a_description():
    """The issue counted 49 of 78 panels without a description (45 of 86 once the BullMQ
    dashboard came): on-call had the title alone to learn what a panel shows, in which
    unit, from which source and where its alert fires. The panel helpers now require one."""
    missing = [f"{name}: {p['title']}" for name, d in _dashboards().items()
               for p in d["panels"]
               if p["type"] not in LAYOUT_PANELS and not p.get("description", "").strip()]
    assert not missing, f"{len(missing)} panels without a description:\n" + "\n".join(missing)


def test_the_panel_an_alert_links_to_names_the_alert():
    """An alert's dashboard_url opens one panel (viewPanel): on-call arriving from the page
    reads there which alert watches that signal, and at which threshold. 20 of the 50
    alerts landed on a panel that never named them."""
    panels = {(d["uid"], p["id"]): p for d in _dashboards().values() for p in d["panels"]}
    unnamed = []
    for path in sorted((ROOT / "alerts").glob("*.yml")):
        for g in yaml.safe_load(path.read_text())["groups"]:
            for r in g["rules"]:
                if "alert" not in r:
                    continue
                uid, panel = re.search(r"/d/([^?]+)\?viewPanel=(\d+)",
                                       r["annotations"]["dashboard_url"]).groups()
                p = panels[(uid, int(panel))]
                if not re.search(rf"\b{r['alert']}\b", p.get("description", "")):
                    unnamed.append(f"{r['alert']} -> {uid}: {p['title']}")
    assert not unnamed, "panels that do not name the alert linking to them:\n" + "\n".join(unnamed)


def test_meta_error_code_meanings_are_the_catalogs_codes():
    """One meaning per code the exporter can put in `error_code` (catalog order), none
    empty: a code without one would show bare in the legends and the table."""
    meanings = json.loads((ROOT / "mixin/lib/meta_error_codes.json").read_text())
    assert list(meanings) == list(catalog.META_ERROR_CODES)
    assert all(m.strip() for m in meanings.values())


def test_failures_by_error_code_show_each_codes_meaning():
    """Issue 12: failures by Meta error code with the code's meaning, in the legend (a
    display name per series) and in the range table (a value mapping of its column)."""
    MEANINGS = json.loads((ROOT / "mixin/lib/meta_error_codes.json").read_text())

    panels = {p["title"]: p for p in _dashboards()["whatsapp"]["panels"]}
    series = panels["Failures by error code"]
    assert series["targets"][0]["legendFormat"] == "{{error_code}}"
    names = {o["matcher"]["options"]: o["properties"][0]["value"]
             for o in series["fieldConfig"]["overrides"]}
    assert names == {code: f"{code} {meaning}" for code, meaning in MEANINGS.items()}
    assert names["131026"].startswith("131026 Message undeliverable")

    table = panels["Failures by error code (range)"]
    (column,) = [o for o in table["fieldConfig"]["overrides"]
                 if o["matcher"]["options"] == "error_code"]
    (mappings,) = [p["value"] for p in column["properties"] if p["id"] == "mappings"]
    assert {k: v["text"] for k, v in mappings[0]["options"].items()} == names


# The operator's side of issue 12: the panels it asks for on the WhatsApp dashboard.
WEBHOOK_PANELS = ["Delivery funnel", "Delivery and read ratios", "Failures by error code",
                  "Failures by error code (range)", "Estimated cost today",
                  "Estimated cost this month", "Quality rating", "Messaging limit",
                  "Flagged numbers", "Instance connection", "QR codes requested",
                  "Template status", "Webhook intake"]


def test_whatsapp_dashboard_has_the_webhook_panels():
    panels = {p["title"]: p for p in _dashboards()["whatsapp"]["panels"]}
    assert set(WEBHOOK_PANELS) <= set(panels)
    assert panels["Estimated cost today"]["timeFrom"] == "now/d"
    assert panels["Estimated cost this month"]["timeFrom"] == "now/M"
    assert {panels[t]["fieldConfig"]["defaults"]["unit"]
            for t in ("Estimated cost today", "Estimated cost this month")} == {"currencyEUR"}
    assert panels["Template status"]["type"] == "table"
    assert panels["Instance connection"]["type"] == panels["Quality rating"]["type"] == "state-timeline"


"""The label contract between the alert rules and alertmanager.yml, checked on every rule file:
the generated alerts/*.yml (when present) and the end-to-end test's own rules.

Routing needs `severity` and `category`; inhibition needs a non-empty `subject` shared by a
critical/warning/info family, and `depends_on` (exporter | redis) on alerts that read the
exporter's data, with critical sources `subject="exporter-up"` and `subject="redis-up"`.
Templates need the four annotations."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.support.stack import (CATEGORIES, ROOT, SEVERITIES, alertmanager_config,
                                 expected_receivers, prometheus_config)

SETS = {"generated": sorted((ROOT / "alerts").glob("*.yml")),
        "e2e": sorted((ROOT / "tests/e2e/rules").glob("*.yml"))}
ANNOTATIONS = {"summary", "description", "runbook_url", "dashboard_url"}


def alerts(files):
    for path in files:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    yield path.name, rule


@pytest.fixture(params=sorted(SETS))
def rule_set(request):
    files = SETS[request.param]
    if not files:
        pytest.skip(f"no {request.param} alert files yet")
    return request.param, files


def test_every_alert_carries_the_contract(rule_set):
    _, files = rule_set
    problems = []
    for name, rule in alerts(files):
        labels, notes = rule.get("labels", {}), rule.get("annotations", {})
        where = f"{name}:{rule['alert']}"
        # Watchdog alone is severity "none" (kube-prometheus): it pages no one.
        allowed = ("none",) if rule["alert"] == "Watchdog" else SEVERITIES
        if labels.get("severity") not in allowed:
            problems.append(f"{where}: severity {labels.get('severity')!r}")
        if labels.get("category") not in CATEGORIES:
            problems.append(f"{where}: category {labels.get('category')!r}")
        if not labels.get("subject"):
            problems.append(f"{where}: no subject label")
        if labels.get("depends_on", "exporter") not in ("exporter", "redis"):
            problems.append(f"{where}: depends_on {labels['depends_on']!r}")
        if missing := ANNOTATIONS - set(notes):
            problems.append(f"{where}: missing annotations {sorted(missing)}")
    assert problems == []


def test_inhibition_sources_exist(rule_set):
    _, files = rule_set
    critical_subjects = {r["labels"]["subject"] for _, r in alerts(files)
                         if r["labels"].get("severity") == "critical"}
    assert {"exporter-up", "redis-up"} <= critical_subjects


def test_families_have_one_alert_per_severity(rule_set):
    _, files = rule_set
    seen: dict[tuple, str] = {}
    for _, rule in alerts(files):
        labels = rule["labels"]
        key = (labels.get("category"), labels.get("subject"), labels.get("severity"))
        assert key not in seen, f"{rule['alert']} and {seen[key]} share {key}: one would mute " \
                                f"the other's family unpredictably"
        seen[key] = rule["alert"]


@pytest.mark.skipif(not (shutil.which("promtool") and shutil.which("amtool")),
                    reason="promtool/amtool missing")
def test_rules_load_and_route(rule_set, tmp_path):
    _, files = rule_set
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    for f in files:
        shutil.copy(f, rules_dir / f.name)
    r = subprocess.run(["promtool", "check", "config",
                        str(prometheus_config(tmp_path, rules_dir))],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    am = alertmanager_config(tmp_path / "am")
    for _, rule in alerts(files):
        labels = rule["labels"]
        want = expected_receivers(labels["severity"], labels["category"], rule["alert"])
        args = [f"{k}={v}" for k, v in labels.items()] + [f"alertname={rule['alert']}"]
        r = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={am}",
                            f"--verify.receivers={want}", *args],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, f"{rule['alert']}: routed to {r.stdout.strip()}, want {want}"

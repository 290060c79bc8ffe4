"""The generated rule files: promtool accepts them, every alert is unit-tested both ways,
and the unit tests really bite (an alert that never fires, or fires without waiting its
`for`, makes its group's tests fail)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "alerts"
UNIT = Path(__file__).resolve().parent / "rules"
PROMTOOL = shutil.which("promtool")
# Skipped only on a machine without promtool; under CI (CI set) a missing promtool fails.
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None and not os.environ.get("CI"),
    reason="promtool not installed (Debian package `prometheus`; `make deps` and CI install it)")

RULE_FILES = sorted(ALERTS.glob("*.yml"))
ALERT_FILES = [p for p in RULE_FILES if p.name != "recording-rules.yml"]


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _alerts(path: Path) -> list[dict]:
    return [r for g in _load(path)["groups"] for r in g["rules"] if "alert" in r]


def _promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    assert PROMTOOL, "promtool is missing (CI is set, so this is an error, not a skip)"
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_every_alert_file_has_a_unit_test_file():
    assert RULE_FILES, "no alerts/*.yml: run `python -m tools.build`"
    assert sorted(p.name for p in UNIT.glob("*.yml")) == sorted(p.name for p in ALERT_FILES)


@pytest.mark.parametrize("path", ALERT_FILES, ids=lambda p: p.stem)
def test_every_alert_fires_and_stays_silent_in_its_unit_tests(path):
    """Each alert has at least one case expecting it and one expecting silence (Watchdog,
    always firing, is shown silent by the mutation test that makes it never fire)."""
    fired, silent = set(), set()
    for case in _load(UNIT / path.name)["tests"]:
        for t in case.get("alert_rule_test", []):
            (fired if t.get("exp_alerts") else silent).add(t["alertname"])
    names = {r["alert"] for r in _alerts(path)}
    assert names - fired == set(), "alerts never shown firing"
    assert names - silent - ALWAYS_FIRING == set(), "alerts never shown silent"


@needs_promtool
def test_promtool_check_rules():
    result = _promtool("check", "rules", "--lint=all", "--lint-fatal", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
@pytest.mark.parametrize("path", sorted(UNIT.glob("*.yml")), ids=lambda p: p.stem)
def test_promtool_unit_tests(path):
    result = _promtool("test", "rules", path.name, cwd=UNIT)
    assert result.returncode == 0, result.stdout + result.stderr


def _mutated_run(tmp_path: Path, group_file: Path, mutate) -> subprocess.CompletedProcess:
    """Run the group's unit tests against a copy of its rule file changed by `mutate`."""
    doc = _load(group_file)
    mutate(doc)
    (tmp_path / group_file.name).write_text(yaml.safe_dump(doc, sort_keys=False))
    test = _load(UNIT / group_file.name)
    test["rule_files"] = [str(tmp_path / group_file.name) if Path(f).name == group_file.name
                          else str((UNIT / f).resolve()) for f in test["rule_files"]]
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test, sort_keys=False))
    return _promtool("test", "rules", "test.yml", cwd=tmp_path)


def _alert_params():
    return [pytest.param(path, r["alert"], id=r["alert"]) for path in ALERT_FILES
            for r in _alerts(path)]


def _rule(doc: dict, name: str) -> dict:
    return next(r for g in doc["groups"] for r in g["rules"] if r.get("alert") == name)


@needs_promtool
@pytest.mark.parametrize("path,name", _alert_params())
def test_unit_tests_fail_when_the_alert_never_fires(tmp_path, path, name):
    def never(doc):
        _rule(doc, name)["expr"] = "vector(1) == 2"
    assert _mutated_run(tmp_path, path, never).returncode != 0


@needs_promtool
@pytest.mark.parametrize("path,name", [p for p in _alert_params()
                                       if "for" in _rule(_load(p.values[0]), p.values[1])])
def test_unit_tests_fail_when_the_alert_does_not_wait_its_for(tmp_path, path, name):
    def eager(doc):
        del _rule(doc, name)["for"]
    assert _mutated_run(tmp_path, path, eager).returncode != 0


# Each threshold moved just past the "just under the threshold" case of its unit tests:
# (config key, new value, group). With the moved threshold that case must fire, so the
# group's unit tests must fail; otherwise the case does not test the threshold.
THRESHOLD_MUTATIONS = [
    ("queueLatencyCriticalSeconds", 0.9, "queue"),
    ("queueLatencyWarningSeconds", 0.45, "queue"),
    ("queueBacklogCritical", 49998, "queue"),
    ("queueBacklogWarning", 9999, "queue"),
    ("queueErrorRatioCritical", 0.03, "queue"),
    ("queueErrorRatioWarning", 0.008, "queue"),
    ("dlqWarning", 999, "queue"),
    ("deliveryRatioCritical", 0.52, "analytics"),
    ("deliveryRatioWarning", 0.82, "analytics"),
    ("responseTimeWarningSeconds", 290, "analytics"),
    ("handoffRateInfo", 0.45, "analytics"),
    ("whatsappLatencyWarningSeconds", 1.9, "whatsapp"),
    ("whatsappErrorRateWarning", 0.08, "whatsapp"),
    ("whatsappRateLimitWarning", 0.85, "whatsapp"),
    ("redisLatencyWarningSeconds", 0.008, "redis"),
    ("redisPoolUsedRatio", 0.95, "redis"),
    ("heapCriticalBytes", 1073741823, "system"),
    ("heapWarningBytes", 805306367, "system"),
    ("eventLoopLagWarningSeconds", 0.09, "system"),
    ("cpuWarningRatio", 0.79, "system"),
    ("diskFreeRatioWarning", 0.25, "system"),
    ("diskUsageWarningRatio", 0.84, "system"),
    ("diskUsageCriticalRatio", 0.94, "system"),
    ("leadRateInfoPerHour", 3, "business"),
    ("rateLimitRejectionsRate", 0.08, "resilience"),
    ("httpErrorRatioWarning", 0.035, "resilience"),
    ("minHttpRate", 0.005, "resilience"),
    ("httpLatencyWarningSeconds", 0.95, "resilience"),
    ("errorsPerHourWarning", 4.5, "resilience"),
    ("errorsPerHourCritical", 19.5, "resilience"),
    ("notificationFailureRatio", 0.004, "monitoring"),
    ("eventsRejectedRate", 0.005, "exporter"),
    ("streamLagWarning", 600, "exporter"),
    ("queueSuccessTarget", 0.995, "slo-queue"),
    ("whatsappSuccessTarget", 0.999, "slo-whatsapp"),
]


@needs_promtool
@pytest.mark.parametrize("key,value,group", THRESHOLD_MUTATIONS, ids=[m[0] for m in THRESHOLD_MUTATIONS])
def test_unit_tests_fail_when_a_threshold_moves(tmp_path, key, value, group):
    import json

    import _jsonnet

    # Only the group under test is evaluated (jsonnet is lazy), and written by the same
    # YAML writer as alerts/*.yml: fast, and the real text promtool reads.
    text = json.loads(_jsonnet.evaluate_snippet("mutation", """
        local m = (import 'mixin/mixin.libsonnet') + { _config+:: { %s: %s } };
        (import 'mixin/lib/manifest.libsonnet').yaml(
          'mutated', { groups: [g for g in m.prometheusAlerts.groups if g.name == %s] })
    """ % (key, json.dumps(value), json.dumps(group)), jpathdir=[str(ROOT)]))
    mutated = yaml.safe_load(text)
    original = _load(ALERTS / f"{group}.yml")
    assert mutated != original, f"{key} does not change alerts/{group}.yml"

    def replace(doc):
        doc.clear()
        doc.update(mutated)
    assert _mutated_run(tmp_path, ALERTS / f"{group}.yml", replace).returncode != 0


IDLE = Path(__file__).resolve().parent / "idle.yml"
# Fires on an idle system too, by design: the dead man's switch (docs/alerting.md).
ALWAYS_FIRING = {"Watchdog"}
IDLE_HOURS = ("30m", "7h", "8h")  # past every `for`, the longest being 6h


def _idle_case(tmp_path: Path) -> Path:
    """idle.yml's input series, every rule file, and every alert expected silent (but
    Watchdog, expected firing)."""
    doc = _load(IDLE)
    doc["rule_files"] = [str(p) for p in RULE_FILES]
    doc["tests"][0]["alert_rule_test"] = [
        {"eval_time": t, "alertname": r["alert"],
         "exp_alerts": [] if r["alert"] not in ALWAYS_FIRING else [
             {"exp_labels": r["labels"], "exp_annotations": r["annotations"]}]}
        for t in IDLE_HOURS for p in ALERT_FILES for r in _alerts(p)]
    (tmp_path / "idle.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return tmp_path / "idle.yml"


def test_idle_case_checks_every_alert_of_every_rule_file(tmp_path):
    doc = _load(_idle_case(tmp_path))
    assert doc["rule_files"] and {Path(f).name for f in doc["rule_files"]} == {
        p.name for p in ALERTS.glob("*.yml")}
    checked = {t["alertname"] for t in doc["tests"][0]["alert_rule_test"]}
    assert checked == {r["alert"] for p in ALERT_FILES for r in _alerts(p)} and len(checked) >= 37


@needs_promtool
def test_an_idle_system_raises_no_alert(tmp_path):
    result = _promtool("test", "rules", _idle_case(tmp_path).name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


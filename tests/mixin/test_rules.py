"""The generated rule files: promtool accepts them, every alert is unit-tested both ways,
and the unit tests really bite (an alert that never fires, or fires without waiting its
`for`, makes its group's tests fail)."""

from __future__ import annotations

import os
import re
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


def _alerts_of(doc: dict) -> list[dict]:
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def _alerts(path: Path) -> list[dict]:
    return _alerts_of(_load(path))


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


def _mutated_case(case_dir: Path, group_file: Path, mutate) -> Path:
    """The group's unit tests against a copy of its rule file changed by `mutate`, written
    in `case_dir`; returns the test file. Only the test cases that check an alert the
    mutation changed are kept: the others cannot fail (alerts are evaluated independently)
    and would only cost time, run once per mutant."""
    case_dir.mkdir(parents=True)
    original = _load(group_file)
    doc = _load(group_file)
    mutate(doc)
    (case_dir / group_file.name).write_text(yaml.safe_dump(doc, sort_keys=False))
    changed = {r["alert"] for r in _alerts_of(doc) if r not in _alerts_of(original)}
    test = _load(UNIT / group_file.name)
    test["rule_files"] = [str(case_dir / group_file.name) if Path(f).name == group_file.name
                          else str((UNIT / f).resolve()) for f in test["rule_files"]]
    test["tests"] = [case for case in test["tests"]
                     if {t["alertname"] for t in case.get("alert_rule_test", [])} & changed]
    (case_dir / "test.yml").write_text(yaml.safe_dump(test, sort_keys=False))
    return case_dir / "test.yml"


def _failing(cases: dict[str, Path]) -> dict[str, bool]:
    """Run every case's test file in ONE promtool call (one run per case cost ~1 s each,
    over 100 cases); case -> True when its unit tests failed."""
    r = _promtool("test", "rules", *(str(p) for p in cases.values()))
    # promtool writes "Unit Testing:  <file>" for each file to stdout, followed by
    # "SUCCESS" when it passed; the details of a failure go to stderr.
    outcome = {}
    for block in re.split(r"^Unit Testing:\s+", r.stdout, flags=re.M)[1:]:
        name, _, rest = block.partition("\n")
        outcome[name.strip()] = "SUCCESS" not in rest
    missing = [c for c, p in cases.items() if str(p) not in outcome]
    assert not missing, (missing, r.stdout[-2000:], r.stderr[-2000:])
    return {case: outcome[str(p)] for case, p in cases.items()}


def _alert_params():
    return [pytest.param(path, r["alert"], id=r["alert"]) for path in ALERT_FILES
            for r in _alerts(path)]


def _rule(doc: dict, name: str) -> dict:
    return next(r for g in doc["groups"] for r in g["rules"] if r.get("alert") == name)


WAITING = [p for p in _alert_params() if "for" in _rule(_load(p.values[0]), p.values[1])]


@pytest.fixture(scope="module")
def mutants(tmp_path_factory):
    """Every alert made never to fire, and every alert with a `for:` made not to wait
    (its `for:` removed), each against its group's unit tests, all in one promtool run:
    ("never" | "eager", alert) -> whether the unit tests failed, as they must."""
    base = tmp_path_factory.mktemp("mutants")
    cases = {}
    for param in _alert_params():
        path, name = param.values

        def never(doc, name=name):
            _rule(doc, name)["expr"] = "vector(1) == 2"
        cases[("never", name)] = _mutated_case(base / "never" / name, path, never)
    for param in WAITING:
        path, name = param.values

        def eager(doc, name=name):
            del _rule(doc, name)["for"]
        cases[("eager", name)] = _mutated_case(base / "eager" / name, path, eager)
    return _failing(cases)


@needs_promtool
@pytest.mark.parametrize("path,name", _alert_params())
def test_unit_tests_fail_when_the_alert_never_fires(mutants, path, name):
    assert mutants[("never", name)]


@needs_promtool
@pytest.mark.parametrize("path,name", WAITING)
def test_unit_tests_fail_when_the_alert_does_not_wait_its_for(mutants, path, name):
    assert mutants[("eager", name)]


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
    ("whatsappDeliveryDropRatio", 0.87, "whatsapp-webhooks"),
    ("whatsappSpikeRatio", 0.035, "whatsapp-webhooks"),
    ("whatsappRateLimitAnyHits", -1, "whatsapp-webhooks"),
    ("webhookAuthFailureRate", -1, "whatsapp-webhooks"),
    ("webhookForwardFailureRatio", 0.7, "whatsapp-webhooks"),
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


@pytest.fixture(scope="module")
def threshold_mutants(tmp_path_factory):
    """Each threshold moved (THRESHOLD_MUTATIONS), its group rebuilt and run against the
    group's unit tests, all in one promtool run: key -> (the mutated group as YAML data,
    whether the unit tests failed)."""
    import json

    import _jsonnet

    base = tmp_path_factory.mktemp("thresholds")
    # One evaluation for all of them (the mixin is parsed once); per mutation only the
    # group under test is evaluated (jsonnet is lazy), written by the same YAML writer as
    # alerts/*.yml: the real text promtool reads.
    texts = json.loads(_jsonnet.evaluate_snippet("mutations", """
        local mixin = import 'mixin/mixin.libsonnet';
        local yaml = (import 'mixin/lib/manifest.libsonnet').yaml;
        local mutate(key, value, group) =
          local m = mixin + { _config+:: { [key]: value } };
          yaml('mutated', { groups: [g for g in m.prometheusAlerts.groups if g.name == group] });
        { [m[0]]: mutate(m[0], m[1], m[2]) for m in %s }
    """ % json.dumps(THRESHOLD_MUTATIONS), jpathdir=[str(ROOT)]))
    mutated, cases = {}, {}
    for key, value, group in THRESHOLD_MUTATIONS:
        mutated[key] = yaml.safe_load(texts[key])

        def replace(doc, new=mutated[key]):
            doc.clear()
            doc.update(new)
        cases[key] = _mutated_case(base / key, ALERTS / f"{group}.yml", replace)
    failed = _failing(cases)
    return {key: (mutated[key], failed[key]) for key in cases}


@needs_promtool
@pytest.mark.parametrize("key,value,group", THRESHOLD_MUTATIONS, ids=[m[0] for m in THRESHOLD_MUTATIONS])
def test_unit_tests_fail_when_a_threshold_moves(threshold_mutants, key, value, group):
    mutated, failed = threshold_mutants[key]
    assert mutated != _load(ALERTS / f"{group}.yml"), f"{key} does not change alerts/{group}.yml"
    assert failed, f"moving {key} to {value} leaves tests/mixin/rules/{group}.yml green"


IDLE = Path(__file__).resolve().parent / "idle.yml"
# Fires on an idle system too, by design: the dead man's switch (docs/alerting.md).
ALWAYS_FIRING = {"Watchdog"}
IDLE_HOURS = ("30m", "7h", "8h")  # past every `for`, the longest being 6h


def _without_external_labels(template: str) -> str:
    """An annotation as Prometheus renders it with no external labels: the links' deploy-
    time bases (``{{ with $externalLabels.x }}{{ . }}{{ else }}DEFAULT{{ end }}``) fall back."""
    return re.sub(r"\{\{ with \$externalLabels\.\w+ \}\}\{\{ \. \}\}\{\{ else \}\}(.*?)\{\{ end \}\}",
                  r"\1", template)


def _idle_case(tmp_path: Path) -> Path:
    """idle.yml's input series, every rule file, and every alert expected silent (but
    Watchdog, expected firing)."""
    doc = _load(IDLE)
    doc["rule_files"] = [str(p) for p in RULE_FILES]
    doc["tests"][0]["alert_rule_test"] = [
        {"eval_time": t, "alertname": r["alert"],
         "exp_alerts": [] if r["alert"] not in ALWAYS_FIRING else [
             {"exp_labels": r["labels"], "exp_annotations": {
                 k: _without_external_labels(v) for k, v in r["annotations"].items()}}]}
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


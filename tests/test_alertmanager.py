"""alertmanager/alertmanager.yml: valid for the real amtool, routes every severity x category
to the right receivers, meets the response targets, keeps secrets in files."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from tests.support.ha import ha_topology
from tests.support.stack import (AM_DIR, CATEGORIES, DEADMANSSWITCH_URL, RECEIVERS, ROOT,
                                 SEVERITIES, alertmanager_config, expected_receivers,
                                 render_alertmanager)

pytestmark = pytest.mark.skipif(not shutil.which("amtool"),
                                reason="amtool missing (apt-get install prometheus-alertmanager)")


@pytest.fixture(scope="module")
def am_config(tmp_path_factory):
    return alertmanager_config(tmp_path_factory.mktemp("am"))


@pytest.fixture(scope="module")
def cfg(am_config):
    return yaml.safe_load(am_config.read_text())


def amtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["amtool", *args], capture_output=True, text=True, timeout=30)


def test_check_config_passes(am_config):
    r = amtool("check-config", str(am_config))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "6 receivers" in r.stdout and "4 inhibit rules" in r.stdout
    assert "1 templates" in r.stdout


MATRIX = [(s, c) for s in SEVERITIES for c in CATEGORIES] + [
    ("", "queue"), ("page", "system"), ("critical", ""), ("warning", ""), ("", "")]


@pytest.mark.parametrize("severity,category", MATRIX)
def test_route(am_config, severity, category):
    want = expected_receivers(severity, category)
    labels = [f"alertname=Test", "cluster=anclora"]
    labels += [f"severity={severity}"] if severity else []
    labels += [f"category={category}"] if category else []
    r = amtool("config", "routes", "test", f"--config.file={am_config}",
               f"--verify.receivers={want}", *labels)
    assert r.returncode == 0, f"{labels}: got {r.stdout.strip()!r}, want {want!r}\n{r.stderr}"
    assert r.stdout.strip() == want


def test_route_tree_shape(am_config):
    r = amtool("config", "routes", f"--config.file={am_config}")
    assert r.returncode == 0, r.stderr
    for receiver in RECEIVERS:
        assert receiver in r.stdout


def _duration(text: str) -> int:
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(int(n) * seconds[u] for n, u in re.findall(r"(\d+)([smhd])", text))


def _routes(cfg):
    root = cfg["route"]
    for child in root["routes"]:
        yield {**{k: root[k] for k in ("group_wait", "group_interval", "repeat_interval")},
               **child}


def _route_for(cfg, matcher):
    return next(r for r in _routes(cfg) if r["matchers"] == [matcher])


def test_timings_meet_response_targets(cfg):
    crit = _route_for(cfg, 'severity="critical"')
    warn = _route_for(cfg, 'severity="warning"')
    info = _route_for(cfg, 'severity="info"')
    # Critical: the first page leaves well inside the 5-minute target (with a 2m `for`).
    assert _duration(crit["group_wait"]) <= 30 and _duration(crit["group_interval"]) <= 60
    assert _duration(crit["repeat_interval"]) <= 3600
    # Warning: seen within 30 minutes, reminded every few hours.
    assert _duration(warn["group_wait"]) + _duration(warn["group_interval"]) <= 30 * 60
    # Info: for the daily review; at most one reminder a day.
    assert _duration(info["repeat_interval"]) == 86400
    assert all(_duration(r["group_wait"]) >= 10 for r in (warn, info))


def test_group_interval_outlasts_the_cluster_wait(cfg):
    """With the `ha` profile, the n-th Alertmanager waits n x --cluster.peer-timeout before
    it notifies, and a group's next flush waits for that: every group_interval must be
    longer than the last member's wait, or a member's stale "firing" can follow another's
    "resolved" (tests/support/ha.py, HAStack)."""
    members = ha_topology().alertmanagers
    timeouts = {_duration(a.split("=", 1)[1]) for flags in members.values() for a in flags
                if a.startswith("--cluster.peer-timeout=")} or {15}  # Alertmanager's default
    last_wait = (len(members) - 1) * max(timeouts)
    assert len(members) == 3 and last_wait == 30
    for route in [cfg["route"], *_routes(cfg)]:
        assert _duration(route["group_interval"]) > last_wait, route


def test_receivers_have_the_right_integrations(cfg):
    kinds = {r["name"]: sorted(k for k in r if k.endswith("_configs")) for r in cfg["receivers"]}
    assert kinds == {
        "default": ["slack_configs"],
        "critical-alerts": ["email_configs", "pagerduty_configs", "slack_configs"],
        "warning-alerts": ["email_configs", "slack_configs"],
        "info-alerts": ["slack_configs"],
        "business-alerts": ["slack_configs"],
        "deadmansswitch": ["webhook_configs"],
    }
    for r in cfg["receivers"]:
        for kind in ("slack_configs", "email_configs", "pagerduty_configs"):
            for c in r.get(kind, []):
                assert c["send_resolved"] is True, (r["name"], kind)


def test_inhibition_rules(cfg):
    rules = cfg["inhibit_rules"]
    subject_eq = ["cluster", "category", "subject", "queue", "service", "instance",
                  "mountpoint"]
    assert rules[0] == {"source_matchers": ['severity="critical"', 'subject=~".+"'],
                        "target_matchers": ['severity=~"warning|info"'], "equal": subject_eq}
    assert rules[1] == {"source_matchers": ['severity="warning"', 'subject=~".+"'],
                        "target_matchers": ['severity="info"'], "equal": subject_eq}
    assert rules[2]["target_matchers"] == ['depends_on=~"exporter|redis"']
    assert rules[3]["target_matchers"] == ['depends_on="redis"']


def test_no_secret_in_the_shipped_file():
    raw = yaml.safe_load((AM_DIR / "alertmanager.yml").read_text().replace("${", "x{"))
    text = yaml.safe_dump(raw)
    for field in ("api_url:", "routing_key:", "service_key:", "auth_password:",
                  "smtp_auth_password:", "hooks.slack.com"):
        assert field not in text
    for r in raw["receivers"]:
        for c in r.get("slack_configs", []):
            assert c["api_url_file"].startswith("/run/secrets/")
        for c in r.get("pagerduty_configs", []):
            assert c["routing_key_file"] == "/run/secrets/pagerduty_routing_key"
    assert raw["global"]["smtp_auth_password_file"] == "/run/secrets/smtp_password"


def test_entrypoint_fills_placeholders_and_escapes(tmp_path):
    text = render_alertmanager(tmp_path / "a.yml", {"ALERTMANAGER_SLACK_BUSINESS_CHANNEL": "#s&|\\x",
                                                    "ALERTMANAGER_EMAIL_TO": "ops@team.example"})
    cfg = yaml.safe_load(text)
    business = next(r for r in cfg["receivers"] if r["name"] == "business-alerts")
    assert business["slack_configs"][0]["channel"] == "#s&|\\x"
    assert cfg["receivers"][1]["email_configs"][0]["to"] == "ops@team.example"
    assert cfg["global"]["smtp_require_tls"] is True
    assert "${" not in text


def test_entrypoint_refuses_an_unset_variable(tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("ALERTMANAGER_")}
    r = subprocess.run(["sh", str(AM_DIR / "entrypoint.sh"), str(AM_DIR / "alertmanager.yml"),
                        str(tmp_path / "out.yml")], env={**env, "RENDER_ONLY": "1"},
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "ALERTMANAGER_SMTP_SMARTHOST is not set" in r.stderr


def test_entrypoint_refuses_a_quote_that_would_break_the_yaml(tmp_path):
    with pytest.raises(subprocess.CalledProcessError) as e:
        render_alertmanager(tmp_path / "a.yml", {"ALERTMANAGER_EMAIL_TO": "o'neil@example.com"})
    assert "ALERTMANAGER_EMAIL_TO must not contain a single quote" in e.value.stderr


def test_watchdog_reaches_only_the_dead_mans_switch(am_config):
    """Watchdog goes to `deadmansswitch` alone, whatever else it carries; nothing else does."""
    for labels in (["severity=none", "category=monitoring"],
                   ["severity=critical", "category=business"], []):
        r = amtool("config", "routes", "test", f"--config.file={am_config}",
                   "--verify.receivers=deadmansswitch", "alertname=Watchdog", "cluster=anclora",
                   *labels)
        assert r.returncode == 0 and r.stdout.strip() == "deadmansswitch", (labels, r.stdout)
    for severity, category in MATRIX:
        labels = ["alertname=WatchdogX", "cluster=anclora"]
        labels += [f"severity={severity}"] if severity else []
        labels += [f"category={category}"] if category else []
        r = amtool("config", "routes", "test", f"--config.file={am_config}", *labels)
        assert "deadmansswitch" not in r.stdout, (labels, r.stdout)


def test_watchdog_pings_the_secret_url_every_minute(cfg, tmp_path):
    route = _route_for(cfg, 'alertname="Watchdog"')
    assert route["receiver"] == "deadmansswitch" and "continue" not in route
    assert _duration(route["repeat_interval"]) <= 300
    assert cfg["route"]["routes"][0]["matchers"] == ['alertname="Watchdog"']  # before any
    receiver = next(r for r in cfg["receivers"] if r["name"] == "deadmansswitch")
    assert sorted(k for k in receiver if k.endswith("_configs")) == ["webhook_configs"]
    # The URL comes from the secret file, never from the shipped file or the environment.
    assert receiver["webhook_configs"][0]["url"] == DEADMANSSWITCH_URL
    shipped = yaml.safe_load((AM_DIR / "alertmanager.yml").read_text().replace("${", "x{"))
    assert next(r for r in shipped["receivers"] if r["name"] == "deadmansswitch")[
        "webhook_configs"][0]["url"] == "x{DEADMANSSWITCH_WEBHOOK_URL}"
    # The mixin's description states the same period.
    from tools import mixin_build
    assert _duration(mixin_build.evaluate(ROOT, "config")["watchdogRepeat"]) == _duration(
        route["repeat_interval"])


def test_entrypoint_refuses_a_missing_dead_mans_switch_secret(tmp_path):
    with pytest.raises(subprocess.CalledProcessError) as e:
        render_alertmanager(tmp_path / "a.yml",
                            {"DEADMANSSWITCH_URL_SECRET": str(tmp_path / "absent")})
    assert "absent is missing or empty" in e.value.stderr


def test_rendered_file_holding_the_secret_is_private(tmp_path):
    render_alertmanager(tmp_path / "a.yml")
    assert (tmp_path / "a.yml").stat().st_mode & 0o077 == 0

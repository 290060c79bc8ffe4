"""The shipped Prometheus and Alertmanager configs, end to end with the real binaries.

redis-server -> exporter -> Prometheus (1s scrape/eval, tests/e2e/rules) -> Alertmanager
(the shipped alertmanager.yml, rendered by its entrypoint, timings shortened, receivers
pointed at local Slack/PagerDuty/SMTP stand-ins). Conditions are caused for real: Redis
connections opened, redis-server stopped and restarted.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import unquote

import pytest
import redis as redis_sync

from tests.support.alerting import (BIZ, CRITICAL_RECEIVER, EMAIL, OPS, ROUTING_KEY, Stack,
                                   missing_binaries, running_stack, suppressed, targets_up,
                                   until)

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(bool(missing_binaries()), reason=f"missing {missing_binaries()}")]

RULES = Path(__file__).parent / "rules"


@pytest.fixture
async def stack(tmp_path):
    async with running_stack(tmp_path, sorted(RULES.glob("*.yml"))) as s:
        yield s


async def test_alerts_route_inhibit_and_resolve(stack):
    started = time.monotonic()
    sinks = stack.sinks

    # --- Prometheus: every target up, every rule loaded -----------------------------------
    jobs = await until(lambda: targets_up(stack), 20, "all targets up", stack)
    assert set(jobs) >= {"prometheus", "anclora-exporter", "alertmanager"}
    rules = await stack.api("prometheus", "/api/v1/rules")
    loaded = {r["name"] for g in rules["data"]["groups"] for r in g["rules"]}
    assert len(loaded) == 12 and {"E2ERedisDown", "E2EClientsHigh"} <= loaded
    assert all(r["health"] == "ok" for g in rules["data"]["groups"] for r in g["rules"])

    # --- routing by severity and category ---------------------------------------------------
    always = {"E2EWarning", "E2EInfo", "E2EBusiness", "E2EBusinessCritical"}
    await until(lambda: always <= sinks.names() and
                len(sinks.about("E2EBusinessCritical")) == 4, 30, "always-on alerts", stack)
    assert sinks.about("E2EWarning") == {("slack", OPS), EMAIL}
    assert sinks.about("E2EInfo") == {("slack", OPS)}
    assert sinks.about("E2EBusiness") == {("slack", BIZ)}
    assert sinks.about("E2EBusinessCritical") == {("slack", BIZ)} | CRITICAL_RECEIVER
    page = next(n for n in sinks.received if n.via == "pagerduty")
    assert page.body["routing_key"] == ROUTING_KEY           # read from routing_key_file
    assert page.body["payload"]["severity"] == "critical"
    assert page.body["payload"]["custom_details"]["runbook_url"].startswith("https://")
    slack = next(n for n in sinks.received if n.alertname == "E2EWarning" and n.via == "slack")
    text = slack.body["attachments"][0]["text"]
    assert "Runbook" in text and "Dashboard" in text and "/#/silences/new?filter=" in text
    assert "*Value:* 1" in text and "End-to-end test condition on 127.0.0.1:" in text
    assert f"<{stack.url('prometheus')}/graph?g0.expr=" in text
    # The silence link matches exactly the group (group_by labels), nothing narrower.
    silence = re.search(r"/#/silences/new\?filter=([^|>]+)", text).group(1)
    assert unquote(silence) == '{alertname="E2EWarning", category="queue", cluster="test"}'
    mail = next(n for n in sinks.received if n.via == "email")
    assert mail.body["html"].lstrip().startswith("<!DOCTYPE html>")

    # --- a critical mutes its warning/info twins (same subject), not other subjects --------
    clients = [redis_sync.Redis.from_url(stack.redis.url) for _ in range(40)]
    for c in clients:
        c.ping()
    await until(lambda: sinks.about("E2EClientsCritical") == CRITICAL_RECEIVER, 30,
                "E2EClientsCritical paged", stack)
    # The twins fire (for: 5s) after the critical: Alertmanager holds them as suppressed.
    am = await until(lambda: suppressed(stack, "E2EClientsHigh", "E2EClientsMany"), 20,
                     "twins suppressed", stack)
    critical_fp = am["E2EClientsCritical"]["fingerprint"]
    assert am["E2EClientsHigh"]["status"]["inhibitedBy"] == [critical_fp]
    assert am["E2EClientsMany"]["status"]["inhibitedBy"] == [critical_fp]
    # A warning about another subject still gets through.
    await until(lambda: sinks.about("E2EClientsOther") == {("slack", OPS), EMAIL}, 20,
                "E2EClientsOther notified", stack)
    # The connections stay open until Redis stops: closing them one by one would let a
    # scrape see 25 clients, the critical resolved and the warning (>= 20) rightly notified.
    # Muted alerts are checked while their critical fires. When a family resolves,
    # Prometheus sends each rule's resolution separately, and Alertmanager may flush the
    # dependent's group in between: an inherent race of inhibition, so recovery is not
    # part of the claim.
    assert sent(sinks, "E2EClientsHigh", "E2EClientsMany") == []

    # --- Redis down: the critical pages, the alert depending on Redis data is muted --------
    stack.redis.stop()
    for c in clients:
        c.close()
    await _pages_and_mutes(stack, "E2ERedisDown", "E2ERedisCollectorFailing")
    assert sent(sinks, "E2ERedisCollectorFailing") == []
    # With Redis gone the client-count series vanish: the family resolves together.
    await until(lambda: sinks.about("E2EClientsCritical", "resolved") == CRITICAL_RECEIVER, 20,
                "E2EClientsCritical resolved", stack)

    # --- Redis back: resolved notifications ------------------------------------------------
    stack.redis.start()
    await until(lambda: sinks.about("E2ERedisDown", "resolved") == CRITICAL_RECEIVER, 30,
                "E2ERedisDown resolved", stack)
    resolve = next(n for n in sinks.received
                   if n.via == "pagerduty" and n.status == "resolved" and n.alertname == "E2ERedisDown")
    trigger = next(n for n in sinks.received
                   if n.via == "pagerduty" and n.status == "firing" and n.alertname == "E2ERedisDown")
    assert resolve.body["dedup_key"] == trigger.body["dedup_key"]

    # --- exporter down: it pages, the alert about its missing data is muted ---------------
    exporter = next(p for p in stack.procs if p.name == "exporter")
    exporter.stop()
    await _pages_and_mutes(stack, "E2EExporterDown", "E2EExporterDataMissing")
    assert sent(sinks, "E2EExporterDataMissing") == []
    exporter.start(stack.ports["exporter"])
    await until(lambda: sinks.about("E2EExporterDown", "resolved") == CRITICAL_RECEIVER, 30,
                "E2EExporterDown resolved", stack)

    assert time.monotonic() - started < 180


def sent(sinks, *alertnames: str) -> list:
    """Notifications about these alerts, firing or resolved."""
    return [n for n in sinks.received if n.alertname in alertnames]


async def _pages_and_mutes(stack: Stack, source: str, dependent: str) -> None:
    """``source`` reaches the critical receiver; ``dependent`` is held, inhibited by it."""
    await until(lambda: stack.sinks.about(source) == CRITICAL_RECEIVER, 30, f"{source} paged",
                stack)
    am = await until(lambda: suppressed(stack, dependent), 20, f"{dependent} suppressed", stack)
    assert am[dependent]["status"]["inhibitedBy"] == [am[source]["fingerprint"]]


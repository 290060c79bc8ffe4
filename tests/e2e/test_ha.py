"""The compose profile `ha`, proven with the real binaries on loopback (`make test-ha`; kept
out of `make test`, marker `ha`): two Prometheus replicas evaluating the shipped rules
against the exporter, both sending to three Alertmanagers in one gossip cluster, the
shipped alertmanager.yml in front of the Slack, email (SMTP) and PagerDuty stand-ins.
Who runs with which flags comes from docker-compose.monitoring.yml (tests/support/ha.py);
amtool's route test runs against the configuration a member loaded.

A critical alert (CriticalMemoryUsage, caused through POST /events) must reach each
integration exactly once, not once per Prometheus nor once per Alertmanager. Then the
Alertmanager that sent it and one Prometheus are SIGKILLed while it fires: the survivors
do not send it again, the alert stays firing through the other Prometheus, and the
resolved notification arrives exactly once.

Duplicates can come only from a member that waited its turn (its position in the cluster
times --cluster.peer-timeout) and did not see the first one's send in the gossiped
notification log: a bounded window, waited out before counting (``quiet``).

Exporter replicas (one consumer group, one of them SIGKILLed, every event counted once)
are proven by tests/faults/test_replica_killed.py.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest

from tests.support.alerting import (CRITICAL_RECEIVER, duration_seconds, missing_binaries,
                                   running_stack, until)
from tests.support.ha import HAStack
from tests.support.stack import CATEGORIES, SEVERITIES, expected_receivers

pytestmark = [pytest.mark.ha,
              pytest.mark.skipif(bool(missing_binaries()), reason=f"missing {missing_binaries()}")]

ALERTS = Path(__file__).resolve().parents[2] / "alerts"
ALERT = "CriticalMemoryUsage"  # critical: Slack, email and PagerDuty
GIB = 1024 ** 3


@pytest.fixture
async def stack(tmp_path):
    # Rules as tests/e2e/test_real_rules.py loads them: every `for:` / 60, at most 10 s,
    # once every target is scraped.
    async with running_stack(tmp_path, sorted(ALERTS.glob("*.yml")), stack_class=HAStack,
                             for_scale=1 / 60, max_for="10s", rules_once_scraped=True) as s:
        yield s


async def post_heap(stack: HAStack, heap_bytes: int) -> None:
    event = {"type": "runtime", "service": "bot", "heap_used_bytes": heap_bytes}
    async with aiohttp.ClientSession() as s:
        async with s.post(stack.url("exporter") + "/events", json=[event],
                          timeout=aiohttp.ClientTimeout(total=10)) as r:
            assert r.status == 200, await r.text()


def check_routes(url: str) -> None:
    for severity in SEVERITIES:
        for category in CATEGORIES:
            want = expected_receivers(severity, category)
            r = subprocess.run(["amtool", "config", "routes", "test", f"--alertmanager.url={url}",
                                f"--verify.receivers={want}", "alertname=Test", "cluster=test",
                                f"severity={severity}", f"category={category}"],
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, (severity, category, want, r.stdout, r.stderr)


async def members(stack: HAStack, am: str, n: int) -> bool:
    """Whether Alertmanager ``am`` sees ``n`` members and has settled (notifies)."""
    cluster = (await stack.api(am, "/api/v2/status"))["cluster"]
    return len(cluster["peers"]) == n and cluster["status"] == "ready"


def sent(stack: HAStack, status: str) -> list:
    return [n for n in stack.sinks.received if n.alertname == ALERT and n.status == status]


async def quiet(stack: HAStack, members: int) -> None:
    """Wait out the window in which a duplicate could still come: the last member's turn
    ((members - 1) x peer timeout) after a flush (group_interval), plus a margin for
    gossip and a busy host. Nothing to poll: it is the absence of a notification."""
    await asyncio.sleep((members - 1) * stack.peer_timeout
                        + duration_seconds(stack.group_interval) + 2)


async def test_ha_notifies_once_and_survives_a_dead_alertmanager_and_prometheus(stack):
    started = time.monotonic()
    ams, proms = stack.alertmanager_names, stack.prometheus_names
    assert (len(ams), len(proms)) == (3, 2)

    # --- the cluster: every Alertmanager sees all three, every Prometheus sends to all -----
    for am in ams:
        await until(lambda: members(stack, am, 3), 30, f"{am} sees 3 members", stack)
    every_am = sorted(f"{stack.url(am)}/api/v2/alerts" for am in ams)
    for prom in proms:
        async def sends_to_all() -> bool:
            found = (await stack.api(prom, "/api/v1/alertmanagers"))["data"]["activeAlertmanagers"]
            return sorted(a["url"] for a in found) == every_am
        await until(sends_to_all, 20, f"{prom} sending to every Alertmanager", stack)
    # The configuration a member of the `ha` profile loaded routes like the file that
    # tests/test_alertmanager.py checks: amtool's route test against the running member.
    await asyncio.to_thread(check_routes, stack.url(ams[-1]))

    # --- a critical alert from both replicas: one notification per integration ------------
    await post_heap(stack, int(1.5 * GIB))
    await until(lambda: {(n.via, n.channel) for n in sent(stack, "firing")} == CRITICAL_RECEIVER,
                40, f"{ALERT} notified", stack)
    await quiet(stack, len(ams))
    firing = sent(stack, "firing")
    assert sorted((n.via, n.channel) for n in firing) == sorted(CRITICAL_RECEIVER), firing
    # One alert, not one per replica: `replica` is dropped before the Alertmanagers.
    for am in ams:
        copies = [a for a in await stack.api(am, "/api/v2/alerts")
                  if a["labels"]["alertname"] == ALERT]
        assert len(copies) == 1 and "replica" not in copies[0]["labels"], (am, copies)
    slack = next(n for n in firing if n.via == "slack")
    assert slack.body["attachments"][0]["title"].startswith("[FIRING:1] ")
    page = next(n for n in firing if n.via == "pagerduty")
    assert page.body["payload"]["custom_details"]["num_firing"] == "1"
    # Watchdog, always firing on both replicas, reached the dead man's switch once too.
    assert [n.via for n in stack.sinks.received if n.alertname == "Watchdog"] == ["webhook"]

    # The member at position 0 sent it (a PagerDuty event names its Alertmanager by its
    # external URL); the others waited their turn and found it in the notification log.
    positions = {am: await stack.metric(am, "alertmanager_peer_position") for am in ams}
    sender = min(positions, key=positions.get)
    assert page.body["client_url"].startswith(stack.url(sender) + "/"), (positions, page.body)

    # --- SIGKILL the sender and one Prometheus while the alert fires ----------------------
    killed_at, kill_clock = datetime.now(timezone.utc), time.monotonic()
    stack.process(sender).kill()
    stack.process(proms[0]).kill()
    survivors = [am for am in ams if am != sender]
    # The survivors declare it dead (memberlist), so they are positions 0 and 1 again.
    for am in survivors:
        await until(lambda: members(stack, am, 2), 30, f"{am} sees 2 members", stack)
    detected = time.monotonic() - kill_clock
    # The alert stays firing through the other Prometheus: an alert is valid 4 evaluation
    # intervals (4 s) after it was sent, so an endsAt past that was sent after the kill.
    fresh = killed_at + timedelta(seconds=6)
    for am in survivors:
        async def refreshed() -> bool:
            alert = (await stack.am_alerts(am)).get(ALERT)
            return bool(alert) and alert["status"]["state"] == "active" and _time(
                alert["endsAt"]) > fresh
        await until(refreshed, 20, f"{ALERT} kept firing at {am} by {proms[1]}", stack)
    rules = (await stack.api(proms[1], "/api/v1/alerts"))["data"]["alerts"]
    assert [a["state"] for a in rules if a["labels"]["alertname"] == ALERT] == ["firing"]
    assert sent(stack, "resolved") == []  # never resolved by the loss of one Prometheus
    assert len(sent(stack, "firing")) == 3  # and not sent again by the survivors

    # --- the condition clears: resolved once per integration, by a survivor ---------------
    await post_heap(stack, 100 * 1024 ** 2)
    await until(lambda: {(n.via, n.channel) for n in sent(stack, "resolved")} == CRITICAL_RECEIVER,
                30, f"{ALERT} resolved", stack)
    await quiet(stack, len(survivors))
    resolved = sent(stack, "resolved")
    assert sorted((n.via, n.channel) for n in resolved) == sorted(CRITICAL_RECEIVER), resolved
    assert len(sent(stack, "firing")) == 3
    resolve = next(n for n in resolved if n.via == "pagerduty")
    assert resolve.body["dedup_key"] == page.body["dedup_key"]  # the same PagerDuty incident
    assert resolve.body["client_url"].split("/#")[0] in {stack.url(am) for am in survivors}

    took = time.monotonic() - started
    print(f"\nHA: {len(proms)} Prometheus, {len(ams)} Alertmanagers; sender {sender} "
          f"(positions {positions}); dead member dropped after {detected:.1f}s; {took:.1f}s")
    assert took < 120


def _time(text: str) -> datetime:
    """Alertmanager's RFC 3339 time (nanoseconds cut to what datetime takes)."""
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00")

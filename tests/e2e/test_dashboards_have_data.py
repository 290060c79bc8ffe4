"""Every Prometheus panel of the shipped dashboards shows data with the busy demo's
traffic behind a real Prometheus: the queries are evaluated the way Grafana would run them
($__rate_interval, $__interval, $__range substituted, every variable at "All"), against the
stack of tests/support/alerting.py (the exporter, node-exporter, redis-exporter,
Prometheus with the shipped rules, Alertmanager) fed by `python -m anclora_demo
--traffic-only --scenario busy --webhooks-to <the exporter>`, which also posts the
WhatsApp platforms' webhooks and serves the Graph API the exporter polls.

A panel may be empty only for a reason listed in EMPTY_BECAUSE; the test prints every
empty target and fails on one not listed (and on a listed one that has data again, so the
list cannot go stale)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from anclora_demo.whatsapp import PHONE_NUMBER_ID, free_port
from tests.support.alerting import missing_binaries, running_stack, targets_up, until
from tests.support.procs import terminate

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(bool(missing_binaries()), reason=f"missing {missing_binaries()}")]

ROOT = Path(__file__).resolve().parents[2]
# Grafana's built-in variables, as it would set them for a short range at 1 s scrapes.
GRAFANA = {"$__rate_interval": "15s", "$__interval": "5s", "$__range": "5m"}
TRAFFIC_SECONDS = 20
# The WhatsApp platforms' side: the demo posts Meta and Evolution webhooks to the exporter
# and serves the Graph API the exporter polls; both read these secrets and addresses.
WEBHOOKS_ENV = {"ANCLORA_META_APP_SECRET": "e2e-app-secret",
                "ANCLORA_META_VERIFY_TOKEN": "e2e-verify",
                "ANCLORA_EVOLUTION_WEBHOOK_TOKEN": "e2e-evolution",
                "ANCLORA_META_ACCESS_TOKEN": "e2e-graph-token",
                "ANCLORA_META_GRAPH_URL": f"http://127.0.0.1:{free_port()}/v26.0",
                "ANCLORA_META_POLL_SECONDS": "10",
                "ANCLORA_META_PHONE_NUMBER_IDS": PHONE_NUMBER_ID,
                "ANCLORA_META_RATES": "marketing=0.0509,utility=0.0166,authentication=0.0166"}

# (dashboard, panel title) -> why it may show no data in this test.
EMPTY_BECAUSE: dict[tuple[str, str], str] = {
    ("system", "Host CPU"):
        "tests run node-exporter with the loadavg and meminfo collectors only",
}


def prometheus_targets():
    """(dashboard, panel title, expr) of every Prometheus query of the shipped dashboards."""
    for path in sorted((ROOT / "dashboards").glob("*.json")):
        d = json.loads(path.read_text())
        if path.stem == "logs":  # LogQL: Loki is not part of this test
            continue
        for panel in d["panels"]:
            for t in panel.get("targets", []):
                if t.get("expr"):
                    yield path.stem, panel["title"], t["expr"]


def as_grafana_runs_it(expr: str) -> str:
    for var, value in GRAFANA.items():
        expr = expr.replace(var, value)
    # Every other variable at "All": a regex matching any value.
    return re.sub(r"\$\{?\w+\}?", ".*", expr)


async def instant(session, url: str, expr: str) -> list:
    async with session.get(url + "/api/v1/query", params={"query": expr},
                           timeout=aiohttp.ClientTimeout(total=10)) as r:
        body = await r.json()
        assert body.get("status") == "success", (expr, body)
        return body["data"]["result"]


@pytest.fixture
async def stack(tmp_path):
    rules = sorted((ROOT / "alerts").glob("*.yml"))
    # The demo creates its queue after the exporter started: look for it every second.
    async with running_stack(tmp_path, rules, rules_once_scraped=True,
                             exporter_env={"ANCLORA_QUEUE_DISCOVERY_SECONDS": "1",
                                           **WEBHOOKS_ENV}) as s:
        yield s


async def test_every_prometheus_panel_shows_data_with_the_busy_demo(stack):
    await until(lambda: targets_up(stack), 40, "all targets up", stack)
    env = {**os.environ, "ANCLORA_REDIS_URL": stack.redis.url, "ANCLORA_LOG_LEVEL": "warn",
           **WEBHOOKS_ENV}
    demo = subprocess.Popen([sys.executable, "-m", "anclora_demo", "--traffic-only",
                             "--scenario", "busy", "--seed", "7",
                             "--webhooks-to", stack.url("exporter")], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        await asyncio.sleep(TRAFFIC_SECONDS)
        assert demo.poll() is None, demo.stderr.read().decode()[-2000:]
        empty = {}
        async with aiohttp.ClientSession() as session:
            for dash, title, expr in prometheus_targets():
                if not await instant(session, stack.url("prometheus"), as_grafana_runs_it(expr)):
                    empty.setdefault((dash, title), expr)
    finally:
        terminate(demo)
    for key, expr in sorted(empty.items()):
        print(f"empty: {key[0]} / {key[1]}: {EMPTY_BECAUSE.get(key, 'NOT EXPLAINED')}\n  {expr}")
    assert set(empty) - set(EMPTY_BECAUSE) == set(), sorted(set(empty) - set(EMPTY_BECAUSE))
    assert set(EMPTY_BECAUSE) - set(empty) == set(), "listed as empty but has data now"

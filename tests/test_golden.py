"""A golden scrape (node_exporter's end-to-end test): a fixed Redis state and a fixed set
of application events give exactly the bytes of ``tests/golden/scrape.prom``, and
``promtool check metrics`` finds nothing wrong with the whole output.

Any change to /metrics shows here as a diff: a refactor leaves the file alone, a change
of output is reviewed in the diff of the regenerated file::

    UPDATE_GOLDEN=1 python3 -m pytest -q tests/test_golden.py

What cannot be fixed is masked, each family by name below; everything else is compared
byte for byte, HELP and TYPE lines included.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import redis as redis_sync
from aiohttp.test_utils import TestClient, TestServer
from bullmq import Queue

from exporter.app import Exporter
from exporter.config import Config
from exporter.server import make_app
from tests.collectors.bullmq_support import fill_every_state, opts, stop_worker
from tests.ingest_cases import CASES

GOLDEN = Path(__file__).parent / "golden" / "scrape.prom"
NS = "anclora"

# Families whose value depends on the host, the Redis process or the clock: their series
# are kept (names and labels are still compared) and their value becomes MASK.
MASKED_VALUES = {f"{NS}_{name}" for name in (
    "redis_ping_latency_seconds",      # a timing
    "redis_uptime_seconds",            # the session's redis-server age
    "redis_used_memory_bytes",         # redis-server's allocator
    "redis_connected_clients",         # BullMQ's and the test's own connections
    "system_cpu_usage_ratio", "system_memory_total_bytes",   # the host
    "system_memory_available_bytes", "system_load1",
    "system_disk_total_bytes", "system_disk_free_bytes",
    "exporter_scrape_collector_duration_seconds",            # timings
    "exporter_event_loop_lag_seconds",
)}
# Label values that name the build: the series is kept with those values masked.
MASKED_LABELS = {f"{NS}_exporter_build_info": ("python_version", "version")}
# prometheus_client's ProcessCollector: which process_* families exist depends on the
# platform (/proc), and every value on the test process. Left out, HELP and TYPE too.
DROPPED_PREFIX = "process_"
MASK = "MASKED"

# Oldest-job ages are made exact: job timestamps are set to FIXED_MS and the collector's
# clock reads FIXED_NOW, so every oldest waiting job is 60 s old.
FIXED_MS = 1_700_000_000_000
FIXED_NOW = FIXED_MS / 1000 + 60


def normalise(text: str) -> str:
    """The scrape with the masks above applied (the rest unchanged, line for line)."""
    out = []
    for line in text.splitlines(keepends=True):
        if line.startswith("# "):
            name = line.split(" ", 3)[2]
            if not name.startswith(DROPPED_PREFIX):
                out.append(line)
            continue
        name = re.match(r"[^{ ]+", line).group(0)
        if name.startswith(DROPPED_PREFIX):
            continue
        if name in MASKED_VALUES:
            line = line.rsplit(" ", 1)[0] + f" {MASK}\n"
        for label in MASKED_LABELS.get(name, ()):
            line = re.sub(rf'([{{,]{label}=)"[^"]*"', rf'\1"{MASK}"', line)
        out.append(line)
    return "".join(out)


async def fixed_state(url: str):
    """BullMQ queues written by the real client: one in every state (with a child queue
    of its flow), one paused, one whose name may not be published. Returns the worker
    holding the active job (stop it with ``stop_worker``)."""
    worker = await fill_every_state(url, "golden")
    paused = Queue("golden-paused", opts(url))
    for i in range(2):
        await paused.add("send_text", {"i": i})
    await paused.pause()
    await paused.close()
    refused = Queue("34600111222", opts(url))  # a phone number: never a label value
    await refused.add("send_text", {})
    await refused.close()
    r = redis_sync.Redis.from_url(url)
    try:
        for key in r.scan_iter(match="bull:*"):
            if r.type(key) == b"hash" and r.hexists(key, "timestamp"):
                r.hset(key, "timestamp", FIXED_MS)
    finally:
        r.close()
    return worker


@pytest.fixture
async def scrape(own_redis):
    """The /metrics body of a real Exporter over HTTP, after the fixed state and events.
    A redis-server of its own: a stray writer on the shared one would change the bytes."""
    redis_url = own_redis.url
    worker = await fixed_state(redis_url)
    exporter = Exporter(Config.defaults(redis_url=redis_url))
    exporter.bullmq.clock = lambda: FIXED_NOW
    client = TestClient(TestServer(make_app(exporter)))
    await client.start_server()
    try:
        r = await client.post("/events", json=[event for event, _ in CASES.values()])
        assert r.status == 200 and (await r.json())["accepted"] == len(CASES)
        r = await client.get("/metrics")
        assert r.status == 200
        yield await r.read()
    finally:
        await client.close()
        await exporter.stop()
        await stop_worker(worker)


def test_scrape_matches_the_golden_file(scrape):
    got = normalise(scrape.decode("utf-8"))
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(got)
    assert got == GOLDEN.read_text(), (
        "/metrics changed; if on purpose: UPDATE_GOLDEN=1 python3 -m pytest "
        "tests/test_golden.py, and review the diff of tests/golden/scrape.prom")


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_scrape_passes_promtool_check_metrics(scrape):
    p = subprocess.run(["promtool", "check", "metrics"], input=scrape,
                       capture_output=True, timeout=30)
    # promtool writes lint findings to stderr and exits 1 on any of them (or on errors).
    assert (p.returncode, p.stdout + p.stderr) == (0, b"")


def test_normalise_masks_only_what_it_names():
    text = ("# HELP process_open_fds x\n# TYPE process_open_fds gauge\nprocess_open_fds 9.0\n"
            f"{NS}_redis_uptime_seconds 12.0\n"
            f'{NS}_exporter_build_info{{python_version="3.11.7",version="0.1.0"}} 1.0\n'
            f'{NS}_bullmq_jobs{{queue="q",state="failed"}} 2.0\n')
    assert normalise(text) == (
        f"{NS}_redis_uptime_seconds {MASK}\n"
        f'{NS}_exporter_build_info{{python_version="{MASK}",version="{MASK}"}} 1.0\n'
        f'{NS}_bullmq_jobs{{queue="q",state="failed"}} 2.0\n')

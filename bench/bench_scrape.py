"""/metrics with 10,000 series: our endpoint vs prometheus_client's ``generate_latest`` on a
registry holding the same series; gzip; /health/live latency while big scrapes render; the
exporter's RSS at 10,000 series.

The exporter runs as its own process (``python -m exporter serve``), filled through
POST /events, and is measured from this one over loopback on a keep-alive connection, as
Prometheus would (no gzip, but for the gzip row); ours and generate_latest are timed in
alternating blocks of BENCH_ROUNDS (default 15), medians of the block medians.

    python -m bench scrape
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time

import aiohttp
import psutil
from prometheus_client import CollectorRegistry, Counter, generate_latest

from exporter import catalog

from .support import KeepAlive, free_port, percentile, redis_server, row

COMMAND = "python -m bench scrape"
SERIES = 10_000
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
BLOCKS = 3


def events(series: int) -> list[dict]:
    """``series`` distinct whatsapp_webhooks_received_total series (100 x series/100)."""
    return [{"type": "webhook_received", "event_type": f"event_{e}", "instance_name": f"inst_{i}"}
            for e in range(100) for i in range(series // 100)]


def baseline_registry(series: int) -> CollectorRegistry:
    """A plain prometheus_client registry with the same series, for generate_latest."""
    reg = CollectorRegistry()
    spec = catalog.get("whatsapp_webhooks_received_total")
    counter = Counter(spec.full_name("anclora")[:-len("_total")], spec.help, spec.labels,
                      registry=reg)
    for e in events(series):
        counter.labels(event_type=e["event_type"], instance_name=e["instance_name"]).inc()
    return reg


async def _probe_health(s, base, scrape, concurrent: int) -> list[float]:
    stop = asyncio.Event()

    async def hammer():
        while not stop.is_set():
            await scrape()

    hammers = [asyncio.create_task(hammer()) for _ in range(concurrent)]
    await asyncio.sleep(0.2)
    lat = []
    for _ in range(100):
        t = time.perf_counter()
        async with s.get(base + "/health/live") as r:
            await r.read()
        lat.append(time.perf_counter() - t)
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.gather(*hammers)
    return lat


def _scrape_rows(port: int, reg: CollectorRegistry) -> list[dict]:
    """Our /metrics (keep-alive, no gzip; then gzip) and generate_latest on a registry of
    the same series, in alternating blocks of ROUNDS, medians of the block medians."""
    ours, theirs, zipped = [], [], []
    client = KeepAlive(port)
    for _ in range(BLOCKS):
        t, body = client.median(ROUNDS)
        ours.append(t)
        t, zbody = client.median(ROUNDS, gzip=True)
        zipped.append(t)
        theirs.append(_median(lambda: generate_latest(reg)))
    client.close()
    lines = body.count(b"\nanclora_whatsapp_webhooks_received_total{")
    assert lines == SERIES, lines  # every series published, none folded
    ours, theirs, zipped = (statistics.median(v) for v in (ours, theirs, zipped))
    return [row(f"GET /metrics, {SERIES} counter series ({len(body) // 1024} KiB), keep-alive, "
                "no gzip, vs generate_latest on a registry of the same series (in process, no "
                "HTTP)", ours * 1e3, theirs * 1e3, "ms", "prometheus_client generate_latest",
                "<= 0.5", COMMAND),
            row(f"GET /metrics, {SERIES} series, keep-alive, Accept-Encoding: gzip vs identity",
                zipped * 1e3, ours * 1e3, "ms", "the same exporter, no gzip", None, COMMAND,
                bytes=len(zbody), baseline_bytes=len(body),
                gzip_cost_ms=round((zipped - ours) * 1e3, 3))]


def _median(fn) -> float:
    times = []
    for _ in range(ROUNDS):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


async def _measure(base: str, port: int, proc: psutil.Process) -> list[dict]:
    rows = []
    async with aiohttp.ClientSession() as s:
        for _ in range(100):
            try:
                async with s.get(base + "/health/live") as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
        rss0 = proc.memory_info().rss
        body = "\n".join(json.dumps(e) for e in events(SERIES))
        async with s.post(base + "/events", data=body,
                          headers={"Content-Type": "application/x-ndjson"}) as r:
            assert r.status == 200, await r.text()

        async def scrape() -> int:
            async with s.get(base + "/metrics") as r:
                return len(await r.read())

        await scrape()
        rss1 = proc.memory_info().rss
        rows += _scrape_rows(port, baseline_registry(SERIES))
        for n in (1, 4):
            lat = await _probe_health(s, base, scrape, n)
            rows.append({"name": f"/health/live while {n} scrape(s) of that size render "
                                 "back to back, 100 probes",
                         "figure": f"p50 {percentile(lat, 50) * 1000:.1f} ms, "
                                   f"p99 {percentile(lat, 99) * 1000:.1f} ms, "
                                   f"max {max(lat) * 1000:.1f} ms",
                         "baseline": "target p99 < 50 ms",
                         "ratio": round(50 / (percentile(lat, 99) * 1000), 2),
                         "command": COMMAND})
    rows.append({"name": f"exporter RSS with {SERIES} series",
                 "figure": f"{proc.memory_info().rss / 2**20:.1f} MiB",
                 "baseline": f"{rss0 / 2**20:.1f} MiB before the events "
                             f"(+{(rss1 - rss0) / 2**20:.1f} MiB for the series)",
                 "ratio": None, "command": COMMAND})
    return rows


def run() -> list[dict]:
    with redis_server() as url:
        port = free_port()
        env = {**os.environ, "ANCLORA_REDIS_URL": url, "ANCLORA_LISTEN_ADDRESS": f"127.0.0.1:{port}",
               "ANCLORA_LABEL_LIMIT": "1000", "ANCLORA_SERIES_LIMIT": str(SERIES),
               "ANCLORA_MAX_BODY_BYTES": str(16 << 20), "ANCLORA_LOG_LEVEL": "error"}
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        p = subprocess.Popen([sys.executable, "-m", "exporter", "serve"], env=env, cwd=root,
                             stdout=subprocess.DEVNULL)
        try:
            return asyncio.run(_measure(f"http://127.0.0.1:{port}", port, psutil.Process(p.pid)))
        finally:
            p.terminate()
            p.wait(10)

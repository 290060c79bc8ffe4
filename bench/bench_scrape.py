"""/metrics with 10,000 series: our endpoint vs prometheus_client's ``generate_latest`` on a
registry holding the same series; /health/live latency while big scrapes render; the
exporter's RSS at 10,000 series.

The exporter runs as its own process (``python -m exporter serve``), filled through
POST /events, and is measured from this one over loopback, as Prometheus would.

    python -m bench scrape
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import aiohttp
import psutil
from prometheus_client import CollectorRegistry, generate_latest

from exporter.metrics import LabelGuard, MetricSet

from .support import best_of, free_port, percentile, redis_server

COMMAND = "python -m bench scrape"
SERIES = 10_000


def events(series: int) -> list[dict]:
    """``series`` distinct whatsapp_webhooks_received_total series (100 x series/100)."""
    return [{"type": "webhook_received", "event_type": f"event_{e}", "instance_name": f"inst_{i}"}
            for e in range(100) for i in range(series // 100)]


def baseline_registry(series: int) -> CollectorRegistry:
    """A registry with the same series, for generate_latest."""
    reg = CollectorRegistry()
    ms = MetricSet("anclora", reg, LabelGuard(1000))
    for e in events(series):
        ms.inc("whatsapp_webhooks_received_total", event_type=e["event_type"],
               instance_name=e["instance_name"])
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


async def _measure(base: str, proc: psutil.Process) -> list[dict]:
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

        size = await scrape()
        rss1 = proc.memory_info().rss
        ours = float("inf")
        for _ in range(15):
            t = time.perf_counter()
            await scrape()
            ours = min(ours, time.perf_counter() - t)
        reg = baseline_registry(SERIES)
        theirs = best_of(15, lambda: generate_latest(reg))
        rows.append({"name": f"GET /metrics, {SERIES} counter series ({size // 1024} KiB), best of 15",
                     "figure": f"{ours * 1000:.1f} ms",
                     "baseline": f"generate_latest, same series, in process {theirs * 1000:.1f} ms",
                     "ratio": round(theirs / ours, 2), "command": COMMAND})
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
               "ANCLORA_LABEL_LIMIT": "1000", "ANCLORA_MAX_BODY_BYTES": str(16 << 20),
               "ANCLORA_LOG_LEVEL": "error"}
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        p = subprocess.Popen([sys.executable, "-m", "exporter", "serve"], env=env, cwd=root,
                             stdout=subprocess.DEVNULL)
        try:
            return asyncio.run(_measure(f"http://127.0.0.1:{port}", psutil.Process(p.pid)))
        finally:
            p.terminate()
            p.wait(10)

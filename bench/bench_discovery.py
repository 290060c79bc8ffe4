"""Queue discovery with 100,000 job keys in Redis: no scrape much slower than the others.

Discovery SCANs the whole keyspace (Redis keeps no list of BullMQ queues); it used to do
so on the scrape path every ANCLORA_QUEUE_DISCOVERY_SECONDS, and those scrapes took 7-15
times the median. It now runs in the background, one SCAN call at a time.

Redis holds 50 queues made by the real Python BullMQ client and 100,000 job hashes.
Two exporters (``python -m exporter serve``) are scraped in turn, one request each every
SCRAPE_EVERY seconds on a keep-alive connection, for SECONDS:
- ours: queues discovered, a pass every 0.5 s (the shortest ANCLORA_QUEUE_DISCOVERY_SECONDS
  allows: ~SECONDS * 2 passes while it is scraped);
- the baseline: the same queues named in ANCLORA_QUEUES, no discovery at all: how much
  the machine alone makes scrapes vary.
Rows: the slowest scrape and the 99th percentile over the median, for each.

    python -m bench discovery
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time

import redis as redis_sync

from tests.support.procs import RedisServer, terminate

from .bench_bullmq import _fill, _ours, queue_names
from .support import KeepAlive, percentile, row

COMMAND = "python -m bench discovery"
QUEUES = 50
JOB_KEYS = 100_000
SECONDS = float(os.environ.get("BENCH_DISCOVERY_SECONDS", "10"))
SCRAPE_EVERY = 0.02


def _job_keys(url: str, names: list[str]) -> None:
    """JOB_KEYS job hashes spread over the queues, shaped as BullMQ writes them."""
    r = redis_sync.Redis.from_url(url)
    pipe = r.pipeline(transaction=False)
    for i in range(JOB_KEYS):
        pipe.hset(f"bull:{names[i % len(names)]}:{1000 + i}",
                  mapping={"name": "send_text", "data": "{}", "timestamp": 1700000000000 + i})
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()
    r.close()


def _scrape_both(ours: KeepAlive, baseline: KeepAlive) -> tuple[list[float], list[float]]:
    mine, theirs = [], []
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        start = time.monotonic()
        mine.append(ours.get()[0])
        theirs.append(baseline.get()[0])
        time.sleep(max(0.0, SCRAPE_EVERY - (time.monotonic() - start)))
    return mine, theirs


def _scan_latency(url: str) -> tuple[int, float, float]:
    """(SCAN calls Redis ran, their median and 99.9th percentile latency in ms: INFO
    latencystats)."""
    r = redis_sync.Redis.from_url(url)
    try:
        calls = r.info("commandstats").get("cmdstat_scan", {}).get("calls", 0)
        stats = r.info("latencystats").get("latency_percentiles_usec_scan", {})
    finally:
        r.close()
    return calls, float(stats.get("p50", 0.0)) / 1000, float(stats.get("p99.9", 0.0)) / 1000


def run() -> list[dict]:
    server = RedisServer().start()
    procs = []
    try:
        names = queue_names(QUEUES)
        asyncio.run(_fill(server.url, names))
        _job_keys(server.url, names)
        keys = redis_sync.Redis.from_url(server.url).dbsize()
        proc, port = _ours(server, QUEUES, ANCLORA_QUEUE_DISCOVERY_SECONDS="0.5")
        procs.append(proc)
        proc, baseline_port = _ours(server, QUEUES, ANCLORA_QUEUES=",".join(names))
        procs.append(proc)
        ours, baseline = KeepAlive(port), KeepAlive(baseline_port)
        for client in (ours, baseline):  # warm: the first pass, packed commands, label text
            client.median(5)
        mine, theirs = _scrape_both(ours, baseline)
        scans, scan_p50, scan_p999 = _scan_latency(server.url)
        ours.close()
        baseline.close()
    finally:
        for p in procs:
            terminate(p)
        server.cleanup()
    median, their_median = statistics.median(mine), statistics.median(theirs)
    what = f"{len(mine)} scrapes, {keys:,} keys in Redis, {QUEUES} queues"
    return [
        row(f"slowest scrape over the median, {what}, queues discovered in the background "
            "(a pass every 0.5 s)", max(mine) * 1e3, median * 1e3, "ms", "median", "<= 2",
            COMMAND, p99_over_median=round(percentile(mine, 99) / median, 3)),
        row(f"slowest scrape over the median, {what}, queues named, no discovery (the "
            "machine's own jitter)", max(theirs) * 1e3, their_median * 1e3, "ms", "median",
            None, COMMAND, p99_over_median=round(percentile(theirs, 99) / their_median, 3)),
        row(f"99th percentile scrape, {what}: discovery in the background vs none",
            percentile(mine, 99) * 1e3, percentile(theirs, 99) * 1e3, "ms",
            "queues named, no discovery", None, COMMAND),
        row(f"the longest a scrape waits behind discovery: one SCAN call (the median of "
            f"the {scans} Redis ran), over the median scrape", scan_p50, median * 1e3, "ms",
            "median scrape", "<= 1", COMMAND, scan_p999_ms=round(scan_p999, 3))]

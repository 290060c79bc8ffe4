"""A scrape's work in a process of its own, done as the exporter does it (the collectors
refreshed, the registry rendered on the default executor), with Python's garbage
collector watched through ``gc.callbacks``: how many full (generation 2) passes run per
scrape, and how long they hold the interpreter.

    python -m bench.scrape_probe REDIS_URL QUEUES ROUNDS

prints {"scrapes", "full_gc", "full_gc_ms_max", "full_gc_ms_total", "scrape_ms_median"}.
The exporter watches the first QUEUES queues discovery finds (ANCLORA_MAX_QUEUES), with
the default settings otherwise but for BullMQ's events streams (not read: this measures
scrapes).
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import sys
import time

from exporter.app import Exporter, settle_heap
from exporter.config import Config
from exporter.exposition import generate_latest


async def probe(url: str, queues: int, rounds: int) -> dict:
    exporter = Exporter(Config.defaults(redis_url=url, max_queues=queues, bullmq_events=False))
    loop = asyncio.get_running_loop()

    async def scrape() -> None:
        await exporter.runner.refresh()
        await loop.run_in_executor(None, generate_latest, exporter.registry)

    for _ in range(5):  # warm: discovery, packed commands, label text, thread pool
        await scrape()
    settle_heap()  # as `python -m exporter serve` does once started
    full: list[float] = []
    started = [0.0]

    def watch(phase: str, info: dict) -> None:
        if info["generation"] == 2:
            if phase == "start":
                started[0] = time.perf_counter()
            else:
                full.append(time.perf_counter() - started[0])

    gc.callbacks.append(watch)
    times = []
    try:
        for _ in range(rounds):
            t = time.perf_counter()
            await scrape()
            times.append(time.perf_counter() - t)
    finally:
        gc.callbacks.remove(watch)
        await exporter.stop()
    return {"scrapes": rounds, "full_gc": len(full),
            "full_gc_ms_max": round(max(full, default=0.0) * 1000, 2),
            "full_gc_ms_total": round(sum(full) * 1000, 2),
            "scrape_ms_median": round(statistics.median(times) * 1000, 3)}


if __name__ == "__main__":
    url, queues, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(asyncio.run(probe(url, queues, rounds))))

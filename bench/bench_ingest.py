"""Event ingestion from the Redis stream: the exporter's consumer (decode, validate, apply
to metrics, ack) vs a bare redis-py XREADGROUP+XACK loop over the same entries, both with
redis.asyncio and hiredis, same batch size (500); BENCH_INGEST_RUNS (default 5) runs of
each, alternating, medians compared.

    python -m bench ingest
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import os
import random
import statistics
import time

import redis as redis_sync
from redis.asyncio import Redis

from exporter.app import Exporter, settle_heap
from exporter.config import Config

from .support import redis_server, row

COMMAND = "python -m bench ingest"
N = 100_000
RUNS = int(os.environ.get("BENCH_INGEST_RUNS", "5"))
STREAM = "bench:events"
# A realistic mix: the common events of a WhatsApp bot, a few label values each; the
# latencies, durations and confidences vary (see ``vary``).
MIX = [
    {"type": "message_sent", "message_type": "template", "campaign_id": "spring"},
    {"type": "message_delivered"}, {"type": "message_read"},
    {"type": "message_received", "message_type": "text"},
    {"type": "whatsapp_api_call", "endpoint": "messages", "method": "POST", "status_code": 200,
     "latency_seconds": 0.18},
    {"type": "queue_message_processed", "queue": "outbound", "message_type": "text",
     "priority": "high", "duration_seconds": 0.2},
    {"type": "intent_detected", "intent": "book_viewing", "confidence": 0.9, "automated": True},
    {"type": "webhook_received", "event_type": "statuses", "instance_name": "sales-1"},
]


def vary(e: dict, rng: random.Random) -> dict:
    """Measured values vary as in real traffic (millisecond / 1% precision)."""
    e = dict(e)
    for f in ("latency_seconds", "duration_seconds"):
        if f in e:
            e[f] = round(rng.lognormvariate(-1.7, 0.6), 3)
    if "confidence" in e:
        e["confidence"] = round(rng.uniform(0.5, 1.0), 2)
    return e


def fill(url: str) -> None:
    r = redis_sync.Redis.from_url(url)
    r.delete(STREAM)
    rng = random.Random(1)
    pipe = r.pipeline(transaction=False)
    for i, e in zip(range(N), itertools.cycle(MIX)):
        pipe.xadd(STREAM, {"event": json.dumps(vary(e, rng))})
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    r.close()


async def bare(url: str, group: str) -> float:
    r = Redis.from_url(url)
    await r.xgroup_create(STREAM, group, id="0")
    t, n = time.perf_counter(), 0
    while n < N:
        resp = await r.xreadgroup(group, "bare", {STREAM: ">"}, count=500, block=100)
        for _key, entries in resp:
            await r.xack(STREAM, group, *[i for i, _ in entries])
            n += len(entries)
    elapsed = time.perf_counter() - t
    await r.aclose()
    return elapsed


async def ours(url: str, group: str) -> float:
    exp = Exporter(Config.defaults(redis_url=url, events_stream=STREAM, consumer_group=group,
                                   consumer_name="bench"))
    consumer = exp.events_consumer(block_ms=100)
    settle_heap()  # as `python -m exporter serve` does once started
    t, n = time.perf_counter(), 0
    while n < N:
        n += await consumer.poll_once()
    elapsed = time.perf_counter() - t
    counted = sum(exp.registry.get_sample_value(
        "anclora_exporter_events_ingested_total", {"type": e["type"]}) or 0 for e in MIX)
    assert counted == N, counted
    await exp.stop()
    gc.unfreeze()  # the bare loop's runs get the heap as it was
    return elapsed


def run() -> list[dict]:
    with redis_server() as url:
        fill(url)
        bare_s, ours_s = [], []
        for i in range(RUNS):  # alternate: a burst of load on the shared machine hits both
            bare_s.append(asyncio.run(bare(url, f"bare{i}")))
            ours_s.append(asyncio.run(ours(url, f"ours{i}")))
    return [row(f"stream ingestion, {N} events (8 types, varying latencies), batches of 500, "
                f"median of {RUNS}", N / statistics.median(ours_s), N / statistics.median(bare_s),
                "events/s", "bare redis.asyncio XREADGROUP+XACK loop over the same entries",
                ">= 0.7", COMMAND)]

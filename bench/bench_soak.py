"""Soak: the busy demo's traffic at 10x, hostile requests mixed in, for 10 minutes.

    python -m bench soak                      # 600 s (or BENCH_SOAK_SECONDS)
    python -m bench soak --seconds 60 --without lone_surrogate

One exporter process (``python -m exporter serve``) on a private redis-server, both on
loopback. ``bench.traffic.BusyTraffic`` makes the busy scenario's events at 10x (about
4,000 events/s): outbound events (jobs, gauge facts) go to the events stream as the demo
sends them (XADD, MAXLEN ~ 100,000, as ``anclora_client`` does), inbound events go to
POST /events as NDJSON, every 100 ms. About 3% of requests are hostile
(``bench.hostile``: malformed JSON, 1,000-level nesting, 400-digit integers, 1e308, a lone
surrogate, bodies over the limit, bad, missing and non-UTF-8 tokens, phone numbers in
labels, new label sets, slow connections, 1 MiB NDJSON floods, poison stream entries).

Measured from outside, as Prometheus and a load balancer would:
- nothing lost: valid events sent, by type, against the growth of
  ``exporter_events_ingested_total{type}`` once the stream is drained (group lag and
  pending 0, counters still); an event whose reply was lost (time-out, 5xx) is
  "uncertain" and excluded from both lost and double counted;
- refusals by reason (``exporter_events_rejected_total{reason}``) against what each hostile
  request should add;
- RSS growth (psutil, every scrape) from the end of the warm-up to the end;
- event-loop lag: /health/live latency probed 10 times a second (a full HTTP round trip:
  it includes the lag, which dominates it when the loop is blocked), and the exporter's
  own ``exporter_event_loop_lag_seconds`` gauge (worst of 15 s) at each scrape;
- /metrics latency, one scrape a second (15x Prometheus' usual rate), 10 s time-out.
Baselines (same run): the same probes on the idle exporter before the traffic starts.

The 10-minute soak is not part of a bare ``python -m bench``: name it.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import time

import aiohttp
from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from . import hostile
from .harness import (STREAM, BenchRedis, ExporterProc, Ledger, Probe, drain,
                      read_counts, wait_live)
from .traffic import BusyTraffic

COMMAND = "python -m bench soak"
DEFAULT_SECONDS = 600
TICK = 0.1
MAXLEN = 100_000
LOAD_INFLIGHT = 100      # sends in flight at most (a stuck exporter must not pile them up)
HOSTILE_INFLIGHT = 40
SLOW_CONNECTIONS = 20    # slowloris connections held at once at most


def options(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench soak")
    p.add_argument("--seconds", type=float,
                   default=float(os.environ.get("BENCH_SOAK_SECONDS", DEFAULT_SECONDS)))
    p.add_argument("--multiplier", type=float, default=10.0, help="x the busy demo's rates")
    p.add_argument("--hostile-share", type=float, default=0.03,
                   help="share of requests that are hostile")
    p.add_argument("--without", default="", help="hostile kinds to leave out, comma-separated")
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args(argv)


class Soak:
    def __init__(self, opts, s: aiohttp.ClientSession, rds: Redis, exp: ExporterProc):
        self.opts, self.s, self.rds, self.exp = opts, s, rds, exp
        self.ledger = Ledger()
        self.target = hostile.Target(exp.port)
        self.traffic = BusyTraffic(opts.multiplier, opts.seed)
        self.rng = random.Random(opts.seed)
        self.stop = asyncio.Event()
        self.requests = collections.Counter()      # valid sends: stream batches, posts
        self.anomalies = collections.Counter()     # valid sends that did not succeed
        self.outcomes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.slow_held = 0

    # --- valid traffic ----------------------------------------------------------------
    async def _xadd(self, events: list[dict], poison: list[bytes]) -> None:
        pipe = self.rds.pipeline(transaction=False)
        for raw in poison:  # at the head of the batch: its neighbours must still count
            pipe.xadd(STREAM, {"event": raw}, maxlen=MAXLEN, approximate=True)
        for e in events:
            pipe.xadd(STREAM, {"event": json.dumps(e, separators=(",", ":"))},
                      maxlen=MAXLEN, approximate=True)
        types = collections.Counter(e["type"] for e in events)
        try:
            await asyncio.wait_for(pipe.execute(), 10)
        except Exception as e:  # noqa: BLE001 - Redis trouble is a figure here
            self.ledger.uncertain.update(types)
            self.anomalies[f"xadd {type(e).__name__}"] += 1
            return
        self.ledger.sent.update(types)
        for raw in poison:
            self.ledger.expected_rejects.update(hostile.STREAM_POISON[self._poison_kind(raw)][1])

    @staticmethod
    def _poison_kind(raw: bytes) -> str:
        return next(k for k, (p, _) in hostile.STREAM_POISON.items() if p == raw)

    async def _post(self, events: list[dict]) -> None:
        body = "\n".join(json.dumps(e, separators=(",", ":")) for e in events).encode()
        status, answer = await hostile.post(self.s, self.exp.base, body,
                                            {**hostile.AUTH, **hostile.NDJSON}, timeout=10)
        types = collections.Counter(e["type"] for e in events)
        if status == 200 and answer and answer.get("accepted") == len(events):
            self.ledger.sent.update(types)
        else:
            self.ledger.uncertain.update(types)
            self.anomalies[f"post {status}"] += 1

    async def load(self) -> None:
        inflight: set[asyncio.Task] = set()
        last = time.monotonic()
        while not self.stop.is_set():
            await asyncio.sleep(TICK)
            now = time.monotonic()
            out, inb = self.traffic.tick(min(now - last, 1.0))
            last = now
            poison, self.target.poison = self.target.poison, []
            for coro in (self._xadd(out, poison), self._post(inb) if inb else None):
                if coro is not None:
                    t = asyncio.create_task(coro)
                    inflight.add(t)
                    t.add_done_callback(inflight.discard)
            self.requests["stream batches"] += 1
            self.requests["posts"] += bool(inb)
            if len(inflight) >= LOAD_INFLIGHT:
                self.anomalies["load throttled (sends in flight)"] += 1
                await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
        if inflight:
            await asyncio.wait(inflight, timeout=30)

    # --- hostile traffic --------------------------------------------------------------
    async def _hostile_one(self, kind: str) -> None:
        out = await hostile.KINDS[kind](self.s, self.exp.base, self.target)
        self.outcomes[kind][str(out.status)] += 1
        self.ledger.sent.update(out.accepted)
        self.ledger.uncertain.update(out.uncertain)
        if kind.startswith("stream_"):
            return  # counted when the load loop has written it
        # What a correct exporter counts for this request, whatever this one did.
        self.ledger.expected_rejects.update(out.expected_rejects)

    async def hostile(self) -> None:
        kinds = {k: w for k, w in hostile.WEIGHTS.items()
                 if k not in set(filter(None, self.opts.without.split(",")))}
        names, weights = list(kinds), list(kinds.values())
        rate = self.opts.hostile_share * 20  # ~20 valid requests a second (10 XADD, 10 POST)
        inflight: set[asyncio.Task] = set()
        slow: set[asyncio.Task] = set()
        while not self.stop.is_set() and names:
            try:
                await asyncio.wait_for(self.stop.wait(), self.rng.expovariate(rate))
                break
            except asyncio.TimeoutError:
                pass
            kind = self.rng.choices(names, weights)[0]
            if len(inflight) >= HOSTILE_INFLIGHT or (kind == "slowloris" and len(slow) >= SLOW_CONNECTIONS):
                self.outcomes[kind]["skipped (too many in flight)"] += 1
                continue
            t = asyncio.create_task(self._hostile_one(kind))
            inflight.add(t)
            t.add_done_callback(inflight.discard)
            if kind == "slowloris":
                slow.add(t)
                t.add_done_callback(slow.discard)
        if inflight:  # let them finish (each is bounded), so their refusals are all in
            await asyncio.wait(inflight, timeout=70)


def _ms(v) -> str:
    return "-" if v is None else f"{v:.1f} ms"


async def _run(opts) -> list[dict]:
    redis = BenchRedis().start()
    exp = ExporterProc(redis.url, ANCLORA_LOG_LEVEL="warn").start()
    rds = Redis.from_url(redis.url, socket_timeout=5, retry=Retry(NoBackoff(), 0))
    sync = redis.client()
    rows: list[dict] = []
    try:
        conn = aiohttp.TCPConnector(limit=300)
        async with aiohttp.ClientSession(connector=conn) as s:
            if not await wait_live(s, exp.base):
                raise RuntimeError("the exporter never answered /health/live")
            quiet_for = min(10.0, max(3.0, opts.seconds / 6))
            quiet = Probe(s, exp, metrics_every=1.0, live_every=0.1).start()
            await asyncio.sleep(quiet_for)
            await quiet.stop()
            before = await read_counts(s, exp.base)
            rss0 = exp.rss_mib()
            soak = Soak(opts, s, rds, exp)
            probe = Probe(s, exp, metrics_every=1.0, live_every=0.1).start()
            t0 = time.monotonic()
            tasks = [asyncio.create_task(soak.load()), asyncio.create_task(soak.hostile())]
            await asyncio.sleep(opts.seconds)
            soak.stop.set()
            await asyncio.wait(tasks, timeout=120)
            ran = time.monotonic() - t0
            after, settled = await drain(s, exp.base, sync, timeout=60)
            await probe.stop()
            rss1 = exp.rss_mib()
            text = ""
            try:
                async with s.get(exp.base + "/metrics", timeout=aiohttp.ClientTimeout(total=60)) as r:
                    text = (await r.read()).decode("utf-8", "replace")
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
    finally:
        tracebacks = exp.tracebacks()
        exp.close()
        await rds.aclose()
        sync.close()
        redis.close()

    q, p = quiet.summary(), probe.summary()
    cmp = soak.ledger.compare(before, after) if before and after else None
    sent = sum(soak.ledger.sent.values())
    what = (f"{opts.multiplier:g}x busy demo, {ran:.0f} s, "
            f"{opts.hostile_share:.0%} hostile" + (f" (without {opts.without})" if opts.without else ""))
    if cmp is None:
        rows.append({"name": f"soak {what}: nothing lost",
                     "figure": "counters unreadable: /metrics did not answer 200 "
                               f"(before: {before is not None}, after: {after is not None})",
                     "baseline": f"{sent:,} valid events sent", "ratio": None, "command": COMMAND})
    else:
        rows.append({"name": f"soak {what}: nothing lost (exact counter comparison per type, "
                             "after the stream drained)",
                     "figure": f"lost {cmp['lost']:,}, double counted {cmp['double']:,}, "
                               f"uncertain {cmp['uncertain']:,}"
                               + ("" if settled else " (the stream never drained in 60 s)"),
                     "baseline": f"{cmp['sent']:,} valid events sent "
                                 f"({cmp['sent'] / opts.seconds:,.0f}/s), {len(soak.ledger.sent)} types",
                     "ratio": None, "command": COMMAND})
        rows.append({"name": "soak: refusals by reason (exporter_events_rejected_total)",
                     "figure": json.dumps(cmp["rejected"]),
                     "baseline": "expected " + json.dumps(cmp["rejected_expected"]),
                     "ratio": None, "match": cmp["rejects_match"], "command": COMMAND})
    rows.append({"name": "soak: exporter RSS, end of warm-up -> end (after the drain)",
                 "figure": f"{rss0:.1f} -> {rss1:.1f} MiB (+{rss1 - rss0:.1f} MiB), "
                           f"max {max(probe.rss, default=0):.1f} MiB" if rss1 else "exporter gone",
                 "baseline": f"{rss0:.1f} MiB idle", "ratio": round(rss1 / rss0, 2) if rss1 else None,
                 "command": COMMAND})
    rows.append({"name": "soak: event-loop lag, /health/live round trip probed 10/s",
                 "figure": f"p50 {_ms(p['live_p50_ms'])}, p99 {_ms(p['live_p99_ms'])}, "
                           f"max {_ms(p['live_max_ms'])}; statuses {p['live_status']}",
                 "baseline": f"idle: p99 {_ms(q['live_p99_ms'])}",
                 "ratio": round(p["live_p99_ms"] / q["live_p99_ms"], 2)
                 if p["live_p99_ms"] and q["live_p99_ms"] else None, "command": COMMAND})
    rows.append({"name": "soak: exporter_event_loop_lag_seconds (worst of 15 s) at each scrape",
                 "figure": f"p99 {_ms(p['loop_lag_gauge_p99_ms'])}, max {_ms(p['loop_lag_gauge_max_ms'])}",
                 "baseline": f"idle: max {_ms(q['loop_lag_gauge_max_ms'])}", "ratio": None,
                 "command": COMMAND})
    rows.append({"name": "soak: GET /metrics, one scrape a second, 10 s time-out",
                 "figure": f"p50 {_ms(p['metrics_p50_ms'])}, p99 {_ms(p['metrics_p99_ms'])}, "
                           f"max {_ms(p['metrics_max_ms'])}; statuses {p['metrics_status']}",
                 "baseline": f"idle: p99 {_ms(q['metrics_p99_ms'])}",
                 "ratio": round(p["metrics_p99_ms"] / q["metrics_p99_ms"], 2)
                 if p["metrics_p99_ms"] and q["metrics_p99_ms"] else None, "command": COMMAND})
    rows.append({"name": "soak: hostile requests, answers by kind (expected in WEIGHTS' docs)",
                 "figure": json.dumps({k: dict(v) for k, v in sorted(soak.outcomes.items())}),
                 "baseline": f"valid sends {dict(soak.requests)}; failed valid sends "
                             f"{dict(soak.anomalies)}", "ratio": None, "command": COMMAND})
    phones = sum(1 for line in text.split("\n") if "600 123 456" in line or "600-123-456" in line)
    api_series = sum(1 for line in text.split("\n")
                     if line.startswith("anclora_whatsapp_api_calls_total{"))
    rows.append({"name": "soak: what /metrics shows at the end",
                 "figure": f"{phones} series with a phone number, {api_series} "
                           f"whatsapp_api_calls_total series, {len(text) / 2**20:.1f} MiB; "
                           f"{tracebacks} tracebacks on the exporter's stderr",
                 "baseline": f"{soak.target.distinct:,} distinct endpoints sent",
                 "ratio": None, "command": COMMAND})
    return rows


def run(argv: list[str] | None = None) -> list[dict]:
    return asyncio.run(_run(options(argv or [])))

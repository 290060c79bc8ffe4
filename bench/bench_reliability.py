"""The reliability table: each fault or hostile input as a short scenario against a real
exporter process, one row each.

    python -m bench reliability                 # JSON rows, about 6-8 minutes
    python -m bench reliability --markdown      # the table for RELIABILITY.md
    python -m bench reliability --only redis_paused_3s,deep_nesting

Every scenario starts its own redis-server and ``python -m exporter serve`` (so one
scenario's damage cannot leak into the next), warms up for a second, then runs a steady
valid load (the busy demo's events, ~400/s, XADDed in MULTI/EXEC batches of ~20, each
event tagged with its batch number in ``ts``, a field the exporter accepts and ignores)
while probes poll /metrics every 250 ms and /health/live every 100 ms (10 s time-outs).
Then the attack, then:
- recovery: seconds from the end of the fault (Redis back, the last hostile request
  answered) until a canary event XADDed then is counted and /metrics answers 200;
- lost / double counted: exact comparison, per event type, of the growth of
  ``exporter_events_ingested_total{type}`` with the events the load wrote, once the stream
  is drained. A batch whose reply never came (Redis paused, killed) is resolved by
  looking for its ``ts`` tag in the stream afterwards; what stays unknown is "uncertain"
  and excluded from both figures;
- refusals: ``exporter_events_rejected_total{reason}`` growth against what the scenario's
  hostile inputs should add;
- RSS before the attack and after the drain; tracebacks on the exporter's stderr.
Scenarios that wipe Redis (restarted empty, FLUSHALL) pause the load and drain first:
what Redis itself forgets is not the exporter's loss. The exporter SIGKILL loses the
killed process's in-memory counters, as any Prometheus exporter does: that row compares
the new process's counts with the stream entries the killed one had not acknowledged.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import signal
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import aiohttp
import redis as redis_sync

from . import hostile
from .harness import (GROUP, STREAM, BenchRedis, Counts, ExporterProc, Ledger, Probe, drain,
                      read_counts, wait_live)
from .support import free_port
from .traffic import BusyTraffic

COMMAND = "python -m bench reliability"
CANARY = "rate_limit_rejection"  # the load never sends this type: the canary's own
RECOVERY_LIMIT = 30.0


@dataclass
class Run:
    redis: BenchRedis
    exp: ExporterProc
    s: aiohttp.ClientSession
    r: redis_sync.Redis
    ledger: Ledger = field(default_factory=Ledger)
    before: Counts | None = None
    target: hostile.Target | None = None
    notes: list[str] = field(default_factory=list)
    outcomes: collections.Counter = field(default_factory=collections.Counter)
    families: tuple[str, ...] = ()
    _seq: int = 0
    _uncertain: dict = field(default_factory=dict)   # batch tag -> event types
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _load: asyncio.Task | None = None

    # --- the valid load -------------------------------------------------------------
    def xadd(self, events: list[dict], poison: list[bytes] = ()) -> None:
        """One MULTI/EXEC batch: all or none of it is in Redis (poison first)."""
        self._seq += 1
        tag = self._seq
        events = [{**e, "ts": tag} for e in events]
        types = collections.Counter(e["type"] for e in events)
        pipe = self.r.pipeline(transaction=True)
        for raw in poison:
            pipe.xadd(STREAM, {"event": raw})
        for e in events:
            pipe.xadd(STREAM, {"event": json.dumps(e, separators=(",", ":"))})
        try:
            pipe.execute()
        except redis_sync.ResponseError:
            return  # refused as a whole (READONLY, OOM, EXECABORT): nothing written
        except (redis_sync.ConnectionError, redis_sync.TimeoutError, OSError) as e:
            if "refused" in str(e) or "111" in str(e):
                return  # never connected: nothing written
            self._uncertain[tag] = types  # sent, reply lost: resolved after the drain
            return
        self.ledger.sent.update(types)
        for raw in poison:
            kind = next(k for k, (p, _) in hostile.STREAM_POISON.items() if p == raw)
            self.ledger.expected_rejects.update(hostile.STREAM_POISON[kind][1])

    async def _load_loop(self, traffic: BusyTraffic) -> None:
        last = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            out, inb = traffic.tick(min(now - last, 1.0))  # the rate holds when sends are slow
            last = now
            events = [e for e in out + inb if e["type"] != CANARY]
            poison, self.target.poison = self.target.poison, []
            await asyncio.to_thread(self.xadd, events, poison)
            await asyncio.sleep(0.05)

    def start_load(self) -> None:
        self._stop = asyncio.Event()
        self._load = asyncio.create_task(self._load_loop(BusyTraffic(1.0, seed=self._seq + 1)))

    async def stop_load(self) -> None:
        self._stop.set()
        if self._load:
            await asyncio.wait([self._load], timeout=30)

    def resolve_uncertain(self) -> None:
        """Batches whose reply was lost: in the stream (written) or not (never written)."""
        if not self._uncertain:
            return
        present: set = set()
        try:
            last = "-"
            while True:
                entries = self.r.xrange(STREAM, min=last, count=5000)
                for eid, fields in entries:
                    try:
                        present.add(json.loads(fields[b"event"]).get("ts"))
                    except (ValueError, AttributeError, KeyError, RecursionError):
                        pass
                if len(entries) < 5000:
                    break
                last = "(" + entries[-1][0].decode()
        except redis_sync.RedisError:
            self.ledger.uncertain.update(*self._uncertain.values())
            return
        for tag, types in self._uncertain.items():
            if tag in present:
                self.ledger.sent.update(types)
        self._uncertain.clear()

    # --- measuring ------------------------------------------------------------------
    async def settle(self) -> None:
        """Stop the load and wait until the stream is read (before wiping Redis)."""
        await self.stop_load()
        await drain(self.s, self.exp.base, self.r, timeout=20)

    async def recover(self, since: float) -> float | None:
        """Seconds from ``since`` until a canary written now is counted and /metrics is 200."""
        start = await read_counts(self.s, self.exp.base, timeout=5)
        seen0 = start.ingested[CANARY] if start else None
        written = False
        while time.monotonic() - since < RECOVERY_LIMIT:
            if not written:
                try:
                    await asyncio.to_thread(self.r.xadd, STREAM, {
                        "event": json.dumps({"type": CANARY, "limiter": "canary"})})
                    self.ledger.sent[CANARY] += 1
                    written = True
                except redis_sync.RedisError:
                    pass
            now = await read_counts(self.s, self.exp.base, timeout=5)
            if written and now is not None:
                if seen0 is None:  # /metrics was broken when the canary went out
                    seen0 = (self.before.ingested[CANARY] if self.before else 0)
                if now.ingested[CANARY] > seen0:
                    return time.monotonic() - since
            await asyncio.sleep(0.1)
        return None


# --- the scenarios -----------------------------------------------------------------------

async def control(run: Run) -> None:
    await asyncio.sleep(3)
    run.notes.append("no fault: 3 s of load (the harness's own zero)")


async def redis_killed(run: Run) -> None:
    run.redis.kill()
    await asyncio.sleep(3)
    run.redis.start()
    run.notes.append("SIGKILL, 3 s down, restarted with its data (AOF, fsync always)")


async def redis_paused(run: Run) -> None:
    run.redis.pause()
    await asyncio.sleep(3)
    run.redis.resume()
    run.notes.append("SIGSTOP 3 s (> the 2 s Redis time-out), then SIGCONT")


async def redis_restarted_empty(run: Run) -> None:
    await run.settle()
    run.redis.kill()
    run.redis.wipe()
    await asyncio.sleep(1)
    run.redis.start()
    run.start_load()
    run.notes.append("load paused and drained first; SIGKILL, data wiped, restarted 1 s later")


async def redis_flushall(run: Run) -> None:
    await run.settle()
    run.r.flushall()
    run.start_load()
    run.notes.append("load paused and drained first; FLUSHALL (stream and group gone)")


async def redis_read_only(run: Run) -> None:
    run.r.execute_command("REPLICAOF", "127.0.0.1", str(free_port()))  # a master that is not there
    await asyncio.sleep(3)
    run.r.execute_command("REPLICAOF", "NO", "ONE")
    run.notes.append("REPLICAOF a dead master for 3 s: every write answers READONLY")


async def redis_oom(run: Run) -> None:
    run.r.set("bench:filler", b"x" * (2 << 20))  # used memory well past 1 MB
    run.r.config_set("maxmemory", "1mb")
    await asyncio.sleep(3)
    run.r.config_set("maxmemory", "0")
    run.r.delete("bench:filler")
    run.notes.append("CONFIG SET maxmemory 1mb (noeviction) for 3 s: writes answer OOM")


async def _hostile_many(run: Run, kinds: list[Callable], concurrency: int = 10) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def one(kind):
        async with sem:
            out = await kind(run.s, run.exp.base, run.target)
        run.outcomes[f"{out.kind} {out.status}"] += 1
        run.ledger.sent.update(out.accepted)
        run.ledger.uncertain.update(out.uncertain)
        run.ledger.expected_rejects.update(out.expected_rejects)
    await asyncio.gather(*(one(k) for k in kinds))


async def slow_connections(run: Run) -> None:
    async def slow(s, base, ctx):
        return await hostile.slowloris(s, base, ctx, hold=15.0, interval=1.0)
    await _hostile_many(run, [slow] * 1000, concurrency=1000)
    run.notes.append("1,000 connections sending headers a byte a second, held up to 15 s; "
                     "exporter RLIMIT_NOFILE 1024")


async def ndjson_floods(run: Run) -> None:
    await _hostile_many(run, [hostile.ndjson_flood] * 3, concurrency=3)
    run.notes.append("3 concurrent 1 MiB NDJSON bodies of `1` lines")


async def label_sets_100k(run: Run) -> None:
    async def batch(s, base, ctx):
        return await hostile.high_cardinality(s, base, ctx, n=5000)
    await _hostile_many(run, [batch] * 20, concurrency=2)
    run.families = ("anclora_whatsapp_api_calls_total",)
    run.notes.append("100,000 whatsapp_api_call events, each a new label set (100 endpoints x 10 methods x 100 status codes; 20 NDJSON posts)")


async def body_20mib(run: Run) -> None:
    await _hostile_many(run, [hostile.body_20mib], 1)
    run.notes.append("one 20 MiB NDJSON body (limit 1 MiB)")


async def gzip_bomb(run: Run) -> None:
    await _hostile_many(run, [hostile.gzip_bomb], 1)
    run.notes.append(f"{len(hostile._BOMB or b'') // 1024} KiB of gzip inflating to 256 MiB"
                     if hostile._BOMB else "gzip bomb")


async def bad_tokens(run: Run) -> None:
    await _hostile_many(run, [hostile.bad_token, hostile.missing_token,
                              hostile.non_utf8_token] * 100)
    run.notes.append("300 posts: wrong, missing, non-UTF-8 bearer token")


async def lone_surrogate(run: Run) -> None:
    run.target.poison.append(hostile.STREAM_POISON["stream_surrogate"][0])
    await _hostile_many(run, [hostile.lone_surrogate], 1)
    await asyncio.sleep(2)  # scrapes go on meanwhile (the probe)
    run.notes.append('"\\ud800" in message_type, posted and XADDed, then scraped')


def _with_neighbours(run: Run, poison_kind: str) -> None:
    """A poison entry at the head of 499 valid ones, in one MULTI/EXEC."""
    events = []
    traffic = BusyTraffic(1.0, seed=7)
    while len(events) < 499:
        out, inb = traffic.tick(0.1)
        events += [e for e in out + inb if e["type"] != CANARY]
    run.xadd(events[:499], [hostile.STREAM_POISON[poison_kind][0]])


async def deep_nesting(run: Run) -> None:
    await asyncio.to_thread(_with_neighbours, run, "stream_deep")
    await _hostile_many(run, [hostile.deep_nesting], 1)
    run.notes.append("1,000 nested arrays: posted, and XADDed at the head of 499 valid entries")


async def huge_numbers(run: Run) -> None:
    await asyncio.to_thread(_with_neighbours, run, "stream_huge_int")
    await _hostile_many(run, [hostile.huge_int, hostile.huge_float], 1)
    text = ""
    try:
        async with run.s.get(run.exp.base + "/metrics") as r:
            text = (await r.read()).decode("utf-8", "replace")
    except (aiohttp.ClientError, asyncio.TimeoutError):
        pass
    infinite = [ln.split(" ")[0] for ln in text.split("\n")
                if ln.startswith("anclora_analytics_conversion_value_euros_sum") and "Inf" in ln]
    run.notes.append("400-digit value_euros posted and XADDed at the head of 499 valid "
                     "entries; 1e308 posted" + (f"; {', '.join(infinite)} is +Inf" if infinite else ""))


async def exporter_sigkill(run: Run) -> None:
    run.exp.proc.send_signal(signal.SIGSTOP)  #: freeze it, so what it acknowledged stays put
    await run.stop_load()
    info = next(g for g in run.r.xinfo_groups(STREAM) if g["name"] in (GROUP, GROUP.encode()))
    last = info["last-delivered-id"]
    last = last.decode() if isinstance(last, bytes) else last
    pending = {e["message_id"] for e in run.r.xpending_range(STREAM, GROUP, "-", "+", 100_000)}
    acked = collections.Counter()
    for eid, fields in run.r.xrange(STREAM, max=last):
        if eid not in pending:
            try:
                acked[json.loads(fields[b"event"])["type"]] += 1
            except (ValueError, KeyError, TypeError, RecursionError):
                pass
    run.exp.kill()
    run.exp.start()
    await wait_live(run.s, run.exp.base)
    # The killed process's counters died with it: the new one owes what it had not acked.
    run.ledger.sent -= acked
    run.before = Counts()
    run.start_load()
    run.notes.append(f"frozen with {len(pending)} entries read but not acknowledged, SIGKILLed, "
                     "restarted; counts compared with the entries the killed one had not "
                     "acknowledged (its in-memory counters are lost, as expected)")


@dataclass
class Scenario:
    name: str
    attack: Callable[[Run], Awaitable[None]]
    persist: bool = False
    nofile: int | None = None


SCENARIOS = [
    Scenario("control_no_fault", control),
    Scenario("redis_killed_restarted", redis_killed, persist=True),
    Scenario("redis_paused_3s", redis_paused),
    Scenario("redis_restarted_empty", redis_restarted_empty),
    Scenario("redis_flushall", redis_flushall),
    Scenario("redis_read_only_3s", redis_read_only),
    Scenario("redis_oom_3s", redis_oom),
    Scenario("slow_connections_1000", slow_connections, nofile=1024),
    Scenario("ndjson_floods_3x_1mib", ndjson_floods),
    Scenario("label_sets_100k", label_sets_100k),
    Scenario("body_20mib", body_20mib),
    Scenario("gzip_bomb", gzip_bomb),
    Scenario("bad_tokens_300", bad_tokens),
    Scenario("lone_surrogate_then_scrape", lone_surrogate),
    Scenario("deep_nesting", deep_nesting),
    Scenario("huge_numbers", huge_numbers),
    Scenario("exporter_sigkill", exporter_sigkill),
]


async def run_scenario(sc: Scenario) -> dict:
    redis = BenchRedis(persist=sc.persist).start()
    exp = ExporterProc(redis.url, nofile=sc.nofile).start()
    r = redis.client()
    row: dict = {"name": sc.name}
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=2000)) as s:
            run = Run(redis, exp, s, r, target=hostile.Target(exp.port))
            if not await wait_live(s, exp.base):
                raise RuntimeError("exporter not live")
            # The baseline before the first event: the ledger counts from the load's start.
            run.before = await read_counts(s, exp.base)
            run.start_load()
            await asyncio.sleep(1.0)
            rss0 = exp.rss_mib()
            probe = Probe(s, exp, metrics_every=0.25, live_every=0.1).start()
            try:
                await asyncio.wait_for(sc.attack(run), 120)
            except asyncio.TimeoutError:
                run.notes.append("the attack did not finish within 120 s")
            recovery = await run.recover(time.monotonic())
            await asyncio.sleep(0.5)
            await run.stop_load()
            await probe.stop()
            after, settled = await drain(s, exp.base, r, timeout=30)
            run.resolve_uncertain()
            if after is not None and run.families:
                after = await read_counts(s, exp.base, timeout=60, families=run.families) or after
            cmp = run.ledger.compare(run.before, after) if run.before and after else None
            p = probe.summary()
            row.update({
                "sent": sum(run.ledger.sent.values()),
                "lost": cmp["lost"] if cmp else None, "double": cmp["double"] if cmp else None,
                "uncertain": cmp["uncertain"] if cmp else None,
                "recovery_s": round(recovery, 2) if recovery is not None else None,
                "rss_before_mib": round(rss0, 1) if rss0 else None,
                "rss_after_mib": round(exp.rss_mib() or 0, 1) or None,
                "metrics_p50_ms": p["metrics_p50_ms"], "metrics_p99_ms": p["metrics_p99_ms"],
                "metrics_status": p["metrics_status"], "live_p99_ms": p["live_p99_ms"],
                "live_status": p["live_status"],
                "rejected": cmp["rejected"] if cmp else None,
                "rejected_expected": dict(sorted(run.ledger.expected_rejects.items())),
                "rejects_match": cmp["rejects_match"] if cmp else False,
                "answers": dict(sorted(run.outcomes.items())),
                "series": after.series if after else {},
                # Entries the exporter itself declared lost (trimmed or skipped before read).
                "gap": (after.gap - run.before.gap) if after and run.before else None,
                "drained": settled, "tracebacks": exp.tracebacks(),
                "notes": "; ".join(run.notes)})
    except Exception as e:  # noqa: BLE001 - one broken scenario is a row, not the end
        row["error"] = f"{type(e).__name__}: {e}"[:300]
    finally:
        exp.close()
        r.close()
        redis.close()
    row["command"] = COMMAND
    return row


def _cell(row: dict) -> list[str]:
    if "error" in row:
        return [f"`{row['name']}`", "-", "-", "-", "-", "-", "-", "-", "-", f"bench error: {row['error']}"]

    def n(v):
        return "?" if v is None else f"{v:,}"
    lost = n(row["lost"]) + (f" ({row['uncertain']:,} uncertain)" if row.get("uncertain") else "")
    rec = "not within 30 s" if row["recovery_s"] is None else f"{row['recovery_s']:.2f}"
    statuses = ", ".join(f"{k}: {v}" for k, v in row["metrics_status"].items())
    rejects = "yes" if row["rejects_match"] else (
        f"no: got {json.dumps(row['rejected'])}, expected {json.dumps(row['rejected_expected'])}")
    extra = [row["notes"]]
    if row["answers"]:
        extra.append("answers " + ", ".join(f"{k} x{v}" for k, v in row["answers"].items()))
    if row["series"]:
        extra.append("series " + ", ".join(f"{k} {v:,}" for k, v in row["series"].items()))
    if row.get("gap"):
        extra.append(f"exporter_stream_gap_entries_total +{row['gap']:,.0f}")
    if row["tracebacks"]:
        extra.append(f"{row['tracebacks']} tracebacks on stderr")
    if not row["drained"]:
        extra.append("stream not drained in 30 s")
    return [f"`{row['name']}`", n(row["sent"]), lost, n(row["double"]), rec,
            f"{row['rss_before_mib']} -> {row['rss_after_mib']}",
            f"{row['metrics_p50_ms']} / {row['metrics_p99_ms']}", statuses,
            f"{row['live_p99_ms']}", rejects, "; ".join(extra).replace("|", "\\|")]


def markdown(rows: list[dict]) -> str:
    head = ["scenario", "events sent", "lost", "double counted", "recovery (s)",
            "RSS before -> after (MiB)", "/metrics p50 / p99 (ms)", "/metrics statuses",
            "/health/live p99 (ms)", "refusals as expected", "notes"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_cell(r)) + " |" for r in rows]
    return "\n".join(out)


def run(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(prog="python -m bench reliability")
    p.add_argument("--markdown", action="store_true", help="also print the markdown table")
    p.add_argument("--only", default="", help="scenario names, comma-separated")
    opts = p.parse_args(argv or [])
    only = set(filter(None, opts.only.split(",")))
    unknown = only - {s.name for s in SCENARIOS}
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}")
    rows = []
    for sc in SCENARIOS:
        if not only or sc.name in only:
            row = asyncio.run(run_scenario(sc))
            print(json.dumps({"bench": "bench_reliability", **row}), flush=True)
            rows.append(row)
    if opts.markdown:
        print(markdown(rows), flush=True)
    return []  # printed as they come: a scenario can take a while

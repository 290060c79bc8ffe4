"""BullMQ queues: our collector against BullMQ's own clients, and our /metrics against
prometheus-redis-exporter on the same Redis, from 10 to 1,000 queues.

Starts its own redis-server, exporters and Node on free loopback ports and stops them
after. Queues are filled by the real Python BullMQ client (20 waiting, 10 prioritized at
three priorities, 5 delayed jobs each), plus 100 completed and 7 failed ids (ZADD: only
their ZCARD is read, and running a Worker per queue would dominate the bench's run time).

Rows (every ratio is ours / baseline, both measured in this run; ours and the baseline
are timed in alternating blocks, BLOCKS of BENCH_ROUNDS each, and the medians of the
block medians compared, so a burst of load on the shared machine hits both):
- the collector's scrape (``collect()``: both round trips, the families built) of 50
  queues against ``Queue.getJobCounts()`` of the Node BullMQ client (bench/node, from
  npm) on one shared ioredis connection, the queues one after another and all at once
  (``Promise.all``: ioredis pipelines them); and against the Python client, one after
  another; on loopback and through a TCP proxy that delays each direction (a Redis on
  another host);
- GET /metrics on one keep-alive connection, no gzip, against prometheus-redis-exporter
  at 10, 50, 200 and 1,000 queues (and prometheus-node-exporter at 50); with gzip at 50;
  at 1,000 queues also with every queue's counts changed before each scrape (the queues
  are idle otherwise, and the collector keeps the text of a family that did not change);
- full garbage-collector passes per scrape at each size (bench/scrape_probe.py).

Run: ``python -m bench bullmq`` (env BENCH_ROUNDS, default 30).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time

import redis as redis_sync
from redis.asyncio import Redis

from exporter.collectors.bullmq import BullMQCollector
from exporter.config import Config
from tests.support.procs import RedisServer, free_port, terminate, wait_for_port

from .support import KeepAlive, row

QUEUES = 50
CURVE = (10, 50, 200, 1000)
TARGETS = {50: "<= 1.5", 1000: "<= 10"}  # /metrics against redis_exporter (issue 14)
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "30"))
BLOCKS = 3
DELAY = 0.0005  # seconds per direction through the proxy (asyncio rounds sleeps up to ~1 ms)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE_DIR = os.path.join(ROOT, "bench", "node")
COMMAND = "python -m bench bullmq"


def queue_names(n: int) -> list[str]:
    return [f"bench-{i:04d}" for i in range(n)]


def _latency_proxy(target_port: int, delay: float) -> int:
    """A loopback TCP proxy adding ``delay`` per direction, in its own thread and loop."""
    port, ready = free_port(), threading.Event()

    async def pump(reader, writer):
        try:
            while data := await reader.read(65536):
                await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def handle(reader, writer):
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    async def serve():
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        ready.set()
        async with server:
            await server.serve_forever()

    threading.Thread(target=lambda: asyncio.run(serve()), daemon=True).start()
    ready.wait(5)
    return port


async def _fill(url: str, names: list[str]) -> None:
    from bullmq import Queue
    r = Redis.from_url(url)
    for name in names:
        q = Queue(name, {"connection": url})
        jobs = [{"name": "send_text", "data": {"i": j}} for j in range(20)]
        jobs += [{"name": "send_text", "data": {}, "opts": {"priority": 1 + j % 3}}
                 for j in range(10)]
        jobs += [{"name": "reminder", "data": {}, "opts": {"delay": 3_600_000}}
                 for _ in range(5)]
        await q.addBulk(jobs)
        await q.close()
        await r.zadd(f"bull:{name}:completed", {str(10_000 + j): j for j in range(100)})
        await r.zadd(f"bull:{name}:failed", {str(20_000 + j): j for j in range(7)})
    await r.aclose()


# --- the BullMQ clients --------------------------------------------------------------

def node_ready() -> None:
    """bench/node's packages (BullMQ, ioredis), installed from its lock file once."""
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "bullmq")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=NODE_DIR, check=True, timeout=600)


def node_job_counts(url: str, names: list[str], rounds: int) -> dict:
    """Medians of the Node client's getJobCounts on every queue: {"sequential": s,
    "parallel": s, "counts": the first queue's counts}."""
    out = subprocess.run(["node", "job_counts.mjs", url, str(rounds), *names], cwd=NODE_DIR,
                         capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout)


async def _median(fn, rounds: int = ROUNDS) -> float:
    await fn()  # warm connections and script caches
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


async def _collector_vs_clients(url: str, names: list[str], where: str) -> list[dict]:
    """Our collector's scrape against getJobCounts on every queue, in alternating blocks."""
    from bullmq import Queue
    redis = Redis.from_url(url, socket_timeout=5)
    collector = BullMQCollector(redis, Config.defaults(redis_url=url, queues=tuple(names)))
    clients = [Queue(name, {"connection": url}) for name in names]

    async def python_loop():
        for q in clients:
            await q.getJobCounts()

    ours, python, node_seq, node_par = [], [], [], []
    for _ in range(BLOCKS):
        ours.append(await _median(collector.collect))
        node = node_job_counts(url, names, ROUNDS)
        node_seq.append(node["sequential"])
        node_par.append(node["parallel"])
        python.append(await _median(python_loop))
    counts = (await collector.job_counts())[names[0]]
    assert counts == {**node["counts"], "paused": 0}, (counts, node["counts"])
    for q in clients:
        await q.close()
    await redis.aclose()
    ours_s = statistics.median(ours)
    name = f"bullmq collector scrape, {len(names)} queues, {where}"
    return [row(f"{name} vs Node getJobCounts with Promise.all on one connection",
                ours_s * 1e3, statistics.median(node_par) * 1e3, "ms",
                "Node BullMQ 6.7 getJobCounts x 50, Promise.all, one ioredis connection",
                "<= 1.0", COMMAND),
            row(f"{name} vs Node getJobCounts one queue after another",
                ours_s * 1e3, statistics.median(node_seq) * 1e3, "ms",
                "Node BullMQ 6.7 getJobCounts x 50, sequential", None, COMMAND),
            row(f"{name} vs Python getJobCounts one queue after another",
                ours_s * 1e3, statistics.median(python) * 1e3, "ms",
                "Python bullmq getJobCounts x 50, sequential", None, COMMAND)]


async def _round_trips(url: str, names: list[str]) -> dict:
    """Round trips and commands packed over 3 scrapes of idle queues: every state read
    packed at the first scrape, the oldest jobs' timestamps read in a second trip at the
    first scrape only (later, with the state reads: the tails have not moved); at the
    second, the reads sent from then on (fewer: those the replies can answer are left
    out), in blocks of queues, packed once."""
    from redis.asyncio.connection import Connection
    packs = []
    real_pack = Connection.pack_commands

    def pack(self, cmds):
        packs.append(len(cmds))
        return real_pack(self, cmds)

    redis = Redis.from_url(url, socket_timeout=5)
    collector = BullMQCollector(redis, Config.defaults(redis_url=url, queues=tuple(names)))
    Connection.pack_commands = pack
    trips = []
    try:
        for _ in range(3):
            before = collector.round_trips
            await collector.collect()
            trips.append(collector.round_trips - before)
    finally:
        Connection.pack_commands = real_pack
        await redis.aclose()
    state = len(collector.plan(names).reads.cmds)
    expected = ([2, 1, 1], [state, len(names), *(len(p.cmds) for *_, p in collector._asked)])
    return {"name": f"round trips per scrape and commands packed, 3 scrapes of {len(names)} "
                    "idle queues", "figure": [trips, packs],
            "baseline": "state reads packed once, then the blocks of those still sent; "
                        "timestamps in a 2nd trip at the 1st scrape",
            "ok": (trips, packs) == expected, "command": COMMAND}


# --- /metrics -----------------------------------------------------------------------

def _start(cmd: list[str], port: int, env: dict | None = None) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_for_port(port, 30)
    return proc


def _ours(server: RedisServer, queues: int, **env: str) -> tuple[subprocess.Popen, int]:
    """``python -m exporter serve`` watching the first ``queues`` queues discovery finds
    (other settings in ``env``), and its port."""
    port = free_port()
    env = {**os.environ, "ANCLORA_REDIS_URL": server.url, "ANCLORA_MAX_QUEUES": str(queues),
           "ANCLORA_LISTEN_ADDRESS": f"127.0.0.1:{port}", "ANCLORA_LOG_LEVEL": "error", **env}
    return _start([sys.executable, "-m", "exporter", "serve"], port, env), port


def _alternate(a: KeepAlive, b: KeepAlive, gzip_a: bool = False, before=None) -> tuple:
    """(median s of a, of b, a's last body, b's last body) over alternating blocks;
    ``before()`` runs untimed before each GET of either."""
    ta, tb = [], []
    for _ in range(BLOCKS):
        t, body_a = a.median(ROUNDS, gzip=gzip_a, before=before)
        ta.append(t)
        t, body_b = b.median(ROUNDS, before=before)
        tb.append(t)
    return statistics.median(ta), statistics.median(tb), body_a, body_b


class _EveryQueueBusy:
    """Called before a scrape: one more completed job in every queue (one pipelined ZADD
    per queue), so that every queue's counts changed since the last scrape."""

    def __init__(self, url: str, names: list[str]):
        self.r, self.names, self.n = redis_sync.Redis.from_url(url), names, 0

    def __call__(self) -> None:
        self.n += 1
        pipe = self.r.pipeline(transaction=False)
        for name in self.names:
            pipe.zadd(f"bull:{name}:completed", {f"busy-{self.n}": self.n})
        pipe.execute()


def _gc_probe(url: str, queues: int) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.scrape_probe", url, str(queues),
                          str(ROUNDS * BLOCKS)], cwd=ROOT, capture_output=True, text=True,
                         timeout=600, check=True)
    return json.loads(out.stdout)


def _metrics_rows(server: RedisServer) -> list[dict]:
    rows, ports, procs = [], {"redis_exporter": free_port(), "node": free_port()}, []
    try:
        procs.append(_start(["/usr/bin/prometheus-redis-exporter",
                             f"--redis.addr=redis://127.0.0.1:{server.port}",
                             f"--web.listen-address=127.0.0.1:{ports['redis_exporter']}"],
                            ports["redis_exporter"]))
        procs.append(_start(["/usr/bin/prometheus-node-exporter",
                             f"--web.listen-address=127.0.0.1:{ports['node']}"], ports["node"]))
        peer = KeepAlive(ports["redis_exporter"])
        curve = {}
        for n in CURVE:
            proc, port = _ours(server, n)
            ours = KeepAlive(port)
            try:
                mine, theirs, body, their_body = _alternate(ours, peer)
                curve[n] = mine
                rows.append(row(f"GET /metrics, {n} queues, keep-alive, no gzip, "
                                "vs prometheus-redis-exporter on the same Redis",
                                mine * 1e3, theirs * 1e3, "ms", "prometheus-redis-exporter",
                                TARGETS.get(n), COMMAND, bytes=len(body),
                                baseline_bytes=len(their_body),
                                ms_per_queue=round((mine - curve[CURVE[0]]) * 1e3
                                                   / (n - CURVE[0]), 4) if n != CURVE[0]
                                else None))
                if n == max(CURVE):
                    busy = _EveryQueueBusy(server.url, queue_names(n))
                    mine, theirs, body, _ = _alternate(ours, peer, before=busy)
                    busy.r.close()
                    rows.append(row(f"GET /metrics, {n} queues, every queue's counts changed "
                                    "since the last scrape, keep-alive, no gzip, vs "
                                    "prometheus-redis-exporter", mine * 1e3, theirs * 1e3, "ms",
                                    "prometheus-redis-exporter", None, COMMAND))
                if n == QUEUES:
                    node = KeepAlive(ports["node"])
                    mine, theirs, body, their_body = _alternate(ours, node)
                    rows.append(row(f"GET /metrics, {n} queues, keep-alive, no gzip, vs "
                                    "prometheus-node-exporter", mine * 1e3, theirs * 1e3, "ms",
                                    "prometheus-node-exporter", None, COMMAND,
                                    bytes=len(body), baseline_bytes=len(their_body)))
                    node.close()
                    zipped, plain, zbody, pbody = _alternate(ours, ours, gzip_a=True)
                    rows.append(row(f"GET /metrics, {n} queues, keep-alive, "
                                    "Accept-Encoding: gzip vs identity", zipped * 1e3,
                                    plain * 1e3, "ms", "the same exporter, no gzip", None,
                                    COMMAND, bytes=len(zbody), baseline_bytes=len(pbody),
                                    gzip_cost_ms=round((zipped - plain) * 1e3, 3)))
            finally:
                ours.close()
                terminate(proc)
            gc = _gc_probe(server.url, n)
            rows.append({"name": f"full garbage-collector passes per scrape, {n} queues "
                                 "(refresh + render, in process)",
                         "figure": round(gc["full_gc"] / gc["scrapes"], 3),
                         "baseline": "one per scrape", "target": "< 1",
                         "met": gc["full_gc"] < gc["scrapes"], **gc, "command": COMMAND})
        peer.close()
    finally:
        for p in procs:
            terminate(p)
    return rows


async def _bench(server: RedisServer) -> list[dict]:
    names = queue_names(max(CURVE))
    await _fill(server.url, names)
    fifty = names[:QUEUES]
    rows = [await _round_trips(server.url, fifty)]
    rows += await _collector_vs_clients(server.url, fifty, "Redis on loopback")
    proxied = f"redis://127.0.0.1:{_latency_proxy(server.port, DELAY)}/0"
    ping = Redis.from_url(proxied)
    rtt = await _median(ping.ping)
    await ping.aclose()
    rows += await _collector_vs_clients(proxied, fifty,
                                        f"through a latency proxy (RTT {rtt * 1e3:.2f} ms)")
    return rows


def run() -> list[dict]:
    node_ready()
    server = RedisServer().start()
    try:
        rows = asyncio.run(_bench(server))
        return rows + _metrics_rows(server)
    finally:
        server.cleanup()

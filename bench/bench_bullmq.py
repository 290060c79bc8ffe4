"""50 BullMQ queues: our one-round-trip scrape vs the BullMQ client's getJobCounts per queue,
and our /metrics latency next to prometheus-redis-exporter and prometheus-node-exporter.

Starts its own redis-server and exporters on free loopback ports and stops them after.
Jobs are made by the real Python BullMQ client (waiting, prioritized at three priorities,
delayed); completed/failed sets are filled with ZADD (only their ZCARD is read, and running
a Worker per queue would dominate the bench's own run time).
Loopback round trips cost ~0.1 ms, so (a) is also measured through a TCP proxy that
delays every chunk by DELAY each way, as a Redis on another host would.
Run: ``python -m bench bullmq`` (env BENCH_ROUNDS, default 30).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

from redis.asyncio import Redis

from exporter.collectors.bullmq import BullMQCollector
from exporter.config import Config
from tests.support.procs import RedisServer, free_port, wait_for_port

QUEUES = 50
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "30"))
DELAY = 0.0005  # seconds per direction through the proxy (asyncio rounds sleeps up to ~1 ms)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


async def _fill(url: str) -> list:
    from bullmq import Queue
    queues = []
    r = Redis.from_url(url)
    for i in range(QUEUES):
        q = Queue(f"bench-{i:02d}", {"connection": url})
        jobs = [{"name": "send_text", "data": {"i": j}} for j in range(20)]
        jobs += [{"name": "send_text", "data": {}, "opts": {"priority": 1 + j % 3}}
                 for j in range(10)]
        jobs += [{"name": "reminder", "data": {}, "opts": {"delay": 3_600_000}}
                 for _ in range(5)]
        await q.addBulk(jobs)
        await r.zadd(f"bull:bench-{i:02d}:completed", {str(10_000 + j): j for j in range(100)})
        await r.zadd(f"bull:bench-{i:02d}:failed", {str(20_000 + j): j for j in range(7)})
        queues.append(q)
    await r.aclose()
    return queues


async def _median(fn, rounds: int = ROUNDS) -> float:
    await fn()  # warm connections and script caches
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _http_median(url: str, rounds: int = ROUNDS) -> tuple[float, int]:
    body = urllib.request.urlopen(url, timeout=10).read()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        body = urllib.request.urlopen(url, timeout=10).read()
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(body)


def _start(cmd: list[str], port: int, env: dict | None = None) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_for_port(port, 20)
    return proc


async def _scrape_vs_client(url: str, queues: list) -> tuple[float, float]:
    """Median of one collector scrape and of getJobCounts on each of the 50 queues."""
    from bullmq import Queue
    redis = Redis.from_url(url, socket_timeout=5)
    collector = BullMQCollector(redis, Config.defaults(redis_url=url))
    ours = await _median(collector.collect)
    counts = await collector.job_counts()
    assert len(counts) == QUEUES and counts["bench-00"]["prioritized"] == 10, counts["bench-00"]
    clients = [Queue(q.name, {"connection": url}) for q in queues]

    async def client_loop():
        for q in clients:
            await q.getJobCounts()
    theirs = await _median(client_loop)
    for q in clients:
        await q.close()
    await redis.aclose()
    return ours, theirs


async def _packing(url: str) -> dict:
    """Commands packed and writes made over 3 scrapes of the same queues: the state reads
    are packed once while the queue list is unchanged, the age lookup on every scrape,
    and each round trip is one write (was tests/collectors/test_bullmq.py's assertion
    ``packs == [28, 1, 1, 1]`` for 2 queues)."""
    from redis.asyncio.connection import Connection
    packs, writes = [], []
    real_pack, real_send = Connection.pack_commands, asyncio.StreamWriter.writelines

    def pack(self, cmds):
        packs.append(len(cmds))
        return real_pack(self, cmds)

    def send(self, *a, **kw):
        writes.append(1)
        return real_send(self, *a, **kw)

    redis = Redis.from_url(url, socket_timeout=5)
    await redis.ping()  # the connection's handshake is writes too: made before counting
    # Named queues: discovery's SCANs would be writes of their own.
    names = tuple(f"bench-{i:02d}" for i in range(QUEUES))
    collector = BullMQCollector(redis, Config.defaults(redis_url=url, queues=names))
    Connection.pack_commands, asyncio.StreamWriter.writelines = pack, send
    try:
        for _ in range(3):
            await collector.collect()
    finally:
        Connection.pack_commands, asyncio.StreamWriter.writelines = real_pack, real_send
        await redis.aclose()
    state = len(collector.plan(list(names)).reads.cmds)
    return {"name": "commands packed over 3 scrapes of 50 queues (state reads, then age lookups)",
            "figure": packs, "baseline": [state] + [packs[-1]] * 3,
            "baseline_name": "state reads packed once, one age lookup per scrape",
            "writes": len(writes), "round_trips": collector.round_trips,
            "ok": packs == [state] + [packs[-1]] * 3 and len(writes) == collector.round_trips,
            "command": "python -m bench bullmq"}


async def _bench(server: RedisServer) -> list[dict]:
    queues = await _fill(server.url)
    for q in queues:
        await q.close()
    rows = [await _packing(server.url)]
    proxied = f"redis://127.0.0.1:{_latency_proxy(server.port, DELAY)}/0"
    for url in (server.url, proxied):
        ping = Redis.from_url(url)
        rtt = await _median(ping.ping)
        await ping.aclose()
        where = f"redis RTT {rtt * 1000:.2f} ms" + (" (latency proxy)" if url == proxied else "")
        ours, theirs = await _scrape_vs_client(url, queues)
        rows.append({"name": f"bullmq collector scrape, 50 queues, {where} (median s)",
                     "figure": round(ours, 5), "baseline": round(theirs, 5),
                     "baseline_name": "bullmq client getJobCounts x 50",
                     "ratio": round(theirs / ours, 2), "command": "python -m bench bullmq"})

    procs, ports = [], {name: free_port() for name in ("ours", "redis_exporter", "node")}
    env = {**os.environ, "ANCLORA_REDIS_URL": server.url,
           "ANCLORA_LISTEN_ADDRESS": f"127.0.0.1:{ports['ours']}", "ANCLORA_LOG_LEVEL": "error"}
    try:
        procs.append(_start([sys.executable, "-m", "exporter", "serve"], ports["ours"], env))
        procs.append(_start(["/usr/bin/prometheus-redis-exporter",
                             f"--redis.addr=redis://127.0.0.1:{server.port}",
                             f"--web.listen-address=127.0.0.1:{ports['redis_exporter']}"],
                            ports["redis_exporter"]))
        procs.append(_start(["/usr/bin/prometheus-node-exporter",
                             f"--web.listen-address=127.0.0.1:{ports['node']}"], ports["node"]))
        got = {name: _http_median(f"http://127.0.0.1:{port}/metrics")
               for name, port in ports.items()}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
    ours_http, ours_bytes = got["ours"]
    for name in ("redis_exporter", "node"):
        base, base_bytes = got[name]
        rows.append({"name": f"/metrics latency, ours vs {name} (median s)",
                     "figure": round(ours_http, 5), "baseline": round(base, 5),
                     "baseline_name": name, "ratio": round(ours_http / base, 2),
                     "bytes": ours_bytes, "baseline_bytes": base_bytes,
                     "command": "python -m bench bullmq"})
    return rows


def run() -> list[dict]:
    server = RedisServer().start()
    try:
        return asyncio.run(_bench(server))
    finally:
        server.cleanup()

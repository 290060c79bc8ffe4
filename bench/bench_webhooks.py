"""Meta webhooks into the exporter: its POST /webhooks/meta (signature check, parse, dedupe
in Redis, metrics) vs a bare aiohttp handler that only reads the body, in the same run.

Both servers run as their own process pinned to the same core (the exporter as
``python -m exporter serve``, with its middleware and connection guard), the load
generator in this process on the other core: a lean HTTP/1.1 client over keep-alive
connections (a Python client is the bottleneck long before either server otherwise),
sending pre-signed webhooks, each a different message's status (sent, delivered or read,
PMP pricing), so every dedupe claim is a new one. The two servers take turns, burst by
burst (``ROUNDS`` bursts of ``BURST`` each), so a busy neighbour on this shared machine
slows both alike; a run's ratio is ours / bare over its bursts, and the table keeps the
median of ``RUNS`` runs. Then 1,000-status batches (Meta batches statuses) into the
exporter alone: statuses counted per second, one core. Every status sent is checked
counted once in /metrics.

    python -m bench webhooks
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import psutil

from anclora_demo import whatsapp as wa
from exporter.ingest import meta

from .harness import wait_port
from .support import free_port, redis_server

COMMAND = "python -m bench webhooks"
SECRET = "bench-app-secret"
WARMUP, BURST, ROUNDS = 200, 500, 6  # single-status webhooks per server and run
CONNECTIONS = 16
BATCHES, BATCH = 20, 1000
RUNS = 3
SERVER_CORE, CLIENT_CORE = 0, 1

BARE = """
import sys
from aiohttp import web
async def handle(request):
    await request.read()
    return web.Response(text="ok\\n")
app = web.Application(client_max_size=1 << 20)
app.router.add_post("/webhooks/meta", handle)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def _pin(core: int):
    def pin():
        if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > core:
            os.sched_setaffinity(0, {core})
    return pin


def start_server(kind: str, redis_url: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    if kind == "bare":
        cmd = [sys.executable, "-c", BARE, str(port)]
        env = os.environ
    else:
        cmd = [sys.executable, "-m", "exporter", "serve"]
        env = {**os.environ, "ANCLORA_REDIS_URL": redis_url, "ANCLORA_META_APP_SECRET": SECRET,
               "ANCLORA_LISTEN_ADDRESS": f"127.0.0.1:{port}", "ANCLORA_EVENTS_STREAM": "",
               "ANCLORA_BULLMQ_EVENTS": "false", "ANCLORA_HEALTH_INTERVAL_SECONDS": "0",
               "ANCLORA_LOG_LEVEL": "warn", "ANCLORA_QUEUES": "none"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=_pin(SERVER_CORE))
    if not wait_port(port):
        proc.kill()
        raise RuntimeError(f"the {kind} server did not start")
    return proc, port


def request(port: int, body: bytes) -> bytes:
    head = (f"POST /webhooks/meta HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"{meta.SIGNATURE_HEADER}: {meta.signature(SECRET, body)}\r\n\r\n")
    return head.encode() + body


def single_bodies(run: str, n: int) -> list[bytes]:
    kinds = ("sent", "delivered", "read")
    return [json.dumps(wa.meta_webhook(wa.messages(statuses=[wa.status(
        wa.wamid("34600123456", i) + run, kinds[i % 3], "34600123456", 1_764_500_000 + i,
        "utility")]))).encode() for i in range(n)]


def batch_bodies(run: str) -> list[bytes]:
    kinds = ("sent", "delivered", "read", "failed")
    return [json.dumps(wa.meta_webhook(wa.messages(statuses=[wa.status(
        f"{wa.wamid('34600123456', b * BATCH + i)}{run}", kinds[i % 4], "34600123456",
        1_764_500_000, "marketing", errors=(131026,)) for i in range(BATCH)]))).encode()
        for b in range(BATCHES)]


async def _connection(port: int, requests: list[bytes], statuses: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for req in requests:
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            statuses.append(int(head[9:12]))
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
    finally:
        writer.close()


async def blast(port: int, requests: list[bytes], connections: int) -> tuple[float, list[int]]:
    """Send every request over ``connections`` keep-alive connections; (seconds, statuses)."""
    statuses: list[int] = []
    shares = [requests[i::connections] for i in range(connections)]
    t = time.perf_counter()
    await asyncio.gather(*(_connection(port, share, statuses) for share in shares))
    return time.perf_counter() - t, statuses


def counted(port: int) -> float:
    """Statuses the exporter counted, from its /metrics."""
    import urllib.request
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("anclora_whatsapp_message_statuses_total{"))


def measure(url: str, run: int) -> tuple[float, float, float, float]:
    """One run: ours and bare in webhooks/s, then in CPU seconds per webhook (of the
    server process), the servers taking turns burst by burst."""
    servers = {kind: start_server(kind, url) for kind in ("bare", "ours")}
    try:
        seconds = {"bare": 0.0, "ours": 0.0}
        cpu = {"bare": 0.0, "ours": 0.0}  # the server's own CPU seconds over its bursts
        n = WARMUP + BURST * ROUNDS
        reqs = {kind: [request(port, b) for b in single_bodies(f"{kind}{run}", n)]
                for kind, (_, port) in servers.items()}
        for kind, (_, port) in servers.items():
            asyncio.run(blast(port, reqs[kind][:WARMUP], CONNECTIONS))
        for r in range(ROUNDS):
            for kind in (("bare", "ours") if r % 2 else ("ours", "bare")):
                burst = reqs[kind][WARMUP + r * BURST:WARMUP + (r + 1) * BURST]
                before = sum(psutil.Process(servers[kind][0].pid).cpu_times()[:2])
                took, statuses = asyncio.run(blast(servers[kind][1], burst, CONNECTIONS))
                cpu[kind] += sum(psutil.Process(servers[kind][0].pid).cpu_times()[:2]) - before
                assert set(statuses) == {200}, set(statuses)
                seconds[kind] += took
        implied = sum(1 for j in range(n) if j % 3 == 2)  # each read implies delivered
        assert counted(servers["ours"][1]) == n + implied
        n = BURST * ROUNDS
        return n / seconds["ours"], n / seconds["bare"], cpu["ours"] / n, cpu["bare"] / n
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(10)


def run() -> list[dict]:
    _pin(CLIENT_CORE)()
    with redis_server() as url:
        runs = [measure(url, i) for i in range(RUNS)]
        proc, port = start_server("ours", url)
        try:
            reqs = [request(port, b) for b in batch_bodies("batch")]
            seconds, statuses = asyncio.run(blast(port, reqs, 2))
            assert set(statuses) == {200}, set(statuses)
            per_batch = BATCH + BATCH // 4  # reads imply delivered
            assert counted(port) == BATCHES * per_batch, counted(port)
            batch_rate = BATCHES * BATCH / seconds
        finally:
            proc.terminate()
            proc.wait(10)
    ours, bare, ours_cpu, bare_cpu = runs[sorted(range(RUNS),
                                                 key=lambda i: runs[i][0] / runs[i][1])[RUNS // 2]]
    shown = ", ".join(f"{o:,.0f}/{b:,.0f} ({o / b:.2f})" for o, b, _, _ in runs)
    return [
        {"name": f"POST /webhooks/meta, one status each, {CONNECTIONS} connections, server on "
                 f"one core, median run of {RUNS}",
         "figure": f"{ours:,.0f} webhooks/s", "baseline": f"bare aiohttp handler reading the "
                                                         f"body {bare:,.0f} requests/s",
         "ratio": round(ours / bare, 2), "runs": shown, "target": ">= 0.5",
         "cpu_per_webhook": f"ours {ours_cpu * 1e6:.0f} us, bare {bare_cpu * 1e6:.0f} us",
         "command": COMMAND},
        {"name": f"POST /webhooks/meta, {BATCHES} batches of {BATCH} statuses, 2 connections, "
                 "server on one core",
         "figure": f"{batch_rate:,.0f} statuses/s", "target": ">= 2,000", "command": COMMAND},
    ]

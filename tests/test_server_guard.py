"""Slow and idle connections cannot lock out Prometheus (issue 9, item 9): request headers
must arrive within a deadline, bodies too, and connections are capped below the file
limit, the oldest connection without a request giving way to a new one."""

import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import time

import aiohttp
import pytest
from aiohttp import web

from exporter.app import Exporter
from exporter.config import Config
from exporter.server import GuardedSite, make_app
from tests.support.procs import free_port, terminate, wait_for_port

SLOW_START = b"GET /metrics HTTP/1.1\r\nHost: x\r\n"  # headers never finished


async def timed_get(session, url):
    started = time.perf_counter()
    async with session.get(url) as r:
        await r.read()
        return r.status, time.perf_counter() - started


@pytest.fixture
async def guarded(redis_url):
    made = []

    async def start(**settings):
        # The guard as `serve` builds it: from the exporter's settings.
        exporter = Exporter(Config.defaults(redis_url=redis_url, redis_timeout=0.5, **settings))
        guard = exporter.connections
        runner = web.AppRunner(make_app(exporter), access_log=None)
        await runner.setup()
        site = GuardedSite(runner, "127.0.0.1", 0)
        await site.start()
        made.append((runner, exporter))
        return f"http://127.0.0.1:{site.port}", guard
    yield start
    for runner, exporter in made:
        await runner.cleanup()
        await exporter.stop()


async def open_slow(port, n):
    conns = []
    for _ in range(n):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(SLOW_START)
        conns.append((reader, writer))
    await asyncio.gather(*(w.drain() for _, w in conns))
    return conns


async def is_closed(reader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), 0.5) == b""
    except ConnectionError:  # closed by a reset (abort)
        return True
    except asyncio.TimeoutError:
        return False


async def test_scrapes_answer_while_more_slow_connections_than_the_cap_are_open(guarded):
    url, guard = await guarded(http_max_connections=40, http_header_timeout=1.5)
    port = int(url.rsplit(":", 1)[1])
    slow = await open_slow(port, 90)  # cap + 50
    await asyncio.sleep(0.1)
    assert guard.open_connections <= 40
    async with aiohttp.ClientSession() as session:
        for path in ("/metrics", "/health/live", "/metrics"):
            status, seconds = await asyncio.wait_for(timed_get(session, url + path), 5)
            assert status == 200 and seconds < 1.0, (path, seconds)
    assert guard.evicted >= 50
    # The slow connections left are closed once their headers are overdue.
    await asyncio.sleep(2.5)
    closed = [await is_closed(reader) for reader, _ in slow]
    for _, writer in slow:
        writer.close()
    assert all(closed), closed.count(False)
    assert guard.open_connections == 0 and guard.closed_slow >= 1
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "/metrics") as r:
            text = await r.text()
    closed_total = 'anclora_exporter_http_connections_closed_total{reason="%s"} '
    assert closed_total % "connection_limit" + f"{float(guard.evicted)}" in text
    assert closed_total % "header_timeout" + f"{float(guard.closed_slow)}" in text
    assert "anclora_exporter_http_connections 1.0" in text  # the scrape's own


async def test_a_connection_sending_nothing_is_closed_after_the_header_timeout(guarded):
    url, guard = await guarded(http_max_connections=40, http_header_timeout=0.5)
    port = int(url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert 0.4 < time.perf_counter() - started < 2.0
    writer.close()
    assert guard.closed_slow == 1


async def test_keep_alive_connection_survives_between_requests(guarded):
    # An idle keep-alive connection after a complete request is aiohttp's keepalive
    # timeout's business, not the header deadline's: Prometheus reuses its connection.
    url, guard = await guarded(http_max_connections=40, http_header_timeout=0.5)
    async with aiohttp.ClientSession() as session:
        status, _ = await timed_get(session, url + "/health/live")
        await asyncio.sleep(1.0)
        status2, _ = await timed_get(session, url + "/health/live")
    assert (status, status2) == (200, 200)
    assert guard.closed_slow == 0


async def test_a_trickled_body_gets_408_and_is_counted(guarded):
    url, guard = await guarded(http_body_timeout=0.5)
    port = int(url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{\"type\":")
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:40]
    assert b"did not arrive" in answer
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "/metrics") as r:
            text = await r.text()
    assert 'anclora_exporter_events_rejected_total{reason="timeout"} 1.0' in text


def _nofile(limit):
    def set_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    return set_limit


def _open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_real_server_keeps_answering_past_its_file_limit(redis_url, tmp_path):
    """`python -m exporter serve` with 256 files: 400 slow connections used to exhaust
    them (accept fails, /metrics stops answering); now it evicts and keeps answering."""
    port = free_port()
    env = {**os.environ, "ANCLORA_REDIS_URL": redis_url,
           "ANCLORA_LISTEN_ADDRESS": f"127.0.0.1:{port}", "ANCLORA_LOG_LEVEL": "warn"}
    out_path = tmp_path / "out.log"
    with open(out_path, "wb") as out:  # a file, not a pipe: nothing blocks on a full pipe
        proc = subprocess.Popen([sys.executable, "-m", "exporter", "serve"], env=env,
                                stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=_nofile(256), cwd=os.getcwd())
    slow = []
    try:
        wait_for_port(port)
        for _ in range(400):
            # Once the server stops accepting, the backlog fills and connect() hangs.
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.sendall(SLOW_START)
            slow.append(s)
        time.sleep(0.3)
        for path in ("/metrics", "/health/live"):
            started = time.perf_counter()
            with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
                s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path.encode())
                head = s.recv(64)
            assert head.startswith(b"HTTP/1.1 200"), (path, head)
            assert time.perf_counter() - started < 1.0, path
        assert _open_fds(proc.pid) < 256
    finally:
        for s in slow:
            s.close()
        terminate(proc)
    lines = [line for line in out_path.read_text().splitlines() if line.strip()]
    assert not [line for line in lines if line.startswith("Traceback")], lines[:5]
    assert all(json.loads(line) for line in lines), lines[:5]

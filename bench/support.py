"""What the benchmarks share: a private redis-server on a free loopback port, timing,
keep-alive HTTP GETs, rows as ratios against a baseline of the same run."""

from __future__ import annotations

import contextlib
import http.client
import shutil
import statistics
import socket
import subprocess
import tempfile
import time

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def redis_server():
    """Yields the URL of a redis-server that lives as long as the block."""
    binary = shutil.which("redis-server")
    if not binary:
        raise RuntimeError("redis-server is not installed")
    port, tmp = free_port(), tempfile.mkdtemp(prefix="anclora-bench-")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", tmp],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        r = redis.Redis.from_url(url)
        for _ in range(200):
            try:
                r.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.025)
        r.close()
        yield url
    finally:
        proc.terminate()
        proc.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)


def best_of(n: int, fn) -> float:
    """The fastest of ``n`` runs of ``fn()``, in seconds (the least disturbed by noise)."""
    best = float("inf")
    for _ in range(n):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


class KeepAlive:
    """GET requests on one persistent HTTP/1.1 connection, as Prometheus scrapes (it keeps
    its connection to a target open between scrapes)."""

    def __init__(self, port: int, timeout: float = 30.0):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def get(self, path: str = "/metrics", gzip: bool = False) -> tuple[float, bytes]:
        """(seconds, body as sent) of one GET; ``gzip``: with ``Accept-Encoding: gzip``."""
        headers = {"Accept-Encoding": "gzip" if gzip else "identity"}
        start = time.perf_counter()
        self.conn.request("GET", path, headers=headers)
        response = self.conn.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - start
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status}")
        return elapsed, body

    def median(self, rounds: int, path: str = "/metrics", gzip: bool = False,
               before=None) -> tuple[float, bytes]:
        """(median seconds over ``rounds`` GETs after one warm-up, the last body);
        ``before()``, if given, runs (untimed) before each GET."""
        _, body = self.get(path, gzip)
        times = []
        for _ in range(rounds):
            if before is not None:
                before()
            elapsed, body = self.get(path, gzip)
            times.append(elapsed)
        return statistics.median(times), body

    def close(self) -> None:
        self.conn.close()


def row(name: str, figure: float, baseline: float, unit: str, baseline_name: str,
        target: str | None, command: str, **extra) -> dict:
    """One bench row: ``ratio`` = figure / baseline, both measured in the same run, and
    whether it meets ``target`` (e.g. "<= 1.5", ">= 0.7"; None: a figure of a curve)."""
    ratio = figure / baseline
    met = None
    if target:
        op, bound = target.split()
        met = ratio <= float(bound) if op == "<=" else ratio >= float(bound)
    return {"name": name, "figure": f"{figure:.4g} {unit}",
            "baseline": f"{baseline_name}: {baseline:.4g} {unit}", "ratio": round(ratio, 3),
            "target": target, "met": met, "command": command, **extra}

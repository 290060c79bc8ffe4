"""The real parts the soak and the reliability bench drive, and how they are measured.

- ``BenchRedis``: a private redis-server on a free loopback port that can be killed,
  paused (SIGSTOP), restarted with or without its data (AOF, fsync always).
- ``ExporterProc``: ``python -m exporter serve`` as its own process (started, SIGKILLed,
  restarted), with its stderr kept in a file so a traceback can be counted.
- ``read_counts``: the self-metrics the "nothing lost" check compares, parsed from
  /metrics by prefix (prometheus_client's parser would take seconds on 100k series).
- ``Probe``: /metrics and /health/live polled from outside while an attack runs; every
  request has a timeout, so a stuck exporter is a figure, never a hung bench.
- ``Ledger``: what the bench sent, per event type, and what the exporter should refuse,
  per reason; events whose fate is unknown (reply lost) are kept apart as "uncertain".

Everything is on loopback, and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import collections
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import aiohttp
import psutil
import redis as redis_sync
from redis.backoff import NoBackoff
from redis.retry import Retry

from .support import free_port, percentile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NS = "anclora"
STREAM = "bench:events"
GROUP = "anclora-exporter"
TOKEN = "bench-token"


def wait_port(port: int, timeout: float = 10.0) -> bool:
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class BenchRedis:
    """A redis-server we own. ``persist`` keeps its data across a kill (AOF, fsync always)."""

    def __init__(self, persist: bool = False):
        self.binary = shutil.which("redis-server")
        if not self.binary:
            raise RuntimeError("redis-server is not installed")
        self.port, self.persist = free_port(), persist
        self.dir = tempfile.mkdtemp(prefix="anclora-bench-redis-")
        self.proc: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "BenchRedis":
        aof = ["--appendonly", "yes", "--appendfsync", "always"] if self.persist else \
              ["--appendonly", "no"]
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--dir", self.dir, "--protected-mode", "no", *aof],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_port(self.port):
            raise RuntimeError("redis-server did not start")
        return self

    def client(self, timeout: float = 2.0) -> redis_sync.Redis:
        # No retries: the bench must see each failure, not have redis-py resend for it.
        return redis_sync.Redis.from_url(self.url, socket_timeout=timeout,
                                         socket_connect_timeout=timeout,
                                         retry=Retry(NoBackoff(), 0))

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a paused one must be able to die
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def wipe(self) -> None:
        """Forget the data on disk (the next start is empty)."""
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir, exist_ok=True)

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class ExporterProc:
    """``python -m exporter serve`` against ``redis_url``, on a free loopback port."""

    def __init__(self, redis_url: str, nofile: int | None = None, **env: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.nofile = nofile
        self.env = {**os.environ, "ANCLORA_REDIS_URL": redis_url,
                    "ANCLORA_LISTEN_ADDRESS": f"127.0.0.1:{self.port}",
                    "ANCLORA_EVENTS_STREAM": STREAM, "ANCLORA_CONSUMER_GROUP": GROUP,
                    "ANCLORA_AUTH_TOKEN": TOKEN, "ANCLORA_BULLMQ_EVENTS": "false",
                    "ANCLORA_STREAM_CLAIM_IDLE_SECONDS": "1", "ANCLORA_LOG_LEVEL": "warn",
                    **env}
        self.stderr_path = tempfile.mktemp(prefix="anclora-bench-exporter-", suffix=".err")
        self.proc: subprocess.Popen | None = None
        self.ps: psutil.Process | None = None
        self.starts = 0

    def start(self, timeout: float = 20.0) -> "ExporterProc":
        limit = self.nofile

        def lower_fd_limit():  # e.g. 1024, the usual default, so fd exhaustion shows
            if limit:
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        self.starts += 1
        err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "exporter", "serve"], env=self.env,
                                     cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err,
                                     preexec_fn=lower_fd_limit)
        err.close()
        self.ps = psutil.Process(self.proc.pid)
        if not wait_port(self.port, timeout):
            raise RuntimeError(f"the exporter did not listen within {timeout}s: "
                               f"{self.stderr()[-500:]}")
        return self

    def rss_mib(self) -> float | None:
        try:
            return self.ps.memory_info().rss / 2**20
        except (psutil.Error, AttributeError):
            return None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait(5)

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def stderr(self) -> str:
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def tracebacks(self) -> int:
        return self.stderr().count("Traceback (most recent call last)")

    def close(self) -> None:
        self.stop()
        try:
            os.unlink(self.stderr_path)
        except OSError:
            pass


# --- reading the exporter's counters -----------------------------------------------------

WANTED = (f"{NS}_exporter_events_ingested_total{{", f"{NS}_exporter_events_rejected_total{{",
          f"{NS}_exporter_event_loop_lag_seconds ", f"{NS}_exporter_stream_gap_entries_total",
          "process_resident_memory_bytes ")


@dataclass
class Counts:
    ingested: collections.Counter = field(default_factory=collections.Counter)  # by type
    rejected: collections.Counter = field(default_factory=collections.Counter)  # by reason
    loop_lag: float | None = None
    gap: float = 0.0
    rss: float | None = None
    series: dict = field(default_factory=dict)  # family -> series count (when asked)
    size: int = 0


def _label(line: str, name: str) -> str:
    start = line.index(f'{name}="') + len(name) + 2
    return line[start:line.index('"', start)]


def parse_counts(text: str, families: tuple[str, ...] = ()) -> Counts:
    c = Counts(size=len(text))
    for fam in families:
        c.series[fam] = 0
    for line in text.split("\n"):
        if not line or line[0] == "#":
            continue
        for fam in families:
            if line.startswith(fam) and line[len(fam)] in "{ ":
                c.series[fam] += 1
        if not line.startswith(WANTED):
            continue
        value = float(line.rsplit(" ", 1)[1])
        if "events_ingested_total{" in line:
            c.ingested[_label(line, "type")] += int(value)
        elif "events_rejected_total{" in line:
            c.rejected[_label(line, "reason")] += int(value)
        elif "event_loop_lag" in line:
            c.loop_lag = value
        elif "stream_gap" in line:
            c.gap += value
        else:
            c.rss = value
    return c


async def read_counts(s: aiohttp.ClientSession, base: str, timeout: float = 30.0,
                      families: tuple[str, ...] = ()) -> Counts | None:
    """The counters from one scrape, or None when /metrics does not answer 200."""
    try:
        async with s.get(base + "/metrics", timeout=aiohttp.ClientTimeout(total=timeout)) as r:
            if r.status != 200:
                return None
            text = (await r.read()).decode("utf-8", "replace")
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
        return None
    return parse_counts(text, families)


async def wait_live(s: aiohttp.ClientSession, base: str, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with s.get(base + "/health/live", timeout=aiohttp.ClientTimeout(total=2)) as r:
                if r.status == 200:
                    return True
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            pass
        await asyncio.sleep(0.1)
    return False


# --- probing while an attack runs --------------------------------------------------------

class Probe:
    """Polls /metrics (every ``metrics_every`` s) and /health/live (every ``live_every`` s)
    and samples the exporter's RSS. Latencies are wall time of a full GET over loopback;
    a request that times out counts as status "timeout" with its time-out as latency."""

    def __init__(self, s: aiohttp.ClientSession, exporter: ExporterProc,
                 metrics_every: float = 0.5, live_every: float = 0.1, timeout: float = 10.0):
        self.s, self.exp, self.timeout = s, exporter, timeout
        self.metrics_every, self.live_every = metrics_every, live_every
        self.metrics_ms: list[float] = []
        self.live_ms: list[float] = []
        self.statuses: collections.Counter = collections.Counter()
        self.live_statuses: collections.Counter = collections.Counter()
        self.rss: list[float] = []
        self.loop_lag: list[float] = []  # the exporter's own gauge, at each scrape
        self._tasks: list[asyncio.Task] = []

    async def _get(self, path: str) -> tuple[object, float, bytes]:
        t = time.perf_counter()
        try:
            async with self.s.get(self.exp.base + path,
                                  timeout=aiohttp.ClientTimeout(total=self.timeout)) as r:
                body = await r.read()
                return r.status, time.perf_counter() - t, body
        except asyncio.TimeoutError:
            return "timeout", time.perf_counter() - t, b""
        except (aiohttp.ClientError, OSError) as e:
            return type(e).__name__, time.perf_counter() - t, b""

    async def _metrics_loop(self):
        while True:
            status, dt, body = await self._get("/metrics")
            self.statuses[status] += 1
            self.metrics_ms.append(dt * 1000)
            if status == 200:
                lag = parse_counts(body.decode("utf-8", "replace")).loop_lag
                if lag is not None:
                    self.loop_lag.append(lag * 1000)
            rss = self.exp.rss_mib()
            if rss is not None:
                self.rss.append(rss)
            await asyncio.sleep(max(0.0, self.metrics_every - dt))

    async def _live_loop(self):
        while True:
            status, dt, _ = await self._get("/health/live")
            self.live_statuses[status] += 1
            self.live_ms.append(dt * 1000)
            await asyncio.sleep(max(0.0, self.live_every - dt))

    def start(self) -> "Probe":
        self._tasks = [asyncio.create_task(self._metrics_loop()),
                       asyncio.create_task(self._live_loop())]
        return self

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def summary(self) -> dict:
        def pct(v, p):
            return round(percentile(v, p), 1) if v else None
        return {"metrics_p50_ms": pct(self.metrics_ms, 50), "metrics_p99_ms": pct(self.metrics_ms, 99),
                "metrics_max_ms": round(max(self.metrics_ms), 1) if self.metrics_ms else None,
                "metrics_status": dict(sorted(((str(k), v) for k, v in self.statuses.items()))),
                "live_p50_ms": pct(self.live_ms, 50), "live_p99_ms": pct(self.live_ms, 99),
                "live_max_ms": round(max(self.live_ms), 1) if self.live_ms else None,
                "live_status": dict(sorted(((str(k), v) for k, v in self.live_statuses.items()))),
                "loop_lag_gauge_p99_ms": pct(self.loop_lag, 99),
                "loop_lag_gauge_max_ms": round(max(self.loop_lag), 1) if self.loop_lag else None}


# --- what was sent -----------------------------------------------------------------------

@dataclass
class Ledger:
    """Valid events the exporter accepted an obligation for (``sent``), events whose
    fate is unknown (``uncertain``: a reply was lost), and refusals expected by reason."""
    sent: collections.Counter = field(default_factory=collections.Counter)
    uncertain: collections.Counter = field(default_factory=collections.Counter)
    expected_rejects: collections.Counter = field(default_factory=collections.Counter)

    def compare(self, before: Counts, after: Counts) -> dict:
        """lost / double counted, by exact comparison of ingested_total{type} deltas with
        what was sent; uncertain events may go either way and are excluded."""
        lost = double = 0
        for t in set(self.sent) | set(after.ingested) | set(self.uncertain):
            got = after.ingested[t] - before.ingested[t]
            lost += max(0, self.sent[t] - got)
            double += max(0, got - self.sent[t] - self.uncertain[t])
        rejected = after.rejected - before.rejected
        return {"sent": sum(self.sent.values()), "uncertain": sum(self.uncertain.values()),
                "lost": lost, "double": double,
                "rejected": dict(sorted(rejected.items())),
                "rejected_expected": dict(sorted(self.expected_rejects.items())),
                "rejects_match": +rejected == +self.expected_rejects}


def stream_state(r: redis_sync.Redis) -> dict | None:
    """The group's lag and pending count (None while Redis or the group is missing)."""
    try:
        for g in r.xinfo_groups(STREAM):
            if g["name"] in (GROUP, GROUP.encode()):
                return {"pending": g["pending"], "lag": g.get("lag")}
    except redis_sync.RedisError:
        return None
    return None


async def drain(s: aiohttp.ClientSession, base: str, r: redis_sync.Redis,
                timeout: float = 30.0) -> tuple[Counts | None, bool]:
    """Wait until the stream is read and acknowledged and the counters stop moving.
    Returns the last counts and whether it settled within ``timeout``."""
    deadline = time.monotonic() + timeout
    last, stable = None, 0
    while time.monotonic() < deadline:
        state = await asyncio.to_thread(stream_state, r)
        now = await read_counts(s, base)
        settled = state is None or (state["pending"] == 0 and not state["lag"])
        if now is not None and last is not None and settled and \
                now.ingested == last.ingested and now.rejected == last.rejected:
            stable += 1
            if stable >= 2:
                return now, True
        else:
            stable = 0
        last = now if now is not None else last
        await asyncio.sleep(0.3)
    return last, False

"""What the fault tests share: exporter replicas as subprocesses (``replica.py``), the
events they are fed, and the ledger that counts them by stream id.

    added = add_events(r, 5000)                  # XADD, straight to Redis; their ids
    rep = Replica("r1", redis_url, tmp_path).start()
    wait_until_counted(r, added, [rep])          # every id applied, or the group drained
    led = ledger(added, [rep])                   # led.lost, led.double: both must be 0

Counting by id, not by the exporter's counters: a SIGKILLed replica takes its counters
with it, its journal (``replica.py``) survives. lost = ids added that no replica applied;
double = ids applied more than once, by one replica or two.

Waits are generous (a busy 2-core box) and end early: ``wait_until_counted`` returns as
soon as every id is applied, or once the group has had nothing pending and nothing unread
for a moment - then nothing more can come, and a test of a defect fails fast instead of
running into its deadline.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support.procs import free_port
from tests.support.relay import Relay

ROOT = Path(__file__).resolve().parents[2]
STREAM = "anclora:events"
GROUP = "anclora-exporter"
MESSAGES_SENT = "anclora_analytics_messages_sent_total"
REDIS_UP = "anclora_exporter_redis_up"
# Every event is a message_sent (one increment of MESSAGES_SENT), so the counters of a
# live replica can be checked against its journal; the labels vary a little.
EVENTS = [json.dumps({"type": "message_sent", "message_type": t}).encode()
          for t in ("text", "template", "media")]


def add_events(r, n: int, chunk: int = 500) -> list[bytes]:
    """XADD ``n`` events (pipelined, ``chunk`` per round trip); their ids, in order."""
    ids: list[bytes] = []
    for start in range(0, n, chunk):
        pipe = r.pipeline(transaction=False)
        for i in range(start, min(n, start + chunk)):
            pipe.xadd(STREAM, {"event": EVENTS[i % len(EVENTS)]})
        ids.extend(pipe.execute())
    return ids


class Replica:
    """One exporter process (the real ``serve``, plus the journal hook)."""

    def __init__(self, name: str, redis_url: str, workdir: Path, **env: str):
        self.name = name
        self.port = free_port()
        self.journal = workdir / f"{name}.journal"
        self.log_path = workdir / f"{name}.log"  # its stdout and stderr
        self.env = {**os.environ,
                    "ANCLORA_REDIS_URL": redis_url,
                    "ANCLORA_LISTEN_ADDRESS": f"127.0.0.1:{self.port}",
                    "ANCLORA_CONSUMER_NAME": name,
                    "ANCLORA_EVENTS_STREAM": STREAM,
                    "ANCLORA_CONSUMER_GROUP": GROUP,
                    # Reclaim a dead replica's entries quickly (production: 30 s).
                    "ANCLORA_STREAM_CLAIM_IDLE_SECONDS": "1",
                    # Only the events stream: fewer moving parts, less CPU on a shared box.
                    "ANCLORA_BULLMQ_EVENTS": "false",
                    "ANCLORA_HEALTH_INTERVAL_SECONDS": "0",
                    "ANCLORA_LOG_LEVEL": "warn",
                    **env}
        self.proc: subprocess.Popen | None = None
        self._tail_offset, self._tail_lines, self._tail_tag = 0, 0, b""

    def start(self, timeout: float = 30.0) -> "Replica":
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.faults.replica", str(self.journal)],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"replica {self.name} exited with {self.proc.returncode}:\n"
                                   + self.log())
            try:
                self.metrics_text(timeout=1.0)
                return self
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"replica {self.name} not serving after {timeout}s:\n" + self.log())

    def log(self) -> str:
        """The end of what the replica printed (its logs), for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)  # a paused one cannot handle SIGTERM
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def metrics_text(self, timeout: float = 15.0) -> str:
        return get(f"http://127.0.0.1:{self.port}/metrics", timeout)[1]

    def lines(self) -> list[tuple[bytes, list[bytes]]]:
        """The journal: (b"P" or b"A", ids) per complete line."""
        try:
            data = self.journal.read_bytes()
        except FileNotFoundError:
            return []
        out = []
        for line in data.split(b"\n")[:-1]:  # a line without its newline is not written yet
            tag, *ids = line.split(b" ")
            out.append((tag, ids))
        return out

    def applied(self) -> list[bytes]:
        return [i for tag, ids in self.lines() if tag == b"A" for i in ids]

    def progress(self) -> tuple[int, bytes]:
        """(journal lines so far, tag of the last one: b"P", b"A" or b""), reading only
        what was appended since the last call: cheap enough to poll every millisecond.
        A last line b"P" means the replica is between prepare and record: its ack is in
        flight (or about to be), the batch not yet recorded as applied."""
        try:
            with open(self.journal, "rb") as f:
                f.seek(self._tail_offset)
                data = f.read()
        except FileNotFoundError:
            return 0, b""
        end = data.rfind(b"\n") + 1  # complete lines only
        if end:
            self._tail_offset += end
            self._tail_lines += data.count(b"\n", 0, end)
            self._tail_tag = data[data.rfind(b"\n", 0, end - 1) + 1:][:1]
        return self._tail_lines, self._tail_tag


def get(url: str, timeout: float) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, resp.read().decode()


def metric_sum(text: str, name: str) -> float:
    return sum(s.value for fam in text_string_to_metric_families(text)
               for s in fam.samples if s.name == name)


@dataclass
class Ledger:
    added: int
    applied: int      # applications recorded, all replicas (with repeats)
    lost: int         # added, applied by none
    double: int       # applications beyond the first, per id
    foreign: int      # applied ids the test never added (must be 0 too)

    def __str__(self) -> str:
        return (f"added={self.added} applied={self.applied} lost={self.lost} "
                f"double={self.double} foreign={self.foreign}")


def ledger(added: list[bytes], replicas: list[Replica]) -> Ledger:
    applied = [i for rep in replicas for i in rep.applied()]
    seen = Counter(applied)
    added_set = set(added)
    return Ledger(added=len(added_set), applied=len(applied),
                  lost=len(added_set - seen.keys()),
                  double=sum(n - 1 for n in seen.values()),
                  foreign=len(seen.keys() - added_set))


def group_info(r) -> dict | None:
    """XINFO GROUPS' entry of the exporters' group; None without stream or group."""
    try:
        groups = r.xinfo_groups(STREAM)
    except Exception:  # noqa: BLE001 - no stream yet, Redis down
        return None
    return next((g for g in groups if g["name"] in (GROUP, GROUP.encode())), None)


def group_drained(r) -> bool:
    """Nothing pending, nothing unread: no replica has anything left to apply."""
    g = group_info(r)
    return g is not None and g["pending"] == 0 and g.get("lag") == 0


def wait_until_counted(r, added: list[bytes], replicas: list[Replica], timeout: float = 45.0,
                       quiet: float = 2.0) -> float:
    """Until every id in ``added`` is applied, or the group stayed drained ``quiet``
    seconds (nothing more can come), or ``timeout``. Returns the seconds waited."""
    want = set(added)
    t0 = time.monotonic()
    drained_since = None
    while time.monotonic() - t0 < timeout:
        if want <= {i for rep in replicas for i in rep.applied()}:
            break
        if group_drained(r):
            drained_since = drained_since or time.monotonic()
            if time.monotonic() - drained_since >= quiet:
                break
        else:
            drained_since = None
        time.sleep(0.1)
    return time.monotonic() - t0


class RelayThread:
    """``tests.support.relay.Relay`` on its own event loop in a thread, so the fault tests
    can stay synchronous (sleeps, SIGSTOP, blocking Redis calls) while it forwards."""

    def __init__(self, host: str, port: int):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.relay = Relay(host, port)

    def __enter__(self) -> "RelayThread":
        self._thread.start()
        self._call(self.relay.start())
        return self

    def __exit__(self, *exc) -> None:
        self._call(self.relay.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    @property
    def port(self) -> int:
        return self.relay.port

    @property
    def dropped(self) -> int:
        return self.relay.dropped

    def drop_replies_after(self, marker: bytes, times: int = 1) -> None:
        """Armed when this returns (not merely scheduled), so what is sent next is seen."""
        async def arm():
            self.relay.drop_replies_after(marker, times)
        self._call(arm())

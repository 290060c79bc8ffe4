"""Redis killed (SIGKILL) and restarted empty on the same port: the exporter keeps
answering /metrics, says Redis is down, and once Redis is back counts every event written
to the new, empty Redis - once - without a restart of its own."""

from __future__ import annotations

import signal
import time

import pytest
import redis as redis_sync

from tests.faults.harness import (MESSAGES_SENT, REDIS_UP, STREAM, Replica, add_events, get,
                                  ledger, metric_sum, wait_until_counted)
from tests.support.procs import wait_for_port

pytestmark = pytest.mark.faults

BEFORE, AFTER = 2000, 3000
OUTAGE_S = 3.0
RECOVERY_BOUND_S = 40  # generous: the read backoff is capped at 30 s today (issue 9 item 4)


def test_redis_killed_and_restarted_empty(own_redis, tmp_path):
    r = redis_sync.Redis.from_url(own_redis.url)
    rep = Replica("r1", own_redis.url, tmp_path).start()
    try:
        before = add_events(r, BEFORE)
        wait_until_counted(r, before, [rep])
        assert ledger(before, [rep]).lost == 0, "not even counted before the fault"
        assert metric_sum(rep.metrics_text(), REDIS_UP) == 1

        own_redis.proc.send_signal(signal.SIGKILL)
        own_redis.proc.wait(10)
        own_redis.proc = None
        r.close()
        # Down: /metrics still answers, and says so.
        scrapes = []
        killed = time.monotonic()
        while time.monotonic() - killed < OUTAGE_S or len(scrapes) < 2:
            t = time.monotonic()
            status, text = get(f"http://127.0.0.1:{rep.port}/metrics", timeout=15)
            scrapes.append((status, metric_sum(text, REDIS_UP), time.monotonic() - t))
            time.sleep(0.3)
        assert all(status == 200 and up == 0 for status, up, _ in scrapes), scrapes

        own_redis.start()  # same port, empty: no save, no AOF
        restarted = time.monotonic()
        r = redis_sync.Redis.from_url(own_redis.url)
        assert not r.exists(STREAM), "Redis did not come back empty"
        after = add_events(r, AFTER)
        first = None
        deadline = restarted + RECOVERY_BOUND_S
        while first is None and time.monotonic() < deadline:
            if set(after) & set(rep.applied()):
                first = time.monotonic() - restarted
            else:
                time.sleep(0.02)
        waited = wait_until_counted(r, after, [rep])
        first_up_after_restart = metric_sum(rep.metrics_text(), REDIS_UP)
        led = ledger(after, [rep])
        everything = ledger(before + after, [rep])
        print(f"\n[redis restarted empty] scrapes while down={len(scrapes)} "
              f"(slowest {max(s for _, _, s in scrapes):.2f}s) restart -> first event counted="
              + (f"{first:.2f}s" if first is not None else f"none in {RECOVERY_BOUND_S}s")
              + f" after restart: {led}; overall double={everything.double} waited={waited:.1f}s"
              f" first scrape after: up={first_up_after_restart:.0f}")
        assert first is not None, f"no event counted {RECOVERY_BOUND_S}s after Redis came back"
        assert (led.lost, led.double) == (0, 0), str(led)  # (foreign: the ids from before)
        assert (everything.lost, everything.double, everything.foreign) == (0, 0, 0)
        # The journal is what the exporter applied: its counter says the same.
        assert metric_sum(rep.metrics_text(), MESSAGES_SENT) == everything.applied
        # Redis is back (the events above came through it): the next scrape says so. It
        # must not fail on a connection that died with the old Redis and sat in the pool.
        assert first_up_after_restart == 1, (
            "first scrape after Redis came back reported exporter_redis_up 0 (then: "
            f"{[metric_sum(rep.metrics_text(), REDIS_UP) for _ in range(2)]})")
    finally:
        rep.stop()
        r.close()

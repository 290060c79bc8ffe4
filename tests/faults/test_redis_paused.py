"""Redis paused longer than the exporter's socket timeout with an ack in flight (issue 9
item 2): SIGSTOP on redis-server for 1.5 s, ANCLORA_REDIS_TIMEOUT_SECONDS=0.5. The ack
times out in the client while it waits, unanswered, in Redis' socket, and Redis may run
it when it resumes. Whatever the client does meanwhile (retry, give up), every entry must
end up applied exactly once."""

from __future__ import annotations

import os
import signal
import time

import pytest
import redis as redis_sync

from tests.faults.harness import (MESSAGES_SENT, Replica, add_events, group_info, ledger,
                                  metric_sum, wait_until_counted)

pytestmark = pytest.mark.faults

PAUSES, PAUSE_S, TIMEOUT_S = 5, 1.5, "0.5"
CHUNK = 2000
BUDGET_S = 40  # for the pauses, recoveries included (the suite's bound is a minute)


def test_redis_paused_with_acks_in_flight_neither_loses_nor_double_counts(own_redis, tmp_path):
    r = redis_sync.Redis.from_url(own_redis.url)
    redis_pid = own_redis.proc.pid
    added = add_events(r, CHUNK)
    rep = Replica("r1", own_redis.url, tmp_path,
                  ANCLORA_REDIS_TIMEOUT_SECONDS=TIMEOUT_S).start()
    tries, caught, recoveries = 0, 0, []
    deadline = time.monotonic() + BUDGET_S
    lines_before = 0
    try:
        while caught < PAUSES and time.monotonic() < deadline:
            # Pause Redis the moment the replica has prepared a new batch (one since the
            # last pause: a replica still recovering from it proves nothing): its ack is
            # about to go out or already has.
            polls = 0
            while time.monotonic() < deadline:
                lines, last = rep.progress()
                if lines > lines_before and last == b"P":
                    break
                if polls % 50 == 0 and (group_info(r) or {}).get("lag", 0) < CHUNK // 2:
                    added += add_events(r, CHUNK)  # keep a backlog: the replica stays busy
                polls += 1
                time.sleep(0.001)
            else:
                break
            os.kill(redis_pid, signal.SIGSTOP)
            try:
                time.sleep(PAUSE_S)
                # Nothing recorded in 1.5 s: the ack was still unanswered when Redis stopped.
                in_flight = rep.progress()[0] == lines
            finally:
                os.kill(redis_pid, signal.SIGCONT)
            resumed = time.monotonic()
            tries += 1
            added += add_events(r, 500)  # events keep coming; and there is work to resume
            if in_flight:
                caught += 1
                while (time.monotonic() < deadline
                       and not any(tag == b"A" for tag, _ in rep.lines()[lines:])):
                    time.sleep(0.01)
                recoveries.append(time.monotonic() - resumed)  # resume -> a batch applied
            lines_before = lines
        waited = wait_until_counted(r, added, [rep])
        led = ledger(added, [rep])
        print(f"\n[redis paused] pauses={tries} with ack in flight={caught} {led} "
              f"waited={waited:.1f}s; after those, resume -> a batch applied: "
              + ", ".join(f"{s:.2f}s" for s in recoveries))
        assert (led.lost, led.double, led.foreign) == (0, 0, 0), str(led)
        assert caught == PAUSES, (f"only {caught} of {tries} pauses caught an ack "
                                  f"in flight within {BUDGET_S}s")
        # The journal is what the exporter applied: its counter says the same.
        assert metric_sum(rep.metrics_text(), MESSAGES_SENT) == led.applied
    finally:
        os.kill(redis_pid, signal.SIGCONT)
        rep.stop()
        r.close()

"""An exporter replica SIGKILLed while events flow, three replicas in one consumer group:
the survivors take over what it held (XAUTOCLAIM once idle for
ANCLORA_STREAM_CLAIM_IDLE_SECONDS) and every event is applied once, by id, where what the
dead replica applied before it died counts as applied (its journal survives it).

The kill instant. A replica killed after Redis ran its XACK but before it recorded the
apply (the residual window: reply in transit, parse, apply, the journal's os.write) has
acked entries that no one will apply - and its counters die with it anyway, as every
counter of a SIGKILLed exporter does since the last scrape. No exporter can close that
window, so the test does not leave it to chance: it freezes the victim (SIGSTOP), and
kills it only if its journal shows no batch between prepare and record (no ack in flight)
while it holds delivered, unacknowledged entries (XPENDING) - those the survivors must
reclaim. Otherwise it lets it run a few milliseconds and looks again.
"""

from __future__ import annotations

import signal
import time

import pytest
import redis as redis_sync

from tests.faults.harness import (GROUP, MESSAGES_SENT, STREAM, Replica, add_events,
                                  group_info, ledger, metric_sum, wait_until_counted)

pytestmark = pytest.mark.faults

REPLICAS, N, CHUNK = 3, 15000, 500
KILL_TRIES = 2000  # looks at the victim; each costs a few milliseconds
MIN_HELD = 100  # entries the victim must hold when killed: a reclaim worth the name


def test_replica_sigkilled_while_events_flow(own_redis, tmp_path):
    r = redis_sync.Redis.from_url(own_redis.url)
    reps = [Replica(f"r{i}", own_redis.url, tmp_path) for i in range(REPLICAS)]
    victim, survivors = reps[0], reps[1:]
    added: list[bytes] = []
    try:
        for rep in reps:
            rep.start()
        while not victim.applied():  # the victim is part of the flow before it dies
            added += add_events(r, CHUNK)
            time.sleep(0.05)

        held: list[bytes] = []
        for tries in range(1, KILL_TRIES + 1):
            if (group_info(r) or {}).get("lag", 0) < CHUNK:
                added += add_events(r, CHUNK)  # events keep flowing
            victim.signal(signal.SIGSTOP)
            _, last = victim.progress()
            pending = r.xpending_range(STREAM, GROUP, "-", "+", 10000, consumername=victim.name)
            if last == b"A" and len(pending) >= MIN_HELD:
                victim.kill()
                held = [p["message_id"] for p in pending]
                break
            victim.signal(signal.SIGCONT)
            time.sleep(0.002)
        assert held, f"no instant to kill {victim.name} holding entries in {KILL_TRIES} looks"

        while len(added) < N:
            added += add_events(r, CHUNK)
            time.sleep(0.02)
        waited = wait_until_counted(r, added, reps)
        led = ledger(added, reps)
        by_survivors = {i for rep in survivors for i in rep.applied()}
        reclaimed = len(set(held) & by_survivors)
        print(f"\n[replica SIGKILLed] looks={tries} {victim.name} applied "
              f"{len(victim.applied())} and held {len(held)} when killed; reclaimed by "
              f"survivors={reclaimed} {led} waited={waited:.1f}s")
        assert (led.lost, led.double, led.foreign) == (0, 0, 0), str(led)
        assert reclaimed == len(held)  # the dead replica's entries: taken over, not lost
        # Each survivor's counter says what its journal says it applied.
        for rep in survivors:
            assert metric_sum(rep.metrics_text(), MESSAGES_SENT) == len(rep.applied()), rep.name
    finally:
        for rep in reps:
            rep.stop()
        r.close()

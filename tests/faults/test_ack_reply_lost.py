"""The ack's reply lost (issue 9 item 2): a connection that breaks with the XACK script
run in Redis and its answer never delivered. The relay swallows that reply and cuts the
connection; the exporter must still apply exactly the entries that script acked: none
lost (acked in Redis, never applied), none twice."""

from __future__ import annotations

import time

import pytest
import redis as redis_sync

from tests.faults.harness import (MESSAGES_SENT, Replica, RelayThread, add_events, ledger,
                                  metric_sum, wait_until_counted)

pytestmark = pytest.mark.faults

N, CHUNK, DROPS = 5000, 250, 5
# Only the ack script's body holds XACK (the gap check, the read and XAUTOCLAIM do not);
# the consumer sends it with EVAL (exporter/streams.py), so the relay sees it in the request.
ACK_MARKER = b"XACK"


def test_lost_ack_replies_neither_lose_nor_double_count(own_redis, tmp_path):
    r = redis_sync.Redis.from_url(own_redis.url)
    with RelayThread("127.0.0.1", own_redis.port) as relay:
        rep = Replica("r1", f"redis://127.0.0.1:{relay.port}/0", tmp_path).start()
        try:
            added: list[bytes] = []
            chunks = N // CHUNK
            drop_before = set(range(1, chunks, chunks // DROPS))  # chunks 1, 5, 9, 13, 17
            for k in range(chunks):
                if k in drop_before:
                    relay.drop_replies_after(ACK_MARKER, 1)
                    armed_at = relay.dropped
                added += add_events(r, CHUNK)
                if k in drop_before:
                    deadline = time.monotonic() + 15
                    while relay.dropped == armed_at and time.monotonic() < deadline:
                        time.sleep(0.01)
                    assert relay.dropped == armed_at + 1, (
                        f"no request holding {ACK_MARKER!r} went through the relay in 15 s: "
                        "does the ack still go out as EVAL of its script? "
                        "(update ACK_MARKER)\n" + rep.log())
            waited = wait_until_counted(r, added, [rep])
            led = ledger(added, [rep])
            print(f"\n[ack reply lost] drops={relay.dropped} {led} waited={waited:.1f}s")
            assert relay.dropped == DROPS
            assert (led.lost, led.double, led.foreign) == (0, 0, 0), str(led)
            # The journal is what the exporter applied: its counter says the same.
            assert metric_sum(rep.metrics_text(), MESSAGES_SENT) == led.applied == N
        finally:
            rep.stop()
            r.close()

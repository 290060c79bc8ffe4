"""StreamConsumer on a real redis-server: once-only counting across restarts, crashes,
replicas, trimming and outages."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
import redis as redis_sync
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from exporter.metrics import LabelGuard, MetricSet
from exporter.streams import StreamConsumer
from tests.support.relay import Relay


class Counting:
    """Counts entries per stream; ``hold`` makes prepare wait (to be cancelled)."""

    def __init__(self, hold: asyncio.Event | None = None):
        self.seen: dict[str, list[str]] = {}
        self.hold = hold
        self.prepared = asyncio.Event()

    async def prepare(self, stream, entries):
        self.prepared.set()
        if self.hold is not None:
            await self.hold.wait()

        def apply(acked):
            self.seen.setdefault(stream, []).extend(
                f["n"] for eid, f in entries if eid in acked)
        return apply

    def total(self) -> int:
        return sum(len(v) for v in self.seen.values())


@pytest.fixture
async def r(redis_url):
    client = Redis.from_url(redis_url, socket_timeout=2)
    yield client
    await client.aclose()


def consumer(r, handler, name="c1", streams=("s1", "s2"), **kw):
    kw.setdefault("block_ms", 50)
    return StreamConsumer(r, lambda: list(streams), "g", name, handler, **kw)


async def add(r, key, n, start=0):
    for i in range(start, start + n):
        await r.xadd(key, {"n": str(i)})


async def test_starts_at_now_then_counts_new_entries_once(r):
    await add(r, "s1", 3)  # before the group exists: history, not counted
    h = Counting()
    c = consumer(r, h)
    assert await c.poll_once() == 0
    await add(r, "s1", 4, 3)
    await add(r, "s2", 2)  # s2 appeared after we first looked: all of it counts
    assert await c.poll_once() == 6
    assert await c.poll_once() == 0
    assert h.seen == {"s1": ["3", "4", "5", "6"], "s2": ["0", "1"]}


async def test_restart_resumes_without_loss_or_double_count(r):
    await r.xadd("s1", {"n": "x"})
    h1 = Counting()
    c1 = consumer(r, h1)
    await c1.poll_once()
    await add(r, "s1", 5)
    await c1.poll_once()
    await add(r, "s1", 3, 5)  # added while "down"
    h2 = Counting()
    c2 = consumer(r, h2)  # a new process, same group and consumer name
    await c2.poll_once()
    assert h1.seen["s1"] == ["0", "1", "2", "3", "4"] and h2.seen["s1"] == ["5", "6", "7"]


async def test_killed_before_ack_is_redelivered_and_counted_once(r):
    await r.xadd("s1", {"n": "x"})
    hold = asyncio.Event()
    h1 = Counting(hold)
    c1 = consumer(r, h1, claim_idle_ms=100)
    await c1.poll_once()  # group created; nothing new to prepare
    await add(r, "s1", 4)
    task = asyncio.create_task(c1.poll_once())
    await h1.prepared.wait()
    task.cancel()  # the process dies between reading and acking
    with pytest.raises(asyncio.CancelledError):
        await task
    assert h1.total() == 0
    assert (await r.xpending("s1", "g"))["pending"] == 4
    h2 = Counting()
    c2 = consumer(r, h2, name="c2", claim_idle_ms=100)
    assert await c2.poll_once() == 0  # not idle long enough yet: still c1's
    await asyncio.sleep(0.15)
    assert await c2.poll_once() == 4
    assert h2.seen["s1"] == ["0", "1", "2", "3"]
    assert (await r.xpending("s1", "g"))["pending"] == 0


async def test_two_consumers_count_each_entry_once(r):
    h1, h2 = Counting(), Counting()
    c1 = consumer(r, h1, name="a", count=3)
    c2 = consumer(r, h2, name="b", count=3)
    await c1.poll_once()
    await c2.poll_once()
    await add(r, "s1", 20)
    await add(r, "s2", 10)
    for _ in range(6):
        await asyncio.gather(c1.poll_once(), c2.poll_once())
    got = h1.seen.get("s1", []) + h2.seen.get("s1", [])
    assert sorted(got, key=int) == [str(i) for i in range(20)]
    assert len(h1.seen.get("s2", []) + h2.seen.get("s2", [])) == 10
    assert h1.total() > 0 and h2.total() > 0


async def test_slow_consumer_and_reclaimer_apply_once(r):
    """Both hold the same entries; only the XACK that returns 1 applies them."""
    await r.xadd("s1", {"n": "x"})
    hold = asyncio.Event()
    h1, h2 = Counting(hold), Counting()
    c1 = consumer(r, h1, name="slow", claim_idle_ms=50)
    c2 = consumer(r, h2, name="fast", claim_idle_ms=50)
    await c1.poll_once()
    await add(r, "s1", 3)
    task = asyncio.create_task(c1.poll_once())
    await h1.prepared.wait()
    await asyncio.sleep(0.1)
    assert await c2.poll_once() == 3  # reclaimed and counted
    hold.set()
    assert await task == 0  # the slow one's acks return 0: nothing applied
    assert h1.total() == 0 and h2.total() == 3


async def test_trimmed_entries_are_counted_as_gap(r):
    registry = CollectorRegistry()
    metrics = MetricSet("anclora", registry, LabelGuard(100))
    h = Counting()
    c = consumer(r, h, streams=("s1",), metrics=metrics)
    await r.xadd("s1", {"n": "x"})
    await c.poll_once()
    await add(r, "s1", 5)
    await c.poll_once()
    await add(r, "s1", 30, 5)          # 30 unread entries ...
    await r.xtrim("s1", maxlen=10, approximate=False)  # 20 trimmed behind our back
    await c.poll_once()
    assert h.seen["s1"][5:] == [str(i) for i in range(25, 35)]
    assert c.gaps == {"s1": 20}
    val = lambda n: registry.get_sample_value(n, {"stream": "s1"})
    assert val("anclora_exporter_stream_gap_entries_total") == 20
    await c.poll_once()
    await add(r, "s1", 3, 35)
    await c.poll_once()
    assert c.gaps == {"s1": 20}  # counted once; Redis' own counters stay exact
    groups = await r.xinfo_groups("s1")
    assert groups[0]["lag"] == 0 and groups[0]["entries-read"] == 39
    await c.poll_once()  # lag/pending are measured before each read
    assert val("anclora_exporter_stream_lag_entries") == 0
    assert val("anclora_exporter_stream_pending_entries") == 0


async def test_run_survives_redis_outage(own_redis):
    r = Redis.from_url(own_redis.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    h = Counting()
    c = StreamConsumer(r, lambda: ["s1"], "g", "c1", h, block_ms=50)
    await r.xadd("s1", {"n": "x"})
    task = asyncio.create_task(c.run())
    try:
        await asyncio.sleep(0.2)
        own_redis.stop()
        await asyncio.sleep(0.6)
        own_redis.start()  # data is gone with the server (no persistence): a new stream
        assert not task.done()
        for i in range(3):
            await r.xadd("s1", {"n": str(i)})
        for _ in range(100):
            if h.total() == 3:
                break
            await asyncio.sleep(0.05)
        assert h.seen["s1"] == ["0", "1", "2"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await r.aclose()


async def test_a_key_that_is_not_a_stream_does_not_stall_the_others(r):
    await r.set("s2", "not a stream")
    await r.xadd("s1", {"n": "x"})
    h = Counting()
    c = consumer(r, h)
    await c.poll_once()
    await add(r, "s1", 2)
    assert await c.poll_once() == 2 and h.seen == {"s1": ["0", "1"]}


async def test_group_created_at_zero_reads_whole_stream(r):
    await add(r, "s1", 3)
    h = Counting()
    c = consumer(r, h, streams=("s1",), start_id="0")
    assert await c.poll_once() == 3
    assert (await r.xinfo_groups("s1"))[0]["entries-read"] == 3


async def test_deleted_and_recreated_stream_is_read_from_its_start(r):
    await r.xadd("s1", {"n": "x"})
    h = Counting()
    c = consumer(r, h, streams=("s1",))
    await c.poll_once()
    await add(r, "s1", 2)
    await c.poll_once()
    await r.delete("s1")  # e.g. Queue.obliterate(): the group goes with the key
    await add(r, "s1", 3, 2)
    for _ in range(3):
        await c.poll_once()
    assert h.seen["s1"] == ["0", "1", "2", "3", "4"]


async def test_shutdown_during_ack_still_applies_what_was_acked(r):
    await r.xadd("s1", {"n": "x"})
    h = Counting()
    c = consumer(r, h, streams=("s1",))
    await c.poll_once()
    await add(r, "s1", 3)
    task = None
    real_prepare = h.prepare

    async def prepare_then_shutdown(stream, entries):
        applier = await real_prepare(stream, entries)
        asyncio.get_running_loop().call_soon(task.cancel)  # lands while XACK is in flight
        return applier

    h.prepare = prepare_then_shutdown
    task = asyncio.create_task(c.poll_once())
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.1)
    assert h.seen["s1"] == ["0", "1", "2"]
    assert (await r.xpending("s1", "g"))["pending"] == 0


# --- issue 9: lost ack replies, Redis stalls, resuming after an outage ---------------------

class Faulty(Counting):
    """Counting, with ``before_ack(batch_number)`` called as each prepare ends, just before
    the consumer sends the batch's XACK: the place to inject a fault."""

    def __init__(self, before_ack):
        super().__init__()
        self.before_ack, self.batches = before_ack, 0

    async def prepare(self, stream, entries):
        apply = await super().prepare(stream, entries)
        self.batches += 1
        await self.before_ack(self.batches)
        return apply


def fill(port, n, key="s1"):
    w = redis_sync.Redis(host="127.0.0.1", port=port)
    pipe = w.pipeline(transaction=False)
    for i in range(n):
        pipe.xadd(key, {"n": str(i)})
    pipe.execute()
    return w


def assert_once(h, n, key="s1"):
    got = h.seen.get(key, [])
    lost = set(map(str, range(n))) - set(got)
    doubled = len(got) - len(set(got))
    assert (len(lost), doubled) == (0, 0), f"lost {len(lost)}, double counted {doubled}"


async def run_until(c, h, n, w, key="s1", timeout=15.0):
    task = asyncio.create_task(c.run())
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if h.total() >= n and w.xpending(key, "g")["pending"] == 0:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize("client", ["from_url", "retrying"])
async def test_ack_reply_lost_applies_the_batch_once(redis_server, redis_url, client):
    """Item 2: the XACK script ran but its reply was lost (connection cut): the batch is
    applied once, whether the client retries by itself (redis-py's Redis(...): the ack
    runs again) or not (Redis.from_url(...), as make_redis builds it)."""
    relay = await Relay("127.0.0.1", redis_server.port).start()
    if client == "from_url":
        r = Redis.from_url(f"redis://127.0.0.1:{relay.port}/0", socket_timeout=2)
    else:
        r = Redis(host="127.0.0.1", port=relay.port, socket_timeout=2)
    w = fill(redis_server.port, 5000)

    async def drop_some(batch):
        if batch % 2:  # every other batch: 5 of 10 lose their ack's reply
            relay.drop_replies_after(b"XACK", 1)

    h = Faulty(drop_some)
    c = StreamConsumer(r, lambda: ["s1"], "g", "c1", h, start_id="0", count=500,
                       block_ms=50, claim_idle_ms=500)
    try:
        await run_until(c, h, 5000, w)
        assert relay.dropped >= 5
        assert_once(h, 5000)
        assert w.xpending("s1", "g")["pending"] == 0
    finally:
        await r.aclose()
        await relay.stop()
        w.close()


def stall_redis(port, seconds) -> socket.socket:
    """DEBUG SLEEP on a connection of its own, not waiting for it: Redis stops answering
    anyone for ``seconds`` (the caller closes the socket afterwards)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"DEBUG SLEEP %.2f\r\n" % seconds)
    return s


async def test_redis_stalled_longer_than_the_timeout_with_an_ack_in_flight(redis_server,
                                                                           redis_url):
    """Item 2: Redis stops answering (1 s) with the ack in flight, the client times out
    (0.3 s) and the ack runs when Redis wakes: applied once, nothing lost."""
    socks = []

    async def stall(batch):
        if batch in (1, 3, 4, 6, 9):
            socks.append(stall_redis(redis_server.port, 1.0))
            await asyncio.sleep(0.05)  # Redis is asleep before the XACK goes out

    h = Faulty(stall)
    r = Redis.from_url(redis_url, socket_timeout=0.3, socket_connect_timeout=0.3)
    w = fill(redis_server.port, 5000)
    c = StreamConsumer(r, lambda: ["s1"], "g", "c1", h, start_id="0", count=500,
                       block_ms=50, claim_idle_ms=500)
    try:
        await run_until(c, h, 5000, w)
        assert len(socks) == 5
        assert_once(h, 5000)
        assert w.xpending("s1", "g")["pending"] == 0
    finally:
        for s in socks:
            s.close()
        await r.aclose()
        w.close()


async def test_shutdown_while_an_ack_is_unresolved_waits_a_bounded_time(redis_server,
                                                                       redis_url):
    """Item 2: cancelled while its ack waits on a stalled Redis, the consumer keeps
    resolving it for ``shutdown_grace`` seconds at most: here Redis wakes within it, so
    the batch is applied before the cancel completes."""
    socks = []
    h = Faulty(lambda batch: asyncio.sleep(0))
    r = Redis.from_url(redis_url, socket_timeout=0.3, socket_connect_timeout=0.3)
    w = fill(redis_server.port, 100)
    c = StreamConsumer(r, lambda: ["s1"], "g", "c1", h, start_id="0", count=500,
                       block_ms=50)
    c.shutdown_grace = 3.0
    task = None

    async def stall_then_cancel(batch):
        socks.append(stall_redis(redis_server.port, 1.0))
        await asyncio.sleep(0.05)
        asyncio.get_running_loop().call_later(0.2, task.cancel)  # mid-resolution

    h.before_ack = stall_then_cancel
    try:
        task = asyncio.create_task(c.run())
        t = time.monotonic()
        await asyncio.gather(task, return_exceptions=True)
        waited = time.monotonic() - t
        assert task.cancelled()
        assert 0.9 < waited < 3.0  # until Redis woke and the ack resolved, not the grace
        assert_once(h, 100)
        assert w.xpending("s1", "g")["pending"] == 0
    finally:
        for s in socks:
            s.close()
        await r.aclose()
        w.close()


async def test_reading_resumes_within_a_second_of_redis_coming_back(own_redis):
    """Item 4: after a 4 s outage, the consumer reads again within a second or so of
    Redis answering (the backoff used to double up to 30 s)."""
    r = Redis.from_url(own_redis.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    h = Counting()
    c = StreamConsumer(r, lambda: ["s1"], "g", "c1", h, start_id="0", block_ms=50)
    task = asyncio.create_task(c.run())
    w = None
    try:
        await asyncio.sleep(0.2)
        own_redis.stop()
        await asyncio.sleep(4.0)
        own_redis.start()
        w = redis_sync.Redis.from_url(own_redis.url)
        w.xadd("s1", {"n": "0"})
        back = time.monotonic()
        while h.total() < 1 and time.monotonic() - back < 10:
            await asyncio.sleep(0.02)
        delay = time.monotonic() - back
        assert h.seen.get("s1") == ["0"]
        assert delay < 1.5, f"resumed {delay:.2f} s after Redis came back"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await r.aclose()
        if w is not None:
            w.close()


async def read_by_hand(r, handler, n: int):
    """A consumer of s1 with its group made, and the ids of n new entries read (pending)
    for consumer c1 by a plain XREADGROUP, to be acked by hand."""
    c = consumer(r, handler, streams=("s1",), start_id="0")
    await add(r, "s1", n)
    await c._ensure_groups(["s1"])
    got = await r.xreadgroup("g", "c1", {"s1": ">"})
    return c, [eid for eid, _ in got[0][1]]


async def test_the_ack_script_acks_once_per_receipt_and_keeps_one_receipt(r):
    """Item 2, the mechanism: the same call run twice (a retry after a lost reply) returns
    the first run's answer; the next call drops the receipt whose reply came back."""
    from exporter.streams import _ACK_SCRIPT_B
    h = Counting()
    c, ids = await read_by_hand(r, h, 3)
    call = ("EVAL", _ACK_SCRIPT_B, 2, "s1", "s1:ack:g:t:1", "g", 60000, b",".join(ids))
    assert await r.execute_command(*call) == b"111"
    assert await r.execute_command(*call) == b"111"  # the receipt, not a second ack (000)
    assert 0 < await r.pttl("s1:ack:g:t:1") <= 60000
    assert await r.execute_command(
        "EVAL", _ACK_SCRIPT_B, 3, "s1", "s1:ack:g:t:2", "s1:ack:g:t:1", "g", 60000,
        ids[0]) == b"0"
    assert await r.exists("s1:ack:g:t:1") == 0 and await r.exists("s1:ack:g:t:2") == 1
    for start in (3, 5):  # through the consumer: one receipt left per stream
        await add(r, "s1", 2, start)
        assert await c.poll_once() == 2
        assert len(await r.keys(f"s1:ack:g:{c._token}:*")) == 1
    assert h.seen["s1"] == ["3", "4", "5", "6"]


async def test_the_ack_script_answers_per_id_from_one_comma_joined_argument(r):
    """The ids travel as one argument, split by the script: each id still gets its own
    answer, in order ('0' for one acked already, by anyone); str and bytes ids both work;
    an id with a comma, or an empty one, is refused before anything reaches Redis (Redis
    never replies with such an id: a stream id is ``<ms>-<seq>``, two decimal numbers)."""
    from exporter.streams import _ACK_SCRIPT_B, _join_ids
    _, ids = await read_by_hand(r, Counting(), 5)
    assert await r.xack("s1", "g", ids[1], ids[3]) == 2  # another consumer's ack won these
    assert _join_ids(ids) == b",".join(ids) and _join_ids([i.decode() for i in ids]) == \
        ",".join(i.decode() for i in ids)
    call = ("EVAL", _ACK_SCRIPT_B, 2, "s1", "s1:ack:g:t:9", "g", 60000)
    assert await r.execute_command(*call, _join_ids(ids)) == b"10101"
    await add(r, "s1", 1, 5)
    got = await r.xreadgroup("g", "c1", {"s1": ">"})
    (last,) = [eid.decode() for eid, _ in got[0][1]]
    assert await r.execute_command("EVAL", _ACK_SCRIPT_B, 2, "s1", "s1:ack:g:t:10", "g",
                                   60000, _join_ids([last])) == b"1"  # one id, no comma
    for bad in ([b"1-0,2-0"], ["1-0", ""], ["1-0,", "2-0"]):
        with pytest.raises(ValueError, match="no comma"):
            _join_ids(bad)
    assert await r.xpending("s1", "g") == {"pending": 0, "min": None, "max": None,
                                           "consumers": []}

"""BullMQ collector against jobs the real BullMQ client created on a real redis-server."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis as redis_sync
from prometheus_client import CollectorRegistry, generate_latest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from exporter.catalog import BULLMQ_STATES
from exporter.collectors import bullmq
from exporter.collectors.bullmq import BullMQCollector, QueueStates, waiting_by_priority
from exporter.config import Config
from exporter.exposition import Renderer, TextFamily
from exporter.scrape import PartialScrape
from tests.collectors.bullmq_support import fill_every_state, queue, stop_worker

NAMES = {0: "normal", 1: "critical", 2: "high", 3: "medium"}


def config(url: str, **kw) -> Config:
    kw.setdefault("priority_names", NAMES)
    return Config.defaults(redis_url=url, redis_timeout=0.5, **kw)


class Families:
    def __init__(self, fams):
        self.fams = fams

    def collect(self):
        return self.fams


def rendered_both_ways(fams) -> tuple[bytes, bytes]:
    """(the exporter's renderer, which writes a TextFamily's own lines; prometheus_client's
    generate_latest, which renders every family from its samples)."""
    reg = CollectorRegistry()
    reg.register(Families(fams))
    return Renderer()(reg), generate_latest(reg)


def samples(fams) -> dict:
    """The families' samples, once their lines are checked to be those samples rendered."""
    fast, slow = rendered_both_ways(fams)
    assert fast == slow
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in fams for s in f.samples}


def jobs(s: dict, q: str) -> dict:
    return {st: s[("anclora_bullmq_jobs", (("queue", q), ("state", st)))] for st in BULLMQ_STATES}


@pytest.fixture
async def client(redis_url):
    r = Redis.from_url(redis_url, socket_timeout=1)
    yield r
    await r.aclose()


# --- pure parsing, on literal replies --------------------------------------------------

def test_parse_v6_paused_counts_as_waiting():
    st = QueueStates([3, 0, 1, 2, 5, 1, 10, 4, [b"1", b"bullmq:6.7.0"], b"7", None, 2, 1],
                     ["q"], [1, 2])
    assert st.counts(0) == {"waiting": 3, "paused": 0, "active": 1, "delayed": 2,
                            "prioritized": 5, "waiting-children": 1, "completed": 10, "failed": 4}
    assert st.paused == [1] and st.oldest_ids == [["7"]] and st.per_priority == [[2], [1]]
    assert waiting_by_priority(st, {0: "normal", 1: "critical", 2: "high"}) == {
        "normal": [3], "critical": [2], "high": [1], "other": [2]}


def test_parse_v5_paused_list_and_legacy_marker():
    st = QueueStates([1, 4, 0, 0, 0, 0, 0, 0, [b"1", b"bullmq:5.81.5"], b"0:123", b"9"],
                     ["q"], [])
    assert st.counts(0)["waiting"] == 0 and st.counts(0)["paused"] == 4  # marker not a job
    assert st.oldest_ids == [["9"]] and st.waiting_total() == [4]


def test_parse_columns_of_several_queues_one_failed():
    from redis.exceptions import ResponseError
    st = QueueStates([2, 0, 0, 0, 1, 0, 0, 3, None, b"5", None, 1,
                      ResponseError("WRONGTYPE Operation"), 0, 0, 0, 0, 0, 0, 0, [None, None],
                      None, None, 0,
                      0, 0, 4, 0, 2, 0, 9, 0, [None, b"bullmq:6.7.0"], None, None, 2],
                     ["a", "bad", "c"], [1])
    assert st.error[0] is None and st.error[1].startswith("ResponseError") and st.error[2] is None
    assert [st.counts(i)["waiting"] for i in range(3)] == [2, 0, 0]
    assert st.jobs[2] == [0, 0, 4] and st.oldest_ids == [["5"], [], []]
    assert st.dlq_depth(0) == 3 and st.dlq_depth(2) == 2
    assert waiting_by_priority(st, {0: "normal", 1: "critical"}) == {
        "normal": [2, 0, 0], "critical": [1, 0, 2], "other": [0, 0, 0]}


def test_lines_are_the_samples_rendered_whatever_the_values():
    """The collector formats its lines itself (label text kept per queue list, values as
    ``%d.0`` or value_text): byte for byte prometheus_client's rendering of the samples,
    with every queue present or some missing, counts past 1e6, ages, names to escape."""
    weird = 'we"ird\\%s q'
    c = BullMQCollector(None, config("redis://127.0.0.1:1/0",
                                     queues=("a", weird, "bad", "with-dlq"),
                                     dlq_queues={"with-dlq": "gone-dlq"}))
    plan = c.plan(list(c.config.queues))
    assert plan.wanted == ["a", weird, "bad", "with-dlq", "gone-dlq"]
    ok = [7, 0, 1, 0, 2, 0, 12_345_678, 3, [b"1", b"bullmq:5.1.0"], b"9", None, 1, 1, 0]
    bad = [ResponseError("WRONGTYPE Operation")] + [0] * 13
    replies = ok + [4, 1, 0, 1_000_000, 0, 0, 999_999, 0, None, None, None, 0, 0, 0] + bad + ok
    replies += bad  # the dead-letter queue's reads failed: no DLQ line for with-dlq
    states = QueueStates(replies, plan.wanted, c.priorities)
    for ages in ([12.5, 0.0, 0.0, 1e7], [0.1, 3.0, 0.0, float("nan")]):
        fams = c._families(plan, states, ages)
        assert all(isinstance(f, TextFamily) for f in fams)
        fast, slow = rendered_both_ways(fams)
        assert fast == slow
        text = fast.decode()
        assert 'anclora_bullmq_jobs{queue="a",state="completed"} 1.2345678e+07' in text
        assert 'queue="we\\"ird\\\\%s q",state="delayed"} 1e+06' in text
        assert 'anclora_exporter_queue_up{queue="bad"} 0.0' in text
        assert 'queue_dlq_messages{queue="with-dlq"}' not in text
    # every queue with its lines: the one template of all queues per family
    states = QueueStates(ok * 5, plan.wanted, c.priorities)
    fast, slow = rendered_both_ways(c._families(plan, states, [1.0] * 4))
    assert fast == slow and fast.count(b"anclora_bullmq_queue_paused{") == 4


def test_unnamed_priority_zero_goes_to_other():
    st = QueueStates([2, 0, 0, 0, 3, 0, 0, 0, None, None, None, 1], ["q"], [1])
    assert waiting_by_priority(st, {1: "critical"}) == {"critical": [1], "other": [4]}


# --- against the real client -----------------------------------------------------------

async def test_every_state_equals_client_counts(redis_url, client):
    w = await fill_every_state(redis_url, "wa")
    try:
        c = BullMQCollector(client, config(redis_url, queues=("wa", "wa-children")))
        s = samples(await c.collect())
        async with queue(redis_url, "wa") as q:
            theirs = await q.getJobCounts()
        ours = jobs(s, "wa")
        assert ours == {**theirs, "paused": 0}
        assert theirs == {"waiting": 3, "prioritized": 6, "delayed": 1, "active": 1,
                          "completed": 2, "failed": 1, "waiting-children": 1}
        assert jobs(s, "wa-children")["waiting"] == 1
        w_ = lambda p: s[("anclora_queue_waiting_messages", (("priority", p), ("queue", "wa")))]
        assert [w_(p) for p in ("normal", "critical", "high", "medium", "other")] == [3, 2, 1, 1, 2]
        assert s[("anclora_queue_active_messages", (("queue", "wa"),))] == 1
        assert s[("anclora_queue_dlq_messages", (("queue", "wa"),))] == 1  # the failed set
        assert s[("anclora_bullmq_queue_paused", (("queue", "wa"),))] == 0
        assert s[("anclora_exporter_queue_up", (("queue", "wa"),))] == 1
        assert c.round_trips == 2  # the state read, then the oldest job's timestamp
        assert await c.job_counts() == {"wa": ours, "wa-children": jobs(s, "wa-children")}
    finally:
        await stop_worker(w)


async def test_reads_sent_only_where_needed_answer_as_every_read_does(redis_url, client,
                                                                      monkeypatch):
    """After a plan's first scrape, the lengths of keys that never existed (one EXISTS
    per block instead), the tails of the wait and paused lists and the per-priority
    ZCOUNTs are sent only where the last scrape saw them needed; whatever
    changes in between (a new priority, an unnamed one, a 5.x paused list, priorities
    gone), every scrape's lines are byte for byte those of a collector reading everything
    (its first scrape).
    Blocks of 2 queues: one whole, one not."""
    monkeypatch.setattr(bullmq, "_BLOCK", 2)
    names = ("idle", "plain", "prio")
    async with queue(redis_url, "plain") as q:
        await q.add("x", {})
    async with queue(redis_url, "prio") as q:
        for p in (1, 2, 2):
            await q.add("x", {}, {"priority": p})
    r = redis_sync.Redis.from_url(redis_url)
    r.hset("bull:idle:meta", "opts.maxLenEvents", 10000)
    cfg = config(redis_url, queues=names)
    c = BullMQCollector(client, cfg, clock=lambda: 2e9)

    def sent() -> dict:
        stats = r.info("commandstats")
        return {cmd: stats.get(f"cmdstat_{cmd}", {}).get("calls", 0)
                for cmd in ("zcount", "lindex", "llen", "zcard", "exists")}

    last = [b""]

    async def same_as_every_read() -> tuple:
        before = sent()
        ours = last[0] = rendered_both_ways(await c.collect())[0]
        after = sent()
        fresh = BullMQCollector(client, cfg, clock=lambda: 2e9)
        assert ours == rendered_both_ways(await fresh.collect())[0]
        return tuple(after[cmd] - before[cmd] for cmd in after)

    try:  # commands sent: (ZCOUNT, LINDEX, LLEN, ZCARD, EXISTS)
        assert await same_as_every_read() == (9, 6, 9, 15, 0)  # every read
        # prio's ZCOUNTs of priorities 1 and 2; plain's wait tail (prioritized jobs are
        # not in wait); the lengths of the keys that exist (plain's wait, prio's
        # prioritized), an EXISTS per block for the others
        assert await same_as_every_read() == (2, 1, 1, 1, 2)
        async with queue(redis_url, "prio") as q:
            await q.add("x", {}, {"priority": 3})  # short of the ZCARD: read again
        async with queue(redis_url, "idle") as q:
            await q.add("x", {}, {"priority": 7})  # a new key: its block read again
        trips = c.round_trips
        assert await same_as_every_read() == (2 + 6 + 1, 1 + 3, 1 + 5, 1 + 10, 2)
        assert c.round_trips - trips == 3  # the state, its block's reads, prio's ZCOUNT
        assert await same_as_every_read() == (3 + 3, 1, 1, 2, 2)
        r.rename("bull:plain:wait", "bull:plain:paused")  # the 5.x layout of a paused queue
        r.hset("bull:plain:meta", "version", "bullmq:5.81.5")
        assert await same_as_every_read() == (6 + 3, 1 + 3, 1 + 5, 2 + 9, 2)
        r.delete("bull:prio:prioritized", "bull:idle:prioritized")
        assert await same_as_every_read() == (6, 1, 2, 2, 2)  # a key once seen stays read
        assert await same_as_every_read() == (0, 1, 2, 2, 2)
        r.set("bull:idle:active", "not a list")  # counted by EXISTS: read, WRONGTYPE
        await same_as_every_read()
        assert b'anclora_exporter_queue_up{queue="idle"} 0.0' in last[0]
    finally:
        r.close()


async def test_paused_both_generations(redis_url, client):
    async with queue(redis_url, "p") as q:
        for i in range(4):
            await q.add("send_text", {"i": i})
        await q.pause()
        c = BullMQCollector(client, config(redis_url, queues=("p",)))
        s = samples(await c.collect())  # 6.x layout, as the Python client makes it
        assert jobs(s, "p") == {**await q.getJobCounts(), "paused": 0}
        assert jobs(s, "p")["waiting"] == 4
        assert s[("anclora_bullmq_queue_paused", (("queue", "p"),))] == 1
        # 5.x layout: pause RENAMEd wait to paused; its getJobCounts reports them as paused.
        r = redis_sync.Redis.from_url(redis_url)
        r.rename("bull:p:wait", "bull:p:paused")
        r.hset("bull:p:meta", "version", "bullmq:5.81.5")
        r.close()
        s = samples(await c.collect())
        v5_client = await q.getJobCounts(*BULLMQ_STATES)  # reads the paused list like 5.x
        assert jobs(s, "p") == v5_client
        assert jobs(s, "p")["paused"] == 4 and jobs(s, "p")["waiting"] == 0
        waiting = s[("anclora_queue_waiting_messages", (("priority", "normal"), ("queue", "p")))]
        assert waiting == 4
        assert s[("anclora_bullmq_oldest_waiting_job_age_seconds", (("queue", "p"),))] > 0


async def test_oldest_age_from_job_timestamp(redis_url, client):
    async with queue(redis_url, "age") as q:
        job = await q.add("a", {})
        await q.add("b", {})
    r = redis_sync.Redis.from_url(redis_url)
    r.hset(f"bull:age:{job.id}", "timestamp", int((time.time() - 120) * 1000))
    r.close()
    c = BullMQCollector(client, config(redis_url, queues=("age", "empty")))
    s = samples(await c.collect())
    assert 119 < s[("anclora_bullmq_oldest_waiting_job_age_seconds", (("queue", "age"),))] < 130
    assert s[("anclora_bullmq_oldest_waiting_job_age_seconds", (("queue", "empty"),))] == 0


async def test_discovery_cap_and_rediscovery(redis_url, client):
    for name in ("orders", "sms-a", "sms-b", "sms-c"):
        async with queue(redis_url, name) as q:
            await q.add("x", {})
    c = BullMQCollector(client, config(redis_url, queue_pattern="sms-*", max_queues=2))
    s = samples(await c.collect())
    assert await c.queue_names() == ["sms-a", "sms-b"]
    assert s[("anclora_exporter_queues_discovered", ())] == 2
    assert s[("anclora_exporter_queues_capped", ())] == 1
    assert ("anclora_exporter_queue_up", (("queue", "orders"),)) not in s
    r = redis_sync.Redis.from_url(redis_url)
    r.delete("bull:sms-c:meta", "bull:sms-b:meta")
    r.close()
    assert await c.queue_names() == ["sms-a", "sms-b"]  # no SCAN on the scrape path
    await c.discovery.refresh()  # the next pass of the background task
    assert await c.queue_names() == ["sms-a"]
    assert samples(await c.collect())[("anclora_exporter_queues_capped", ())] == 0


async def test_dlq_configured_queue_or_failed_set(redis_url, client):
    async with queue(redis_url, "main") as q, queue(redis_url, "main-dlq") as d:
        await q.add("x", {})
        for _ in range(2):
            await d.add("dead", {})
        await d.add("dead", {}, {"priority": 2})
        await d.add("dead", {}, {"delay": 60_000})
    r = redis_sync.Redis.from_url(redis_url)
    r.zadd("bull:main:failed", {"1": 1, "99": 2})
    r.close()
    c = BullMQCollector(client, config(redis_url, queues=("main",),
                                       dlq_queues={"main": "main-dlq"}))
    s = samples(await c.collect())
    assert s[("anclora_queue_dlq_messages", (("queue", "main"),))] == 4
    assert ("anclora_bullmq_jobs", (("queue", "main-dlq"), ("state", "waiting"))) not in s
    c = BullMQCollector(client, config(redis_url, queues=("main",)))
    assert samples(await c.collect())[("anclora_queue_dlq_messages", (("queue", "main"),))] == 2


async def test_wrong_type_key_marks_only_that_queue_down(redis_url, client):
    async with queue(redis_url, "good") as q:
        await q.add("x", {})
    r = redis_sync.Redis.from_url(redis_url)
    r.set("bull:bad:wait", "not a list")
    r.hset("bull:bad:meta", "opts.maxLenEvents", 10000)
    r.close()
    c = BullMQCollector(client, config(redis_url))
    s = samples(await c.collect())
    assert s[("anclora_exporter_queue_up", (("queue", "bad"),))] == 0
    assert s[("anclora_exporter_queue_up", (("queue", "good"),))] == 1
    assert jobs(s, "good")["waiting"] == 1
    assert ("anclora_bullmq_jobs", (("queue", "bad"), ("state", "waiting"))) not in s
    assert await c.job_counts() == {"good": jobs(s, "good")}


async def test_redis_down_publishes_only_self_metrics(own_redis):
    r = Redis.from_url(own_redis.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    async with queue(own_redis.url, "q") as q:
        await q.add("x", {})
    c = BullMQCollector(r, config(own_redis.url))
    assert jobs(samples(await c.collect()), "q")["waiting"] == 1
    own_redis.stop()
    with pytest.raises(PartialScrape) as e:
        await c.collect()
    s = samples(e.value.families)
    assert s[("anclora_exporter_queue_up", (("queue", "q"),))] == 0
    assert not [k for k in s if k[0] == "anclora_bullmq_jobs"]
    await r.aclose()


async def test_one_round_trip_for_many_queues(redis_url, client, monkeypatch):
    for i in range(20):
        async with queue(redis_url, f"q{i:02d}") as q:
            await q.add("x", {}, {"priority": 1})  # prioritized only: no age lookup needed
    executions = []
    real = BullMQCollector.round_trip

    async def counting(self, *parts):
        executions.append(sum(len(p.cmds) for p in parts))
        return await real(self, *parts)

    monkeypatch.setattr(BullMQCollector, "round_trip", counting)
    c = BullMQCollector(client, config(redis_url, queues=tuple(f"q{i:02d}" for i in range(20))))
    s = samples(await c.collect())
    assert len(executions) == 1 and executions[0] == 20 * (11 + 3)
    assert sum(jobs(s, f"q{i:02d}")["prioritized"] for i in range(20)) == 20


async def test_a_scrape_cut_off_mid_read_leaves_no_stale_replies(redis_url, client):
    async with queue(redis_url, "cut") as q:
        await q.add("x", {})
        await q.add("y", {}, {"priority": 2})
    c = BullMQCollector(client, config(redis_url, queues=("cut",)))
    expected = jobs(samples(await c.collect()), "cut")
    r = redis_sync.Redis.from_url(redis_url)
    r.execute_command("CLIENT", "PAUSE", 300, "ALL")  # replies arrive after the cut
    r.close()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(c.collect(), 0.05)
    await asyncio.sleep(0.3)
    for _ in range(3):  # the connection was dropped, not reused with replies pending
        s = samples(await c.collect())
        assert jobs(s, "cut") == expected
        assert s[("anclora_queue_waiting_messages", (("priority", "high"), ("queue", "cut")))] == 1


async def test_a_slow_redis_times_out_the_whole_trip(redis_url, client):
    c = BullMQCollector(client, config(redis_url, queues=("slow",)))
    await c.collect()
    r = redis_sync.Redis.from_url(redis_url)
    r.execute_command("CLIENT", "PAUSE", 1500, "ALL")  # longer than socket_timeout=1
    r.close()
    with pytest.raises(PartialScrape) as e:
        await c.collect()
    assert "TimeoutError" in str(e.value)
    assert samples(e.value.families)[("anclora_exporter_queue_up", (("queue", "slow"),))] == 0
    await asyncio.sleep(0.6)
    assert samples(await c.collect())[("anclora_exporter_queue_up", (("queue", "slow"),))] == 1


async def test_discovered_queue_named_after_a_phone_number_is_not_published(redis_url, client):
    """A queue per customer (``chat:+34 600 123 456``) is private and unbounded: its name
    never becomes a label value, and it is not watched; the others are."""
    for name in ("orders", "chat:+34 600 123 456", "chat:34600123456@s.whatsapp.net"):
        async with queue(redis_url, name) as q:
            await q.add("x", {})
    c = BullMQCollector(client, config(redis_url))
    # The label sets only: a value (a duration such as 0.0272336) may hold "600".
    labels = repr([key[1] for key in samples(await c.collect())])
    assert await c.queue_names() == ["orders"]
    assert "600" not in labels and "whatsapp.net" not in labels
    assert c.unpublishable == 2

"""Worker count per queue from CLIENT LIST, against real BullMQ workers on a real
redis-server: Python's own Worker, and connections named exactly as Node BullMQ 5.81
names its workers (read from a run of Node BullMQ: `bull:d2Etb3V0Ym91bmQ=` and
`bull:d2Etb3V0Ym91bmQ=:w:sender-1` for queue wa-outbound, `...:qe` for its QueueEvents)."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from bullmq import Queue, Worker

from exporter.app import make_redis
from exporter.collectors.bullmq_workers import BullMQWorkersCollector, count_workers
from exporter.scrape import PartialScrape
from tests.collectors.bullmq_support import close_worker, opts, wait_until

# Client names seen in CLIENT LIST with Node BullMQ 5.81.5: two workers of wa-outbound (one
# named sender-1), one of crm-sync, and wa-outbound's QueueEvents; getWorkersCount() said 2
# and 1.
NODE_CLIENT_NAMES = ["bull:Y3JtLXN5bmM=", "bull:d2Etb3V0Ym91bmQ=:qe", "",
                     "bull:d2Etb3V0Ym91bmQ=", "bull:d2Etb3V0Ym91bmQ=:w:sender-1"]


@pytest.mark.parametrize("names, expected", [
    (NODE_CLIENT_NAMES, {"wa-outbound": 2, "crm-sync": 1, "idle": 0}),
    # The Python client: its queue name in clear.
    (["bull:wa-outbound", "bull:wa-outbound:w:n1", "bull:wa-outbound:qe"],
     {"wa-outbound": 2, "crm-sync": 0, "idle": 0}),
    # Another prefix, a queue whose name only starts like ours, a worker name holding ":w:".
    (["other:wa-outbound", "bull:wa-outbound-2", "bull:crm-sync:w:a:w:b", "bull:idle:wx"],
     {"wa-outbound": 0, "crm-sync": 1, "idle": 0}),
])
def test_count_workers_matches_bullmq_get_workers(names, expected):
    assert count_workers(names, ["wa-outbound", "crm-sync", "idle"], "bull") == expected


async def _workers(collector) -> dict[str, float]:
    fam, = await collector.collect()
    assert fam.name == "anclora_bullmq_workers"
    return {s.labels["queue"]: s.value for s in fam.samples}


async def test_collector_counts_what_bullmq_counts(redis_url):
    client = make_redis(redis_url, 2.0)
    queues = ["wa-outbound", "crm-sync"]

    async def queue_names():
        return queues
    collector = BullMQWorkersCollector(client, "anclora", "bull", queue_names)
    node_like = aioredis.from_url(redis_url)
    q = Queue("wa-outbound", opts(redis_url))

    async def noop(job, token):
        return None
    try:
        assert await _workers(collector) == {"wa-outbound": 0.0, "crm-sync": 0.0}
        w = Worker("wa-outbound", noop, opts(redis_url))
        await wait_until(lambda: _named(client, "bull:wa-outbound"))
        reference = len(await q.get_workers())  # the Python client's own getWorkers()
        assert reference >= 1
        # A connection named as a Node BullMQ worker of crm-sync names itself.
        await node_like.client_setname("bull:Y3JtLXN5bmM=:w:sender-1")
        assert await _workers(collector) == {"wa-outbound": float(reference), "crm-sync": 1.0}
        await close_worker(w)
        await node_like.aclose()
        await wait_until(lambda: _unnamed(client))
        assert await _workers(collector) == {"wa-outbound": 0.0, "crm-sync": 0.0}
    finally:
        await q.close()
        await client.aclose()


async def _named(client, name) -> bool:
    return any(c["name"] == name for c in await client.client_list())


async def _unnamed(client) -> bool:
    return not any(c["name"].startswith("bull:") for c in await client.client_list())


async def test_refused_client_list_fails_only_this_collector(redis_url):
    """Managed Redis services may refuse CLIENT LIST: here an ACL user without the CLIENT
    command. The collector fails (so the metric is absent and the alert silent), nothing
    else does."""
    admin = make_redis(redis_url, 1.0)
    await admin.acl_setuser("monitor", enabled=True, passwords=["+pw"], keys=["*"],
                            channels=["*"], commands=["+@all", "-client"])
    limited = make_redis(redis_url.replace("redis://", "redis://monitor:pw@"), 1.0)

    async def queue_names():
        return ["wa-outbound"]
    try:
        with pytest.raises(PartialScrape) as e:
            await BullMQWorkersCollector(limited, "anclora", "bull", queue_names).collect()
        assert e.value.families == [] and "CLIENT LIST failed" in str(e.value)
        assert await limited.ping()  # the same user reads everything else
    finally:
        await admin.acl_deluser("monitor")
        await limited.aclose()
        await admin.aclose()

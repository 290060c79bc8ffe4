"""BullMQ workers per queue, from Redis's CLIENT LIST: what BullMQ's getWorkers() reads.

A BullMQ worker names its connection after its queue, and getWorkers() is a CLIENT LIST
filtered on that name. The two clients spell it differently (checked against Node BullMQ
5.81 and the Python client 3.4):
  Node BullMQ   ``<prefix>:<base64(queue)>``, or ``...:w:<worker name>`` for a named worker;
                one connection per worker (its QueueEvents are ``...:qe``, not workers).
  Python        ``<prefix>:<queue>``, or ``...:w:<worker name>``; two connections per worker.
So the count is BullMQ's own: workers for Node, twice the workers for Python. Zero means
no worker at all, which is what the QueueWithoutWorkers alert needs: a queue with waiting
jobs and no worker is a stopped consumer, not a slow one.

A Redis that refuses CLIENT LIST (some managed services) fails this collector only: the
metric is absent and the alert stays silent, as BullMQ's getWorkers() fails there too.
"""

from __future__ import annotations

import base64
from collections import Counter
from typing import Iterable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..metrics import gauge
from ..scrape import PartialScrape

WORKER_SUFFIX = ":w:"


def connection_names(prefix: str, queue: str) -> tuple[str, str]:
    """The two names a worker of ``queue`` gives its connection (Node's, then Python's)."""
    b64 = base64.b64encode(queue.encode()).decode()
    return f"{prefix}:{b64}", f"{prefix}:{queue}"


def owners(queues: Iterable[str], prefix: str) -> dict[str, str]:
    """Connection name -> queue, for both clients' names of every queue."""
    return {name: q for q in queues for name in connection_names(prefix, q)}


def count_workers(client_names: Iterable[str], queues: Iterable[str], prefix: str,
                  owner: dict[str, str] | None = None) -> dict[str, int]:
    """Worker connections per queue among ``client_names``, matched as getWorkers() does:
    the queue's name itself, or it followed by ``:w:`` and a worker name. ``owner``:
    ``owners(queues, prefix)``, when the caller keeps it."""
    queues = list(queues)
    if owner is None:
        owner = owners(queues, prefix)
    counts = Counter({q: 0 for q in queues})
    for name in client_names:
        q = owner.get(name)
        if q is None:
            # A named worker: its base name ends before a ":w:" (a queue or worker name
            # may itself hold ":w:", so each occurrence is tried).
            at = name.find(WORKER_SUFFIX)
            while at > 0 and q is None:
                q = owner.get(name[:at])
                at = name.find(WORKER_SUFFIX, at + 1)
        if q is not None:
            counts[q] += 1
    return dict(counts)


class BullMQWorkersCollector:
    name = "bullmq_workers"

    def __init__(self, redis: Redis, namespace: str, prefix: str, queue_names):
        self.redis = redis
        self.ns = namespace
        self.prefix = prefix
        self.queue_names = queue_names  # async () -> list[str], the BullMQ collector's
        self._owner: tuple[list[str], dict[str, str]] = ([], {})  # kept while queues stay

    async def collect(self):
        try:
            queues = await self.queue_names()
            clients = await self.redis.client_list()
        except (RedisError, OSError) as e:
            raise PartialScrape(f"bullmq_workers: CLIENT LIST failed: {type(e).__name__}",
                                []) from e
        if self._owner[0] != queues:  # a base64 per queue: not again at every scrape
            self._owner = (queues, owners(queues, self.prefix))
        names = (c.get("name", "") for c in clients)
        counts = count_workers(names, queues, self.prefix, self._owner[1])
        return [gauge("bullmq_workers", self.ns,
                      [((q,), float(counts[q])) for q in queues])]

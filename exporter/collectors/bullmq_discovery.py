"""Which BullMQ queues exist, found off the scrape path.

Redis keeps no list of BullMQ queues, but every queue has a hash ``<prefix>:<queue>:meta``
(its version, ``opts.maxLenEvents``, the paused flag), so a queue is found by
``SCAN cursor MATCH <prefix>:*:meta TYPE hash COUNT 1000``, which walks the whole keyspace:
~100 calls with 100k job keys. Run on the scrape path every 30 s, it made those scrapes
take 7-15 times the median. Here instead:

- ``run`` (a background task of the exporter) starts a pass every
  ANCLORA_QUEUE_DISCOVERY_SECONDS. A pass walks the keyspace one SCAN call at a time and
  pauses twice as long as each call took before the next, so Redis and the event loop
  spend at most a third of their time on it and a scrape waits behind one call at most;
- it is incremental: a new queue is watched from the call that found it, and a queue
  whose ``meta`` hash no call of a whole pass returned (the queue was obliterated) is
  dropped at the end of that pass;
- nothing is known before the first pass: it runs at once, unpaced, and a scrape arriving
  meanwhile waits for it (the same pass, not one of its own).

Which of the queues found are watched: names matching ANCLORA_QUEUE_PATTERN, in name
order, at most ANCLORA_MAX_QUEUES of them (``capped`` says when some were left out). A
queue whose name may not become a label value (a queue per customer, named after a phone
number or a JID) is not watched at all, only counted (``unpublishable``).
"""

from __future__ import annotations

import asyncio
import fnmatch

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..labels import label_value
from ..logs import RateLimitedLog, get_logger

SCAN_COUNT = 250  # keys Redis looks at per call: ~0.1 ms of its time (p50, 100k keys)
PAUSE_FACTOR = 2.0  # pause after a call, in multiples of the call's own duration


class QueueDiscovery:
    def __init__(self, redis: Redis, config):
        self.redis, self.config = redis, config
        self.prefix = config.bullmq_prefix
        self.names: list[str] = []  # the watched queues, in name order
        self.capped = False
        self.unpublishable = 0
        self.passes = 0  # complete passes; 0: nothing known yet
        self._known: set[str] = set()  # every queue found (published or not, capped or not)
        self._first: asyncio.Future | None = None
        self._warn = RateLimitedLog(get_logger("queue"), 600)

    async def ready(self) -> None:
        """Returns once a pass has completed: at once after the first, else that first pass
        (started here, or shared with whoever started it). Raises what it raised."""
        if self.passes:
            return
        if self._first is None or self._first.done():
            self._first = asyncio.ensure_future(self.refresh())
        await asyncio.shield(self._first)

    async def run(self) -> None:
        """A pass every ANCLORA_QUEUE_DISCOVERY_SECONDS, forever (Redis errors are logged)."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                await (self.refresh(paced=True) if self.passes else self.ready())
            except (RedisError, OSError) as e:
                self._warn.warning("discovery", "queue discovery failed",
                                   error=f"{type(e).__name__}: {e}"[:200])
            await asyncio.sleep(max(self.config.queue_discovery_interval
                                    - (loop.time() - started), 0.0))

    async def refresh(self, paced: bool = False) -> None:
        """One pass over the keyspace; ``paced``: pause between calls (see the module doc)."""
        loop = asyncio.get_running_loop()
        head, tail = len(self.prefix) + 1, -len(":meta")
        match = f"{self.prefix}:*:meta"
        found: set[str] = set()
        cursor = 0
        while True:
            started = loop.time()
            cursor, keys = await self.redis.scan(cursor, match=match, count=SCAN_COUNT,
                                                 _type="hash")
            new = False
            for key in keys:
                q = (key.decode("utf-8", "replace") if isinstance(key, bytes) else key)[head:tail]
                if q and fnmatch.fnmatchcase(q, self.config.queue_pattern):
                    found.add(q)
                    new = new or q not in self._known
            if new:  # watched from now on, not from the end of the pass
                self._publish(self._known | found)
            if not cursor:
                break
            if paced:
                await asyncio.sleep((loop.time() - started) * PAUSE_FACTOR)
        self._publish(found)
        self.passes += 1
        if self.unpublishable:
            self._warn.warning("unpublishable", "queues not watched: their names may not be "
                               "published", queues=self.unpublishable)

    def _publish(self, found: set[str]) -> None:
        self._known = found
        refused = {q for q in found if label_value(q) is None}
        ordered = sorted(found - refused)
        self.unpublishable = len(refused)
        self.capped = len(ordered) > self.config.max_queues
        self.names = ordered[:self.config.max_queues]

"""BullMQ queue state, read straight from BullMQ's Redis keys (no app instrumentation).

Per scrape, ONE pipelined round trip reads every watched queue (and every configured
dead-letter queue): list lengths, zset cards, ``meta`` paused/version, a ZCOUNT per named
priority on ``prioritized`` (score = priority * 2^32 + counter) and the job id at the tail
(oldest end) of ``wait`` and ``paused``. A second round trip runs only when some queue
has a waiting job: the list holds job ids, not times, so the oldest job's ``timestamp``
can only be read from its hash once its id is known (a Lua script could do both in one
trip, but would need EVAL rights and a script cache on the user's Redis).

A round trip is not redis-py's pipeline, whose per-reply timeout and response callbacks
were most of a scrape's cost at ~750 replies: ``exporter/fastpath/redis.py`` writes the
commands at once (packed once while the queue list stays the same) and takes the raw
replies straight from the connection's hiredis reader, under a single timeout.

State semantics follow the client's ``getJobCounts`` for the queue's BullMQ generation
(``meta.version``): up to 5.x a paused queue's jobs sit in the ``paused`` list and are
reported as ``paused``; from 6.x (and the Python client, which writes no version) they
stay in ``wait`` with ``meta.paused=1`` and are reported as ``waiting``, ``paused`` = 0.
``parse_queue`` turns the raw replies into counts and is unit-tested on literal values.

Which queues: ANCLORA_QUEUES, or those ``QueueDiscovery`` found (in the background, off
the scrape path: see bullmq_discovery.py).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..catalog import BULLMQ_STATES
from ..fastpath import redis as fastpath_redis
from ..metrics import OTHER, gauge
from ..scrape import PartialScrape
from .bullmq_discovery import QueueDiscovery

PRIORITY_SHIFT = 2 ** 32
_V5_OR_OLDER = re.compile(r"^bullmq:([0-5])\.")


def queue_reads(prefix: str, queue: str, priorities: list[int]) -> list[tuple]:
    """The commands read for one queue, in the order ``parse_queue`` expects them."""
    k = f"{prefix}:{queue}:"
    cmds = [("LLEN", k + "wait"), ("LLEN", k + "paused"), ("LLEN", k + "active"),
            ("ZCARD", k + "delayed"), ("ZCARD", k + "prioritized"),
            ("ZCARD", k + "waiting-children"), ("ZCARD", k + "completed"),
            ("ZCARD", k + "failed"), ("HMGET", k + "meta", "paused", "version"),
            ("LINDEX", k + "wait", -1), ("LINDEX", k + "paused", -1)]
    for p in priorities:
        cmds.append(("ZCOUNT", k + "prioritized", p * PRIORITY_SHIFT,
                     (p + 1) * PRIORITY_SHIFT - 1))
    return cmds


def _s(v) -> str | None:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else v


@dataclass
class QueueState:
    counts: dict[str, int] = field(default_factory=dict)   # BullMQ state -> jobs
    per_priority: dict[int, int] = field(default_factory=dict)  # named priority p>0 -> jobs
    paused: bool = False
    version: str | None = None
    oldest_ids: list[str] = field(default_factory=list)    # tail job ids of wait/paused
    error: str | None = None                                # set when the reads failed

    @property
    def waiting_total(self) -> int:
        """Jobs waiting without priority: wait list plus a 5.x paused list."""
        return self.counts.get("waiting", 0) + self.counts.get("paused", 0)


def parse_queue(replies: list, priorities: list[int]) -> QueueState:
    """Raw pipeline replies (``queue_reads`` order) -> counts; pure, no I/O."""
    errors = [r for r in replies if isinstance(r, Exception)]
    if errors:
        return QueueState(error=type(errors[0]).__name__ + ": " + str(errors[0])[:80])
    (wait, paused_list, active, delayed, prioritized, children, completed, failed,
     meta, wait_tail, paused_tail) = replies[:11]
    paused_flag, version = (_s(x) for x in (meta or [None, None]))
    tails = [_s(wait_tail), _s(paused_tail)]
    wait = int(wait)
    # BullMQ < 5 left a "0:<ts>" marker at the tail of wait; its getCounts skips it.
    if tails[0] and tails[0].startswith("0:"):
        wait, tails[0] = max(wait - 1, 0), None
    v5 = bool(version and _V5_OR_OLDER.match(version)) or (version is None and paused_list > 0)
    if v5:
        waiting, paused = wait, int(paused_list)
    else:  # 6.x keeps a paused queue's jobs in wait; a leftover 5.x paused list still waits
        waiting, paused = wait + int(paused_list), 0
    counts = {"waiting": waiting, "paused": paused, "active": int(active),
              "delayed": int(delayed), "prioritized": int(prioritized),
              "waiting-children": int(children), "completed": int(completed),
              "failed": int(failed)}
    per_priority = {p: int(n) for p, n in zip(priorities, replies[11:])}
    return QueueState(counts=counts, per_priority=per_priority,
                      paused=paused_flag == "1" or paused > 0, version=version,
                      oldest_ids=[t for t in tails if t])


def waiting_by_priority(state: QueueState, names: dict[int, str]) -> dict[str, int]:
    """``queue_waiting_messages`` samples: priority 0 = the wait list, others by ZCOUNT,
    unnamed priorities = prioritized total minus the named ones, as ``other``."""
    out: dict[str, int] = {n: 0 for n in names.values()}
    out.setdefault(OTHER, 0)
    out[names.get(0, OTHER)] += state.waiting_total
    named = 0
    for p, n in state.per_priority.items():
        out[names[p]] += n
        named += n
    out[OTHER] += max(state.counts.get("prioritized", 0) - named, 0)
    return out


def dlq_depth(state: QueueState) -> int:
    """Jobs a dead-letter queue holds that nobody has handled yet."""
    c = state.counts
    return c["waiting"] + c["paused"] + c["prioritized"] + c["delayed"]


def oldest_age(timestamps: list, now: float) -> float:
    """Age in seconds of the oldest of the job ``timestamp`` fields (ms); 0 when none."""
    ages = []
    for ts in timestamps:
        try:
            ages.append(max(now - float(_s(ts)) / 1000.0, 0.0))
        except (TypeError, ValueError):
            continue  # job hash gone or malformed: no age from it
    return max(ages, default=0.0)


class BullMQCollector:
    name = "bullmq"

    def __init__(self, redis: Redis, config, clock=time.time):
        self.redis = redis
        self.config = config
        self.ns = config.namespace
        self.prefix = config.bullmq_prefix
        self.names = dict(config.priority_names)
        self.priorities = sorted(p for p in self.names if p > 0)
        self.clock = clock
        self.discovery = None if config.queues else QueueDiscovery(redis, config)
        self.round_trips = 0  # pipelined round trips made, for tests and the benchmark
        self._reads: tuple = (None, None, [])  # (queues, their commands, commands per queue)

    # --- which queues ------------------------------------------------------------
    async def queue_names(self) -> list[str]:
        """Watched queues: the configured list, or those discovery found (waiting for its
        first pass if none has completed yet)."""
        if self.discovery is None:
            return list(self.config.queues)
        await self.discovery.ready()
        return list(self.discovery.names)

    @property
    def unpublishable(self) -> int:
        """Discovered queues whose names may not be label values (not watched)."""
        return self.discovery.unpublishable if self.discovery else 0

    # --- reading -----------------------------------------------------------------
    async def round_trip(self, *parts: fastpath_redis.Part) -> list:
        """Replies (raw bytes/ints, an error reply as its exception) to the parts'
        commands, in one write and under one timeout (fastpath.redis.round_trip)."""
        out = await fastpath_redis.round_trip(self.redis, *parts)
        if out:
            self.round_trips += 1
        return out

    async def read(self, queues: list[str]) -> dict[str, QueueState]:
        """States of ``queues`` and their dead-letter queues, in one round trip."""
        wanted = list(dict.fromkeys(
            queues + [self.config.dlq_queues[q] for q in queues if q in self.config.dlq_queues]))
        if self._reads[0] != wanted:  # the same queues: the same commands, packed once
            per_queue = [queue_reads(self.prefix, q, self.priorities) for q in wanted]
            self._reads = (wanted, fastpath_redis.Part([c for cmds in per_queue for c in cmds]),
                           [len(cmds) for cmds in per_queue])
        replies = await self.round_trip(self._reads[1])
        states, i = {}, 0
        for q, n in zip(wanted, self._reads[2]):
            states[q] = parse_queue(replies[i:i + n], self.priorities)
            i += n
        return states

    async def read_ages(self, states: dict[str, QueueState]) -> dict[str, float]:
        """Oldest waiting job age per queue; a second round trip only if a job waits."""
        asks = [(q, jid) for q, st in states.items() if not st.error for jid in st.oldest_ids]
        ages = {q: 0.0 for q in states}
        if not asks:
            return ages
        replies = await self.round_trip(fastpath_redis.Part(
            [("HGET", f"{self.prefix}:{q}:{jid}", "timestamp") for q, jid in asks]))
        now = self.clock()
        by_queue: dict[str, list] = {}
        for (q, _), ts in zip(asks, replies):
            by_queue.setdefault(q, []).append(None if isinstance(ts, Exception) else ts)
        for q, stamps in by_queue.items():
            ages[q] = oldest_age(stamps, now)
        return ages

    async def job_counts(self) -> dict[str, dict[str, int]]:
        """A fresh read: {queue: {state: jobs}} (queues whose reads failed are left out)."""
        queues = await self.queue_names()
        states = await self.read(queues)
        return {q: dict(states[q].counts) for q in queues if not states[q].error}

    # --- publishing --------------------------------------------------------------
    def _self_metrics(self, queues: list[str], up: dict[str, float]) -> list:
        ns = self.ns
        fams = [gauge("exporter_queue_up", ns, (((q,), up.get(q, 0.0)) for q in queues))]
        d = self.discovery
        if d is not None and d.passes:
            fams += [gauge("exporter_queues_discovered", ns, [((), float(len(d.names)))]),
                     gauge("exporter_queues_capped", ns, [((), float(d.capped))])]
        return fams

    async def collect(self):
        ns = self.ns
        try:
            queues = await self.queue_names()
            states = await self.read(queues)
            ages = await self.read_ages({q: states[q] for q in queues})
        except (RedisError, OSError) as e:
            known = self.discovery.names if self.discovery else list(self.config.queues)
            raise PartialScrape(f"bullmq: redis unreachable: {type(e).__name__}",
                                self._self_metrics(known, {})) from e
        ok = [q for q in queues if not states[q].error]
        jobs, waiting, active, dlq, age, paused = [], [], [], [], [], []
        for q in ok:
            st = states[q]
            jobs += [((q, s), float(st.counts[s])) for s in BULLMQ_STATES]
            waiting += [((q, p), float(n)) for p, n in waiting_by_priority(st, self.names).items()]
            active.append(((q,), float(st.counts["active"])))
            dlq_q = self.config.dlq_queues.get(q)
            if dlq_q is None:
                dlq.append(((q,), float(st.counts["failed"])))
            elif not states[dlq_q].error:
                dlq.append(((q,), float(dlq_depth(states[dlq_q]))))
            age.append(((q,), ages[q]))
            paused.append(((q,), float(st.paused)))
        fams = [gauge("bullmq_jobs", ns, jobs), gauge("queue_waiting_messages", ns, waiting),
                gauge("queue_active_messages", ns, active), gauge("queue_dlq_messages", ns, dlq),
                gauge("bullmq_oldest_waiting_job_age_seconds", ns, age),
                gauge("bullmq_queue_paused", ns, paused)]
        fams += self._self_metrics(queues, {q: 1.0 for q in ok})
        return fams

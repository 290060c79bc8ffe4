"""BullMQ queue state, read straight from BullMQ's Redis keys (no app instrumentation).

Per scrape, ONE pipelined round trip reads every watched queue (and every configured
dead-letter queue): list lengths, zset cards, ``meta`` paused/version, a ZCOUNT per named
priority on ``prioritized`` (score = priority * 2^32 + counter) and the job id at the tail
(oldest end) of ``wait`` and ``paused``. The list holds job ids, not times, so the oldest
job's ``timestamp`` can only be read from its hash once its id is known: the same trip
reads the timestamps of the jobs that were at the tails at the previous scrape, and a
second trip runs only for the queues whose tail moved (a Lua script could do both in one
trip, but would need EVAL rights and a script cache on the user's Redis). From a
queue list's second scrape on, the reads whose answer the other replies give (the length
of a key that does not exist, confirmed by one EXISTS per block of queues; a list tail's
LINDEX where its LLEN is 0; the ZCOUNTs of priorities without jobs) are sent only where
the last scrape saw them needed, and read in a second trip where it did not (see
``read``): 11 commands per queue instead of 16 on the benchmark's queues, 3 (and a share
of its block's EXISTS) for a queue holding only completed and failed jobs.

A round trip is not redis-py's pipeline, whose per-reply timeout and response callbacks
were most of a scrape's cost at ~750 replies: ``exporter/fastpath/redis.py`` writes the
commands at once (packed once while the queue list stays the same) and takes the raw
replies straight from the connection's hiredis reader, under a single timeout.

The families are ``TextFamily``s: their lines are formatted here, into label text made
once per queue list (``_Plan``), so a scrape formats numbers only, and builds no sample
objects (at 1,000 queues those were most of a scrape and fed the garbage collector a
full pass per scrape). Their ``samples`` are made from the same values when something
asks for them; tests/collectors/test_bullmq.py compares the two renderings.

Which queues: ANCLORA_QUEUES, or those ``QueueDiscovery`` found (in the background, off
the scrape path: see bullmq_discovery.py).

State semantics follow the client's ``getJobCounts`` for the queue's BullMQ generation
(``meta.version``): up to 5.x a paused queue's jobs sit in the ``paused`` list and are
reported as ``paused``; from 6.x (and the Python client, which writes no version) they
stay in ``wait`` with ``meta.paused=1`` and are reported as ``waiting``, ``paused`` = 0.
``QueueStates`` turns the raw replies into counts and is unit-tested on literal values.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_left
from itertools import chain

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .. import catalog
from ..catalog import BULLMQ_STATES
from ..exposition import TextFamily, line_prefix, value_text
from ..fastpath import redis as fastpath_redis
from ..metrics import OTHER, family, gauge
from ..scrape import PartialScrape
from .bullmq_discovery import QueueDiscovery

PRIORITY_SHIFT = 2 ** 32
_V5_OR_OLDER = re.compile(r"^bullmq:([0-5])\.")
_WAITING, _PAUSED, _ACTIVE, _DELAYED, _PRIORITIZED, _FAILED = (
    BULLMQ_STATES.index(s) for s in ("waiting", "paused", "active", "delayed", "prioritized",
                                     "failed"))
_PLAIN = 1_000_000  # below this, a count's text is "<n>.0" (value_text's repr of a float)
# queue_reads' indexes: the lengths (LLEN/ZCARD) of the lists and sets, the prioritized
# set's among them, the meta hash's HMGET (the one read sent for every queue at every
# scrape), the list tails (with the index of their list's LLEN), the first ZCOUNT
_LENGTHS, _PRIORITIZED_CARD, _META, _FIRST_ZCOUNT = range(8), 4, 8, 11
_TAILS = ((9, 0), (10, 1))  # (LINDEX wait -1, LLEN wait), (LINDEX paused -1, LLEN paused)
# Queues per block of a trip: a block's reads (its HMGETs, the reads asked, one EXISTS
# for the keys whose lengths are not asked) are sent together, so a queue's reads stay
# close in Redis' queue of commands (the pipeline is not atomic: the closer they run,
# the closer to one snapshot) and a block's commands are packed again only when what its
# queues ask changes.
_BLOCK = 32


def queue_reads(prefix: str, queue: str, priorities: list[int]) -> list[tuple]:
    """The commands read for one queue, in the order ``QueueStates`` expects them."""
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


class QueueStates:
    """The state of every queue read in one trip, by column: one list per field, one entry
    per queue (``queues`` order), so 1,000 queues cost a few list operations per field
    rather than an object each. Pure, no I/O; unit-tested on literal replies.

    ``jobs[k][i]``: jobs of queue i in state BULLMQ_STATES[k]; ``per_priority[j][i]``:
    its prioritized jobs at priority ``priorities[j]``; ``paused[i]`` 0/1; ``oldest_ids[i]``:
    the job ids at the tails of its wait and paused lists; ``error[i]``: why its reads
    failed (its other fields are then 0), None when they did not.
    """

    def __init__(self, replies: list, queues: list[str], priorities: list[int]):
        n, count = 11 + len(priorities), len(queues)
        self.queues, self.priorities = queues, priorities
        self.error: list[str | None] = [None] * count
        if any(issubclass(t, Exception) for t in set(map(type, replies))):
            replies = list(replies)
            for i in range(count):
                bad = next((r for r in replies[i * n:(i + 1) * n] if isinstance(r, Exception)),
                           None)
                if bad is not None:
                    self.error[i] = type(bad).__name__ + ": " + str(bad)[:80]
                    replies[i * n:(i + 1) * n] = [0] * 8 + [None] * 3 + [0] * len(priorities)
        end = count * n
        (wait, paused_list, active, delayed, prioritized, children, completed, failed,
         meta, wait_tail, paused_tail) = (replies[c:end:n] for c in range(11))
        self.per_priority = [replies[11 + j:end:n] for j in range(len(priorities))]
        versions = [_s(m[1]) if m else None for m in meta]
        # BullMQ < 5 left a "0:<ts>" marker at the tail of wait; its getCounts skips it.
        marker = [t is not None and t[:2] in (b"0:", "0:") for t in wait_tail]
        wait = [max(w - 1, 0) if m else w for w, m in zip(wait, marker)]
        v5 = [bool(v and _V5_OR_OLDER.match(v)) or (v is None and p > 0)
              for v, p in zip(versions, paused_list)]
        # 6.x keeps a paused queue's jobs in wait; a leftover 5.x paused list still waits
        waiting = [w if five else w + p for w, p, five in zip(wait, paused_list, v5)]
        paused = [p if five else 0 for p, five in zip(paused_list, v5)]
        self.jobs = (waiting, paused, active, delayed, prioritized, children, completed,
                     failed)
        self.paused = [int(bool(m) and m[0] in (b"1", "1") or p > 0)
                       for m, p in zip(meta, paused)]
        self.versions = versions
        self.oldest_ids = [[_s(t) for t in (None if m else w, p) if t is not None]
                           for w, p, m in zip(wait_tail, paused_tail, marker)]

    def counts(self, i: int) -> dict[str, int]:
        """Queue i's jobs per BullMQ state."""
        return {s: col[i] for s, col in zip(BULLMQ_STATES, self.jobs)}

    def waiting_total(self) -> list[int]:
        """Jobs waiting without priority: wait list plus a 5.x paused list."""
        return [w + p for w, p in zip(self.jobs[_WAITING], self.jobs[_PAUSED])]

    def dlq_depth(self, i: int) -> int:
        """Jobs dead-letter queue i holds that nobody has handled yet."""
        return sum(self.jobs[k][i] for k in (_WAITING, _PAUSED, _PRIORITIZED, _DELAYED))


def _zcount_sums(state: list, width: int) -> list[int]:
    """Per queue, the sum of its ZCOUNT replies (``plan.reads`` order)."""
    cols = [state[k::width] for k in range(_FIRST_ZCOUNT, width)]
    if not cols:
        return [0] * (len(state) // width)
    try:
        return list(map(sum, zip(*cols)))
    except TypeError:  # an error reply among them (that queue's reads failed)
        return [sum(n for n in counts if type(n) is int) for counts in zip(*cols)]


def waiting_by_priority(states: QueueStates, names: dict[int, str]) -> dict[str, list[int]]:
    """``queue_waiting_messages`` columns by priority label: priority 0 = the wait list,
    others by ZCOUNT, unnamed priorities = prioritized total minus the named ones, as
    ``other``. Keys in label order: the names as configured, then ``other``."""
    count = len(states.queues)
    out: dict[str, list[int]] = {n: [0] * count for n in names.values()}
    out.setdefault(OTHER, [0] * count)
    named = [0] * count
    parts = [(names.get(0, OTHER), states.waiting_total())]
    for p, col in zip(states.priorities, states.per_priority):
        parts.append((names[p], col))
        named = [a + b for a, b in zip(named, col)]
    parts.append((OTHER, [max(t - n, 0) for t, n in zip(states.jobs[_PRIORITIZED], named)]))
    for label, col in parts:
        out[label] = [a + b for a, b in zip(out[label], col)]
    return out


# The families of a scrape, in order: (catalog name, the labels other than ``queue``).
_FAMILIES = (("bullmq_jobs", ("state",)), ("queue_waiting_messages", ("priority",)),
             ("queue_active_messages", ()), ("queue_dlq_messages", ()),
             ("bullmq_oldest_waiting_job_age_seconds", ()), ("bullmq_queue_paused", ()),
             ("exporter_queue_up", ()))
_AGE = 4  # the one family of non-integer values


class _Plan:
    """What every scrape of the same queues reuses: the state reads (packed on the first
    trip) and the text of every line, values left as ``%`` fields: per family, per queue
    (``%d.0`` for counts, the usual case, and ``%s`` for any value), and for all the
    queues at once (a scrape where every queue has its lines, the usual case, formats a
    family with one ``%``); and the last text of each family of counts, with its values."""

    def __init__(self, queues: list[str], dlq: dict[str, str], prefix: str,
                 priorities: list[int], priority_labels: list[str], namespace: str):
        self.queues = queues
        # the queues read: the watched ones, then the dead-letter queues not watched
        self.wanted = list(dict.fromkeys(queues + [dlq[q] for q in queues if q in dlq]))
        self.per_queue = [queue_reads(prefix, q, priorities) for q in self.wanted]
        self.width = _FIRST_ZCOUNT + len(priorities)  # reads per queue
        self.reads = fastpath_redis.Part([c for cmds in self.per_queue for c in cmds])
        # the queues in blocks of _BLOCK: (first, end) of each
        self.blocks = [(lo, min(lo + _BLOCK, len(self.wanted)))
                       for lo in range(0, len(self.wanted), _BLOCK)]
        index = {q: i for i, q in enumerate(self.wanted)}
        self.dlq = [index.get(dlq.get(q)) for q in queues]  # None: the failed set
        self.label_values = (BULLMQ_STATES, priority_labels) + ((None,),) * 5
        self.templates: list[list[tuple[str, str]]] = []  # [family][queue] -> (%d, %s)
        self.all: list[tuple[str, str]] = []              # [family] -> every queue's
        self.last: list[tuple] = [(None, "")] * len(_FAMILIES)  # [family] -> (values, text)
        for (name, extra), values in zip(_FAMILIES, self.label_values):
            spec = catalog.get(name)
            full_name = spec.full_name(namespace)
            per_queue = []
            for q in queues:
                prefixes = [line_prefix(full_name, dict(zip(spec.labels, (q, v) if extra
                                                            else (q,)))).replace("%", "%%")
                            for v in values]
                per_queue.append(("".join(p + " %d.0\n" for p in prefixes),
                                  "".join(p + " %s\n" for p in prefixes)))
            self.templates.append(per_queue)
            self.all.append(("".join(t[0] for t in per_queue), "".join(t[1] for t in per_queue)))


class BullMQCollector:
    name = "bullmq"

    def __init__(self, redis: Redis, config, clock=time.time):
        self.redis = redis
        self.config = config
        self.ns = config.namespace
        self.prefix = config.bullmq_prefix
        self.names = dict(config.priority_names)
        self.priorities = sorted(p for p in self.names if p > 0)
        # queue_waiting_messages' priority labels, in waiting_by_priority's order
        self.priority_labels = list(dict.fromkeys([*self.names.values(), OTHER]))
        self._empty = [family(name, self.ns) for name, _ in _FAMILIES]  # name, help, type
        self.clock = clock
        self.discovery = None if config.queues else QueueDiscovery(redis, config)
        self.round_trips = 0  # pipelined round trips made, for tests and the benchmark
        self._plan: _Plan | None = None
        # the oldest jobs' timestamps read with the next state reads (see ``read``)
        self._guessed: list[tuple[str, str]] = []
        self._guess = fastpath_redis.Part([])
        # the reads sent where the last scrape saw them needed (``_speculate``); None:
        # every read (the first scrape of a plan)
        self._asks: list[list[int]] | None = None
        self._seen: list[list] = []  # the replies _speculate chose them from
        self._grown = False  # a key not asked was found to exist: ask it from now on
        self._asked_sets: list[set[int]] = []
        self._all_zcounts: set[int] = set()  # queues whose every ZCOUNT is asked
        self._asked: list[tuple] = []  # per plan block: (its asks, its commands' Part)

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

    def plan(self, queues: list[str]) -> _Plan:
        if self._plan is None or self._plan.queues != queues:
            self._plan = _Plan(queues, self.config.dlq_queues, self.prefix, self.priorities,
                               self.priority_labels, self.ns)
            self._asks, self._seen, self._asked = None, [], []
        return self._plan

    async def read(self, plan: _Plan) -> tuple[QueueStates, list[float]]:
        """(the state of every queue read, the oldest waiting job's age of each watched
        queue).

        The age needs the timestamp of the job at the tail of ``wait``/``paused``, whose
        id only the state reads tell. The trip of the state reads also reads the
        timestamps of the jobs that were at the tails at the previous scrape: where a
        tail has not moved (an idle queue), its timestamp is then known, read in the same
        trip; a second trip reads those of the tails that moved.

        Reads whose answer the same trip's other replies can give are sent only where the
        last scrape saw them needed (``_speculate``): the lengths of keys that never
        existed (0: Redis deletes an empty list or sorted set; one EXISTS per block of
        queues stands for them, and where it counts one, the block's are read again with
        the reads that depend on them), the tails of ``wait`` and ``paused``
        (nil when the list's LLEN is 0, as the paused list's always is from BullMQ 6),
        and the per-priority ZCOUNTs (all 0 when ZCARD ``prioritized`` is 0; those not
        sent are 0 when the ones sent add up to the ZCARD). Where the replies cannot give
        one (the list has jobs, or the counts fall short), it is read in a second trip,
        before the timestamps'. For a queue that does not change during the trip, the
        replies are exactly those of every read; for one that does, they are as close as
        the reads themselves, which never were one atomic snapshot (a pipeline, no MULTI:
        hence the blocks, which keep a queue's reads close together)."""
        if self._asks is None:
            replies = await self.round_trip(plan.reads, self._guess)
            n = len(plan.reads.cmds)
            state = replies[:n] if self._guess.cmds else replies
        else:
            replies = await self.round_trip(*(part for *_, part in self._asked), self._guess)
            n = len(replies) - len(self._guess.cmds)
            state = await self._complete(plan, replies[:n])
        self._speculate(plan, state)
        states = QueueStates(state, plan.wanted, self.priorities)
        watched = range(len(plan.queues))
        asks = [(q, jid) for i, q in zip(watched, plan.queues) if not states.error[i]
                for jid in states.oldest_ids[i]]
        stamps = dict(zip(self._guessed, replies[n:]))
        if asks != self._guessed:
            missing = [a for a in asks if a not in stamps]
            part = self._timestamps(missing)
            stamps.update(zip(missing, await self.round_trip(part)))
            self._guessed = asks
            self._guess = part if missing == asks else self._timestamps(asks)
        now = self.clock()
        oldest: dict[str, float] = {}  # the age of the older of a queue's tail jobs
        for (q, _), ts in zip(asks, map(stamps.__getitem__, asks)):
            try:  # ms since the epoch; a job hash gone or malformed gives no age
                age = max(now - float(ts) / 1000.0, 0.0)
            except (TypeError, ValueError):
                continue
            oldest[q] = max(oldest[q], age) if q in oldest else age
        return states, [oldest.get(q, 0.0) for q in plan.queues]

    async def _complete(self, plan: _Plan, replies: list) -> list:
        """Every read's reply, in ``plan.reads`` order, from the replies to the blocks'
        reads: those not sent are answered from the other replies, or read in a second
        (and third) trip where those cannot answer them."""
        count, width = len(plan.wanted), plan.width
        state = [0] * (count * width)  # a length or ZCOUNT not sent: 0 (when confirmed)
        for tail, _ in _TAILS:
            state[tail::width] = [None] * count  # LINDEX of an empty list: nil
        at, missing = 0, []
        for (lo, hi), (asks, unasked, _) in zip(plan.blocks, self._asked):
            m, first, end = hi - lo, lo * width, hi * width
            for k, queues in asks:
                got = replies[at:at + len(queues)]
                at += len(queues)
                if len(queues) == m:  # the whole block (the usual case for a read in use)
                    state[first + k:end:width] = got
                else:
                    for i, reply in zip(queues, got):
                        state[i * width + k] = reply
            if unasked:
                if replies[at] != 0:  # some key not asked exists now (or a failed EXISTS)
                    missing += unasked
                at += 1
        if missing:  # their lengths, and the reads that depend on them
            self._grown = True
            missing += [(i, k) for i, length in missing if length == _PRIORITIZED_CARD
                        for k in range(_FIRST_ZCOUNT, width)]
            missing += [(i, tail) for i, length in missing for tail, n in _TAILS
                        if n == length]
            missing = list(dict.fromkeys(missing))
            await self._read_missing(plan, state, missing)
        fetched = set(missing)
        asked, every = self._asked_sets, self._all_zcounts
        missing = []
        for tail, length in _TAILS:  # (the checks are written to cost little when all is well)
            lengths = state[length::width]
            if len(asked[tail]) < count and any(lengths):
                missing += [(i, tail) for i, n in enumerate(lengths)
                            if n and type(n) is int and i not in asked[tail]
                            and (i, tail) not in fetched]
        cards = state[_PRIORITIZED_CARD::width]
        sums = _zcount_sums(state, width)
        if sums != cards:
            missing += [(i, k) for i, (n, t) in enumerate(zip(cards, sums))
                        if n != t and type(n) is int and i not in every
                        for k in range(_FIRST_ZCOUNT, width)
                        if i not in asked[k] and (i, k) not in fetched]
        await self._read_missing(plan, state, missing)
        return state

    async def _read_missing(self, plan: _Plan, state: list, missing: list) -> None:
        if missing:
            again = await self.round_trip(fastpath_redis.Part(
                [plan.per_queue[i][k] for i, k in missing]))
            for (i, k), reply in zip(missing, again):
                state[i * plan.width + k] = reply

    def _speculate(self, plan: _Plan, state: list) -> None:
        """The reads to send with the next scrape's (``self._asks``: per read index, the
        queues to send it for): a list's or a set's length where its key ever existed
        (Redis deletes an empty list or sorted set: a key that does not exist is a
        length of 0, which one EXISTS per block confirms for all of them); a list's tail
        where the list has jobs; the ZCOUNTs of the priorities that have jobs, or every
        ZCOUNT where jobs sit at priorities not named (their count is the ZCARD less
        every named one's) or a read failed."""
        width = plan.width
        seen = [state[k::width] for k in (*(n for _, n in _TAILS), _PRIORITIZED_CARD,
                                          *range(_FIRST_ZCOUNT, width))]
        if seen == self._seen and not self._grown:  # the same reads as last scrape
            return
        self._seen, self._grown = seen, False
        asks = [[i for i, n in enumerate(state[k::width]) if n] for k in _LENGTHS]
        if self._asks is not None:  # a key once seen stays read (no trips for flapping)
            asks = [sorted(set(queues).union(old)) for queues, old in zip(asks, self._asks)]
        asks.append(list(range(len(plan.wanted))))  # _META
        asks += [[i for i, n in enumerate(state[length::width]) if n] for _, length in _TAILS]
        cards = state[_PRIORITIZED_CARD::width]
        every = {i for i, (n, t) in enumerate(zip(cards, _zcount_sums(state, width)))
                 if n != t}
        for k in range(_FIRST_ZCOUNT, width):
            queues = [i for i, n in enumerate(state[k::width]) if n]
            asks.append(sorted(every.union(queues)) if every else queues)
        if asks != self._asks:
            self._asks, self._all_zcounts = asks, every
            self._asked_sets = [set(queues) for queues in asks]
            old = dict(zip(plan.blocks, self._asked))
            self._asked = []
            for lo, hi in plan.blocks:
                block = [(k, queues[bisect_left(queues, lo):bisect_left(queues, hi)])
                         for k, queues in enumerate(asks)]
                block = [(k, queues) for k, queues in block if queues]
                if (lo, hi) in old and old[lo, hi][0] == block:
                    self._asked.append(old[lo, hi])  # packed already
                    continue
                unasked = [(i, k) for k in _LENGTHS for i in range(lo, hi)
                           if i not in self._asked_sets[k]]
                cmds = [plan.per_queue[i][k] for k, queues in block for i in queues]
                if unasked:
                    cmds.append(("EXISTS", *(plan.per_queue[i][k][1] for i, k in unasked)))
                self._asked.append((block, unasked, fastpath_redis.Part(cmds)))

    def _timestamps(self, asks: list[tuple[str, str]]) -> fastpath_redis.Part:
        return fastpath_redis.Part([("HGET", f"{self.prefix}:{q}:{jid}", "timestamp")
                                    for q, jid in asks])

    async def job_counts(self) -> dict[str, dict[str, int]]:
        """A fresh read: {queue: {state: jobs}} (queues whose reads failed are left out)."""
        plan = self.plan(await self.queue_names())
        states = QueueStates(await self.round_trip(plan.reads), plan.wanted, self.priorities)
        return {q: states.counts(i) for i, q in enumerate(plan.queues) if not states.error[i]}

    # --- publishing --------------------------------------------------------------
    def _columns(self, plan: _Plan, states: QueueStates, ages: list[float]) -> list:
        """Per family: (the indexes of the watched queues that have lines in it, their
        values: one column per label value, entries in the order of those queues)."""
        ok = [i for i, e in zip(range(len(plan.queues)), states.error) if e is None]
        jobs = states.jobs
        dlq, dlq_ok = [], []
        for i in ok:
            j = plan.dlq[i]
            if j is None:
                dlq.append(jobs[_FAILED][i])
                dlq_ok.append(i)
            elif states.error[j] is None:
                dlq.append(states.dlq_depth(j))
                dlq_ok.append(i)
        up = [int(e is None) for e in states.error[:len(plan.queues)]]
        waiting = list(waiting_by_priority(states, self.names).values())
        if len(ok) < len(states.queues):  # some queue failed, or dead-letter queues read
            def pick(col):
                return [col[i] for i in ok]
        else:
            def pick(col):
                return col
        return [(ok, [pick(c) for c in jobs]), (ok, [pick(c) for c in waiting]),
                (ok, [pick(jobs[_ACTIVE])]), (dlq_ok, [dlq]), (ok, [pick(ages)]),
                (ok, [pick(states.paused)]), (range(len(plan.queues)), [up])]

    def _families(self, plan: _Plan, states: QueueStates, ages: list[float]) -> list:
        fams = []
        for f, (present, columns) in enumerate(self._columns(plan, states, ages)):
            # queue by queue, each queue's values in label order
            values = tuple(columns[0] if len(columns) == 1 else chain.from_iterable(zip(*columns)))
            fams.append(TextFamily(self._empty[f], self._text(plan, f, present, values),
                                   self._samples(plan, f, present, values)))
        return fams + self._discovery_metrics()

    @staticmethod
    def _text(plan: _Plan, f: int, present, values: tuple) -> str:
        """A family's lines. A family of counts whose every queue has its lines, with no
        value changed since the last scrape (idle queues), has the same text."""
        if len(present) == len(plan.queues):
            if f != _AGE and plan.last[f][0] == values:
                return plan.last[f][1]
            counts, other = plan.all[f]
        else:
            counts = "".join(plan.templates[f][i][0] for i in present)
            other = "".join(plan.templates[f][i][1] for i in present)
        if f != _AGE and (not values or max(values) < _PLAIN):
            text = counts % values
            if len(present) == len(plan.queues):
                plan.last[f] = (values, text)
        else:
            text = other % tuple(map(value_text, map(float, values)))
        return text

    def _samples(self, plan: _Plan, f: int, present, values: list):
        """The family's samples (made on first use), from the values its lines show."""
        def make() -> list:
            name, extra = _FAMILIES[f]
            labels = [(plan.queues[i], v) if extra else (plan.queues[i],)
                      for i in present for v in plan.label_values[f]]
            return gauge(name, self.ns, zip(labels, map(float, values))).samples
        return make

    def _discovery_metrics(self) -> list:
        d = self.discovery
        if d is None or not d.passes:
            return []
        return [gauge("exporter_queues_discovered", self.ns, [((), float(len(d.names)))]),
                gauge("exporter_queues_capped", self.ns, [((), float(d.capped))])]

    async def collect(self):
        try:
            plan = self.plan(await self.queue_names())
            states, ages = await self.read(plan)
        except (RedisError, OSError) as e:
            queues = (self._plan.queues if self._plan else None) or list(self.config.queues)
            raise PartialScrape(
                f"bullmq: redis unreachable: {type(e).__name__}",
                [gauge("exporter_queue_up", self.ns, (((q,), 0.0) for q in queues)),
                 *self._discovery_metrics()]) from e
        return self._families(plan, states, ages)

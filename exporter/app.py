"""Assembles the exporter from its config: registry, collectors, background tasks, health."""

from __future__ import annotations

import asyncio
import platform

from prometheus_client import CollectorRegistry, ProcessCollector
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from . import __version__, health, ingest
from .collectors.bullmq import BullMQCollector
from .collectors.bullmq_events import BullMQEvents
from .collectors.redis import RedisCollector
from .collectors.system import SystemCollector
from .config import Config, redact_url
from .logs import get_logger
from .loop_lag import LoopLagMonitor
from .metrics import LabelGuard, MetricSet, StaleGauges, gauge
from .scrape import ScrapeRunner
from .server import ConnectionGuard

log = get_logger("exporter")


def make_redis(url: str, timeout: float) -> Redis:
    """A Redis client whose every call is bounded in time (connect and read).

    A call that meets a broken connection is sent once more, on a new one: after an
    outage every pooled connection is dead, and without the retry the first scrape after
    Redis came back said ``redis_up 0``. Only connection errors are retried, never a
    timeout (a call stays bounded by about twice the timeout), and every command the
    exporter sends is safe to run twice (the stream ack is idempotent per receipt).
    """
    return Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                          health_check_interval=30, decode_responses=False,
                          retry=Retry(NoBackoff(), 1, (RedisConnectionError,)))


class _BuildInfo:
    def __init__(self, namespace: str):
        self.ns = namespace

    def describe(self):
        return []

    def collect(self):
        yield gauge("exporter_build_info", self.ns,
                    [((__version__, platform.python_version()), 1.0)])


class Exporter:
    """Everything one running exporter owns. ``start()`` launches background work."""

    def __init__(self, config: Config, redis: Redis | None = None):
        self.config = config
        ns = config.namespace
        self.registry = CollectorRegistry()
        self.guard = LabelGuard(config.label_limit, config.label_limits,
                                series_limit=config.series_limit,
                                series_limit_total=config.series_limit_total)
        self.metrics = MetricSet(ns, self.registry, self.guard)
        self.gauges = StaleGauges(ns, self.guard, config.gauge_ttl)
        self.redis = redis or make_redis(config.redis_url, config.redis_timeout)
        # The analytics check writes to its own Redis when one is configured.
        self.analytics_redis = (self.redis if config.analytics_redis_url == config.redis_url
                                else make_redis(config.analytics_redis_url, config.redis_timeout))
        self.bullmq = BullMQCollector(self.redis, config)
        self.collectors = [RedisCollector(self.redis, ns), self.bullmq,
                           SystemCollector(ns, config.disk_path)]
        self.runner = ScrapeRunner(self.collectors, ns, config.scrape_timeout)
        self.loop_lag = LoopLagMonitor(ns)
        for c in (self.runner, self.gauges, self.loop_lag, _BuildInfo(ns)):
            self.registry.register(c)
        ProcessCollector(registry=self.registry)  # process_* for the exporter itself
        # The HTTP server's slowloris guard; its counts are published with the rest.
        self.connections = ConnectionGuard(config.http_max_connections,
                                           config.http_header_timeout, ns)
        self.registry.register(self.connections)
        self.health = health.Health(health.default_checks(self), config.health_timeout,
                                    self.metrics)
        self.extra_routes: list[tuple[str, str, object]] = []  # (method, path, handler)
        self._tasks: list[asyncio.Task] = []
        self.background: list = [self.loop_lag]  # objects with async run(), see start()
        if config.health_interval > 0:
            self.background.append(health.HealthPoller(self.health, config.health_interval))
        self._first_scrape: asyncio.Task | None = None  # started by ready(), see there
        self.ingestor = ingest.install(self)  # POST /events and the events stream
        if config.bullmq_events:
            # A blocked XREADGROUP must return before the client's read timeout fires.
            block_ms = max(10, min(1000, int(config.redis_timeout * 500)))
            self.bullmq_events = BullMQEvents(self.redis, config, self.metrics,
                                              self.bullmq.queue_names, block_ms=block_ms,
                                              claim_idle_ms=int(config.stream_claim_idle * 1000))
            self.background.append(self.bullmq_events)

    async def start(self) -> None:
        log.info("exporter starting", extra={"redis": redact_url(self.config.redis_url),
                                             "listen": "%s:%d" % self.config.listen})
        for worker in self.background:
            self._tasks.append(asyncio.create_task(worker.run(), name=type(worker).__name__))

    async def stop(self) -> None:
        if self._first_scrape is not None:
            self._tasks.append(self._first_scrape)
            self._first_scrape = None
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.redis.aclose()
        if self.analytics_redis is not self.redis:
            await self.analytics_redis.aclose()

    async def queue_counts(self) -> dict:
        """Job counts per queue, read fresh (the queue health check calls this)."""
        return await self.bullmq.job_counts()

    async def ready(self) -> tuple[bool, str]:
        """Ready once Redis answers and a scrape has read it; answers within the health timeout.

        Until a scrape has read Redis, a probe starts one and waits for it only as long as
        the budget left: a readiness probe must not hang on a slow first scrape (the
        scrape goes on, and the next probe finds its result).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.health_timeout
        try:
            await asyncio.wait_for(self.redis.ping(), self.config.health_timeout)
        except Exception as e:  # noqa: BLE001
            return False, f"redis unreachable ({type(e).__name__})"
        if self.runner.last_success.get(RedisCollector.name):
            return True, "ok"
        if self._first_scrape is None or self._first_scrape.done():
            self._first_scrape = asyncio.create_task(self.runner.refresh())
        try:
            await asyncio.wait_for(asyncio.shield(self._first_scrape),
                                   max(deadline - loop.time(), 0.01))
        except asyncio.TimeoutError:
            return False, "first scrape still running"
        if not self.runner.last_success.get(RedisCollector.name):
            return False, "no scrape has read Redis yet"
        return True, "ok"

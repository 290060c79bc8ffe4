"""The composition root: ``Exporter`` builds everything from one ``Config``, and ``run``
starts it, serves it and stops it. ``serve`` and ``demo`` both start through ``run``.

Nothing else builds a collector, a stream consumer, a health check or a route: read
``Exporter.__init__`` to see every part of a running exporter.
"""

from __future__ import annotations

import asyncio
import gc
import os
import platform
import signal
import sys

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from . import __version__, errors, health, logs
from .collectors.bullmq import BullMQCollector
from .collectors.bullmq_events import BullMQEvents
from .collectors.bullmq_workers import BullMQWorkersCollector
from .collectors.redis import RedisCollector
from .collectors.system import SystemCollector
from .collectors.whatsapp import WhatsAppCollector
from .config import Config, ConfigError, redact_url
from .ingest.core import Ingestor
from .ingest.http import make_handler
from .ingest.meta_forward import Forwarder
from .ingest.meta_graph import GraphPoller
from .ingest.stream import EventsHandler
from .ingest.webhook_dedupe import Dedupe
from .ingest.webhook_http import WebhookEndpoints
from .ingest.webhook_keys import Keys, derive_salt
from .ingest.webhook_state import WebhookState
from .ingest.webhooks import WebhookIntake
from .logs import get_logger
from .loop_lag import LoopLagMonitor
from .metrics import LabelGuard, MetricSet, StaleGauges, gauge
from .scrape import ScrapeRunner
from .server import ConnectionGuard, GuardedSite, make_app, route_library_logs
from .streams import StreamConsumer

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
        self.redis = redis or make_redis(config.redis_url, config.redis_timeout)
        # The analytics check writes to its own Redis when one is configured.
        self.analytics_redis = (self.redis if config.analytics_redis_url == config.redis_url
                                else make_redis(config.analytics_redis_url, config.redis_timeout))
        self.bullmq = BullMQCollector(self.redis, config)
        self.collectors = [RedisCollector(self.redis, ns), self.bullmq,
                           BullMQWorkersCollector(self.redis, ns, config.bullmq_prefix,
                                                  self.bullmq.queue_names),
                           SystemCollector(ns, config.disk_path)]
        self.gauges = StaleGauges(ns, self.guard, config.gauge_ttl)
        self.webhook_routes = self.whatsapp_webhooks()
        self.runner = ScrapeRunner(self.collectors, ns, config.scrape_timeout)
        self.loop_lag = LoopLagMonitor(ns)
        for c in (self.runner, self.gauges, self.loop_lag, _BuildInfo(ns)):
            self.registry.register(c)
        ProcessCollector(registry=self.registry)  # process_* for the exporter itself
        # The HTTP server's slowloris guard; its counts are published with the rest.
        self.connections = ConnectionGuard(config.http_max_connections,
                                           config.http_header_timeout, ns)
        self.registry.register(self.connections)
        self.health = health.Health(
            health.default_checks(config, redis=self.redis, analytics_redis=self.analytics_redis,
                                  job_counts=self.queue_counts,
                                  app_heaps=lambda: self.gauges.current("app_heap_used_bytes"),
                                  loop_lag=self.loop_lag.current),
            config.health_timeout, self.metrics)
        self._tasks: list[asyncio.Task] = []
        self.background: list = [self.loop_lag]  # objects with async run(), see start()
        if config.health_interval > 0:
            self.background.append(health.HealthPoller(self.health, config.health_interval))
        if self.graph_poller is not None:
            self.background.append(self.graph_poller)
        self._first_scrape: asyncio.Task | None = None  # started by ready(), see there
        # Application events: POST /events, and the events stream when one is configured.
        self.ingestor = Ingestor(self.metrics, self.gauges)
        self.extra_routes: list[tuple[str, str, object]] = [  # (method, path, handler)
            ("POST", "/events", make_handler(self.ingestor, config.auth_token,
                                             config.max_body_bytes, config.http_body_timeout)),
            *self.webhook_routes]
        if self.bullmq.discovery is not None:  # queues looked for off the scrape path
            self.background.append(self.bullmq.discovery)
        if config.events_stream:
            self.background.append(self.events_consumer())
        if config.bullmq_events:
            self.bullmq_events = BullMQEvents(self.redis, config, self.metrics,
                                              self.bullmq.queue_names, self.stream_consumer)
            self.background.append(self.bullmq_events)

    def whatsapp_webhooks(self) -> list[tuple[str, str, object]]:
        """The WhatsApp platforms' webhooks (docs/whatsapp.md): each endpoint only with its
        secret; the state collector and the Graph API poller when any source is on.
        Returns the routes; the collector joins the others, the poller the background."""
        cfg, ns = self.config, self.config.namespace
        self.forwarder = self.graph_poller = None
        if not (cfg.meta_app_secret or cfg.evolution_webhook_token or cfg.meta_access_token):
            return []
        keys = Keys(derive_salt(cfg.webhook_salt, cfg.meta_app_secret,
                                cfg.evolution_webhook_token))
        state = WebhookState(self.redis)
        self.collectors.append(WhatsAppCollector(
            state, ns, lambda: bool(self.gauges.current("whatsapp_active_instances"))))
        if cfg.meta_access_token:
            self.graph_poller = GraphPoller(
                self.redis, state, keys, self.metrics, cfg.meta_graph_url,
                cfg.meta_access_token, cfg.meta_poll_interval, cfg.meta_phone_number_ids,
                cfg.consumer_name, cfg.redis_timeout + 10)
        if cfg.meta_app_secret and cfg.meta_forward_url:
            self.forwarder = Forwarder(cfg.meta_forward_url, cfg.meta_forward_timeout,
                                       self.metrics)
        intake = WebhookIntake(
            self.metrics, keys, Dedupe(self.redis, cfg.webhook_dedup_seconds, cfg.response_window),
            state, cfg.meta_rates, cfg.webhook_response_time)
        return WebhookEndpoints(intake, self.metrics, cfg.max_body_bytes, cfg.http_body_timeout,
                                cfg.meta_app_secret, cfg.meta_verify_token,
                                cfg.evolution_webhook_token, self.forwarder).routes()

    def webhooks_summary(self) -> dict[str, str]:
        """What the start-up log says of each webhook source: on, or why it is off."""
        cfg = self.config
        meta = ("on" if cfg.meta_verify_token else "on, but no ANCLORA_META_VERIFY_TOKEN: "
                "Meta's verification handshake is refused") if cfg.meta_app_secret else \
            "off (404): no ANCLORA_META_APP_SECRET"
        return {
            "meta": meta,
            "meta_forward": ("to the app" if self.forwarder else "off") if cfg.meta_app_secret
            else "off",
            "evolution": "on" if cfg.evolution_webhook_token else
            "off (404): no ANCLORA_EVOLUTION_WEBHOOK_TOKEN",
            "graph_api_poll": (f"every {cfg.meta_poll_interval:g} s" if cfg.meta_access_token
                               else "off: no ANCLORA_META_ACCESS_TOKEN"),
            "response_time": "on" if cfg.webhook_response_time else "off"}

    def stream_consumer(self, streams, handler, **options) -> StreamConsumer:
        """A reader in the exporter's consumer group. Both readers (app events, BullMQ
        events) are made here, so they share the group, the consumer name and the timing."""
        cfg = self.config
        # A blocked XREADGROUP must return before the client's read timeout fires.
        options = {"block_ms": max(10, min(1000, int(cfg.redis_timeout * 500))),
                   "claim_idle_ms": int(cfg.stream_claim_idle * 1000), **options}
        return StreamConsumer(self.redis, streams, cfg.consumer_group, cfg.consumer_name,
                              handler, self.metrics, **options)

    def events_consumer(self, **options) -> StreamConsumer:
        """The reader of ANCLORA_EVENTS_STREAM. It starts at the stream's beginning ("0"):
        the app may have written events before the exporter first started."""
        stream = self.config.events_stream
        options = {"start_id": "0", "count": 500, "decode": False,  # the handler takes bytes
                   "stream_label": lambda key: stream, **options}
        return self.stream_consumer(lambda: [stream], EventsHandler(self.ingestor), **options)

    async def start(self) -> None:
        log.info("exporter starting", extra={"redis": redact_url(self.config.redis_url),
                                             "listen": "%s:%d" % self.config.listen})
        log.info("whatsapp webhooks", extra=self.webhooks_summary())
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
        if self.forwarder is not None:
            await self.forwarder.close()
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


# --- start-up and shutdown: the one place both `serve` and `demo` go through -------------

async def run(cfg: Config, stop: asyncio.Event | None = None) -> None:
    """Serve the exporter until ``stop`` is set (or SIGINT/SIGTERM); a port that cannot be
    listened on is one fatal log line and SystemExit(1)."""
    route_library_logs()
    tracked = errors.init(cfg)  # where error events go (host[:port]), or None
    log.info("error tracking " + (f"on, to {tracked}" if tracked else "off"))
    exporter = Exporter(cfg)
    runner = web.AppRunner(make_app(exporter), access_log=None)
    await runner.setup()
    host, port = cfg.listen
    try:
        # Guarded: request headers have a deadline and connections a cap (see server.py).
        await GuardedSite(runner, host, port).start()
    except OSError as e:
        log.log(logs.LEVELS["fatal"][1], "cannot listen",
                extra={"listen": f"{host}:{port}", "error": str(e)})
        await runner.cleanup()
        raise SystemExit(1) from None
    await exporter.start()
    stop = stop or asyncio.Event()
    stop_on_signals(stop)
    settle_heap()  # after the signal handlers: a SIGTERM meanwhile still stops cleanly
    log.info("listening", extra={"listen": f"{host}:{port}"})
    try:
        await stop.wait()
    finally:
        await exporter.stop()
        await runner.cleanup()


def settle_heap() -> None:
    """Once the exporter is built: what start-up made lives as long as the process, and is
    moved out of the garbage collector's sight (``gc.freeze``, documented "to speed up
    collection"), so a full pass walks only what came after: ~0.3 ms instead of ~20 ms
    holding the GIL (bench/scrape_probe.py), which scrapes, health probes and ingestion
    waited for. Objects frozen are still freed by reference counting when dropped."""
    gc.collect()
    gc.freeze()


def stop_on_signals(stop: asyncio.Event) -> None:
    """SIGINT and SIGTERM set ``stop`` (where the platform allows signal handlers)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass


def load_config(prog: str, env=None, **overrides) -> Config:
    """Config.from_env, with a bad setting as one line naming it and exit code 2."""
    try:
        return Config.from_env(env, **overrides)
    except ConfigError as e:
        print(f"{prog}: configuration error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def setup_logs(cfg: Config, prog: str = "anclora-exporter") -> None:
    """logs.setup, with a log file that cannot be opened (say ``all.log`` is a directory;
    the directory itself is checked by Config.from_env) as the one-line configuration
    error and exit code 2, like any other bad setting."""
    try:
        logs.setup(cfg.log_level, cfg.service_name, cfg.log_dir,
                   stream=_StdoutUntilReaderGone(sys.stdout))
    except OSError as e:
        print(f"{prog}: configuration error: ANCLORA_LOG_DIR={cfg.log_dir!r}: cannot write "
              f"log files there ({e.strerror or e})", file=sys.stderr)
        raise SystemExit(2) from None


class _StdoutUntilReaderGone:
    """stdout for the JSON log lines. Once its reader is gone (``serve | head``) the lines
    are dropped, where logging printed a '--- Logging error ---' traceback for each: the
    exporter keeps serving, and the ANCLORA_LOG_DIR files keep every line."""

    def __init__(self, stream):
        self.stream, self.gone = stream, False

    def write(self, text: str) -> None:
        if not self.gone:
            try:
                self.stream.write(text)
            except BrokenPipeError:
                self._reader_gone()

    def flush(self) -> None:
        if not self.gone:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._reader_gone()

    def _reader_gone(self) -> None:
        self.gone = True
        stdout_reader_gone()


def stdout_reader_gone() -> int:
    """The reader of our output stopped reading (``| head``): that is its choice, not our
    error, so end quietly with 0. stdout now points at /dev/null, or the interpreter's last
    flush raises again ("Exception ignored ... BrokenPipeError")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 0

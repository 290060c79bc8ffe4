"""End-to-end alerting harness: the real prometheus, prometheus-alertmanager and exporters on
loopback, with local stand-ins for Slack, PagerDuty (aiohttp) and SMTP (aiosmtpd).

The stand-ins record every notification as a ``Notification`` (which integration, channel,
firing or resolved, alert name), parsed from what the shipped templates render, so tests can
ask "who was told about X".

Rules come from files: ``install_rules`` copies rule files into the run's rules directory and
caps every ``for:`` (``max_for``), so the generated ``alerts/*.yml`` can be loaded the same
way as the test's own rules once they exist.
"""

from __future__ import annotations

import asyncio
import email
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import aiohttp
import yaml
from aiohttp import web

from tests.support.procs import RedisServer, free_port, terminate, wait_for_port
from tests.support.stack import ROOT, alertmanager_config, fast_timings, prometheus_config

BINARIES = ("prometheus", "prometheus-alertmanager", "redis-server")
CHANNELS = {"ALERTMANAGER_SLACK_CHANNEL": "#e2e-alerts",
            "ALERTMANAGER_SLACK_CRITICAL_CHANNEL": "#e2e-critical",
            "ALERTMANAGER_SLACK_BUSINESS_CHANNEL": "#e2e-business"}
ROUTING_KEY = "e2e-routing-key-from-file"
# Who each receiver of the shipped alertmanager.yml tells, as ``Sinks.about`` reports it.
OPS, CRIT, BIZ = (CHANNELS[k] for k in ("ALERTMANAGER_SLACK_CHANNEL",
                                         "ALERTMANAGER_SLACK_CRITICAL_CHANNEL",
                                         "ALERTMANAGER_SLACK_BUSINESS_CHANNEL"))
EMAIL = ("email", "oncall@e2e.test")
PAGE = ("pagerduty", "pagerduty")
CRITICAL_RECEIVER = {("slack", CRIT), EMAIL, PAGE}

# "[FIRING:2] CRITICAL Name (queue x)" (Slack title), "[RESOLVED] WARNING Name (1)" (email).
_TITLE = re.compile(r"^\[(FIRING|RESOLVED)(?::\d+)?\] \S+ (\S+)")
_PD_SUMMARY = re.compile(r"^\[\S+\] ([^\s:]+)")


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if not shutil.which(b)]


def duration_seconds(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+)(ms|[smhdwy])", text))


def install_rules(sources: Iterable[Path], rules_dir: Path, scale: float = 1.0,
                  max_for: str | None = None) -> list[Path]:
    """Copy rule files into ``rules_dir`` with every ``for:`` multiplied by ``scale`` and
    capped at ``max_for``. Scaling keeps the order of a family (a critical's 2m before its
    warning's 5m), which inhibition needs: ``scale=1/60`` turns minutes into seconds."""
    rules_dir.mkdir(parents=True, exist_ok=True)
    cap = duration_seconds(max_for) if max_for else float("inf")
    out = []
    for src in sources:
        doc = yaml.safe_load(src.read_text())
        for group in doc["groups"]:
            for rule in group["rules"]:
                if "for" in rule:
                    seconds = min(duration_seconds(str(rule["for"])) * scale, cap)
                    rule["for"] = f"{round(seconds * 1000)}ms"
        dst = rules_dir / src.name
        dst.write_text(yaml.safe_dump(doc, sort_keys=False))
        out.append(dst)
    return out


@dataclass(frozen=True)
class Notification:
    via: str        # slack | email | pagerduty | webhook
    channel: str    # Slack channel, email recipient, "pagerduty", "deadmansswitch"
    status: str     # firing | resolved
    alertname: str
    body: Any = field(compare=False, repr=False, default=None)


class Process:
    """A subprocess with its output in a log file, stopped (TERM, then KILL) on ``stop``."""

    def __init__(self, name: str, args: list[str], log_dir: Path, env: dict | None = None,
                 cwd: Path | None = None):
        self.name, self.args = name, args
        self.log = log_dir / f"{name}.log"
        self.env, self.cwd = env, cwd
        self.proc: subprocess.Popen | None = None

    def start(self, port: int | None = None, timeout: float = 20) -> "Process":
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, **(self.env or {})}, cwd=self.cwd)
        if port:
            try:
                wait_for_port(port, timeout)
            except TimeoutError:
                raise RuntimeError(f"{self.name} did not listen on {port}:\n{self.tail()}")
        return self

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        terminate(self.proc, 10)
        self.proc = None


class Sinks:
    """Slack, PagerDuty and dead man's switch stand-ins (one aiohttp server) and an SMTP
    server (aiosmtpd)."""

    def __init__(self):
        self.http_port = free_port()
        self.smtp_port = free_port()
        self.received: list[Notification] = []
        self._runner: web.AppRunner | None = None
        self._smtp = None

    @property
    def slack_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/slack/ops"

    @property
    def slack_business_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/slack/business"

    @property
    def pagerduty_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/pagerduty/v2/enqueue"

    @property
    def deadmansswitch_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/deadmansswitch"

    async def _deadmansswitch(self, request: web.Request) -> web.Response:
        body = await request.json()  # Alertmanager's webhook payload
        for alert in body.get("alerts", []):
            self.received.append(Notification("webhook", "deadmansswitch", alert["status"],
                                              alert["labels"].get("alertname", "?"), body))
        return web.Response(text="ok")

    async def _slack(self, request: web.Request) -> web.Response:
        body = await request.json()
        for att in body.get("attachments", []):
            m = _TITLE.match(att.get("title", ""))
            if m:
                self.received.append(Notification("slack", body.get("channel", ""),
                                                  m.group(1).lower(), m.group(2), body))
        return web.Response(text="ok")

    async def _pagerduty(self, request: web.Request) -> web.Response:
        body = await request.json()
        m = _PD_SUMMARY.match(body.get("payload", {}).get("summary", ""))
        status = "resolved" if body.get("event_action") == "resolve" else "firing"
        self.received.append(Notification("pagerduty", "pagerduty", status,
                                           m.group(1) if m else "?", body))
        return web.json_response({"status": "success", "dedup_key": body.get("dedup_key")},
                                 status=202)

    def _email(self, raw: bytes, rcpt: list[str]) -> None:
        msg = email.message_from_bytes(raw)
        m = _TITLE.match(str(msg["Subject"] or ""))
        html = next((p.get_payload(decode=True).decode() for p in msg.walk()
                     if p.get_content_type() == "text/html"), "")
        self.received.append(Notification("email", ",".join(rcpt),
                                          m.group(1).lower() if m else "?",
                                          m.group(2) if m else "?",
                                          {"subject": msg["Subject"], "html": html}))

    async def start(self) -> "Sinks":
        from aiosmtpd.controller import Controller

        sinks = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sinks._email(envelope.original_content or envelope.content, envelope.rcpt_tos)
                return "250 OK"

        self._smtp = Controller(Handler(), hostname="127.0.0.1", port=self.smtp_port)
        self._smtp.start()
        app = web.Application()
        app.router.add_post("/slack/{channel}", self._slack)
        app.router.add_post("/pagerduty/v2/enqueue", self._pagerduty)
        app.router.add_post("/deadmansswitch", self._deadmansswitch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.http_port).start()
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
        if self._smtp:
            self._smtp.stop()

    def about(self, alertname: str, status: str = "firing") -> set[tuple[str, str]]:
        """Who was told: {(via, channel)} of the notifications about ``alertname``."""
        return {(n.via, n.channel) for n in self.received
                if n.alertname == alertname and n.status == status}

    def names(self, status: str = "firing") -> set[str]:
        return {n.alertname for n in self.received if n.status == status}


class Stack:
    """redis-server, the exporter, node/redis exporters, Alertmanager and Prometheus, with
    1s scrape/evaluation and 1s/2s Alertmanager grouping, all on 127.0.0.1."""

    def __init__(self, tmp: Path, rule_files: Iterable[Path], redis, for_scale: float = 1.0,
                 max_for: str | None = None, rules_once_scraped: bool = False,
                 exporter_env: dict | None = None, deploy_env: dict | None = None):
        self.tmp, self.redis = tmp, redis
        self.exporter_env = exporter_env or {}
        # Prometheus's environment, as compose sets it: its external labels come from it.
        self.prometheus_env = {"PROMETHEUS_CLUSTER": "test", "PROMETHEUS_ENV": "test",
                               "GRAFANA_ROOT_URL": "", "RUNBOOK_BASE_URL": "",
                               **(deploy_env or {})}
        self.rule_files = list(rule_files)
        self.for_scale, self.max_for = for_scale, max_for
        # Prometheus starts scraping 5-10 s after it starts (its discovery and scrape
        # managers each batch updates on a 5 s tick) but evaluates rules at once: until
        # the first scrape, absent(up{...}) is true. With ``for:`` scaled to seconds that
        # can outlast the wait and fire; in production (5m) it never does. This loads the
        # rules only once every target has been scraped (see _load_rules_once_scraped).
        self.rules_once_scraped = rules_once_scraped
        self.sinks = Sinks()
        self.ports = {name: free_port() for name in
                      ("prometheus", "alertmanager", "exporter", "node", "redis_exporter")}
        self.procs: list[Process] = []

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def _alertmanager_config(self) -> Path:
        env = {"ALERTMANAGER_SMTP_SMARTHOST": f"127.0.0.1:{self.sinks.smtp_port}",
               "ALERTMANAGER_SMTP_REQUIRE_TLS": "false",
               "ALERTMANAGER_EMAIL_TO": "oncall@e2e.test", **CHANNELS}
        secrets = {"slack_webhook_url": self.sinks.slack_url,
                   "slack_business_webhook_url": self.sinks.slack_business_url,
                   "pagerduty_routing_key": ROUTING_KEY}
        path = alertmanager_config(self.tmp / "am", env, secrets)
        cfg = fast_timings(yaml.safe_load(path.read_text()))
        for receiver in cfg["receivers"]:
            for pd in receiver.get("pagerduty_configs", []):
                pd["url"] = self.sinks.pagerduty_url
            for hook in receiver.get("webhook_configs", []):
                hook["url"] = self.sinks.deadmansswitch_url
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        return path

    async def start(self) -> "Stack":
        logs = self.tmp / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        await self.sinks.start()
        p = self.ports
        if self.rules_once_scraped:
            (self.tmp / "rules").mkdir(parents=True, exist_ok=True)  # empty until scraped
        else:
            rules = install_rules(self.rule_files, self.tmp / "rules", self.for_scale,
                                  self.max_for)
            assert rules
        prom_cfg = prometheus_config(
            self.tmp, self.tmp / "rules", interval="1s", alertmanager=f"127.0.0.1:{p['alertmanager']}",
            targets={"prometheus": f"127.0.0.1:{p['prometheus']}",
                     "anclora-exporter": f"127.0.0.1:{p['exporter']}",
                     "node-exporter": f"127.0.0.1:{p['node']}",
                     "redis-exporter": f"127.0.0.1:{p['redis_exporter']}",
                     "alertmanager": f"127.0.0.1:{p['alertmanager']}"},
            expand_external_labels=True)
        specs = [
            ("exporter", [sys.executable, "-m", "exporter", "serve"], p["exporter"],
             {"ANCLORA_REDIS_URL": self.redis.url, "ANCLORA_LOG_LEVEL": "warn",
              "ANCLORA_LISTEN_ADDRESS": f"127.0.0.1:{p['exporter']}", **self.exporter_env}),
            ("node-exporter", ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{p['node']}",
                               "--collector.disable-defaults", "--collector.loadavg",
                               "--collector.meminfo"], p["node"], None),
            ("redis-exporter", ["prometheus-redis-exporter",
                                f"-web.listen-address=127.0.0.1:{p['redis_exporter']}",
                                f"-redis.addr={self.redis.url}"], p["redis_exporter"], None),
            ("alertmanager", ["prometheus-alertmanager", f"--config.file={self._alertmanager_config()}",
                              f"--storage.path={self.tmp / 'am-data'}",
                              f"--web.listen-address=127.0.0.1:{p['alertmanager']}",
                              f"--web.external-url={self.url('alertmanager')}",
                              "--cluster.listen-address="], p["alertmanager"], None),
            ("prometheus", ["prometheus", f"--config.file={prom_cfg}",
                            f"--storage.tsdb.path={self.tmp / 'prom-data'}",
                            f"--web.listen-address=127.0.0.1:{p['prometheus']}",
                            f"--web.external-url={self.url('prometheus')}",
                            "--rules.alert.resend-delay=1s",
                            "--enable-feature=expand-external-labels"], p["prometheus"],
             self.prometheus_env),
        ]
        for name, args, port, env in specs:
            if name in ("node-exporter", "redis-exporter") and not shutil.which(args[0]):
                continue
            proc = Process(name, args, logs, env, cwd=ROOT)
            self.procs.append(proc)
            proc.start(port)
        if self.rules_once_scraped:
            await self._load_rules_once_scraped()
        return self

    async def _load_rules_once_scraped(self) -> None:
        """Every target scraped first, then the rules installed and Prometheus reloaded
        (SIGHUP); returns once every rule file is loaded."""
        await until(lambda: targets_up(self), 40, "all targets up (before loading rules)", self)
        files = install_rules(self.rule_files, self.tmp / "rules", self.for_scale, self.max_for)
        assert files
        prometheus = next(p for p in self.procs if p.name == "prometheus")
        prometheus.proc.send_signal(signal.SIGHUP)

        async def loaded() -> bool:
            groups = (await self.api("prometheus", "/api/v1/rules"))["data"]["groups"]
            return {Path(g["file"]).name for g in groups} == {f.name for f in files}
        await until(loaded, 20, "rules loaded after the reload", self)

    async def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        await self.sinks.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail()}" for p in self.procs)

    async def api(self, name: str, path: str) -> Any:
        async with aiohttp.ClientSession() as s:
            async with s.get(self.url(name) + path, timeout=aiohttp.ClientTimeout(total=5)) as r:
                r.raise_for_status()
                return await r.json()

    async def am_alerts(self) -> dict[str, dict]:
        """Alertmanager's view: alertname -> the alert (state active/suppressed, inhibitedBy)."""
        return {a["labels"]["alertname"]: a for a in await self.api("alertmanager", "/api/v2/alerts")}


async def until(check: Callable[[], Any], timeout: float, what: str, stack: Stack | None = None,
                every: float = 0.25) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            last = value
        except (aiohttp.ClientError, asyncio.TimeoutError, KeyError) as e:
            last = e  # not up yet: keep polling
        await asyncio.sleep(every)
    detail = stack.logs() if stack else ""
    got = stack.sinks.received if stack else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})\n"
                         f"received: {got}\n{detail}")


async def targets_up(stack: Stack) -> dict[str, str] | None:
    """job -> health of Prometheus's active targets, once every one of them is up."""
    data = await stack.api("prometheus", "/api/v1/targets")
    jobs = {t["labels"]["job"]: t["health"] for t in data["data"]["activeTargets"]}
    return jobs if jobs and all(h == "up" for h in jobs.values()) else None


async def suppressed(stack: Stack, *names: str) -> dict[str, dict] | None:
    """Alertmanager's alerts, once every one of ``names`` is held as suppressed."""
    alerts = await stack.am_alerts()
    if all(n in alerts and alerts[n]["status"]["state"] == "suppressed" for n in names):
        return alerts
    return None


@asynccontextmanager
async def running_stack(tmp: Path, rule_files: Iterable[Path], **options):
    """A started ``Stack`` on its own redis-server; every process stopped on the way out."""
    redis = RedisServer().start()
    stack = Stack(tmp, rule_files, redis, **options)
    try:
        await stack.start()
        yield stack
    finally:
        await stack.stop()
        redis.cleanup()

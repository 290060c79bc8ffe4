"""Error tracking (exporter/errors.py) against a loopback stand-in for Sentry's ingest
endpoint (tests/support/sentry.py), through the real exporter: its aiohttp app, scrape
runner, /events and events stream. What arrives is read back from the envelopes."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys

import pytest
import redis.exceptions
import sentry_sdk
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage

from exporter import __version__, errors
from exporter.config import Config, ConfigError
from exporter.ingest import schema
from tests.support.scrape import client_for, rejected, scrape
from tests.support.sentry import KEY, SentryIngest
from tests.support.stack import ROOT
from tests.support.streams import val

TOKEN = "tok-5f1e9c2a7b3d4e6f8a0b"
SIGNATURE = "sha256=9f2c4e6a8b0d1f3e5a7c9e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f1a3c5e7b9d0f"
APIKEY = "evo-apikey-3c5e7b9d0f1a2b4c"
COOKIE = "session=s3ss10n-c00k1e"
CLIENT_IP = "203.0.113.77"
PHONE_IN_MESSAGE = ("+34 611 222 333", "34611222333", "611 222 333", "611222333")
PHONE_IN_LOCAL = ("+34 600 123 456", "34600123456", "600 123 456", "600123456")
PHONE_IN_BODY = ("+34 622 333 444", "34622333444", "622 333 444", "622333444")
PHONE_IN_QUERY = ("34633444555",)
EVENT = {"type": "message_sent", "message_type": "text"}


@pytest.fixture(scope="module")
def ingest():
    server = SentryIngest().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tracking(ingest):
    """Error tracking on for this module, as ``run`` starts it; off again afterwards, so
    the rest of the suite runs as without a DSN."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(errors._State, "sdk", None)
        mp.setattr(errors._State, "last", {})
        host = errors.init(Config.from_env({"ANCLORA_SENTRY_DSN": ingest.dsn}))
        assert host == f"127.0.0.1:{ingest.port}"
        yield ingest
        sentry_sdk.flush()
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)


@pytest.fixture
def sent(tracking):
    """The stand-in, emptied; each test starts with no report held back."""
    sentry_sdk.flush()
    tracking.clear()
    errors._State.last.clear()
    return tracking


@pytest.fixture
async def exporter_client(redis_url):
    client, exporter = await client_for(redis_url)
    yield exporter, client
    await client.close()
    await exporter.stop()


def events(ingest) -> list[dict]:
    sentry_sdk.flush(timeout=5)  # every envelope queued is posted, and kept, when it returns
    assert not ingest.refused
    return ingest.items("event")


def frames(event) -> list[dict]:
    return [f for value in event["exception"]["values"]
            for f in (value.get("stacktrace") or {}).get("frames", [])]


class Failing:
    """A collector that raises what it is given (node_exporter's one broken collector)."""
    name = "failing"

    def __init__(self):
        self.error: BaseException = RuntimeError("collector bug")

    async def collect(self):
        raise self.error


def broken_check(event):
    contact = "+34 600 123 456"  # noqa: F841 - a local variable the SDK must not collect
    raise RuntimeError("cannot route message to +34 611 222 333")


async def post_event(client):
    return await client.post(
        "/events?to=34633444555",
        data=json.dumps({**EVENT, "note": "+34 622 333 444"}),
        headers={"Authorization": f"Bearer {TOKEN}", "X-Hub-Signature-256": SIGNATURE,
                 "apikey": APIKEY, "Cookie": COOKIE, "X-Forwarded-For": CLIENT_IP,
                 "Content-Type": "application/json"})


async def test_unexpected_exception_arrives_once_with_its_stack_and_scrubbed(
        sent, exporter_client, monkeypatch):
    exporter, client = exporter_client
    exporter.ingestor.check = broken_check  # a bug in validation, met by a real request
    for _ in range(3):  # the same site again within a minute: held back, counted
        assert (await post_event(client)).status == 500

    [event] = events(sent)
    [value] = event["exception"]["values"]
    assert value["type"] == "RuntimeError"
    assert value["value"] == "cannot route message to ***2333"  # masked, not dropped
    names = [f["function"] for f in frames(event)]
    assert names[-1] == "broken_check" and {"serve_request", "post_events",
                                            "_ingest_slice"} <= set(names)
    assert not any("vars" in f for f in frames(event))  # local variables never collected
    assert event["release"] == f"anclora-exporter@{__version__}"
    assert event["environment"] == "production"
    request = event["request"]
    assert request["method"] == "POST" and request["query_string"] == "to=***4555"
    assert set(map(str.lower, request["headers"])) <= errors.KEPT_HEADERS
    assert "data" not in request and "env" not in request and "cookies" not in request
    received = sent.text()
    for secret in (*PHONE_IN_MESSAGE, *PHONE_IN_LOCAL, *PHONE_IN_BODY, *PHONE_IN_QUERY,
                   TOKEN, SIGNATURE, APIKEY, COOKIE, CLIENT_IP):
        assert secret not in received, secret

    # Once the interval has passed, the next one goes with the count held back.
    monkeypatch.setattr(errors, "REPORT_INTERVAL", 0.0)
    assert (await post_event(client)).status == 500
    first, second = events(sent)
    assert first["event_id"] == event["event_id"]
    assert second["extra"]["repeats_not_reported"] == 2


async def test_collector_and_ingest_bugs_are_reported_and_still_counted(
        sent, exporter_client, r):
    exporter, client = exporter_client
    exporter.runner.collectors.append(Failing())
    samples = await scrape(client)
    assert samples[("anclora_exporter_scrape_collector_success",
                    (("collector", "failing"),))] == 0

    def broken_apply(event):
        raise KeyError("applier bug")
    exporter.ingestor.applier.apply = broken_apply  # POST /events applies one by one
    assert (await client.post("/events", json=EVENT)).status == 200
    assert rejected(await scrape(client), "internal_error") == 1

    # The events stream: its own validation, then resolving a payload, then applying it.
    def broken_actions(event):
        raise LookupError("resolver bug")

    def broken_action(n):
        raise OverflowError("update bug")
    consumer = exporter.events_consumer(block_ms=20)
    for bug in ("check", "actions", "action"):
        if bug == "check":
            exporter.ingestor.check = broken_check
        elif bug == "actions":
            del exporter.ingestor.check
            exporter.ingestor.applier.actions = broken_actions
        else:
            exporter.ingestor.applier.actions = lambda event: [broken_action]
        r.xadd("anclora:events", {"event": json.dumps(EVENT)})
        assert await consumer.poll_once() == 1
    assert val(exporter, "exporter_events_rejected_total", [("reason", "internal_error")]) == 4

    reported = {(e["exception"]["values"][-1]["type"], frames(e)[-1]["function"])
                for e in events(sent)}
    assert reported == {("RuntimeError", "collect"), ("KeyError", "broken_apply"),
                        ("RuntimeError", "broken_check"), ("LookupError", "broken_actions"),
                        ("OverflowError", "broken_action")}


IGNORED = [ConnectionRefusedError(111, "Connection refused"),  # ECONNREFUSED
           ConnectionResetError(104, "Connection reset by peer"),
           BrokenPipeError(32, "Broken pipe"),
           TimeoutError(110, "Connection timed out"),  # ETIMEDOUT
           asyncio.TimeoutError(),
           redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379"),
           redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"),
           redis.exceptions.TimeoutError("Timeout reading from socket"),
           web.HTTPTooManyRequests(), web.HTTPBadRequest(), web.HTTPUnauthorized(),
           BadHttpMessage("Invalid method encountered"),
           schema.Invalid("not_an_object", "an event must be a JSON object")]


async def test_every_ignored_class_sends_nothing(sent, exporter_client):
    exporter, client = exporter_client
    failing = Failing()
    exporter.runner.collectors.append(failing)

    def raising(event):
        raise failing.error
    exporter.ingestor.check = raising
    for error in IGNORED:  # where the world reaches the exporter: a collector, a request
        failing.error = error
        await scrape(client)
        await client.post("/events", json=EVENT)
        sentry_sdk.capture_exception(error)  # and the SDK's own captures
    assert events(sent) == []

    failing.error = RuntimeError("not ignored")  # the same paths do report a bug
    await scrape(client)
    assert [e["exception"]["values"][-1]["value"] for e in events(sent)] == ["not ignored"]


def binomial_bounds(n: int, p: float, false_failure: float) -> tuple[int, int]:
    """The narrowest [lo, hi] holding Binomial(n, p) but with chance < false_failure per
    tail pair (each tail below false_failure / 2), computed exactly."""
    pmf = [math.comb(n, k) * p ** k * (1 - p) ** (n - k) for k in range(n + 1)]
    lo, tail = 0, 0.0
    while tail + pmf[lo] < false_failure / 2:
        tail += pmf[lo]
        lo += 1
    hi, tail = n, 0.0
    while tail + pmf[hi] < false_failure / 2:
        tail += pmf[hi]
        hi -= 1
    return lo, hi


async def test_sampled_transactions_are_within_binomial_bounds_for_the_default_rate(
        sent, exporter_client):
    exporter, client = exporter_client
    n, rate = 1000, Config.defaults().sentry_traces_sample_rate
    assert rate == 0.1
    for _ in range(n // 50):
        statuses = await asyncio.gather(*(client.get("/health/live") for _ in range(50)))
        assert {s.status for s in statuses} == {200}
    sentry_sdk.flush(timeout=5)
    transactions = sent.items("transaction")
    # A false failure once in more than a million runs: P(X < lo) + P(X > hi) < 1e-6.
    lo, hi = binomial_bounds(n, rate, 1e-6)
    assert (lo, hi) == (57, 149)
    assert lo <= len(transactions) <= hi, len(transactions)
    assert {t["transaction"] for t in transactions} == {"GET /health/live"}
    # The SDK's account of the rest: every request was sampled out, none lost on the way.
    discarded = {(d["reason"], d["category"]): d["quantity"]
                 for report in sent.items("client_report")
                 for d in report.get("discarded_events", [])}
    assert discarded.keys() <= {("sample_rate", "transaction"), ("sample_rate", "span")}
    assert discarded[("sample_rate", "transaction")] == n - len(transactions)


def test_sdk_ids_survive_the_masker():
    ids = {"event_id": "0123456789012345abcdef0123456789", "trace_id": "9876543210abcdef" * 2,
           "span_id": "1234567890abcdef"}
    event = {**ids, "message": "call +34 600 123 456",
             "contexts": {"trace": {"trace_id": ids["trace_id"], "span_id": ids["span_id"]}},
             "tags": {"wa_id": "34600123456"}, "spans": [{"span_id": ids["span_id"],
                                                          "description": "to 34600123456"}]}
    scrubbed = errors.scrub(event)
    assert {k: scrubbed[k] for k in ids} == ids
    assert scrubbed["contexts"]["trace"] == {"trace_id": ids["trace_id"],
                                             "span_id": ids["span_id"]}
    assert scrubbed["message"] == "call ***3456"
    assert scrubbed["tags"] == {"wa_id": "***3456"}
    assert scrubbed["spans"] == [{"span_id": ids["span_id"], "description": "to ***3456"}]


def test_a_bad_dsn_is_a_configuration_error(monkeypatch):
    with pytest.raises(ConfigError) as bad:
        Config.from_env({"ANCLORA_SENTRY_DSN": f"{KEY}@sentry.example.com/1"})
    assert str(bad.value).startswith("ANCLORA_SENTRY_DSN=(hidden): expected a DSN like")
    assert KEY not in str(bad.value)
    monkeypatch.setitem(sys.modules, "sentry_sdk", None)  # how Python marks a module absent
    with pytest.raises(ConfigError, match=r"pip install 'anclora-exporter\[sentry\]'"):
        Config.from_env({"ANCLORA_SENTRY_DSN": "https://k@o1.ingest.sentry.io/42"})
    assert Config.from_env({}).sentry_dsn == ""


START_UP = """
import asyncio, json, sys
from exporter import app, errors
cfg = app.load_config("test", listen=("127.0.0.1", 0))
app.setup_logs(cfg)
stop = asyncio.Event()
stop.set()  # start up as `serve` does, then shut down at once
asyncio.run(app.run(cfg, stop))
errors.report(RuntimeError("reported after start-up"))
if "sentry_sdk" in sys.modules:
    sys.modules["sentry_sdk"].flush()
print(json.dumps({"sentry_sdk_imported": "sentry_sdk" in sys.modules}))
"""


@pytest.mark.parametrize("on", [False, True], ids=["no-dsn", "dsn"])
def test_start_up_says_whether_tracking_is_on_and_imports_nothing_when_off(redis_url, on):
    ingest = SentryIngest().start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANCLORA_")}
        env.update(ANCLORA_REDIS_URL=redis_url, ANCLORA_HEALTH_INTERVAL_SECONDS="0",
                   ANCLORA_SENTRY_DSN=ingest.dsn if on else "",
                   SENTRY_DSN=ingest.dsn)  # the SDK's own variable: never read by the exporter
        done = subprocess.run([sys.executable, "-c", START_UP], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        *logs, result = done.stdout.splitlines()
        assert json.loads(result) == {"sentry_sdk_imported": on}
        said = [json.loads(line)["msg"] for line in logs]
        tracking = [m for m in said if m.startswith("error tracking")]
        assert tracking == [f"error tracking on, to 127.0.0.1:{ingest.port}" if on
                            else "error tracking off"]
        assert KEY not in done.stdout + done.stderr
        reported = [e["exception"]["values"][-1]["value"] for e in ingest.items("event")]
        assert reported == (["reported after start-up"] if on else [])
        assert ingest.bodies if on else not ingest.bodies  # off: not one request
    finally:
        ingest.stop()

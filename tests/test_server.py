"""The HTTP endpoints against a real redis-server, including Redis going away and back."""

import asyncio
import io
import json

from exporter import logs
from tests.support.scrape import client_for, samples


async def test_metrics_and_health_follow_redis_down_and_back(own_redis):
    client, exporter = await client_for(own_redis.url)
    try:
        r = await client.get("/metrics")
        assert r.status == 200
        s = samples(await r.text())
        assert s[("anclora_exporter_redis_up", ())] == 1.0
        assert s[("anclora_exporter_scrape_collector_success", (("collector", "redis"),))] == 1.0
        assert s[("anclora_redis_uptime_seconds", ())] >= 0
        r = await client.get("/health")
        # The redis check, not the overall status: on a loaded host the event-loop or
        # memory check may say degraded (still 200), which is not what this test is about.
        body = await r.json()
        assert r.status == 200 and body["checks"]["redis"]["status"] == "healthy", body
        assert (await client.get("/health/ready")).status == 200

        own_redis.stop()
        r = await client.get("/metrics")
        assert r.status == 200
        s = samples(await r.text())
        assert s[("anclora_exporter_redis_up", ())] == 0.0
        assert s[("anclora_exporter_scrape_collector_success", (("collector", "redis"),))] == 0.0
        assert ("anclora_redis_uptime_seconds", ()) not in s
        r = await client.get("/health")
        body = await r.json()
        assert r.status == 503 and body["status"] == "unhealthy"
        assert body["checks"]["redis"]["status"] == "unhealthy"
        assert (await client.get("/health/ready")).status == 503
        assert (await client.get("/health/live")).status == 200
        s = samples(await (await client.get("/metrics")).text())
        assert s[("anclora_health_check_status", (("check", "redis"),))] == 0.0

        own_redis.start()
        for _ in range(20):  # the client reconnects on its own
            r = await client.get("/health")
            if r.status == 200:
                break
            await asyncio.sleep(0.1)
        assert r.status == 200
        s = samples(await (await client.get("/metrics")).text())
        assert s[("anclora_exporter_redis_up", ())] == 1.0
        assert s[("anclora_health_check_status", (("check", "redis"),))] == 1.0
    finally:
        await client.close()
        await exporter.stop()


async def test_build_info_and_process_metrics(redis_url):
    client, exporter = await client_for(redis_url)
    try:
        s = samples(await (await client.get("/metrics")).text())
        info = [k for k in s if k[0] == "anclora_exporter_build_info"]
        assert len(info) == 1 and s[info[0]] == 1.0
        assert s[("process_resident_memory_bytes", ())] > 1_000_000
    finally:
        await client.close()
        await exporter.stop()


async def test_unreachable_redis_scrape_answers_within_timeout():
    # Nothing listens on port 1: the scrape still answers, quickly, with redis_up 0.
    client, exporter = await client_for("redis://127.0.0.1:1/0")
    try:
        r = await asyncio.wait_for(client.get("/metrics"), 5)
        assert r.status == 200
        assert samples(await r.text())[("anclora_exporter_redis_up", ())] == 0.0
    finally:
        await client.close()
        await exporter.stop()


async def test_every_rejection_reason_is_published_at_zero_before_any_refusal(redis_url):
    """"Rejected events" on a healthy system showed "No data": no reason had a series."""
    from exporter.ingest.schema import REASONS
    client, exporter = await client_for(redis_url)
    try:
        s = samples(await (await client.get("/metrics")).text())
    finally:
        await client.close()
        await exporter.stop()
    got = {dict(labels)["reason"]: v for (name, labels), v in s.items()
           if name == "anclora_exporter_events_rejected_total"}
    assert got == {reason: 0.0 for reason in REASONS}


async def test_the_access_log_has_a_line_per_request_at_level_http_only(http):
    client = await http()
    for level, expected in (("http", [("GET", "/health/live", 200)]), ("info", [])):
        buf = io.StringIO()
        logs.setup(level, "svc", stream=buf)
        assert (await client.get("/health/live")).status == 200
        records = [json.loads(line) for line in buf.getvalue().splitlines()]
        assert [(r["method"], r["path"], r["status"]) for r in records
                if r["msg"] == "request"] == expected
    logs.setup("info", "svc", stream=io.StringIO())

"""The composition root: the Exporter builds every part from its Config, both stream
readers come from one factory, and nothing in exporter/ imports in a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

from exporter import health
from exporter.app import Exporter
from exporter.collectors.bullmq_events import BullMQEvents
from exporter.config import Config
from exporter.ingest.stream import EventsHandler
from exporter.streams import StreamConsumer

PACKAGE = Path(__file__).resolve().parent.parent / "exporter"
NOWHERE = "redis://127.0.0.1:1/0"  # never connected: building connects nothing


async def test_both_stream_readers_share_group_name_and_timing():
    ex = Exporter(Config.defaults(redis_url=NOWHERE, redis_timeout=0.05, stream_claim_idle=2,
                                  consumer_group="g", consumer_name="n"))
    try:
        events = [w for w in ex.background if isinstance(w, StreamConsumer)]
        bullmq = [w for w in ex.background if isinstance(w, BullMQEvents)]
        assert len(events) == 1 and bullmq == [ex.bullmq_events]
        readers = (events[0], ex.bullmq_events.consumer)
        # BLOCK ends well within the 50 ms read timeout, the same for both readers.
        assert [(c.group, c.consumer, c.block_ms, c.claim_idle_ms) for c in readers] == \
            [("g", "n", 25, 2000)] * 2
        assert isinstance(events[0].handler, EventsHandler)
        assert (events[0].start_id, ex.bullmq_events.consumer.start_id) == ("0", "$")
        assert events[0].decode is False and ex.bullmq_events.consumer.decode is True
    finally:
        await ex.stop()


async def test_block_is_capped_at_one_second():
    ex = Exporter(Config.defaults(redis_url=NOWHERE, redis_timeout=30))
    try:
        assert ex.events_consumer().block_ms == 1000
        assert ex.bullmq_events.consumer.block_ms == 1000
    finally:
        await ex.stop()


async def test_what_is_built_follows_the_config():
    ex = Exporter(Config.defaults(redis_url=NOWHERE, events_stream="", bullmq_events=False,
                                  health_interval=0, queues=("orders",)))
    try:
        assert [type(w).__name__ for w in ex.background] == ["LoopLagMonitor"]
        assert not hasattr(ex, "bullmq_events")
        assert [(m, p) for m, p, _ in ex.extra_routes] == [("POST", "/events")]
        assert [c.name for c in ex.health.checks] == ["redis", "analytics_redis", "queue",
                                                      "memory", "event_loop", "disk"]
    finally:
        await ex.stop()
    ex = Exporter(Config.defaults(redis_url=NOWHERE, health_interval=5))
    try:
        assert [type(w).__name__ for w in ex.background] == [
            "LoopLagMonitor", "HealthPoller", "QueueDiscovery", "StreamConsumer", "BullMQEvents"]
        assert isinstance(ex.background[1], health.HealthPoller)
    finally:
        await ex.stop()


async def test_each_webhook_source_is_built_only_with_its_secret():
    ex = Exporter(Config.defaults(redis_url=NOWHERE))
    try:
        assert ex.webhook_routes == [] and "whatsapp" not in [c.name for c in ex.collectors]
        assert ex.webhooks_summary()["meta"] == "off (404): no ANCLORA_META_APP_SECRET"
    finally:
        await ex.stop()
    ex = Exporter(Config.defaults(redis_url=NOWHERE, evolution_webhook_token="t",
                                  meta_access_token="g", health_interval=0))
    try:
        assert [(m, p) for m, p, _ in ex.webhook_routes] == [
            ("POST", "/webhooks/evolution"), ("POST", "/webhooks/evolution/{event}")]
        assert [c.name for c in ex.collectors][-1] == "whatsapp"
        assert "GraphPoller" in [type(w).__name__ for w in ex.background]
        assert ex.forwarder is None
    finally:
        await ex.stop()
    ex = Exporter(Config.defaults(redis_url=NOWHERE, meta_app_secret="s",
                                  meta_forward_url="http://app/wa"))
    try:
        assert [(m, p) for m, p, _ in ex.webhook_routes] == [
            ("GET", "/webhooks/meta"), ("POST", "/webhooks/meta")]
        assert ex.forwarder is not None and ex.graph_poller is None
        assert ex.webhooks_summary()["meta_forward"] == "to the app"
    finally:
        await ex.stop()


def _imports(path: Path, module: str) -> set[str]:
    """Modules of this package that ``path`` imports, at the top or inside functions."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = ".".join(package[:len(package) - node.level + 1] +
                            ([node.module] if node.module else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_no_import_cycle_in_the_package():
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        graph[module] = _imports(path, module)
    # The runtime never reaches for a tool, the demo or the client SDK (they import it).
    outside = {m: sorted(d for d in deps if d.split(".")[0] in ("anclora_demo", "anclora_client",
                                                                "tools", "bench", "tests"))
               for m, deps in graph.items()}
    assert {m: d for m, d in outside.items() if d} == {}
    graph = {m: {d for d in deps if d in graph and d != m} for m, deps in graph.items()}
    cycles = []

    def visit(node, path):
        for dep in graph[node]:
            if dep in path:
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in done:
                done.add(dep)
                visit(dep, path + [dep])
    for start in graph:
        done = {start}
        visit(start, [start])
    assert "exporter.app" in graph["exporter.cli"]  # imported inside a function: seen
    assert cycles == []

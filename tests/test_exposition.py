"""A whole scrape, with every event type applied, passes `promtool check metrics` (the
Prometheus project's own lint of names, units, _total and help) and every sample name it
holds is declared in the catalog (or is prometheus_client's process_* / python_*)."""

import shutil
import subprocess

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from exporter import catalog
from exporter.app import Exporter
from exporter.config import Config
from exporter.server import make_app
from tests.ingest_cases import CASES


@pytest.fixture
async def full_scrape(redis_url):
    ex = Exporter(Config.defaults(redis_url=redis_url))
    ex.ingestor.apply([ex.ingestor.check(event) for event, _ in CASES.values()])
    await ex.health.run()
    client = TestClient(TestServer(make_app(ex)))
    await client.start_server()
    try:
        r = await client.get("/metrics")
        assert r.status == 200
        yield await r.text()
    finally:
        await client.close()
        await ex.stop()


def test_promtool_check_metrics_finds_nothing(full_scrape):
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool not installed (Debian package prometheus; CI installs it)")
    result = subprocess.run([promtool, "check", "metrics"], input=full_scrape.encode(),
                            capture_output=True, timeout=30)
    problems = (result.stdout + result.stderr).decode().strip()
    assert result.returncode == 0 and problems == "", problems


def test_every_sample_comes_from_the_catalog(full_scrape):
    declared = set()
    for m in catalog.METRICS:
        declared.update(catalog.series_names(m, "anclora"))
    foreign = set()
    for fam in text_string_to_metric_families(full_scrape):
        for s in fam.samples:
            if s.name.startswith(("process_", "python_")):
                continue
            if s.name not in declared:
                foreign.add(s.name)
    assert foreign == set()


def test_scrape_covers_every_app_metric(full_scrape):
    present = {s.name for fam in text_string_to_metric_families(full_scrape) for s in fam.samples}
    missing = [m.full_name("anclora") for m in catalog.METRICS
               if "app" in m.source and not set(catalog.series_names(m, "anclora")) & present]
    assert missing == []

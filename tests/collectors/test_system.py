import os

import psutil
from prometheus_client import CollectorRegistry

from exporter.collectors.system import SystemCollector
from exporter.scrape import ScrapeRunner


async def scrape(collector):
    reg = CollectorRegistry()
    runner = ScrapeRunner([collector], "anclora", timeout=5)
    reg.register(runner)
    await runner.refresh()
    return reg.get_sample_value


async def test_host_values_match_the_os(tmp_path):
    get = await scrape(SystemCollector("anclora", str(tmp_path)))
    st = os.statvfs(tmp_path)
    assert get("anclora_system_disk_total_bytes", {"mountpoint": str(tmp_path)}) == \
        st.f_blocks * st.f_frsize
    assert get("anclora_system_memory_total_bytes") == psutil.virtual_memory().total
    assert 0 < get("anclora_system_memory_available_bytes") <= psutil.virtual_memory().total
    assert 0.0 <= get("anclora_system_cpu_usage_ratio") <= 1.0
    assert abs(get("anclora_system_load1") - os.getloadavg()[0]) < 1.0  # load moves slowly
    assert get("anclora_exporter_scrape_collector_success", {"collector": "system"}) == 1.0


async def test_cpu_is_primed_so_the_first_scrape_measures_something():
    c = SystemCollector("anclora")
    x = 0
    for i in range(3_000_000):  # burn CPU between priming and the first scrape
        x += i
    get = await scrape(c)
    assert get("anclora_system_cpu_usage_ratio") > 0.0


async def test_missing_disk_path_costs_only_the_disk_series():
    get = await scrape(SystemCollector("anclora", "/no/such/path"))
    assert get("anclora_exporter_scrape_collector_success", {"collector": "system"}) == 0.0
    assert get("anclora_system_disk_total_bytes", {"mountpoint": "/no/such/path"}) is None
    assert get("anclora_system_memory_total_bytes") == psutil.virtual_memory().total

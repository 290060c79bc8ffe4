"""The host, from psutil: CPU, memory, the watched filesystem, load.

The exporter process itself is covered by prometheus_client's ProcessCollector
(process_cpu_seconds_total, process_resident_memory_bytes, ...), registered in app.py.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

import psutil

from ..metrics import gauge
from ..scrape import PartialScrape

# statvfs on a hung network mount blocks forever: run it on one thread of its own, so the
# caller's timeout still answers and a stuck call holds one thread, not the event loop or
# the default executor (which renders /metrics).
_DISK = ThreadPoolExecutor(max_workers=1, thread_name_prefix="anclora-disk")
DISK_TIMEOUT = 1.0  # statvfs answers in microseconds; a second means the mount is stuck


async def disk_usage(path: str):
    """psutil.disk_usage(path), off the event loop (about 60 us with the thread hop)."""
    return await asyncio.get_running_loop().run_in_executor(_DISK, psutil.disk_usage, path)


class SystemCollector:
    name = "system"

    def __init__(self, namespace: str, disk_path: str = "/"):
        self.ns, self.disk_path = namespace, disk_path
        # cpu_percent(None) measures since the previous call: prime it now so the first
        # scrape reports the CPU use since start-up instead of a meaningless 0.
        psutil.cpu_percent(interval=None)

    async def collect(self):
        # The /proc reads below take 10-25 us each and cannot hang: they stay on the loop.
        ns = self.ns
        mem = psutil.virtual_memory()
        fams = [
            gauge("system_cpu_usage_ratio", ns, [((), psutil.cpu_percent(interval=None) / 100)]),
            gauge("system_memory_total_bytes", ns, [((), mem.total)]),
            gauge("system_memory_available_bytes", ns, [((), mem.available)]),
        ]
        if hasattr(os, "getloadavg"):
            fams.append(gauge("system_load1", ns, [((), os.getloadavg()[0])]))
        # A wrong or hung ANCLORA_DISK_PATH costs the disk series only, not the host's.
        try:
            disk = await asyncio.wait_for(disk_usage(self.disk_path), DISK_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as e:
            raise PartialScrape(f"disk {self.disk_path}: {type(e).__name__}", fams) from e
        fams += [gauge("system_disk_total_bytes", ns, [((self.disk_path,), disk.total)]),
                 gauge("system_disk_free_bytes", ns, [((self.disk_path,), disk.free)])]
        return fams

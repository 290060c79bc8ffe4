"""The host, from psutil: CPU, memory, the watched filesystem, load.

The exporter process itself is covered by prometheus_client's ProcessCollector
(process_cpu_seconds_total, process_resident_memory_bytes, ...), registered in app.py.
"""

from __future__ import annotations

import os

import psutil

from ..metrics import gauge


class SystemCollector:
    name = "system"

    def __init__(self, namespace: str, disk_path: str = "/"):
        self.ns, self.disk_path = namespace, disk_path
        # cpu_percent(None) measures since the previous call: prime it now so the first
        # scrape reports the CPU use since start-up instead of a meaningless 0.
        psutil.cpu_percent(interval=None)

    async def collect(self):
        # Each psutil call below reads /proc or statvfs once: tens of microseconds, so they
        # run on the loop rather than paying a thread hop.
        ns = self.ns
        mem = psutil.virtual_memory()
        disk = psutil.disk_usage(self.disk_path)
        fams = [
            gauge("system_cpu_usage_ratio", ns, [((), psutil.cpu_percent(interval=None) / 100)]),
            gauge("system_memory_total_bytes", ns, [((), mem.total)]),
            gauge("system_memory_available_bytes", ns, [((), mem.available)]),
            gauge("system_disk_total_bytes", ns, [((self.disk_path,), disk.total)]),
            gauge("system_disk_free_bytes", ns, [((self.disk_path,), disk.free)]),
        ]
        if hasattr(os, "getloadavg"):
            fams.append(gauge("system_load1", ns, [((), os.getloadavg()[0])]))
        return fams

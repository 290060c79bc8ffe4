"""The compose profile `ha` on loopback: the shipped configs, run by several real Prometheus
and Alertmanager processes (tests/e2e/test_ha.py).

Who runs, with which replica label and which gossip peers, is read from
docker-compose.monitoring.yml; prometheus.yml is rendered from the shipped file by
replacing each compose host name (a static target or a DNS SD name) with a 127.0.0.1 port
and shortening the intervals, nothing else. A name the test does not run is left out, as
Docker's DNS leaves out a service that is not running. So the test fails if the shipped
files stop listing a replica, not only if the engines misbehave.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import aiohttp
import yaml

from tests.support.alerting import Stack
from tests.support.procs import free_port
from tests.support.stack import PROM_DIR, ROOT

COMPOSE = ROOT / "docker-compose.monitoring.yml"
CLUSTER_PORT = "9094"  # --cluster.listen-address in the compose file


@dataclass(frozen=True)
class Topology:
    """The `ha` profile's Prometheus and Alertmanager services, as compose runs them."""
    prometheus: dict[str, str]          # service -> its PROMETHEUS_REPLICA
    alertmanagers: dict[str, list[str]]  # service -> its --cluster.* flags


def ha_topology(path: Path = COMPOSE) -> Topology:
    services = yaml.safe_load(path.read_text())["services"]  # merge keys resolved

    def of(image: str) -> dict[str, dict]:
        return {n: s for n, s in services.items() if s["image"].startswith(image)}
    return Topology(
        prometheus={n: s["environment"]["PROMETHEUS_REPLICA"]
                    for n, s in of("prom/prometheus:").items()},
        alertmanagers={n: [a for a in s["command"] if a.startswith("--cluster.")]
                       for n, s in of("prom/alertmanager:").items()})


def localize_prometheus(tmp: Path, rules_dir: Path, hosts: Mapping[str, str],
                        interval: str) -> Path:
    """The shipped prometheus.yml with every compose host name in ``hosts`` (name ->
    127.0.0.1:port) made a static target, names not in it dropped, rules from
    ``rules_dir`` and every interval and timeout set to ``interval``."""
    cfg = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    cfg["rule_files"] = [str(rules_dir / "*.yml")]
    cfg["global"].update(scrape_interval=interval, evaluation_interval=interval,
                         scrape_timeout=interval)

    def static(sd: dict[str, Any]) -> list[dict[str, list[str]]]:
        names = [t.rsplit(":", 1)[0] for c in sd.pop("static_configs", []) for t in c["targets"]]
        names += [n for c in sd.pop("dns_sd_configs", []) for n in c["names"]]
        found = [hosts[n] for n in names if n in hosts]
        return [{"targets": found}] if found else []

    for am in cfg["alerting"]["alertmanagers"]:
        am["static_configs"] = static(am)
    jobs = []
    for job in cfg["scrape_configs"]:
        job["static_configs"] = static(job)
        job["scrape_timeout"] = interval
        if job["static_configs"]:
            jobs.append(job)
    cfg["scrape_configs"] = jobs
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


class HAStack(Stack):
    """``Stack`` as the `ha` profile runs it: one exporter, every Alertmanager of the
    compose file in one gossip cluster on loopback and every Prometheus of it, each with
    its own replica label, all on the shipped configs.

    The timings keep the proportions of the shipped ones, under which a cluster notifies
    once (Alertmanager is at-least-once by design: prometheus/alertmanager#2447, #4008):
    - ``peer_timeout`` (--cluster.peer-timeout, 15 s shipped): the n-th member waits n of
      them, then looks in the gossiped notification log and sends only what was not sent;
      it must outlast a send and a gossip round (~0.2 s here).
    - group_interval (1 m for criticals) longer than the last member's wait (2 x 15 s): a
      flush blocks for that wait, so with a shorter interval the members' flushes drift
      apart, and a member that flushed a "firing" snapshot before the resolution sends it
      after another member's "resolved" (a 2 s interval with a 4 s peer timeout here: a
      stale firing and a second resolved in 4 runs of 4). tests/test_alertmanager.py
      holds the shipped routes to it.
    - group_wait (10 s) not a multiple of the evaluation interval (15 s), so that flushes
      do not fall on Prometheus's sends (#4008); a precaution: 1 s here passed 4 runs of 4.
    Here: 1 s evaluations, 1.5 s / 5 s grouping, 2 s peer timeout.
    """

    group_wait, group_interval = "1500ms", "5s"

    def __init__(self, tmp: Path, rule_files: Iterable[Path], redis, peer_timeout: float = 2,
                 **options):
        super().__init__(tmp, rule_files, redis, **options)
        self.topology = ha_topology()
        self.peer_timeout = peer_timeout
        self.prometheus_names = list(self.topology.prometheus)
        self.alertmanager_names = list(self.topology.alertmanagers)
        for name in self.prometheus_names + self.alertmanager_names:
            self.ports.setdefault(name, free_port())
        self.cluster_ports = {name: free_port() for name in self.alertmanager_names}

    def _cluster_args(self, name: str) -> list[str]:
        """The service's --cluster.* flags, compose host names -> loopback ports."""
        out = []
        for arg in self.topology.alertmanagers[name]:
            flag, _, value = arg.partition("=")
            host, _, port = value.rpartition(":")
            assert flag in ("--cluster.listen-address", "--cluster.peer") and port == CLUSTER_PORT, (
                f"{name}: {arg} is new to this test: teach it tests/support/ha.py")
            where = name if flag == "--cluster.listen-address" else host
            out.append(f"{flag}=127.0.0.1:{self.cluster_ports[where]}")
        return out + [f"--cluster.peer-timeout={self.peer_timeout}s"]

    def _specs(self) -> list[tuple[str, list[str], int, dict | None]]:
        hosts = {name: f"127.0.0.1:{self.ports[name]}"
                 for name in ["exporter", *self.alertmanager_names]}
        config = localize_prometheus(self.tmp, self.tmp / "rules", hosts, "1s")
        return ([self._exporter_spec()]
                + [self._alertmanager_spec(n, self._cluster_args(n)) for n in self.alertmanager_names]
                + [self._prometheus_spec(n, config, {"PROMETHEUS_REPLICA": replica})
                   for n, replica in self.topology.prometheus.items()])

    def process(self, name: str):
        return next(p for p in self.procs if p.name == name)

    async def metric(self, name: str, metric: str) -> float:
        """One unlabelled sample of ``name``'s /metrics (e.g. alertmanager_peer_position);
        0 when absent."""
        async with aiohttp.ClientSession() as s:
            async with s.get(self.url(name) + "/metrics",
                             timeout=aiohttp.ClientTimeout(total=5)) as r:
                text = await r.text()
        m = re.search(rf"^{re.escape(metric)} (\S+)$", text, re.M)
        return float(m.group(1)) if m else 0.0

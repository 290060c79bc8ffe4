"""docker-compose.monitoring.yml, validated by Debian's docker-compose (`config` only: no
Docker engine here) and read for what matters: services, pinned images, loopback ports,
no secret values, mounts that exist, and the Dockerfile it builds."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from exporter.config import SETTINGS
from tests.support.stack import ROOT

COMPOSE = ROOT / "docker-compose.monitoring.yml"
DEFAULT_SERVICES = {"prometheus", "alertmanager", "grafana", "node-exporter", "redis-exporter",
                    "loki", "alloy", "exporter"}
GLITCHTIP = {"glitchtip-web", "glitchtip-worker", "glitchtip-postgres", "glitchtip-redis"}
PROFILES = {"promtail": {"promtail"}, "demo": {"redis", "demo"}, "glitchtip": GLITCHTIP,
            "ha": {"prometheus-2", "alertmanager-2", "alertmanager-3", "exporter-2"}}
# The replicas of each kind with the `ha` profile on (the first of each is the default
# service), as prometheus/prometheus.yml addresses them.
REPLICAS = {"prometheus": ["prometheus", "prometheus-2"],
            "alertmanager": ["alertmanager", "alertmanager-2", "alertmanager-3"],
            "exporter": ["exporter", "exporter-2"]}
PASSWORD = "only-in-the-test-env-file"

pytestmark = pytest.mark.skipif(not shutil.which("docker-compose"),
                                reason="docker-compose missing (apt-get install docker-compose)")


def compose(env_file: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker-compose", "-f", str(COMPOSE), "--env-file", str(env_file),
                           *args], capture_output=True, text=True, timeout=60, cwd=ROOT)


@pytest.fixture(scope="module")
def env_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("compose") / ".env"
    text = (ROOT / ".env.example").read_text()
    path.write_text(text.replace("\nGRAFANA_ADMIN_PASSWORD=\n",
                                 f"\nGRAFANA_ADMIN_PASSWORD={PASSWORD}\n"))
    return path


@pytest.fixture(scope="module")
def resolved(env_file):
    r = compose(env_file, "config")
    assert r.returncode == 0, r.stderr
    return yaml.safe_load(r.stdout)


def test_config_fails_without_a_grafana_password(tmp_path):
    bare = tmp_path / ".env"
    bare.write_text((ROOT / ".env.example").read_text())
    r = compose(bare, "config")
    assert r.returncode != 0
    assert "set GRAFANA_ADMIN_PASSWORD in .env" in r.stderr


def test_service_set_and_profiles(resolved):
    services = resolved["services"]
    default = {n for n, s in services.items() if not s.get("profiles")}
    assert default == DEFAULT_SERVICES
    for profile, names in PROFILES.items():
        assert {n for n, s in services.items() if profile in s.get("profiles", [])} == names


def test_images_are_pinned(resolved):
    for name, svc in resolved["services"].items():
        image = svc["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest" and re.match(r"v?\d+\.\d+", tag), f"{name}: {image} not pinned"
    assert resolved["services"]["exporter"]["build"]["context"] == str(ROOT)


def test_health_restart_network(resolved):
    assert list(resolved["networks"]) == ["monitoring"]
    for name, svc in resolved["services"].items():
        assert svc["restart"] == "unless-stopped", name
        # One network; Prometheus and Alertmanager replicas also answer to a shared alias
        # (Grafana's way to any live replica, test_grafana_reaches_any_replica).
        assert list(svc["networks"]) == ["monitoring"], name
        aliases = (svc["networks"]["monitoring"] or {}).get("aliases")
        assert aliases == ({"prometheus": ["prometheus-any"],
                            "alertmanager": ["alertmanager-any"]}.get(_kind(svc))), name
        if name == "demo":
            assert svc["healthcheck"] == {"test": ["NONE"]}  # disable: true
        elif _kind(svc) != "exporter":  # the exporter's HEALTHCHECK is in its Dockerfile
            assert svc["healthcheck"]["test"][0] == "CMD", name
    for name, svc in resolved["services"].items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert cond == {"condition": "service_healthy"}, (name, dep)
    deps = {n: set(s.get("depends_on") or {}) for n, s in resolved["services"].items()}
    assert deps["grafana"] == {"prometheus", "loki"}
    assert deps["prometheus"] == {"alertmanager"}
    assert deps["demo"] == {"redis", "exporter"}
    assert deps["glitchtip-web"] == {"glitchtip-postgres", "glitchtip-redis"}
    assert deps["glitchtip-worker"] == {"glitchtip-web"}  # migrated by the web's start


def test_ports_loopback_except_grafana(resolved):
    published = {}
    for name, svc in resolved["services"].items():
        for port in svc.get("ports", []):
            published[name] = port
            if name == "grafana":
                assert port == {"published": 3001, "target": 3000}
            else:
                assert isinstance(port, str) and port.startswith("127.0.0.1:"), (name, port)
    # exporter-2 is not published: the app posts to `exporter` (or writes the events
    # stream, which both replicas read).
    assert set(published) == {"prometheus", "alertmanager", "grafana", "loki", "exporter",
                              "glitchtip-web", "prometheus-2", "alertmanager-2",
                              "alertmanager-3"}
    assert published["prometheus"] == "127.0.0.1:9090:9090/tcp"
    assert published["alertmanager"] == "127.0.0.1:9093:9093/tcp"
    assert published["prometheus-2"] == "127.0.0.1:9092:9090/tcp"
    assert published["alertmanager-2"] == "127.0.0.1:9095:9093/tcp"
    assert published["alertmanager-3"] == "127.0.0.1:9096:9093/tcp"


def test_bind_mounts_exist_in_the_repo(resolved):
    checked = 0
    for name, svc in resolved["services"].items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith(str(ROOT)):
                assert Path(source).exists(), f"{name}: {source} missing"
                checked += 1
            else:  # a named volume or a host path (/proc, the docker socket)
                assert source in resolved.get("volumes", {}) or source in (
                    "/proc", "/sys", "/", "/var/run/docker.sock"), (name, source)
    assert checked >= 10
    assert set(resolved["secrets"]) == {"slack_webhook_url", "slack_business_webhook_url",
                                        "smtp_password", "pagerduty_routing_key",
                                        "deadmansswitch_url", "glitchtip_secret_key",
                                        "glitchtip_db_password", "remote_write_password"}
    for secret in resolved["secrets"].values():
        assert secret["file"].startswith(str(ROOT / "secrets") + "/")


def test_no_secret_value_in_the_file(resolved):
    text = COMPOSE.read_text()
    assert PASSWORD not in text
    assert not re.search(r"hooks\.slack\.com|GF_SECURITY_ADMIN_PASSWORD: \"?[^\"$]", text)
    assert not re.search(r"^\s*(routing_key|api_url|password):", text, re.M)
    # Resolved, the only secret value is the Grafana password, from the env file, in Grafana.
    dumped = yaml.safe_dump(resolved)
    assert dumped.count(PASSWORD) == 1
    assert resolved["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == PASSWORD
    assert resolved["services"]["exporter"]["environment"]["ANCLORA_AUTH_TOKEN"] == ""


def test_exporter_gets_every_setting(resolved):
    env = resolved["services"]["exporter"]["environment"]
    assert set(env) == {s.env for s in SETTINGS}
    assert env["ANCLORA_REDIS_URL"] == "redis://redis:6379/0"
    assert env["ANCLORA_LISTEN_ADDRESS"] == "0.0.0.0:9464"
    for s in SETTINGS:
        if s.env not in ("ANCLORA_REDIS_URL", "ANCLORA_LISTEN_ADDRESS", "ANCLORA_LOG_DIR"):
            assert env[s.env] == s.default, s.env


def test_alertmanager_runs_the_entrypoint(resolved):
    am = resolved["services"]["alertmanager"]
    assert am["entrypoint"][:2] == ["/bin/sh", "/etc/alertmanager/entrypoint.sh"]
    assert set(am["environment"]) >= {"ALERTMANAGER_SMTP_SMARTHOST", "ALERTMANAGER_EMAIL_TO"}
    # The receivers' secrets: not GlitchTip's, not Prometheus' remote_write password.
    receivers = sorted(n for n in resolved["secrets"]
                       if not n.startswith("glitchtip_") and n != "remote_write_password")
    assert sorted(s["source"] for s in am["secrets"]) == receivers


def test_dockerfile():
    text = (ROOT / "Dockerfile").read_text()
    exporter, _, demo = text.partition("\nFROM exporter AS demo\n")
    assert text.startswith("# ") and "\nFROM python:3.11-slim AS exporter\n" in exporter
    # The exporter's image holds the runtime only: no demo, no client SDK, no tools.
    assert re.findall(r"^COPY (\S+)", exporter, re.M) == ["pyproject.toml", "exporter"]
    assert "pip install '.[sentry]'" in exporter  # error tracking works once a DSN is set
    for stage in (exporter, demo):
        users = re.findall(r"^USER (\S+)$", stage, re.M)
        assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n.*/health/live", exporter, re.M)
    assert 'ENTRYPOINT ["python", "-m", "exporter"]' in exporter
    assert 'ENTRYPOINT ["python", "-m", "anclora_demo"]' in demo and ".[demo]" in demo


def test_demo_profile_only_writes_traffic_for_the_exporter_service(resolved):
    demo = resolved["services"]["demo"]
    assert demo["build"]["target"] == "demo"
    assert "--traffic-only" in demo["command"]
    assert demo["environment"]["ANCLORA_REDIS_URL"] == "redis://redis:6379/0"
    # The platforms' webhooks reach the exporter service, signed with its own secrets.
    assert demo["command"][-2:] == ["--webhooks-to", "http://exporter:9464"]
    exporter = resolved["services"]["exporter"]["environment"]
    for secret in ("ANCLORA_META_APP_SECRET", "ANCLORA_EVOLUTION_WEBHOOK_TOKEN"):
        assert demo["environment"][secret] == exporter[secret]


# --- profile `ha` (docs/scaling.md) --------------------------------------------------------

def _kind(svc: dict) -> str | None:
    """prometheus | alertmanager | exporter, from the service's image."""
    image = svc["image"]
    for kind, repo in (("prometheus", "prom/prometheus:"), ("alertmanager", "prom/alertmanager:"),
                       ("exporter", "anclora-exporter:")):
        if image.startswith(repo):
            return kind
    return None


def _replicas(resolved: dict, kind: str) -> dict[str, dict]:
    return {n: s for n, s in resolved["services"].items() if _kind(s) == kind}


def _flags(svc: dict, flag: str) -> list[str]:
    return [a.split("=", 1)[1] for a in svc["command"] if a.startswith(flag + "=")]


@pytest.fixture(scope="module")
def resolved_ha(env_file):
    r = compose(env_file, "--profile", "ha", "config")
    assert r.returncode == 0, r.stderr
    return yaml.safe_load(r.stdout)


def test_ha_profile_validates_and_adds_the_replicas(resolved_ha, resolved):
    # docker-compose 1.29 lists every profile's services; the profile adds only these.
    assert resolved_ha["services"] == resolved["services"]
    for kind, names in REPLICAS.items():
        assert sorted(_replicas(resolved_ha, kind)) == sorted(names), kind
        for name in names[1:]:
            assert resolved_ha["services"][name]["profiles"] == ["ha"], name


def test_ha_prometheus_replicas_differ_only_by_replica_and_storage(resolved_ha):
    reps = _replicas(resolved_ha, "prometheus")
    first, second = (reps[n] for n in REPLICAS["prometheus"])
    # The same configuration, rules and remote_write switch; its own `replica` label.
    assert [e["PROMETHEUS_REPLICA"] for e in (first["environment"], second["environment"])] == [
        "prometheus", "prometheus-2"]
    same_env = {k: v for k, v in first["environment"].items() if k != "PROMETHEUS_REPLICA"}
    assert {k: v for k, v in second["environment"].items() if k != "PROMETHEUS_REPLICA"} == same_env
    assert first["entrypoint"] == second["entrypoint"]
    config = [v for v in first["volumes"] if v.endswith(":ro")]
    assert config and [v for v in second["volumes"] if v.endswith(":ro")] == config
    data = {n: [v for v in s["volumes"] if not v.endswith(":ro")] for n, s in reps.items()}
    assert data == {"prometheus": ["prometheus-data:/prometheus:rw"],
                    "prometheus-2": ["prometheus-2-data:/prometheus:rw"]}
    # Each links to itself in alerts (generatorURL), at its own published port.
    assert _flags(first, "--web.external-url") == ["http://localhost:9090"]
    assert _flags(second, "--web.external-url") == ["http://localhost:9092"]
    assert [a for a in first["command"] if not a.startswith("--web.external-url")] == [
        a for a in second["command"] if not a.startswith("--web.external-url")]


def test_ha_alertmanagers_form_one_gossip_cluster(resolved_ha):
    reps = _replicas(resolved_ha, "alertmanager")
    for name, svc in reps.items():
        assert _flags(svc, "--cluster.listen-address") == ["0.0.0.0:9094"], name
        # One configuration for all (the one tests/test_alertmanager.py routes with amtool).
        assert svc["entrypoint"] == reps["alertmanager"]["entrypoint"], name
        assert svc["environment"] == reps["alertmanager"]["environment"], name
        assert f"{name}-data:/alertmanager:rw" in svc["volumes"], name
    # The default one names no peer (alone it is a cluster of one, nothing to retry); the
    # others name every other member, so any of them restarting finds the cluster again.
    assert _flags(reps["alertmanager"], "--cluster.peer") == []
    for name in REPLICAS["alertmanager"][1:]:
        others = [n for n in REPLICAS["alertmanager"] if n != name]
        assert _flags(reps[name], "--cluster.peer") == [f"{n}:9094" for n in others], name


def test_ha_exporters_share_the_consumer_group(resolved_ha):
    reps = _replicas(resolved_ha, "exporter")
    first, second = (reps[n] for n in REPLICAS["exporter"])
    assert second["environment"] == first["environment"]  # the group, Redis, every setting
    assert first["environment"]["ANCLORA_CONSUMER_NAME"] == ""  # hostname-pid: one each
    assert second["image"] == first["image"] and not second.get("ports")


def test_prometheus_yml_reaches_every_replica():
    """Every Alertmanager gets every alert, every Alertmanager and exporter is scraped:
    the default service by name as before, the `ha` profile's by DNS, so that without
    the profile they are simply absent (NXDOMAIN: no target, no error)."""
    cfg = yaml.safe_load((ROOT / "prometheus/prometheus.yml").read_text())

    def hosts(sd: dict) -> list[str]:
        static = [t.rsplit(":", 1)[0] for c in sd.get("static_configs", []) for t in c["targets"]]
        return static + [n for c in sd.get("dns_sd_configs", []) for n in c["names"]]

    (alerting,) = cfg["alerting"]["alertmanagers"]
    assert hosts(alerting) == REPLICAS["alertmanager"]
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    assert hosts(jobs["alertmanager"]) == REPLICAS["alertmanager"]
    assert hosts(jobs["anclora-exporter"]) == REPLICAS["exporter"]
    for sd in (alerting, jobs["alertmanager"], jobs["anclora-exporter"]):
        assert [c["names"] for c in sd["dns_sd_configs"]] == [hosts(sd)[1:]]
    # Discovered replicas keep a readable instance label (exporter-2:9464, not an IP).
    for job, port in (("alertmanager", 9093), ("anclora-exporter", 9464)):
        assert jobs[job]["relabel_configs"] == [
            {"source_labels": ["__meta_dns_name"], "regex": "(.+)", "target_label": "instance",
             "replacement": f"$1:{port}"}], job
        assert jobs[job]["dns_sd_configs"][0] == {"names": hosts(jobs[job])[1:], "type": "A",
                                                  "port": port}


def test_grafana_reaches_any_replica(resolved_ha):
    doc = yaml.safe_load((ROOT / "grafana/provisioning/datasources/datasources.yml").read_text())
    urls = {d["uid"]: d["url"] for d in doc["datasources"]}
    assert urls["prometheus"] == "http://prometheus:9090"          # the first replica
    assert urls["prometheus-any"] == "http://prometheus-any:9090"  # whichever answers
    assert urls["alertmanager"] == "http://alertmanager-any:9093"  # they share their state
    for kind, alias in (("prometheus", "prometheus-any"), ("alertmanager", "alertmanager-any")):
        for name, svc in _replicas(resolved_ha, kind).items():
            assert svc["networks"]["monitoring"]["aliases"] == [alias], name


def test_remote_write_is_off_by_default(resolved):
    for svc in _replicas(resolved, "prometheus").values():
        env = svc["environment"]
        assert env["PROMETHEUS_REMOTE_WRITE_URL"] == ""  # empty: no remote_write block
        assert env["PROMETHEUS_REMOTE_WRITE_USERNAME"] == ""
        assert [s["source"] for s in svc["secrets"]] == ["remote_write_password"]
        assert svc["entrypoint"][:2] == ["/bin/sh", "/etc/prometheus/entrypoint.sh"]


def test_every_variable_is_in_env_example():
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text()))
    documented = set(re.findall(r"^([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert used and used - documented == set()

def test_glitchtip_profile(env_file):
    """`--profile glitchtip config`: GlitchTip's web and worker on one pinned image, with
    their own Postgres and Valkey, secrets from files only."""
    r = compose(env_file, "--profile", "glitchtip", "config")
    assert r.returncode == 0, r.stderr
    services = yaml.safe_load(r.stdout)["services"]
    assert GLITCHTIP <= set(services)
    web, worker = services["glitchtip-web"], services["glitchtip-worker"]
    assert web["image"] == worker["image"] == "glitchtip/glitchtip:6.1.6"
    assert web["environment"] == worker["environment"]
    env = web["environment"]
    # GlitchTip reads <VAR>_FILE for any variable: no secret as a value, none by URL.
    assert env["SECRET_KEY_FILE"] == "/run/secrets/glitchtip_secret_key"
    assert env["DATABASE_PASSWORD_FILE"] == "/run/secrets/glitchtip_db_password"
    assert not {"SECRET_KEY", "DATABASE_PASSWORD", "DATABASE_URL"} & set(env)
    assert env["DATABASE_HOST"] == "glitchtip-postgres"
    assert env["VALKEY_URL"] == "redis://glitchtip-redis:6379/0"
    postgres = services["glitchtip-postgres"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == env["DATABASE_PASSWORD_FILE"]
    assert postgres["environment"]["POSTGRES_USER"] == env["DATABASE_USER"]
    assert postgres["environment"]["POSTGRES_DB"] == env["DATABASE_NAME"]
    for name in ("glitchtip-web", "glitchtip-worker", "glitchtip-postgres"):
        assert {s["source"] for s in services[name]["secrets"]} <= {
            "glitchtip_secret_key", "glitchtip_db_password"}, name
    assert "./bin/run-migrate.sh" in web["command"][-1]  # before the server starts
    assert worker["command"] == ["./bin/run-worker.sh"]
    assert {v.split(":")[1] for v in web["volumes"]} == {"/code/uploads"}
    assert services["glitchtip-postgres"]["image"].startswith("postgres:17.")
    assert services["glitchtip-redis"]["image"].startswith("valkey/valkey:8.")

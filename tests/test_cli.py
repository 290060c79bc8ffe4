"""The command line as an operator meets it: the real ``python -m exporter`` in a subprocess.

A bad setting is one line on stderr naming the variable and exit code 2, never a
traceback (issue 9, item 17); output piped into a reader that stops early (``| head``)
ends quietly (item 18).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.procs import free_port

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "anclora-exporter: configuration error: "


def run_serve(env: dict[str, str], timeout: float = 15) -> subprocess.CompletedProcess:
    """``serve`` with ``env`` on top of a harmless base (a free loopback port, a Redis
    port nothing listens on): a bad value must stop it before it listens."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ANCLORA_")}
    base.update(ANCLORA_LISTEN_ADDRESS=f"127.0.0.1:{free_port()}",
                ANCLORA_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    try:
        return subprocess.run([sys.executable, "-m", "exporter", "serve"], cwd=ROOT,
                              env={**base, **env}, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = (e.stderr or b"").decode(errors="replace")[-1500:]
        pytest.fail(f"serve accepted {env} and kept running; stderr:\n{out}")


def _file_in_the_way(tmp: Path) -> str:
    (tmp / "a-file").write_text("not a directory")
    return str(tmp / "a-file" / "logs")


def _log_file_is_a_directory(tmp: Path) -> str:
    (tmp / "logs" / "all.log").mkdir(parents=True)
    return str(tmp / "logs")


@pytest.mark.parametrize("variable,value,says", [
    # NaN passes every range check (all comparisons are false) and crashed later.
    ("ANCLORA_REDIS_TIMEOUT_SECONDS", "nan", "expected a finite number"),
    ("ANCLORA_GAUGE_TTL_SECONDS", "inf", "expected a finite number"),
    ("ANCLORA_HEALTH_DISK_DEGRADED_RATIO", "NaN", "expected a finite number"),
    ("ANCLORA_REDIS_URL", "redis://127.0.0.1:notaport/0", "port"),
    ("ANCLORA_REDIS_URL", "redis://127.0.0.1:70000/0", "port"),
    ("ANCLORA_REDIS_URL", "redis://127.0.0.1:6379/abc", "database"),
    ("ANCLORA_REDIS_URL", "redis://127.0.0.1:6379/0?db=x", "database"),
    ("ANCLORA_ANALYTICS_REDIS_URL", "redis://127.0.0.1:notaport/0", "port"),
    ("ANCLORA_LABEL_LIMITS", "no_such_metric=5", "unknown metric no_such_metric"),
    ("ANCLORA_LOG_DIR", "/proc/anclora-logs", "cannot write log files"),
    ("ANCLORA_LOG_DIR", _file_in_the_way, "cannot write log files"),
    ("ANCLORA_LOG_DIR", _log_file_is_a_directory, "cannot write log files"),
])
def test_bad_setting_is_one_line_and_exit_2(tmp_path, variable, value, says):
    value = value(tmp_path) if callable(value) else value
    p = run_serve({variable: value})
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith(f"{PREFIX}{variable}={value!r}: "), lines[0]
    assert says in lines[0], lines[0]
    assert p.stdout == ""  # stopped before the first log line


def test_good_edge_values_still_start(tmp_path):
    """The stricter parsing refuses only what is wrong: these start and answer."""
    from tests.support.procs import wait_for_port
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANCLORA_")}
    env.update(ANCLORA_LISTEN_ADDRESS=f"127.0.0.1:{port}", ANCLORA_LOG_LEVEL="warn",
               ANCLORA_REDIS_URL=f"redis://127.0.0.1:{free_port()}/3?db=3",
               ANCLORA_ANALYTICS_REDIS_URL="unix:///tmp/nowhere.sock?db=2",
               ANCLORA_LABEL_LIMITS="analytics_messages_sent_total=5",
               ANCLORA_LOG_DIR=str(tmp_path / "new" / "logs"))
    proc = subprocess.Popen([sys.executable, "-m", "exporter", "serve"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, 15)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err.decode()
    assert (tmp_path / "new" / "logs" / "all.log").exists()


COMMANDS = [["catalog"], ["catalog", "--markdown"], ["config", "--markdown"], ["--help"]]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_output_into_a_closed_pipe_ends_quietly(args):
    """The reader is gone before the first write (``| head`` that already exited): the
    command stops writing, says nothing, exits 0 (the reader took what it wanted)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        p = subprocess.run([sys.executable, "-m", "exporter", *args], cwd=ROOT,
                           stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)
    assert p.stderr == ""
    assert p.returncode == 0


def test_catalog_into_head_ends_quietly():
    """As an operator types it: `head` takes one line and exits, maybe while the exporter
    is still writing (the closed-pipe test above makes that case certain)."""
    p = subprocess.run(f"{sys.executable} -m exporter catalog | head -1", shell=True,
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.stdout == "[\n"
    assert p.stderr == ""


def test_serve_logging_into_a_closed_pipe_keeps_serving_quietly():
    """`serve | head -1`: the log reader went away. The exporter keeps serving /metrics
    and drops the stdout log lines; it printed a '--- Logging error ---' traceback per
    line before."""
    from tests.support.procs import wait_for_port
    import urllib.request
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANCLORA_")}
    env.update(ANCLORA_LISTEN_ADDRESS=f"127.0.0.1:{port}", ANCLORA_LOG_LEVEL="info",
               ANCLORA_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")  # warnings to log
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "exporter", "serve"], cwd=ROOT,
                                env=env, stdout=write_end, stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    try:
        wait_for_port(port, 15)
        for _ in range(3):  # scrapes log Redis failures: more lines into the closed pipe
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                assert r.status == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert err.decode() == ""
    assert proc.returncode == 0


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "exporter", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)


def test_serve_help_lists_every_setting_and_points_at_the_reference():
    from exporter.config import SETTINGS
    p = cli("serve", "--help")
    assert p.returncode == 0
    for s in SETTINGS:
        assert f"  {s.env} [{s.default}]\n" in p.stdout
    assert "python -m exporter config --markdown" in p.stdout


def test_demo_help_has_a_line_per_scenario():
    from anclora_demo import __main__ as demo_cli, demo
    assert set(demo_cli.SCENARIOS) == set(demo.SCENARIOS)
    p = subprocess.run([sys.executable, "-m", "anclora_demo", "--help"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0
    for name, about in demo_cli.SCENARIOS.items():
        assert f"  {name:<9} {about}\n" in p.stdout


def test_demo_without_bullmq_is_one_line_naming_the_extra(tmp_path):
    """A plain install has no bullmq: the demo says which extra to install, no traceback."""
    (tmp_path / "bullmq.py").write_text("raise ImportError('hidden by the test')\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.getcwd()}"}
    p = subprocess.run([sys.executable, "-m", "anclora_demo", "--duration", "1"],
                       capture_output=True, text=True, timeout=30, env=env)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        "anclora_demo: the demo needs the `bullmq` package: pip install 'anclora-exporter[demo]'"]
    assert "Traceback" not in p.stderr


def test_bare_config_prints_its_usage():
    p = cli("config")
    assert p.returncode == 0 and p.stderr == ""
    assert p.stdout.startswith("usage: python -m exporter config [-h] [--markdown]")
    assert "--markdown  the configuration table (docs/configuration.md)" in p.stdout

"""An unexpected error in a handler is one JSON log line and a JSON 500, never a
multi-line traceback on stderr (issue 9, item 11)."""

import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from aiohttp.test_utils import TestClient, TestServer

from exporter import logs
from exporter.app import Exporter
from exporter.config import Config
from exporter.server import make_app
from tests.support.procs import free_port, terminate, wait_for_port

# The real serve(), with a render that fails the way a bug would (message with a phone
# number, which the log must mask).
BROKEN_SERVE = """
import exporter.server
def broken(registry):
    raise RuntimeError("render failed for +34600111222")
exporter.server.generate_latest = broken
from exporter.cli import main
raise SystemExit(main(["serve"]))
"""


def test_real_server_logs_a_handler_error_as_one_json_line(redis_url, tmp_path):
    port = free_port()
    env = {**os.environ, "ANCLORA_REDIS_URL": redis_url,
           "ANCLORA_LISTEN_ADDRESS": f"127.0.0.1:{port}"}
    out_path = tmp_path / "out.log"
    with open(out_path, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", BROKEN_SERVE], env=env, stdout=out,
                                stderr=subprocess.STDOUT, cwd=os.getcwd())
    try:
        wait_for_port(port)
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
            raise AssertionError("the broken render answered 200")
        except urllib.error.HTTPError as e:
            assert e.code == 500
            assert e.headers["Content-Type"].startswith("application/json")
            body = json.loads(e.read())
        assert "internal error" in body["error"] and "34600111222" not in json.dumps(body)
        # The server keeps serving.
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live",
                                      timeout=5).status == 200
        # Malformed requests (a scanner): 400, one short warning, not an error each.
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET /metrics\xff HTTP/1.1\r\nHost: x\r\n\r\n")
                assert s.recv(64).startswith(b"HTTP/1.0 400")
        time.sleep(0.2)
    finally:
        terminate(proc)
    lines = [line for line in out_path.read_text().splitlines() if line.strip()]
    assert not [line for line in lines if not line.startswith("{")], lines
    records = [json.loads(line) for line in lines]
    errors = [r for r in records if r["level"] == "error"]
    assert len(errors) == 1, errors
    e = errors[0]
    assert e["msg"] == "unhandled error" and e["path"] == "/metrics" and e["method"] == "GET"
    assert "RuntimeError" in e["error"] and "***1222" in e["error"]
    assert "34600111222" not in out_path.read_text()
    malformed = [r for r in records if r["msg"] == "malformed HTTP request refused"]
    assert len(malformed) == 1 and malformed[0]["level"] == "warn", malformed
    assert malformed[0]["status"] == 400 and "Traceback" not in json.dumps(malformed)


async def test_handler_error_in_process_is_a_json_500_and_one_record(redis_url, capfd):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter("test"))
    root = logging.getLogger(logs.ROOT)
    root.addHandler(handler)
    exporter = Exporter(Config.defaults(redis_url=redis_url))

    async def boom(request):
        raise KeyError("oops")
    exporter.extra_routes.append(("GET", "/boom", boom))
    client = TestClient(TestServer(make_app(exporter)))
    await client.start_server()
    try:
        r = await client.get("/boom")
        assert r.status == 500 and (await r.json())["error"].startswith("internal error")
        assert (await client.get("/health/live")).status == 200
    finally:
        await client.close()
        await exporter.stop()
        root.removeHandler(handler)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    errors = [r for r in records if r["level"] == "error"]
    assert [(r["msg"], r["path"]) for r in errors] == [("unhandled error", "/boom")]
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err and "Traceback" not in captured.out

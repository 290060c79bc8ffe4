"""mixin/build.jsonnet writes the generated files itself: the jsonnet CLI alone reproduces
every committed file, and its YAML and JSON writers keep every value (no key is dropped,
as the old Python writer's annotation whitelist did)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tools import mixin_build

ROOT = Path(__file__).resolve().parents[2]
JSONNET = shutil.which("jsonnet")

# Values that trip writers: quotes, backslashes, YAML words and indicators, a PromQL block,
# a multi-line string without its final newline, a string of blank lines, empty values,
# nested lists, numbers that print badly (0.8), keys YAML would read as booleans.
TRICKY = {
    "groups": [{"name": "g", "rules": [{
        "alert": "A", "expr": "sum(x)\n  > 1\n", "for": "5m",
        "labels": {"severity": "warning", "on": "yes", "n": "null", "weird key": "- [x]: #"},
        "annotations": {"summary": 'say "hi" \\ {{ $value }}', "extra": "kept",
                        "two": "a\nb", "blank": "\n\n", "lead": "  x\n", "empty": ""},
    }]}],
    "numbers": [0, 1, 0.8, 1e-05, 14.4, 5000000, -2.5, 0.1 + 0.2],
    "nested": [[], {}, [[1, "a"], {"k": []}], True, False, None],
}


def _manifest(function: str, value) -> str:
    import _jsonnet

    return json.loads(_jsonnet.evaluate_snippet("t", f"""
        (import 'mixin/lib/manifest.libsonnet').{function}(
          {'' if function == 'json' else "'header', "}std.parseJson({json.dumps(json.dumps(value))}))
    """, jpathdir=[str(ROOT)]))


def test_yaml_writer_keeps_every_value():
    text = _manifest("yaml", TRICKY)
    assert text.startswith("# ") and yaml.safe_load(text) == TRICKY


def test_yaml_writer_writes_promql_as_a_block():
    text = _manifest("yaml", {"rules": [{"expr": "sum(x)\n  > 1\n"}]})
    assert text == "# header\nrules:\n- expr: |\n    sum(x)\n      > 1"


def test_json_writer_writes_what_json_dumps_writes():
    # jsonnet sorts keys; the committed dashboards were json.dumps(..., indent=2) output
    assert _manifest("json", TRICKY) == json.dumps(TRICKY, indent=2, sort_keys=True)


def test_python_build_writes_every_file_of_the_entry_point():
    files = mixin_build.evaluate(ROOT, "build")
    assert {p.split("/")[0] for p in files} == {"alerts", "dashboards", "docs"}
    committed = {str(p.relative_to(ROOT)) for d in ("alerts", "dashboards")
                 for p in (ROOT / d).iterdir() if p.suffix in (".yml", ".json")} | {"docs/alerts.md"}
    assert set(files) == committed


@pytest.mark.skipif(JSONNET is None and not os.environ.get("CI"),
                    reason="jsonnet CLI not installed (Debian package `jsonnet`; `make deps` installs it)")
def test_jsonnet_cli_alone_reproduces_the_committed_files(tmp_path):
    assert JSONNET, "jsonnet is missing (CI is set, so this is an error, not a skip)"
    for d in ("alerts", "dashboards", "docs"):
        (tmp_path / d).mkdir()
    result = subprocess.run([JSONNET, "-S", "-m", str(tmp_path), "mixin/build.jsonnet"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == sorted(mixin_build.evaluate(ROOT, "build"))
    for rel in written:
        assert (tmp_path / rel).read_bytes() == (ROOT / rel).read_bytes(), rel

"""``python -m tools.build [--check]`` (``make generate``): regenerate every committed
generated file. A tool of the repository, not of the exporter: it is not installed and
the image does not carry it.

Each entry of ``outputs()`` is (path relative to the repo, function returning its text).
``--check`` writes nothing and lists the files that differ (tests/test_generated.py runs
it), so a change to the catalog, the config or the mixin without a rebuild fails CI.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Callable

from exporter import catalog, config
from exporter.ingest import meta_codes, schema

from . import mixin_build, stack

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- BEGIN GENERATED {} -->", "<!-- END GENERATED {} -->"


def splice(text: str, section: str, body: str) -> str:
    """Replace what stands between the section's BEGIN/END markers in ``text``."""
    begin, end = BEGIN.format(section), END.format(section)
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"markers for {section!r} not found")
    return pattern.sub(lambda _: f"{begin}\n{body}\n{end}", text)


def _config_doc(root: Path) -> str:
    """The configuration table of docs/configuration.md (README links there: it stays short)."""
    text = (root / "docs/configuration.md").read_text()
    return splice(text, "config", config.as_markdown())


def _compose(root: Path) -> str:
    """The exporter service's environment in docker-compose.monitoring.yml."""
    text = (root / "docker-compose.monitoring.yml").read_text()
    pattern = re.compile(r"(\n( *)# BEGIN GENERATED exporter-env[^\n]*\n).*?(\n? *# END GENERATED exporter-env)",
                         re.S)
    m = pattern.search(text)
    if not m:
        raise ValueError("docker-compose.monitoring.yml: exporter-env markers not found")
    return text[:m.start()] + m.group(1) + stack.as_compose_env(m.group(2)) + "\n" + \
        m.group(3).lstrip("\n") + text[m.end():]


def mixin_inputs() -> list[tuple[str, Callable[[], str]]]:
    """Generated files the mixin itself reads: written before the mixin is evaluated."""
    return [("mixin/lib/meta_error_codes.json", meta_codes.as_json)]


def outputs(root: Path = ROOT) -> list[tuple[str, Callable[[], str]]]:
    outs: list[tuple[str, Callable[[], str]]] = [
        ("docs/metrics.md", lambda: catalog.as_markdown() + "\n"),
        (".env.example", stack.as_env_example),
        ("docs/configuration.md", lambda: _config_doc(root)),
        ("docker-compose.monitoring.yml", lambda: _compose(root)),
        ("exporter/ingest/events.schema.json", schema.json_schema_text),
        ("docs/events.md",
         lambda: splice((root / "docs/events.md").read_text(), "events", schema.as_markdown())),
        ("docs/whatsapp-error-codes.md", meta_codes.as_markdown),
    ]
    outs += mixin_build.outputs(root)  # the dashboards and alerts
    return outs


def build(root: Path = ROOT, check: bool = False) -> list[str]:
    """Write (or with ``check``, only compare) every output; returns the paths that differ.
    The mixin's inputs go first: ``outputs()`` evaluates the mixin, which reads them."""
    changed = []
    for produce in (mixin_inputs, lambda: outputs(root)):
        for rel, make in produce():
            path = root / rel
            new = make()
            old = path.read_text() if path.exists() else None
            if old != new:
                changed.append(rel)
                if not check:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(new)
    return changed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.build",
                                description="Regenerate every committed generated file.")
    p.add_argument("--check", action="store_true", help="write nothing; fail if anything is stale")
    args = p.parse_args(argv)
    changed = build(check=args.check)
    for path in changed:
        print(("stale: " if args.check else "wrote: ") + path)
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())

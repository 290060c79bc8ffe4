"""The files generated from the mixin: alerts/*.yml, dashboards/*.json and docs/alerts.md.

``mixin/build.jsonnet`` returns {path: text} and writes every format itself (YAML, JSON,
Markdown), so ``jsonnet -S -m . mixin/build.jsonnet`` alone reproduces the committed
files. This module only runs the same entry point through the jsonnet Python binding for
``python -m tools.build``; ``_jsonnet`` is imported inside functions, so the running
exporter never needs it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

MIXIN = "mixin"


@lru_cache(maxsize=None)
def _evaluate(root: str, entry: str) -> Any:
    import _jsonnet  # only the build and the tests need jsonnet

    return json.loads(_jsonnet.evaluate_file(str(Path(root) / MIXIN / f"{entry}.jsonnet")))


def evaluate(root: Path, entry: str) -> Any:
    """``entry``: ``build`` ({path: text}) or ``config`` (the resolved _config)."""
    return _evaluate(str(root), entry)


def outputs(root: Path) -> list[tuple[str, Callable[[], str]]]:
    if not (root / MIXIN / "build.jsonnet").exists():
        return []
    # `jsonnet -S -m` ends each file it writes with a newline; the build does the same.
    return [(path, lambda path=path: evaluate(root, "build")[path] + "\n")
            for path in evaluate(root, "build")]

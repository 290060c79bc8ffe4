"""What Alloy and Promtail ship to Loki, read from the shipped configs themselves.

- The Logs dashboard's stream selectors use only labels both shippers keep (a selector on
  a dropped label such as `job` matches no stream, and the dashboard shows nothing).
- The component dropdown lists every component the logs carry.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from exporter import logs
from tools import mixin_build

ROOT = Path(__file__).resolve().parent.parent
ALLOY = (ROOT / "alloy" / "config.alloy").read_text()
PROMTAIL = yaml.safe_load((ROOT / "promtail" / "promtail.yml").read_text())
_STRING = r'"((?:[^"\\]|\\.)*)"'


def _alloy_string(s: str) -> str:
    return json.loads(f'"{s}"')


def _alloy_block(name: str) -> str:
    """The body of the first `name {` block (braces balanced; strings skipped)."""
    start = ALLOY.index(name + " {") + len(name) + 2
    depth, i = 1, start
    while depth:
        m = re.compile(_STRING + r"|[{}]").search(ALLOY, i)
        if m.group(0) == "{":
            depth += 1
        elif m.group(0) == "}":
            depth -= 1
        i = m.end()
    return ALLOY[start:i - 1]


# --- labels -------------------------------------------------------------------------------

def alloy_kept_labels() -> set[str]:
    """Labels a stream leaves Alloy with: those stage.label_keep keeps, each of which must be
    set by stage.labels or a relabel rule."""
    body = _alloy_block('loki.process "json"')
    keep = re.search(r"stage\.label_keep\s*\{\s*values\s*=\s*\[([^\]]*)\]", body)
    kept = {_alloy_string(s) for s in re.findall(_STRING, keep.group(1))}
    made = set(re.findall(r"(\w+)\s*=", re.search(r"stage\.labels\s*\{\s*values\s*=\s*\{([^}]*)\}",
                                                      body).group(1)))
    made |= {_alloy_string(s) for s in re.findall(r"target_label\s*=\s*" + _STRING, ALLOY)}
    assert kept <= made, kept - made
    return kept


def promtail_kept_labels() -> set[str]:
    """Per job: the labels its pipeline and relabel rules set, minus what labeldrop drops;
    the labels every job keeps."""
    per_job = []
    for job in PROMTAIL["scrape_configs"]:
        made, dropped = set(), set()
        for stage in job["pipeline_stages"]:
            made |= set(stage.get("labels") or {})
            dropped |= set(stage.get("labeldrop") or [])
        made |= {r["target_label"] for r in job.get("relabel_configs", []) if "target_label" in r}
        for sc in job.get("static_configs", []):
            made |= {k for k in sc.get("labels", {}) if not k.startswith("__")}
        per_job.append(made - dropped)
    return set.intersection(*per_job)


def test_shippers_keep_the_same_bounded_labels():
    assert alloy_kept_labels() == promtail_kept_labels() == {"service", "component", "level"}


def _dashboard():
    return json.loads((ROOT / "dashboards" / "logs.json").read_text())


def _exprs():
    for p in _dashboard()["panels"]:
        for t in p.get("targets", []):
            yield p["title"], t["expr"]


def test_logs_selectors_use_only_labels_both_shippers_keep():
    kept = alloy_kept_labels() & promtail_kept_labels()
    variables = {v["name"]: v for v in _dashboard()["templating"]["list"]}
    exprs = list(_exprs())
    assert len(exprs) == 3
    for title, expr in exprs:
        selector = re.match(r"(?:\w+ by \(\w+\) \(\w+\()?\{([^}]*)\}", expr)
        assert selector, (title, expr)
        matchers = re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', selector.group(1))
        assert matchers, (title, expr)
        labels = {name for name, _, _ in matchers}
        assert labels <= kept, (title, labels - kept)
        # Loki refuses a selector whose matchers all accept the empty string: one matcher
        # must not, with every variable at its "All" value.
        def at_all(value: str) -> str:
            return re.sub(r"\$(\w+)", lambda m: variables[m.group(1)].get("allValue") or ".*", value)
        assert any(op in ("=~", "=") and not re.fullmatch(at_all(v), "") for _, op, v in matchers), \
            (title, expr)
    # the service variable lists what Loki has under the kept `service` label
    assert variables["service"]["query"] == "label_values(service)"
    assert variables["service"]["datasource"]["uid"] == "${loki}"


def test_component_dropdown_lists_every_logged_component():
    """The app's component loggers (the SPEC's list, which exporter/logs.get_logger's
    docstring repeats) and every get_logger("...") the exporter itself calls."""
    m = re.search(r"A component logger \(([a-z, ]+), \.\.\.\)", logs.get_logger.__doc__)
    spec_components = {c.strip() for c in m.group(1).split(",")}
    assert spec_components == {"queue", "analytics", "whatsapp", "bot", "api"}
    exporter_components = {
        name for path in (ROOT / "exporter").rglob("*.py")
        for name in re.findall(r'get_logger\("([a-z_]+)"\)', path.read_text())}
    assert {"exporter", "health", "ingest", "api", "queue"} <= exporter_components
    cfg = mixin_build.evaluate(ROOT, "config")
    assert set(cfg["logComponents"]) == spec_components | exporter_components
    variable = {v["name"]: v for v in _dashboard()["templating"]["list"]}["component"]
    assert [o["value"] for o in variable["options"]] == cfg["logComponents"]

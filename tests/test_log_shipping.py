"""What Alloy and Promtail ship to Loki, read from the shipped configs themselves.

- The Logs dashboard's stream selectors use only labels both shippers keep (a selector on
  a dropped label such as `job` matches no stream, and the dashboard shows nothing).
- The component dropdown lists every component the logs carry.
- The masking stages (`stage.replace` in alloy/config.alloy, `replace` in
  promtail/promtail.yml) run on real log lines with RE2, the engine both use (Go regexp):
  no phone digit survives; timestamps, ports and durations do.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
import yaml

from exporter import logs
from tests.privacy_cases import CASES
from tools import mixin_build

try:  # google-re2 (dev extra): the RE2 engine, as Alloy's and Promtail's Go regexp
    import re2
except ImportError:  # Python's re agrees with RE2 on expressions without lookaround or
    re2 = None       # backreferences, which test_expressions_are_re2 checks

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


# --- masking ------------------------------------------------------------------------------

def alloy_stages() -> list[tuple[str, str]]:
    body = _alloy_block('loki.process "json"')
    return [(_alloy_string(e), _alloy_string(r)) for e, r in re.findall(
        r"stage\.replace\s*\{\s*expression\s*=\s*" + _STRING + r"\s*replace\s*=\s*" + _STRING, body)]


def promtail_stages(job: int) -> list[tuple[str, str]]:
    return [(s["replace"]["expression"], s["replace"]["replace"])
            for s in PROMTAIL["scrape_configs"][job]["pipeline_stages"] if "replace" in s]


def test_alloy_and_promtail_mask_alike_and_first():
    stages = alloy_stages()
    assert len(stages) == 5
    assert all(promtail_stages(j) == stages for j in range(len(PROMTAIL["scrape_configs"])))
    for job in PROMTAIL["scrape_configs"]:  # before json: the extracted fields are masked too
        kinds = [next(iter(s)) for s in job["pipeline_stages"]]
        assert kinds[:5] == ["replace"] * 5, kinds
    body = _alloy_block('loki.process "json"')
    assert body.rindex("stage.replace") < body.index("stage.json")


def _apply(expression: str, replace: str, line: str) -> str:
    """Promtail's and Alloy's replace stage (getReplacedEntry): every capture group that
    took part in a match is replaced by `replace`; the text around it stays."""
    assert "{{" not in replace  # a literal, not a template
    rx = (re2 or re).compile(expression)
    out, prev = [], 0
    for m in rx.finditer(line):
        for g in range(1, rx.groups + 1):
            if m.start(g) == -1:
                continue
            out.append(line[prev:m.start(g)] + replace)
            prev = m.end(g)
    return "".join(out) + line[prev:] if out else line


def ship(line: str) -> str:
    for expression, replace in alloy_stages():
        line = _apply(expression, replace, line)
    return line


def test_expressions_are_re2():
    for expression, _ in alloy_stages():
        if re2:
            re2.compile(expression)
        assert not re.search(r"\(\?<?[=!]|\\[1-9]", expression), expression


def _bot_line(msg: str, **fields) -> str:
    """A line as the bot writes it (JSON, unmasked)."""
    return json.dumps({"time": "2026-11-30T11:34:56.123Z", "level": "info", "service": "whatsapp-bot",
                       "component": "whatsapp", "msg": msg, **fields}, ensure_ascii=False)


_SKIP = {"fullwidth digits", "lone surrogate"}  # RE2's \d is ASCII; a surrogate is no UTF-8


@pytest.mark.parametrize("case", [c for c in CASES if c.shape not in _SKIP], ids=lambda c: c.shape)
def test_privacy_cases_in_a_bot_line(case):
    """Each shape of tests/privacy_cases.py inside a bot's JSON line: what the exporter masks,
    the shipper masks too (whole phone numbers, where the exporter keeps the last four);
    what the exporter keeps, the shipper keeps."""
    shipped = ship(_bot_line(f"value {case.value} end"))
    got = json.loads(shipped)
    expected = re.sub(r"\*\*\*\d{4}", "***", case.logged)
    assert got["msg"] == f"value {expected} end"
    assert got["time"] == "2026-11-30T11:34:56.123Z"


BOT_LINES = [
    (_bot_line("message sent to +34600123456", to="34600123456@s.whatsapp.net", duration_ms=182),
     _bot_line("message sent to ***", to="***@s.whatsapp.net", duration_ms=182)),
    (_bot_line("lead captured", phone="+34 600 12 34 56", wa_id="34600123456", status=200),
     _bot_line("lead captured", phone="***", wa_id="***", status=200)),
    (_bot_line("webhook from wa_34600123456 took 250 ms via 10.0.0.5:6379"),
     _bot_line("webhook from wa_*** took 250 ms via 10.0.0.5:6379")),
    (_bot_line("graph api call", url="https://graph.facebook.com/v18.0/me?access_token=EAAGm0PX4Z",
               latency_seconds=0.125),
     _bot_line("graph api call", url="https://graph.facebook.com/v18.0/me?access_token=***",
               latency_seconds=0.125)),
    (_bot_line('login {"password": "hunter2", "user": "ana"}'),
     _bot_line('login {"password": "***", "user": "ana"}')),
    (_bot_line("redis connect redis://default:s3cr3t@redis:6379/0 on port 6379 at 2026-11-30 11:34:56,123"),
     _bot_line("redis connect redis://default:***@redis:6379/0 on port 6379 at 2026-11-30 11:34:56,123")),
    (_bot_line("call (+34) 600 123 456 or +1 (212) 555-0100, job 1764502496123-0, 1048576 bytes"),
     _bot_line("call *** or ***, job 1764502496123-0, 1048576 bytes")),
    (_bot_line("status read", message_id="wamid.HBgLMzQ2MDAxMjM0NTYVAgARGBI", group="120363025246125486@g.us"),
     _bot_line("status read", message_id="wamid.***", group="***@g.us")),
]


@pytest.mark.parametrize("line,expected", BOT_LINES, ids=range(len(BOT_LINES)))
def test_bot_lines_are_masked(line, expected):
    shipped = ship(line)
    assert shipped == expected
    json.loads(shipped)  # still JSON: the pipeline's json stage parses it next
    assert not re.search(r"\d{5,}", re.sub(r"\d{13}-\d+|\d+ bytes", "", shipped.replace(
        "2026-11-30", ""))), shipped


def test_exporter_lines_pass_unchanged():
    """The exporter masks its own lines (last four digits kept): shipping leaves them alone."""
    import io
    stream = io.StringIO()
    logs.setup("info", "anclora-exporter", stream=stream)
    try:
        log = logs.get_logger("ingest")
        log.warning("event from +34600123456 (34600123456@s.whatsapp.net) token=abc123 took 12 ms",
                    extra={"redis": "10.0.0.5:6379", "entry": "1764502496123-0", "seconds": 0.25})
    finally:
        logging.getLogger(logs.ROOT).handlers.clear()
    line = stream.getvalue().strip()
    assert "***3456" in line and "***3456@s.whatsapp.net" in line and "token=***" in line
    assert ship(line) == line

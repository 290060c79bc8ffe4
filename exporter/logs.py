"""Structured JSON logs for Loki: one object per line, seven levels, secrets masked.

Levels follow the user's seed (fatal 0 ... trace 6) and map onto Python's numeric levels
so the standard ``logging`` machinery does the filtering. Every message and every extra
field passes through ``mask`` before it is written: phone numbers and WhatsApp ids keep
their last four digits (written any way, even glued to a word), tokens and passwords
disappear, dates, addresses and measurements stay readable. Component loggers: ``get_logger("queue")``.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import re
import sys
import time
from typing import Any

# name -> (seed number, Python level)
LEVELS: dict[str, tuple[int, int]] = {
    "fatal": (0, 50), "error": (1, 40), "warn": (2, 30), "info": (3, 20),
    "http": (4, 15), "debug": (5, 10), "trace": (6, 5),
}
_PY_TO_NAME = {py: name for name, (_, py) in LEVELS.items()}
HTTP = LEVELS["http"][1]  # the level of the access log (http.log)

for _name, (_, _py) in LEVELS.items():
    logging.addLevelName(_py, _name)

# What ``mask`` rewrites, in one pass over the text; at each position the first
# alternative that matches wins, so secrets and known harmless shapes are decided before
# the phone rule looks at their digits.
#   secret   the value after token=, password:, api_key=, "access_token": "...", bearer
#   urlpw    the password of scheme://user:password@host
#   wamid    a WhatsApp message id (the recipient's number, base64-encoded)
#   jid      the local part of a WhatsApp JID (number@s.whatsapp.net, @c.us, @g.us, @lid)
#   safe     kept as they are: dates and times (ISO, Python's, dd/mm/yyyy), IPv4 with a
#            port, UUIDs, Redis stream ids (13-digit ms time + -seq), decimals, numbers
#            with a byte or sub-second unit (268435456 bytes, 1500000 ms)
#   phone    9+ digits (8+ after a +), contiguous or in groups of 2-4 digits split by
#            one space . - / or parentheses, with an optional country code first
#            ("(+34) 600 12 34 56", "+1 (212) 555-0100"). Letters may touch it on either
#            side (wa_34600123456, phone34600123456, +34600123456x); a digit may not.
#   surrogate  a lone UTF-16 surrogate, which no log file can encode: U+FFFD
# Known over-masking, on the safe side: a bare 9+ digit number in text (a Unix time, a
# byte count without its unit, "100 200 300") keeps only its last four digits. Log
# numbers as numeric extra fields: ``mask`` leaves non-strings alone.
_MASKED = re.compile("|".join((
    r"(?P<secret_key>(?i:(?<![A-Za-z])(?:bearer\s+|(?:access_?token|api_?key|token|password"
    r"|passwd|pwd|secret|authorization)[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?)))"
    r"(?P<secret>[^\s\"',;&]+)",
    r"(?P<urlpw_pre>://[^/\s:@]*:)(?P<urlpw>[^/\s@]+)(?=@)",
    r"(?P<wamid>(?i:wamid)\.[A-Za-z0-9_\-=+/]+)",
    # Tried only where a run of such characters starts, and at most 64 long: tried at
    # every position, a long run without "@" cost quadratic time (16 KB of "a1a1..." in
    # one log field held the event loop for 3 s).
    r"(?<![\w.+\-])(?P<jid>[\w.+\-]{1,64})@(?P<jid_server>s\.whatsapp\.net|c\.us|g\.us|lid"
    r"|broadcast|newsletter)\b",
    r"(?P<safe>\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:[.,]\d+)?)?"
    r"|\d{2}[/.\-]\d{2}[/.\-]\d{4}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?"
    r"|(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.])(?::\d+)?"
    r"|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"|\d{13}-\d+"
    r"|\d+\.\d+(?![.\d])"
    r"|\d+\s?(?:bytes?|[KMGT]i?B|ms|µs|us|ns)\b)",
    r"(?P<phone>(?<![\d+])(?<!\d[ .\-/])(?:\+?\d{9,}"
    r"|(?:\(\+?\d{1,4}\)|\+?\d{1,4})(?:[ .\-/]?\(?\d{2,4}\)?){2,6})(?![ .\-/]?\d))",
    r"(?P<surrogate>[\ud800-\udfff])",
)))
_SECRET_KEYS = re.compile(r"(?i)(token|password|passwd|secret|authorization|api_?key|cookie)")


def _last4(text: str) -> str:
    return "***" + "".join(ch for ch in text if ch.isdigit())[-4:]


def _masked(m: re.Match) -> str:
    kind = m.lastgroup
    if kind == "secret":
        return m.group("secret_key") + "***"
    if kind == "urlpw":
        return m.group("urlpw_pre") + "***"
    if kind == "wamid":
        return "wamid.***"
    if kind == "jid_server":
        return _last4(m.group("jid")) + "@" + m.group("jid_server")
    if kind == "phone":
        text = m.group(0)
        digits = sum(ch.isdigit() for ch in text)
        return _last4(text) if digits >= (8 if "+" in text else 9) else text
    if kind == "surrogate":
        return "\ufffd"
    return m.group(0)  # safe


def mask(value: Any) -> Any:
    """Mask phone numbers, WhatsApp ids and secrets in a string, or recursively in a
    dict/list (see ``_MASKED`` for what is masked and what is kept)."""
    if isinstance(value, str):
        return _MASKED.sub(_masked, value)
    if isinstance(value, dict):
        return {k: ("***" if isinstance(k, str) and _SECRET_KEYS.search(k) else mask(v))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask(v) for v in value]
    return value


_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        level = _PY_TO_NAME.get(record.levelno, record.levelname.lower())
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": level,
            "severity": LEVELS.get(level, (3, 0))[0],
            "service": self.service,
            "component": getattr(record, "component", None) or record.name.rpartition(".")[2],
            "msg": mask(record.getMessage()),
        }
        for key, val in record.__dict__.items():
            if key not in _RESERVED and key not in out and not key.startswith("_"):
                out[key] = mask(val) if not _SECRET_KEYS.search(key) else "***"
        if record.exc_info:
            out["error"] = mask(self.formatException(record.exc_info))
        return json.dumps(out, default=str, ensure_ascii=False)


class _LevelRange(logging.Filter):
    def __init__(self, lo: int, hi: int):
        super().__init__()
        self.lo, self.hi = lo, hi

    def filter(self, record: logging.LogRecord) -> bool:
        return self.lo <= record.levelno <= self.hi


ROOT = "anclora"


def setup(level: str = "info", service: str = "whatsapp-bot", log_dir: str = "",
          stream=None) -> logging.Logger:
    """Configure the ``anclora`` logger tree once; safe to call again (replaces handlers)."""
    root = logging.getLogger(ROOT)
    root.setLevel(LEVELS[level][1])
    root.propagate = False
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    fmt = JsonFormatter(service)
    out = logging.StreamHandler(stream or sys.stdout)
    out.setFormatter(fmt)
    root.addHandler(out)
    if log_dir:
        os.makedirs(log_dir, exist_ok=True)
        # (file, days kept, level range): all 14 d, errors 30 d, http 7 d, as the seed asks.
        for name, days, lo, hi in (("all.log", 14, 0, 100), ("error.log", 30, LEVELS["error"][1], 100),
                                   ("http.log", 7, HTTP, HTTP)):
            fh = logging.handlers.TimedRotatingFileHandler(
                os.path.join(log_dir, name), when="midnight", backupCount=days, utc=True,
                encoding="utf-8")
            fh.setFormatter(fmt)
            fh.addFilter(_LevelRange(lo, hi))
            root.addHandler(fh)
    return root


def get_logger(component: str) -> logging.Logger:
    """A component logger (queue, analytics, whatsapp, bot, api, ...)."""
    return logging.getLogger(f"{ROOT}.{component}")


class RateLimitedLog:
    """Logs a given key at most once per ``interval`` seconds; counts what it held back."""

    def __init__(self, logger: logging.Logger, interval: float = 60.0):
        self.logger, self.interval = logger, interval
        self._last: dict[str, float] = {}
        self.suppressed: dict[str, int] = {}

    def warning(self, key: str, msg: str, **fields: Any) -> bool:
        now = time.monotonic()
        if now - self._last.get(key, -1e18) < self.interval:
            self.suppressed[key] = self.suppressed.get(key, 0) + 1
            return False
        self._last[key] = now
        held = self.suppressed.pop(key, 0)
        self.logger.warning(msg, extra={**fields, "suppressed": held} if held else fields)
        return True

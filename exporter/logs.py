"""Structured JSON logs for Loki: one object per line, seven levels, secrets masked.

Levels follow the user's seed (fatal 0 ... trace 6) and map onto Python's numeric levels
so the standard ``logging`` machinery does the filtering. Every message and every extra
field passes through ``mask`` before it is written: phone numbers keep their last four
digits, tokens and passwords disappear. Component loggers: ``get_logger("queue")``.
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
COMPONENTS = ("queue", "analytics", "whatsapp", "bot", "api", "exporter", "ingest", "health")
HTTP, TRACE = LEVELS["http"][1], LEVELS["trace"][1]

for _name, (_, _py) in LEVELS.items():
    logging.addLevelName(_py, _name)

# A phone number: 9-15 digits, optionally with +, spaces, dots or dashes between groups.
_PHONE = re.compile(r"(?<![\w])\+?\d(?:[\s.\-]?\d){8,14}(?!\w)")
_SECRET_PAIR = re.compile(
    r"(?i)\b(bearer\s+|(?:access_?token|api_?key|token|password|passwd|secret|authorization)"
    r"[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?)([^\s\"',;&]+)")
_SECRET_KEYS = re.compile(r"(?i)(token|password|passwd|secret|authorization|api_?key|cookie)")


def _mask_phone(m: re.Match) -> str:
    digits = re.sub(r"\D", "", m.group(0))
    return "***" + digits[-4:]


def mask(value: Any) -> Any:
    """Mask phone numbers and secrets in a string, or recursively in a dict/list."""
    if isinstance(value, str):
        value = _SECRET_PAIR.sub(lambda m: m.group(1) + "***", value)
        return _PHONE.sub(_mask_phone, value)
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

"""The WhatsApp platforms' state, read from Redis on every scrape (collect-on-scrape).

Webhooks (and the Graph API poll) write it (``ingest/webhook_state.py``); this collector
publishes it, so every replica shows the same numbers, templates and connections, and a
restarted exporter shows them at once:
- ``whatsapp_messaging_limit``, ``whatsapp_quality_flagged``, ``whatsapp_quality_rating``
  per Meta phone number. A quality webhook names the number by its display number only:
  it is published under the phone_number_id a ``messages`` webhook (or the poll) paired
  with that display number, ``unknown`` until one did. Newest value wins per number;
- ``whatsapp_template_status``: 1 for each status a template has now (in any language),
  0 for those it had before;
- ``whatsapp_instance_connected`` per Evolution instance (1 only for open) and
  ``whatsapp_active_instances``, the instances open. Once the app has reported
  ``active_instances`` itself, its figure is the one published (one series, not two).
"""

from __future__ import annotations

from typing import Callable

from redis.exceptions import RedisError

from ..labels import INSTANCE_KIND, label_value
from ..metrics import OTHER, gauge
from ..scrape import PartialScrape
from ..ingest.webhook_state import Snapshot, WebhookState

UNKNOWN = "unknown"


def _number_label(field: str, numbers: dict[str, str]) -> str:
    """``i:<id>`` or ``d:<hash of a display number>`` -> the phone_number_id label."""
    kind, _, rest = field.partition(":")
    raw = rest if kind == "i" else numbers.get(rest)
    if raw is None:
        return UNKNOWN
    return label_value(raw, INSTANCE_KIND) or OTHER


def _newest(timed: dict[str, tuple[float, str]], numbers: dict[str, str]) -> dict[str, str]:
    best: dict[str, tuple[float, str]] = {}
    for field, (at, value) in timed.items():
        label = _number_label(field, numbers)
        if label not in best or at > best[label][0]:
            best[label] = (at, value)
    return {label: value for label, (_, value) in best.items()}


def families(snap: Snapshot, namespace: str, app_reports_instances: bool) -> list:
    """The metric families a snapshot publishes (pure: unit-tested on literal snapshots)."""
    out = []
    limits = _newest(snap.limit, snap.numbers)
    if limits:
        out.append(gauge("whatsapp_messaging_limit", namespace,
                         (((n,), float(v)) for n, v in sorted(limits.items()))))
    flagged = _newest(snap.flagged, snap.numbers)
    if flagged:
        out.append(gauge("whatsapp_quality_flagged", namespace,
                         (((n,), float(v)) for n, v in sorted(flagged.items()))))
    ratings = _newest(snap.rating, snap.numbers)
    if ratings:
        out.append(gauge("whatsapp_quality_rating", namespace,
                         (((n, r), 1.0) for n, r in sorted(ratings.items()))))
    current: dict[str, set[str]] = {}
    for _, value in snap.template.values():
        name, _, status = value.partition("|")
        current.setdefault(name, set()).add(status)
    if current:
        series = {(n, s): 1.0 for n, statuses in current.items() for s in statuses}
        for seen in snap.template_seen:
            name, _, status = seen.partition("|")
            series.setdefault((name, status), 0.0)
        out.append(gauge("whatsapp_template_status", namespace, sorted(series.items())))
    connected: dict[str, float] = {}
    open_ = 0
    for _, value in snap.instance.values():
        name, _, state = value.partition("|")
        up = 1.0 if state == "open" else 0.0
        open_ += int(up)
        connected[name] = max(connected.get(name, 0.0), up)
    if connected:
        out.append(gauge("whatsapp_instance_connected", namespace,
                         (((n,), v) for n, v in sorted(connected.items()))))
        if not app_reports_instances:
            out.append(gauge("whatsapp_active_instances", namespace, [((), float(open_))]))
    return out


class WhatsAppCollector:
    name = "whatsapp"

    def __init__(self, state: WebhookState, namespace: str,
                 app_reports_instances: Callable[[], bool]):
        self.state, self.ns = state, namespace
        self.app_reports_instances = app_reports_instances
        self._app_reported = False  # sticky: the app's figure, once seen, is the one

    async def collect(self):
        self._app_reported = self._app_reported or self.app_reports_instances()
        try:
            snap = await self.state.read()
        except (RedisError, OSError) as e:
            raise PartialScrape(f"redis unreachable: {type(e).__name__}", []) from e
        return families(snap, self.ns, self._app_reported)

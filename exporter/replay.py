"""``python -m exporter replay FILE... [--url URL]``: post recorded webhooks to an exporter.

Each file holds one webhook as JSON (posted byte for byte) or a JSON array of them (each
posted on its own). A Meta webhook (``"object": "whatsapp_business_account"``) is signed
with ANCLORA_META_APP_SECRET (``X-Hub-Signature-256``) and posted to /webhooks/meta; an
Evolution one (``event`` and ``instance``) carries ANCLORA_EVOLUTION_WEBHOOK_TOKEN and goes
to /webhooks/evolution. The secrets are read as the exporter reads them (``*_FILE`` too).
One line per webhook: the file, its index, where it went, the answer. Exit 0 when every
answer was 2xx. A replayed status already counted is counted no more (the dedupe), so
replaying a day of recorded webhooks into a running exporter is safe.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

from .config import Config
from .ingest import meta


def _target(doc: object, cfg: Config) -> tuple[str, dict] | str:
    """(path, headers) for one webhook, or why it cannot be sent."""
    if isinstance(doc, dict) and doc.get("object") == meta.OBJECT:
        if not cfg.meta_app_secret:
            return "a Meta webhook, but ANCLORA_META_APP_SECRET is not set: cannot sign it"
        return "/webhooks/meta", {}
    if isinstance(doc, dict) and "event" in doc and "instance" in doc:
        if not cfg.evolution_webhook_token:
            return "an Evolution webhook, but ANCLORA_EVOLUTION_WEBHOOK_TOKEN is not set"
        return "/webhooks/evolution", {"Authorization": f"Bearer {cfg.evolution_webhook_token}"}
    return "neither a Meta nor an Evolution webhook"


def _post(url: str, body: bytes, headers: dict, timeout: float) -> int:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def replay(files: list[str], url: str, cfg: Config, out=sys.stdout, timeout: float = 30) -> int:
    ok = True
    for path in files:
        try:
            with open(path, "rb") as f:
                raw = f.read()
            doc = json.loads(raw)
        except (OSError, ValueError) as e:
            print(f"{path}: cannot read it ({getattr(e, 'strerror', None) or 'not JSON'})",
                  file=out)
            ok = False
            continue
        webhooks = [(json.dumps(d).encode(), d) for d in doc] if isinstance(doc, list) \
            else [(raw, doc)]
        for i, (body, webhook) in enumerate(webhooks):
            target = _target(webhook, cfg)
            if isinstance(target, str):
                print(f"{path}[{i}]: not sent: {target}", file=out)
                ok = False
                continue
            where, headers = target
            if where == "/webhooks/meta":
                headers = {meta.SIGNATURE_HEADER: meta.signature(cfg.meta_app_secret, body)}
            try:
                status = _post(url.rstrip("/") + where, body, headers, timeout)
            except OSError as e:
                print(f"{path}[{i}]: {where}: not sent ({getattr(e, 'reason', e)})", file=out)
                ok = False
                continue
            print(f"{path}[{i}]: {where}: {status}", file=out)
            ok = ok and 200 <= status < 300
    return 0 if ok else 1

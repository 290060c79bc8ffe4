"""What may become a metric label value: ``label_value(raw)`` decides, for every metric.

A label value is sent to every scraper, stored for the retention period and copied into
alerts, so it must be public and bounded. The rule is deliberately stricter than the log
masker (``logs.mask``), which rewrites private parts and keeps the rest readable: here a
doubtful value is refused whole (the caller folds it into ``other`` and counts it).

Refused:
- phone numbers in any writing: 7 or more digits (any script's digits) separated by at
  most two of space . - ( ) / _ + , so E.164, 00-prefixed, national (600 12 34 56),
  wa_ids and numbers glued to words (``phone34600123456``) all match;
- anything with ``@``: WhatsApp JIDs (``@s.whatsapp.net``, ``@c.us``, ``@g.us``, ``@lid``),
  emails, URLs with credentials;
- WhatsApp message ids (``wamid.``: the recipient's number in base64), UUIDs, hex ids of
  16+ characters, runs of 20+ letters and digits mixed (tokens, opaque ids), JWTs;
- secrets: ``token=``, ``password:``, ``api_key=`` and the like, ``authorization``,
  ``bearer ...``;
- control and invisible formatting characters (line breaks, bidi overrides, zero-width),
  and lone surrogates: not encodable as UTF-8, one such value would make every later
  scrape fail;
- more than 64 characters.

Kept: ``messages``, ``/api/leads/:id``, ``200``, ``POST``, ``v18.0``, ``campaign_2026_q4``,
``utf8 café``, ``127.0.0.1:6379``. The table of shapes both rules are tested on is
``tests/privacy_cases.py``.

A label that must carry a documented identifier is marked with its kind in the catalog
(``MetricSpec.label_kinds``) and checked by that kind's rule (``KINDS``), never by loosening
this one. One kind today, ``instance``: the WhatsApp instance, an app's or Evolution's
instance name (this rule) or Meta's ``phone_number_id``, an id of all digits that this
rule refuses. It is admitted only in a shape no phone number has: 15 to 17 digits and a
leading 1. E.164 numbers have at most 15 digits, and those starting with 1 are NANP
numbers, exactly 11 digits; wa_ids are E.164 digits. So ``106540352242922`` (an id, as
in Meta's docs) passes while ``15550783881`` (its display number) and ``+1 555 078 3881``
never do. Meta's ids have this shape today; an id of another shape is folded into
``other`` (counted), never published.
"""

from __future__ import annotations

import re

MAX_LEN = 64

# One pattern, one search: this runs once per new (metric, label, value), not per event.
_REFUSED = re.compile("|".join((
    r"\d(?:[\s.\-()/_+]{0,2}\d){6,}",                       # phone numbers, long digit runs
    r"@",                                                   # JIDs, emails, user:pass@host
    r"(?i:wamid\.)",                                        # WhatsApp message ids
    r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}",  # UUID
    r"(?<![0-9A-Za-z])(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{16,}",  # hex id
    r"(?<![0-9A-Za-z])(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{20,}",  # token
    r"eyJ[\w-]{4,}\.",                                      # JWT header
    r"(?i:(?:token|passw(?:or)?d|pwd|secret|api[_-]?key|apikey|credential|cookie|session)"
    r"s?[\"']?\s*[:=])",                                    # key=value secrets
    r"(?i:authori[sz]ation|\bbearer\s|\bbasic\s+[A-Za-z0-9+/=]{8})",
    # C0/C1 controls, zero-width and bidi formatting, line/paragraph separators, surrogates
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]",
)))


def refusal(raw: str) -> str | None:
    """Why ``raw`` may not be a label value (the matching text), or None when it may."""
    if len(raw) > MAX_LEN:
        return "too long"
    m = _REFUSED.search(raw)
    return None if m is None else m.group(0)


_META_ID = re.compile(r"1[0-9]{14,16}")
INSTANCE_KIND = "instance"
# kind -> the extra shape admitted for it (besides what ``refusal`` lets through)
KINDS = {INSTANCE_KIND: _META_ID.fullmatch}


def label_value(raw: object, kind: str | None = None) -> str | None:
    """``raw`` as a label value, or None when it must never be published (see module doc).
    ``kind``: the label's kind from the catalog (``KINDS``), or None for the plain rule."""
    v = "" if raw is None else str(raw)
    if refusal(v) is None or (kind is not None and KINDS[kind](v)):
        return v
    return None

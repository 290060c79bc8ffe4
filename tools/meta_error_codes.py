"""What each Meta error code of ``catalog.META_ERROR_CODES`` means, for the dashboards and
alerts: ``python -m tools.build`` writes ``mixin/lib/meta_error_codes.json`` from
``MEANINGS``, and the mixin reads that file (legends, the failures table's value mapping,
the text of WhatsAppFailureCodeSpike). A tool of the repository, not of the exporter.

Titles as Meta's "Cloud API error codes" page gives them (WhatsApp Business Platform
docs), shortened to fit a legend. tests/mixin/test_dashboards.py checks that the codes
are exactly the catalog's.
"""

from __future__ import annotations

import json

MEANINGS: dict[str, str] = {
    # Authorization, permissions, the Graph API itself
    "0": "Authentication failed",
    "1": "API unknown error",
    "2": "API service temporarily unavailable",
    "3": "API method: capability or permission missing",
    "4": "Too many API calls (app rate limit)",
    "10": "Permission denied",
    "33": "Business phone number deleted",
    "100": "Invalid parameter",
    "190": "Access token expired",
    "200": "API permission missing",
    # Policy and throughput
    "368": "Temporarily blocked for policy violations",
    "470": "Re-engagement window closed (legacy)",
    "80007": "WhatsApp Business Account rate limit",
    "130429": "Throughput rate limit hit",
    "130472": "Recipient in a Meta experiment",
    "130497": "Messaging to this country restricted",
    # Messages
    "131000": "Something went wrong",
    "131005": "Access denied",
    "131008": "Required parameter missing",
    "131009": "Parameter value not valid",
    "131016": "Service unavailable",
    "131021": "Recipient cannot be sender",
    "131026": "Message undeliverable",
    "131031": "Business account locked",
    "131037": "Display name needs approval",
    "131042": "Business payment issue",
    "131045": "Phone number not registered (certificate)",
    "131047": "Re-engagement window closed (24h)",
    "131048": "Spam rate limit hit",
    "131049": "Not delivered: marketing frequency cap",
    "131050": "Recipient stopped marketing messages",
    "131051": "Unsupported message type",
    "131052": "Media download error",
    "131053": "Media upload error",
    "131056": "Pair rate limit hit (same recipient)",
    "131057": "Account in maintenance mode",
    # Templates and flows
    "132000": "Template parameter count mismatch",
    "132001": "Template does not exist",
    "132005": "Template text too long",
    "132007": "Template format policy violated",
    "132012": "Template parameter format mismatch",
    "132015": "Template paused",
    "132016": "Template disabled",
    "132068": "Flow blocked",
    "132069": "Flow throttled",
    # Registration
    "133000": "Incomplete deregistration",
    "133004": "Server temporarily unavailable",
    "133005": "Two-step verification PIN mismatch",
    "133006": "Phone number needs re-verification",
    "133008": "Too many two-step PIN guesses",
    "133009": "Two-step PIN guessed too fast",
    "133010": "Phone number not registered",
    "133015": "Wait before registering this number",
    "135000": "Generic user error",
    # The exporter's own bucket for a code missing from this list
    "other": "Undocumented code",
}


def as_json() -> str:
    """The file the mixin imports: {code: meaning}, in the catalog's order."""
    return json.dumps(MEANINGS, indent=2) + "\n"

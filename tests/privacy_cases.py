"""One table of private and harmless text shapes, read by both privacy tests.

Each case says whether the value may become a metric label value (``metrics.label_value``)
and what the log masker (``logs.mask``) turns it into. The two rules differ on purpose:
a label is published to every scraper and kept for weeks, so anything doubtful is refused;
a log line must stay useful to whoever debugs, so only what is private is rewritten.
"""

from __future__ import annotations

from typing import NamedTuple


class Case(NamedTuple):
    value: str
    shape: str          # what the value is, for test ids
    label_ok: bool      # may be published as a label value, unchanged
    logged: str         # what logs.mask makes of it
    # may be an ``instance_name`` (labels.KINDS["instance"]: also Meta's phone_number_id);
    # None: as label_ok
    instance_ok: bool | None = None

    @property
    def as_instance(self) -> bool:
        return self.label_ok if self.instance_ok is None else self.instance_ok


CASES: tuple[Case, ...] = (
    # --- phone numbers, every common way of writing them -------------------------------
    Case("+34600123456", "e164", False, "***3456"),
    Case("34600123456", "e164 without plus", False, "***3456"),
    Case("0034600123456", "international 00 prefix", False, "***3456"),
    Case("+34 600 123 456", "spaces", False, "***3456"),
    Case("+34-600-123-456", "dashes", False, "***3456"),
    Case("+34.600.123.456", "dots", False, "***3456"),
    Case("(+34) 600 123 456", "country code in parentheses", False, "***3456"),
    Case("+34 600 12 34 56", "pairs", False, "***3456"),
    Case("+1 (212) 555-0100", "us format", False, "***0100"),
    Case("600123456", "national", False, "***3456"),
    Case("600 12 34 56", "national pairs", False, "***3456"),
    Case("600 123 456", "national triples", False, "***3456"),
    Case("\uff13\uff14\uff16\uff10\uff10\uff11\uff12\uff13\uff14\uff15\uff16", "fullwidth digits",
         False, "***\uff13\uff14\uff15\uff16"),
    # embedded in words: no non-word character on either side
    Case("wa_34600123456", "wa_id", False, "wa_***3456"),
    Case("phone34600123456", "glued to a word", False, "phone***3456"),
    Case("+34600123456x", "word after", False, "***3456x"),
    Case("user_600123456_optin", "inside an identifier", False, "user_***3456_optin"),
    # WhatsApp JIDs: the whole local part is private, digits or not
    Case("34600123456@s.whatsapp.net", "jid", False, "***3456@s.whatsapp.net"),
    Case("34600123456@c.us", "jid c.us", False, "***3456@c.us"),
    Case("120363025246125486@g.us", "group jid", False, "***5486@g.us"),
    Case("34600123456-1600000000@g.us", "old group jid", False, "***0000@g.us"),
    Case("201112223334445@lid", "lid jid", False, "***4445@lid"),
    # a WhatsApp message id is the recipient's number in base64
    Case("wamid.HBgLMzQ2MDAxMjM0NTYVAgARGBI", "message id", False, "wamid.***"),
    # --- Meta's ids: a phone_number_id is no phone number (15-17 digits, leading 1: no
    # E.164 number has that shape), its display number is one ------------------------------
    Case("106540352242922", "meta phone_number_id", False, "***2922", instance_ok=True),
    Case("1906385232743451", "meta 16-digit id", False, "***3451", instance_ok=True),
    Case("15550783881", "meta display_phone_number", False, "***3881"),
    Case("+1 555-078-3881", "display number written out", False, "***3881"),
    Case("123456123", "meta docs placeholder id", False, "***6123"),
    Case("346001234567890", "15 digits, not a leading 1", False, "***7890"),
    Case("4111111111111111", "card-like 16 digits", False, "***1111"),
    Case("1065403522429221234", "19 digits", False, "***1234"),
    Case("wa_106540352242922", "id glued to a word", False, "wa_***2922"),
    # --- secrets -----------------------------------------------------------------------
    Case("token=abc123def456", "token pair", False, "token=***"),
    Case("password=hunter2hunter2", "password pair", False, "password=***"),
    Case("api_key=k3y", "api key pair", False, "api_key=***"),
    Case("x_token=abc", "prefixed token pair", False, "x_token=***"),
    Case("secret: s3cr3t", "secret colon", False, "secret: ***"),
    Case('"access_token": "EAAGabc"', "json token", False, '"access_token": "***"'),
    Case("Authorization: Bearer abc.def.ghi", "authorization header", False,
         "Authorization: Bearer ***"),
    Case("bearer abc.def", "bearer", False, "bearer ***"),
    Case("redis://default:hunter2@redis:6379/0", "url with password", False,
         "redis://default:***@redis:6379/0"),
    # --- other values that are unbounded or unsafe as labels; harmless in a log ---------
    Case("ana@example.com", "email", False, "ana@example.com"),
    Case("550e8400-e29b-41d4-a716-446655440000", "uuid", False,
         "550e8400-e29b-41d4-a716-446655440000"),
    Case("EAAGm0PX4ZCpsBAKZCZBm9X7", "opaque token", False, "EAAGm0PX4ZCpsBAKZCZBm9X7"),
    Case("d41d8cd98f00b204e980", "hex id", False, "d41d8cd98f00b204e980"),
    Case("line\nbreak", "control character", False, "line\nbreak"),
    Case("tab\there", "tab", False, "tab\there"),
    Case("evil\u202etxt", "bidi override", False, "evil\u202etxt"),
    Case("zero\u200bwidth", "zero width space", False, "zero\u200bwidth"),
    Case("x" * 65, "too long", False, "x" * 65),
    # a lone surrogate cannot be encoded as UTF-8: as a label it breaks every later scrape,
    # in a log line it would break the handler; the masker writes U+FFFD instead
    Case("bad\ud800", "lone surrogate", False, "bad\ufffd"),
    # --- numbers a log line needs, not phone numbers ------------------------------------
    Case("2026-11-30T11:34:56Z", "iso timestamp", False, "2026-11-30T11:34:56Z"),
    Case("2026-11-30 11:34:56,123", "python log timestamp", False, "2026-11-30 11:34:56,123"),
    Case("30/11/2026 11:34", "european date", False, "30/11/2026 11:34"),
    Case("127.0.0.1:6379", "address and port", True, "127.0.0.1:6379"),
    Case("192.168.100.200", "ipv4", False, "192.168.100.200"),
    Case("1048576 bytes", "byte count", False, "1048576 bytes"),
    Case("268435456 bytes", "large byte count", False, "268435456 bytes"),
    Case("1764502496123-0", "stream entry id", False, "1764502496123-0"),
    Case("123456.789012", "decimal", False, "123456.789012"),
    Case("0.005 0.01 0.025", "bucket list", False, "0.005 0.01 0.025"),
    # --- ordinary label values ---------------------------------------------------------
    Case("messages", "word", True, "messages"),
    Case("/api/leads/:id", "route", True, "/api/leads/:id"),
    Case("200", "status code", True, "200"),
    Case("3", "small number", True, "3"),
    Case("POST", "method", True, "POST"),
    Case("v18.0", "api version", True, "v18.0"),
    Case("text", "message type", True, "text"),
    Case("campaign_2026_q4", "campaign", True, "campaign_2026_q4"),
    Case("utf8 caf\u00e9", "accented", True, "utf8 caf\u00e9"),
    Case("sales-1", "instance", True, "sales-1"),
    Case("book_viewing", "intent", True, "book_viewing"),
    Case("x" * 64, "64 characters", True, "x" * 64),
    Case("1234567", "seven digit count", False, "1234567"),
)

LABEL_OK = [c for c in CASES if c.label_ok]
LABEL_REFUSED = [c for c in CASES if not c.label_ok]
INSTANCE_OK = [c for c in CASES if c.as_instance]
INSTANCE_REFUSED = [c for c in CASES if not c.as_instance]

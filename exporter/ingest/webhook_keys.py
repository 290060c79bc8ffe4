"""Every Redis key the WhatsApp webhooks use, and the keyed hash that names them.

Message ids, chats (wa_ids, JIDs), business display numbers and instance names can all
hold a phone number (Meta's ``wamid.`` is the recipient's number in base64; Evolution's
``remoteJid`` is ``<number>@s.whatsapp.net``), so none is ever written to Redis in clear:
each becomes ``hash(kind, value)``, a BLAKE2b keyed with ANCLORA_WEBHOOK_SALT (by default
derived from the app secret and the Evolution token). The key lives in the exporter's
configuration, never in Redis: someone who can read Redis cannot test candidate numbers
against the hashes. Replicas share the configuration, hence the hashes.

Layout (prefix ``anclora:wh:``):
  m:<h>        hash, per message: one field per status counted (``s``, ``d``, ``r``,
               ``f``, ``i`` received, ``o`` sent by us); expires ANCLORA_WEBHOOK_DEDUP_SECONDS
               after its last status
  v:<h>        hash, per Meta conversation (CBP): field ``b`` once it was billed
  c:<h>        string, per chat: when its oldest unanswered inbound message arrived;
               expires ANCLORA_RESPONSE_WINDOW_SECONDS
  numbers      hash: <h of a business display number> -> its phone_number_id
  state:<name> hashes of the platform's state (webhook_state.py)
  poll         the Graph API poll's lock (one replica polls per interval)
"""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "anclora:wh:"
NUMBERS = PREFIX + "numbers"
POLL_LOCK = PREFIX + "poll"


def derive_salt(configured: str, *secrets: str) -> bytes:
    """The hash key: ANCLORA_WEBHOOK_SALT, else one derived from the configured secrets
    (the same on every replica that has the same configuration)."""
    if configured:
        return configured.encode()
    material = "\0".join(s for s in secrets if s)
    return hmac.new(material.encode(), b"anclora webhook keys", hashlib.sha256).digest()


class Keys:
    """Key names for one salt. ``digest`` is the only way a private value reaches Redis."""

    def __init__(self, salt: bytes):
        self._salt = salt[:64]  # BLAKE2b takes keys of at most 64 bytes
        if len(salt) > 64:  # a long salt keeps all its entropy
            self._salt = hashlib.blake2b(salt).digest()
        self._keyed: dict[str, object] = {}  # kind -> its keyed hash, copied for each value

    def digest(self, kind: str, value: str) -> str:
        """24 hex characters standing for ``value`` (96 bits: no collision in practice)."""
        keyed = self._keyed.get(kind)
        if keyed is None:  # a handful of kinds, each keyed once (the key block is hashed)
            keyed = self._keyed[kind] = hashlib.blake2b(digest_size=12, key=self._salt,
                                                        person=kind.encode()[:16])
        h = keyed.copy()
        h.update(value.encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    def message(self, source: str, message_id: str) -> str:
        return f"{PREFIX}m:{self.digest(source, message_id)}"

    def conversation(self, conversation_id: str) -> str:
        return f"{PREFIX}v:{self.digest('conversation', conversation_id)}"

    def chat(self, source: str, chat: str) -> str:
        return f"{PREFIX}c:{self.digest('chat.' + source, chat)}"

    def number(self, display_phone_number: str) -> str:
        """The field standing for a business display number (its digits only, so
        ``+1 555-078 3881`` and ``15550783881`` are the same number)."""
        return self.digest("number", "".join(ch for ch in display_phone_number if ch.isdigit()))


def state(name: str) -> str:
    return f"{PREFIX}state:{name}"

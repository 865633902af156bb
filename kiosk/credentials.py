"""Secrets the kiosk derives from its API token, so enrollment hands over one string only.

The server never keeps the token itself (only its hash), so it stores these derived keys at
enrollment; each side can then compute the same key without it ever crossing the wire.
"""

from __future__ import annotations

import hashlib
import hmac

HANDOFF_KEY_LABEL = b"handoff-v1"


def derive_handoff_key(token: str) -> bytes:
    """The key that signs the QR handoff tokens; knowing it does not reveal the API token."""
    return hmac.new(token.encode(), HANDOFF_KEY_LABEL, hashlib.sha256).digest()

"""Kiosk credentials: enrollment, revocation, and checking a Bearer token.

The server keeps only a SHA-256 of each token (and the handoff key derived from it), so a copy of
the database does not let anyone sync as a kiosk. Tokens carry 256 random bits, so a plain hash is
enough; the comparison runs in constant time, against a dummy when the kiosk id is unknown.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from kiosk.credentials import derive_handoff_key
from kiosk.record import utc_now
from sync.protocol import KIOSK_ID_PATTERN, new_token, token_kiosk_id
from sync.server.models import DEFAULT_SITE, Kiosk

BEARER = re.compile(r"Bearer +(\S+)", re.IGNORECASE)


class EnrollmentRefused(ValueError):
    """A kiosk that cannot be added or revoked as asked."""


@dataclass(frozen=True, slots=True)
class KioskIdentity:
    id: str
    site: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


_NO_KIOSK_HASH = token_hash("no such kiosk")


def bearer_token(header: str | None) -> str | None:
    match = BEARER.fullmatch(header.strip()) if header else None
    return match.group(1) if match else None


def authenticate(connection: Connection, token: str | None) -> KioskIdentity | None:
    """The kiosk a token belongs to, or None when it is unknown, revoked or wrong."""
    kiosk_id = token_kiosk_id(token) if token else None
    row = None
    if kiosk_id is not None:
        row = connection.execute(
            select(Kiosk.id, Kiosk.site, Kiosk.token_hash, Kiosk.revoked_at).where(Kiosk.id == kiosk_id)
        ).first()
    matches = hmac.compare_digest(token_hash(token or ""), row.token_hash if row else _NO_KIOSK_HASH)
    if row is None or not matches or row.revoked_at is not None:
        return None
    return KioskIdentity(row.id, row.site)


def check_name(name: str, what: str) -> str:
    if not re.fullmatch(KIOSK_ID_PATTERN, name):
        raise EnrollmentRefused(
            f"{what} {name!r}: use 1-64 letters, digits, - or _ (starting with a letter or digit)"
        )
    return name


def add_kiosk(connection: Connection, name: str, site: str | None) -> str:
    """Enroll a kiosk and return its token; this is the only time the token exists in clear.

    A revoked kiosk may be added again under its name: it gets a new token, the old one stays dead.
    """
    check_name(name, "kiosk name")
    site = check_name(site, "site") if site else DEFAULT_SITE
    token = new_token(name)
    values = {
        "site": site,
        "token_hash": token_hash(token),
        "handoff_key": derive_handoff_key(token).hex(),
        "created_at": utc_now(),
        "revoked_at": None,
    }
    revoked_at = connection.execute(select(Kiosk.revoked_at).where(Kiosk.id == name)).first()
    if revoked_at is None:
        connection.execute(insert(Kiosk).values(id=name, **values))
    elif revoked_at[0] is None:
        raise EnrollmentRefused(
            f"kiosk {name} is already enrolled; revoke-kiosk it first to issue a new enrollment string"
        )
    else:
        connection.execute(update(Kiosk).where(Kiosk.id == name).values(**values))
    return token


def revoke_kiosk(connection: Connection, name: str) -> None:
    result = connection.execute(
        update(Kiosk).where(Kiosk.id == name, Kiosk.revoked_at.is_(None)).values(revoked_at=utc_now())
    )
    if result.rowcount == 0:
        known = connection.execute(select(Kiosk.id).where(Kiosk.id == name)).first()
        raise EnrollmentRefused(f"kiosk {name} is already revoked" if known else f"no kiosk named {name!r}")

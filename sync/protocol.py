"""The wire between kiosk and server: paths, limits, the envelope, receipts and enrollment strings.

Both ends import this module, so a limit or a status is spelled once. It is strict on what it
reads back from the network: anything that is not exactly our receipt JSON is a ProtocolError,
because a captive portal or a misconfigured proxy answers 200 too.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

RESPONSES_PATH = "/api/v1/responses"
SURVEYS_PATH = "/api/v1/surveys"
HEALTH_PATH = "/healthz"

MAX_BATCH = 500
MAX_BODY_BYTES = 8 * 1024 * 1024

CREATED, DUPLICATE, CONFLICT, REJECTED = "created", "duplicate", "conflict", "rejected"
RECEIPT_STATUSES = (CREATED, DUPLICATE, CONFLICT, REJECTED)
STORED = frozenset({CREATED, DUPLICATE})
QUARANTINED = frozenset({CONFLICT, REJECTED})

KIOSK_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
_TOKEN = re.compile(rf"({KIOSK_ID_PATTERN})\.([A-Za-z0-9_-]{{32,128}})")
SECRET_BYTES = 32


class ProtocolError(ValueError):
    """The other end answered something that is not our protocol."""


class EnrollmentError(ValueError):
    """An enrollment string that cannot be used, with the reason in words."""


@dataclass(frozen=True, slots=True)
class Receipt:
    id: str
    status: str
    detail: str = ""

    @property
    def stored(self) -> bool:
        return self.status in STORED


@dataclass(frozen=True, slots=True)
class KioskStatus:
    """What every sync tells the server about the kiosk's health."""

    app_version: str
    pending: int
    oldest_pending_age_s: float | None
    clock: str

    def to_json(self) -> dict[str, Any]:
        return {
            "app_version": self.app_version,
            "pending": self.pending,
            "oldest_pending_age_s": self.oldest_pending_age_s,
            "clock": self.clock,
        }


@dataclass(frozen=True, slots=True)
class Enrollment:
    server_url: str
    token: str

    @property
    def kiosk_id(self) -> str:
        kiosk_id = token_kiosk_id(self.token)
        assert kiosk_id is not None
        return kiosk_id

    def __str__(self) -> str:
        return f"{self.server_url}#{self.token}"


def envelope(records: Iterable[Mapping[str, Any]], status: KioskStatus | None) -> dict[str, Any]:
    body: dict[str, Any] = {"responses": list(records)}
    if status is not None:
        body["kiosk"] = status.to_json()
    return body


def parse_receipts(payload: Any, sent_ids: Iterable[str]) -> dict[str, Receipt]:
    """The receipts of one batch by record id; every record sent must have exactly one."""
    if not isinstance(payload, dict) or not isinstance(payload.get("receipts"), list):
        raise ProtocolError('the answer has no "receipts" list')
    expected = set(sent_ids)
    receipts: dict[str, Receipt] = {}
    for item in payload["receipts"]:
        if not isinstance(item, dict):
            raise ProtocolError("a receipt is not an object")
        rid, status, detail = item.get("id"), item.get("status"), item.get("detail", "")
        if status not in RECEIPT_STATUSES:
            raise ProtocolError(f"unknown receipt status {status!r}")
        if not isinstance(detail, str):
            raise ProtocolError("a receipt's detail is not text")
        if rid not in expected:
            raise ProtocolError(f"a receipt for a record that was not sent ({rid!r})")
        if rid in receipts and receipts[rid] != Receipt(rid, status, detail):
            raise ProtocolError(f"two different receipts for record {rid}")
        receipts[rid] = Receipt(rid, status, detail)
    missing = expected - receipts.keys()
    if missing:
        raise ProtocolError(f"{len(missing)} record(s) sent got no receipt")
    return receipts


def new_token(kiosk_id: str) -> str:
    if not re.fullmatch(KIOSK_ID_PATTERN, kiosk_id):
        raise ValueError(f"kiosk name {kiosk_id!r}: use 1-64 letters, digits, - or _")
    return f"{kiosk_id}.{secrets.token_urlsafe(SECRET_BYTES)}"


def token_kiosk_id(token: str) -> str | None:
    """The kiosk id a token claims, or None when it is not shaped like one of ours."""
    match = _TOKEN.fullmatch(token)
    return match.group(1) if match else None


def check_server_url(url: str) -> str:
    """The URL without a trailing slash; raises EnrollmentError when it is no http(s) address."""
    try:
        parts = urlsplit(url)
        has_host = bool(parts.hostname)
    except ValueError:
        has_host = False
    if not has_host or parts.scheme not in ("http", "https") or parts.query or parts.fragment:
        raise EnrollmentError(f"{url!r} is not a server address like https://feedback.example.org")
    return url.rstrip("/")


def parse_enrollment(text: str, server_url: str | None = None) -> Enrollment:
    """Read `<server URL>#<token>` as `server add-kiosk` prints it; `server_url` replaces its URL."""
    text = text.strip()
    url, sep, rest = text.partition("#")
    if not sep:
        raise EnrollmentError(
            "an enrollment string looks like https://server#kiosk-id.secret "
            "(copy the whole last line printed by `server add-kiosk`)"
        )
    token = rest.split("#", 1)[0]
    if token_kiosk_id(token) is None:
        raise EnrollmentError("the part after # is not a kiosk token (was the line cut short?)")
    return Enrollment(check_server_url(server_url or url), token)

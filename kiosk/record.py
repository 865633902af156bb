"""The response record: the one format shared by the kiosk store, the wire and the JSON export."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

STATUSES = ("completed", "partial", "handed_off")
CHANNELS = ("kiosk", "phone", "kiosk+phone")
FIELDS = (
    "id",
    "survey_id",
    "survey_version",
    "kiosk_id",
    "channel",
    "language",
    "started_at",
    "submitted_at",
    "status",
    "answers",
)
KNOWN_FLAGS = ("too_fast",)
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def new_response_id() -> str:
    """Minted on the device when the survey starts, so that any resend is recognised."""
    return str(uuid.uuid4())


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Seconds-precision UTC with a Z, the form every record carries."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    """Read a record timestamp; raises ValueError for anything that is not an ISO 8601 UTC time."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return moment.astimezone(UTC)


def canonical(record: Mapping[str, Any]) -> bytes:
    """A byte form independent of key order, to tell a harmless resend from a conflict."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_problems(record: Any) -> list[str]:
    """Why a record does not have the shape of the contract; the survey checks its answers."""
    if not isinstance(record, dict):
        return ["a response must be an object"]
    problems = [f"{name}: missing" for name in FIELDS if name not in record]
    if problems:
        return problems
    checks: list[tuple[str, bool, str]] = [
        ("id", _is_uuid(record["id"]), "must be a UUID string"),
        (
            "survey_id",
            isinstance(record["survey_id"], str) and 0 < len(record["survey_id"]) <= 64,
            "must be a survey id",
        ),
        (
            "survey_version",
            type(record["survey_version"]) is int and record["survey_version"] >= 1,
            "must be a positive integer",
        ),
        (
            "kiosk_id",
            record["kiosk_id"] is None or isinstance(record["kiosk_id"], str),
            "must be a string or null",
        ),
        ("channel", record["channel"] in CHANNELS, f"must be one of {', '.join(CHANNELS)}"),
        (
            "language",
            isinstance(record["language"], str) and 2 <= len(record["language"]) <= 8,
            "must be a language code",
        ),
        ("started_at", _is_time(record["started_at"]), "must be an ISO 8601 UTC time"),
        ("submitted_at", _is_time(record["submitted_at"]), "must be an ISO 8601 UTC time"),
        ("status", record["status"] in STATUSES, f"must be one of {', '.join(STATUSES)}"),
        ("answers", isinstance(record["answers"], dict), "must be an object"),
    ]
    problems = [f"{name}: {what}" for name, ok, what in checks if not ok]
    flags = record.get("flags", [])
    if not isinstance(flags, list) or not all(f in KNOWN_FLAGS for f in flags):
        problems.append(f"flags: must be a list of {', '.join(KNOWN_FLAGS)}")
    return problems


def _is_uuid(value: Any) -> bool:
    """Only the canonical lowercase 8-4-4-4-12 form: one response must not travel under two spellings.

    That form is exactly what `str(uuid.UUID(...))` prints; a pattern checks it several times faster.
    """
    return isinstance(value, str) and _CANONICAL_UUID.fullmatch(value) is not None


def _is_time(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 40:
        return False
    try:
        parse_iso(value)
    except (ValueError, OverflowError):
        return False
    return True

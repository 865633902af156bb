"""The handoff merge: a kiosk's `handed_off` record and the phone's answers become one response.

The two halves reach the server in either order, minutes or days apart: the phone's submit
through the phone pages, the kiosk's record through its sync. Whichever comes first is stored as
the response at once (so nothing waits on the other device), and the second is merged into it.
The merged record is one pure function of the two halves (`merged_record`), so the result is
the same byte for byte whatever the order.

What each half brings:
- the phone: every non-text answer (the kiosk's, carried by the token, and its own), the final
  language, submitted_at, and the started_at and kiosk_id the token carries;
- the kiosk: the words of its free-text answers, which never travel in a token. The phone names
  the questions whose words it needs (`kiosk_text`): those the kiosk answered and the phone's own
  answers did not hide.

Both writers take the same per-response lock first (PostgreSQL advisory lock; on SQLite every
write transaction already queues on the database lock), so a sync and a submit racing on one id
cannot both believe they came first.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from kiosk.record import canonical, parse_iso
from sync.server.admin.alerts import on_response_stored
from sync.server.models import HandoffPart, Response

log = logging.getLogger(__name__)

MERGED_CHANNEL = "kiosk+phone"
MERGED_DETAIL = "merged with the phone's answers"
HANDOFF_LOCK_CLASS = 7_315_002  # two-key advisory locks: a key space apart from the migration lock


@dataclass(frozen=True, slots=True)
class PhonePart:
    """What the phone submitted for a handed-off response.

    `record` is a complete contract record on its own (channel kiosk+phone, status completed):
    it is what the server keeps while the kiosk's record has not arrived.
    """

    record: Mapping[str, Any]
    kiosk_text: frozenset[str]

    def to_json(self) -> str:
        return json.dumps(
            {"record": self.record, "kiosk_text": sorted(self.kiosk_text)},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, data: str) -> PhonePart:
        loaded = json.loads(data)
        return cls(loaded["record"], frozenset(loaded["kiosk_text"]))

    @property
    def response_id(self) -> str:
        return str(self.record["id"])


def merged_record(kiosk: Mapping[str, Any] | None, part: PhonePart) -> dict[str, Any]:
    """The one response for both halves; `kiosk` is None while the kiosk's record is missing."""
    record = json.loads(json.dumps(part.record))
    if kiosk is not None:
        kiosk_answers = kiosk.get("answers", {})
        for qid in sorted(part.kiosk_text):
            if qid in kiosk_answers:
                record["answers"][qid] = kiosk_answers[qid]
    return record


def lock(connection: Connection, ids: Iterable[str]) -> None:
    """Hold the handoff lock of each id until the transaction ends; sorted, so two never deadlock."""
    if connection.dialect.name != "postgresql":
        return
    for rid in sorted(set(ids)):
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:cls, :key)"), {"cls": HANDOFF_LOCK_CLASS, "key": _key(rid)}
        )


def _key(rid: str) -> int:
    """32 bits of the id (every id here is a checked UUID); a rare clash only makes two wait."""
    return int.from_bytes(uuid.UUID(rid).bytes[:4], "big", signed=True)


def is_kiosk_half(
    stored: Mapping[str, Any], kiosk_id: str | None, survey_id: str, survey_version: int
) -> bool:
    """Whether a stored or incoming kiosk record is the kiosk's half of this handoff."""
    return (
        stored["channel"] == "kiosk"
        and stored["status"] == "handed_off"
        and stored["kiosk_id"] == kiosk_id
        and (stored["survey_id"], stored["survey_version"]) == (survey_id, survey_version)
    )


def store_phone_part(connection: Connection, part: PhonePart, site: str, now: datetime) -> bool:
    """Store the phone's half (merging it with the kiosk's if that came first).

    Returns False, storing nothing, when the response is already complete: the phone's half was
    submitted before, or a complete record from elsewhere holds the id.
    """
    rid = part.response_id
    lock(connection, [rid])
    if connection.execute(select(HandoffPart.response_id).where(HandoffPart.response_id == rid)).first():
        return False
    row = connection.execute(select(Response).where(Response.id == rid)).mappings().first()
    record = part.record
    if row is None:
        kiosk_digest = None
        if not insert_response(connection, merged_record(None, part), site, now):
            return False
    elif is_kiosk_half(row, record["kiosk_id"], record["survey_id"], record["survey_version"]):
        kiosk_digest = row["digest"]
        _replace(connection, merged_record(json.loads(row["payload"]), part), now)
    else:
        return False
    connection.execute(
        insert(HandoffPart).values(
            response_id=rid, phone_part=part.to_json(), kiosk_digest=kiosk_digest, created_at=now
        )
    )
    log.info("handoff %s: phone half stored, %s", rid, "merged" if kiosk_digest else "kiosk half awaited")
    return True


def merge_kiosk_half(
    connection: Connection, rid: str, kiosk_payload: str, kiosk_digest: str, now: datetime
) -> str:
    """Merge the kiosk's record into a response the phone stored first; returns the new digest.

    The caller holds the lock (`lock`) and has checked that the record is this handoff's kiosk half.
    """
    phone_part = connection.execute(
        select(HandoffPart.phone_part).where(HandoffPart.response_id == rid)
    ).scalar_one()
    merged = merged_record(json.loads(kiosk_payload), PhonePart.from_json(phone_part))
    digest = _replace(connection, merged, now)
    connection.execute(
        update(HandoffPart).where(HandoffPart.response_id == rid).values(kiosk_digest=kiosk_digest)
    )
    log.info("handoff %s: kiosk half merged", rid)
    return digest


def insert_response(connection: Connection, record: Mapping[str, Any], site: str, now: datetime) -> bool:
    """Store a response made on the phone pages; False when its id is already taken.

    The insert does nothing on a taken id rather than fail, since a kiosk record that is not a
    handoff half (and so takes no lock) may be inserted under the same id at the same moment.
    """
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(Response)
        .values(**_columns(record, now), site=site)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(Response.id)
    )
    if connection.execute(statement).first() is None:
        return False
    on_response_stored(connection, record)  # low-score alerts, in this same transaction
    return True


def _replace(connection: Connection, record: Mapping[str, Any], now: datetime) -> str:
    columns = _columns(record, now)
    connection.execute(update(Response).where(Response.id == record["id"]).values(**columns))
    on_response_stored(connection, record)  # the phone's answers may be the low ones
    return str(columns["digest"])


def _columns(record: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    payload = canonical(record)
    return {
        "id": record["id"],
        "survey_id": record["survey_id"],
        "survey_version": record["survey_version"],
        "kiosk_id": record["kiosk_id"],
        "channel": record["channel"],
        "status": record["status"],
        "submitted_at": parse_iso(record["submitted_at"]),
        # received_at says when the stored content last changed, so "since" exports see a merge.
        "received_at": now,
        "digest": hashlib.sha256(payload).hexdigest(),
        "payload": payload.decode(),
    }

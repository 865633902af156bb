"""Ingest: turn one batch of records from one kiosk into one receipt per record, in one transaction.

Every record is checked on its own against the survey version it names, so one bad record is
rejected while the rest are stored. `decide` is the single place that says what a record means
next to what is already stored under its id, the phone handoff merge included (sync/server/merge.py
holds the merge itself).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, any_, bindparam, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from kiosk.record import canonical, parse_iso, record_problems
from kiosk.survey import Survey, SurveyError
from sync.protocol import CONFLICT, CREATED, DUPLICATE, REJECTED
from sync.server.admin.alerts import on_responses_stored
from sync.server.auth import KioskIdentity
from sync.server.merge import MERGED_CHANNEL, MERGED_DETAIL, is_kiosk_half, merge_kiosk_half
from sync.server.merge import lock as lock_handoffs
from sync.server.models import HandoffPart, Kiosk, Response
from sync.server.surveys import SurveyBook

log = logging.getLogger(__name__)

MAX_INT = 2**31 - 1
MAX_DETAIL = 500


@dataclass(frozen=True, slots=True)
class Incoming:
    """A record that passed every check, with the columns it will be stored under."""

    id: str
    digest: str
    row: dict[str, Any]
    # The record as it arrived and the survey version it was checked against: the alert hook
    # needs both, and re-reading them from `row` would cost a JSON parse and a query per batch.
    record: dict[str, Any]
    survey: Survey


@dataclass(frozen=True, slots=True)
class Stored:
    id: str
    digest: str
    status: str
    channel: str
    kiosk_id: str | None = None
    survey_id: str = ""
    survey_version: int = 0
    # A handoff whose phone half is stored: the digest of the kiosk's record merged into it, if any.
    kiosk_digest: str | None = None
    awaiting_kiosk: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    status: str
    detail: str
    merge: bool = False


def decide(stored: Stored | None, incoming: Incoming) -> Decision:
    """What an incoming record is, given what its id already holds.

    Nothing is ever overwritten, with one exception: the kiosk's `handed_off` half of a response
    whose phone half is stored is merged into it ("created": stored now). Its resend after any
    merge is a harmless "duplicate".
    """
    if stored is None:
        return _NEW
    if stored.digest == incoming.digest:
        return _RESENT
    if stored.kiosk_digest == incoming.digest:
        return _RESENT_MERGED
    row = incoming.row
    if stored.awaiting_kiosk and is_kiosk_half(row, stored.kiosk_id, stored.survey_id, stored.survey_version):
        return _MERGE
    return _CONFLICT


def receipt(record_id: Any, status: str, detail: str = "") -> dict[str, Any]:
    # Any string id is echoed, even one that is no UUID: the kiosk matches receipts by id, and a
    # record it cannot match would block its outbox instead of being quarantined.
    echoed = record_id if isinstance(record_id, str) else None
    return {"id": echoed, "status": status, "detail": detail[:MAX_DETAIL]}


DETAILS = {
    CREATED: "",
    DUPLICATE: "already stored with the same content",
    CONFLICT: "a different response is already stored under this id; nothing was overwritten",
}
# Every decision is one of these (shared: a batch makes hundreds of them).
_NEW = Decision(CREATED, DETAILS[CREATED])
_RESENT = Decision(DUPLICATE, DETAILS[DUPLICATE])
_RESENT_MERGED = Decision(DUPLICATE, MERGED_DETAIL)
_MERGE = Decision(CREATED, MERGED_DETAIL, merge=True)
_CONFLICT = Decision(CONFLICT, DETAILS[CONFLICT])


@dataclass(slots=True)
class Batch:
    """A batch after checking: receipts of the rejected, and the records that may be stored."""

    receipts: list[dict[str, Any] | None]
    accepted: list[tuple[int, Incoming]]


def check_batch(book: SurveyBook, kiosk: KioskIdentity, records: list[Any], now: datetime) -> Batch:
    """Check every record on its own; done before the write transaction, which stays short."""
    batch = Batch([None] * len(records), [])
    for index, record in enumerate(records):
        checked = check_record(book, kiosk, record, now)
        if isinstance(checked, Incoming):
            batch.accepted.append((index, checked))
        else:
            batch.receipts[index] = receipt(
                record.get("id") if isinstance(record, dict) else None, REJECTED, checked
            )
    return batch


def store_batch(
    connection: Connection, kiosk: KioskIdentity, batch: Batch, health: Any, now: datetime
) -> list[dict[str, Any]]:
    """Store a checked batch in the caller's transaction; returns the receipts in record order."""
    receipts, accepted = batch.receipts, batch.accepted
    # A kiosk's handoff half may meet the phone's submit of the same id: both take its lock first.
    lock_handoffs(
        connection, [incoming.id for _, incoming in accepted if incoming.row["status"] == "handed_off"]
    )
    stored = _stored(connection, {incoming.id for _, incoming in accepted})
    fresh: dict[str, Incoming] = {}
    for index, incoming in accepted:
        decision = decide(stored.get(incoming.id), incoming)
        if decision.merge:
            digest = merge_kiosk_half(connection, incoming.id, incoming.row["payload"], incoming.digest, now)
            stored[incoming.id] = replace(
                stored[incoming.id],
                digest=digest,
                channel=MERGED_CHANNEL,
                kiosk_digest=incoming.digest,
                awaiting_kiosk=False,
            )
        elif decision.status == CREATED:
            stored[incoming.id] = Stored(
                incoming.id, incoming.digest, incoming.row["status"], incoming.row["channel"]
            )
            fresh[incoming.id] = incoming
        receipts[index] = receipt(incoming.id, decision.status, decision.detail)
    raced = set(fresh) - _insert(connection, [incoming.row for incoming in fresh.values()])
    if raced:
        # Another request stored these ids between our read and our insert: decide again. A
        # handoff half cannot be among them (its lock was held), so this never needs a merge.
        now_stored = _stored(connection, raced)
        for index, incoming in accepted:
            if incoming.id in raced:
                decision = decide(now_stored[incoming.id], incoming)
                receipts[index] = receipt(incoming.id, decision.status, decision.detail)
    created = [incoming for incoming in fresh.values() if incoming.id not in raced]
    # Low-score alerts, in this same transaction; every created record is stored under this kiosk.
    on_responses_stored(
        connection,
        [incoming.record for incoming in created],
        {incoming.survey.key: incoming.survey for incoming in created},
        stored_as=(kiosk.site, kiosk.id),
    )
    record_health(connection, kiosk, health, now)
    done = [r for r in receipts if r is not None]
    counts = Counter(r["status"] for r in done)
    log.info(
        "kiosk %s: %d record(s): %s",
        kiosk.id,
        len(done),
        ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none",
    )
    return done


def check_record(book: SurveyBook, kiosk: KioskIdentity, record: Any, now: datetime) -> Incoming | str:
    """The record ready to store, or why it is rejected."""
    try:
        problems = record_problems(record)
    except OverflowError:
        problems = ["a time is outside the years this server can store"]
    if problems:
        return "; ".join(problems)
    try:
        text = canonical(record)
    except (UnicodeEncodeError, ValueError):
        return "contains text that is not valid Unicode"
    if record["kiosk_id"] not in (None, kiosk.id):
        return f"kiosk_id: is {record['kiosk_id']!r}, but the token belongs to kiosk {kiosk.id}"
    if record["channel"] != "kiosk":
        return "channel: a kiosk sends kiosk responses only"
    survey_id, version = record["survey_id"], record["survey_version"]
    survey = None
    if version <= MAX_INT and "\x00" not in survey_id:
        try:
            survey = book.get(survey_id, version)
        except SurveyError:
            return f"survey {survey_id} v{version} is stored but no longer valid"
    if survey is None:
        return f"survey_version: no survey {survey_id} v{version} was ever published"
    problems = survey.answers_problems(record["answers"], completed=record["status"] == "completed")
    if problems:
        return "; ".join(problems)
    digest = hashlib.sha256(text).hexdigest()
    return Incoming(
        record["id"],
        digest,
        {
            "id": record["id"],
            "survey_id": survey_id,
            "survey_version": version,
            "kiosk_id": kiosk.id,
            "site": kiosk.site,
            "channel": record["channel"],
            "status": record["status"],
            "submitted_at": parse_iso(record["submitted_at"]),
            "received_at": now,
            "digest": digest,
            "payload": text.decode(),
        },
        record,
        survey,
    )


def _stored(connection: Connection, ids: Iterable[str]) -> dict[str, Stored]:
    wanted = sorted(ids)
    if not wanted:
        return {}
    rows = connection.execute(
        select(
            Response.id,
            Response.digest,
            Response.status,
            Response.channel,
            Response.kiosk_id,
            Response.survey_id,
            Response.survey_version,
            HandoffPart.response_id.label("part"),
            HandoffPart.kiosk_digest,
        )
        .outerjoin(HandoffPart, HandoffPart.response_id == Response.id)
        .where(_among(connection, Response.id, wanted))
    )
    return {
        row.id: Stored(
            row.id,
            row.digest,
            row.status,
            row.channel,
            row.kiosk_id,
            row.survey_id,
            row.survey_version,
            row.kiosk_digest,
            awaiting_kiosk=row.part is not None and row.kiosk_digest is None,
        )
        for row in rows
    }


def _among(connection: Connection, column: Any, ids: list[str]) -> Any:
    """`column IN ids`; on PostgreSQL as one array parameter, which it plans and binds far faster
    than a list of 500 parameters."""
    if connection.dialect.name == "postgresql":
        return column == any_(bindparam("ids", ids, type_=postgresql.ARRAY(String)))
    return column.in_(ids)


def _insert(connection: Connection, rows: list[dict[str, Any]]) -> set[str]:
    """Insert rows whose ids are still free; returns the ids actually inserted."""
    if not rows:
        return set()
    if connection.dialect.name == "postgresql":
        # The batch travels as one JSON parameter that PostgreSQL unpacks in C: a 500-row
        # VALUES list or arrays of strings cost psycopg far more to build on every batch.
        as_json = json.dumps(rows, default=datetime.isoformat, ensure_ascii=False)
        return set(connection.execute(_PG_INSERT, {"rows": as_json}).scalars())
    statement = sqlite.insert(Response).on_conflict_do_nothing(index_elements=["id"]).returning(Response.id)
    return set(connection.execute(statement, rows).scalars())


_COLUMNS = ", ".join(column.name for column in Response.__table__.columns)
_PG_INSERT = text(
    f"INSERT INTO responses ({_COLUMNS}) SELECT {_COLUMNS} "
    "FROM json_to_recordset(CAST(:rows AS json)) AS r("
    + ", ".join(
        f"{c.name} {c.type.compile(dialect=postgresql.dialect())}" for c in Response.__table__.columns
    )
    + ") ON CONFLICT (id) DO NOTHING RETURNING id"
)


def record_health(connection: Connection, kiosk: KioskIdentity, health: Any, now: datetime) -> None:
    """Keep what the kiosk says about itself; a field that makes no sense is left out, not fatal."""
    values: dict[str, Any] = {"last_seen_at": now}
    if isinstance(health, dict):
        version = health.get("app_version")
        if isinstance(version, str) and len(version) <= 64 and "\x00" not in version:
            values["app_version"] = version
        pending = health.get("pending")
        if type(pending) is int and 0 <= pending <= MAX_INT:
            values["pending"] = pending
        age = health.get("oldest_pending_age_s")
        if type(age) in (int, float) and math.isfinite(age) and 0 <= age < 1e12:
            values["oldest_pending_age_s"] = float(age)
        clock = health.get("clock")
        if isinstance(clock, str) and len(clock) <= 40:
            try:
                kiosk_clock = parse_iso(clock)
            except (ValueError, OverflowError):
                pass
            else:
                values["kiosk_clock"] = kiosk_clock
                values["clock_drift_s"] = (kiosk_clock - now).total_seconds()
    connection.execute(update(Kiosk).where(Kiosk.id == kiosk.id).values(**values))

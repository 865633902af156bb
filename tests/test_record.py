"""The response record helpers: ids, timestamps, canonical bytes and the shape check."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from kiosk.record import FIELDS, canonical, iso, new_response_id, parse_iso, record_problems

RECORD: dict[str, Any] = {
    "id": "5f0c2b1e-8f5e-4c1d-9a77-2f1e0c9b7d10",
    "survey_id": "fft",
    "survey_version": 1,
    "kiosk_id": "front-desk-1",
    "channel": "kiosk",
    "language": "en",
    "started_at": "2026-11-27T10:00:00Z",
    "submitted_at": "2026-11-27T10:01:10Z",
    "status": "completed",
    "answers": {"overall": "very_good", "why": "Kind nurse", "recommend": 9, "topics": ["staff", "wait"]},
}


def test_the_design_example_is_a_good_record() -> None:
    assert record_problems(RECORD) == []
    assert list(RECORD) == list(FIELDS)


def test_response_ids_are_fresh_canonical_uuid4s() -> None:
    ids = {new_response_id() for _ in range(1000)}
    assert len(ids) == 1000
    for rid in list(ids)[:20]:
        assert str(uuid.UUID(rid)) == rid and uuid.UUID(rid).version == 4


def test_iso_is_utc_seconds_with_z() -> None:
    moment = datetime(2026, 11, 27, 11, 30, 5, 999_999, tzinfo=timezone(timedelta(hours=1, minutes=30)))
    assert iso(moment) == "2026-11-27T10:00:05Z"
    assert parse_iso(iso(moment)) == moment.replace(microsecond=0)


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-11-27T10:00:00Z", datetime(2026, 11, 27, 10, tzinfo=UTC)),
        ("2026-11-27T10:00:00+00:00", datetime(2026, 11, 27, 10, tzinfo=UTC)),
        ("2026-11-27T12:00:00+02:00", datetime(2026, 11, 27, 10, tzinfo=UTC)),
    ],
)
def test_parse_iso(text: str, utc: datetime) -> None:
    assert parse_iso(text) == utc
    assert parse_iso(text).tzinfo == UTC


@pytest.mark.parametrize(
    "text", ["2026-11-27T10:00:00", "2026-11-27", "yesterday", "", "2026-13-01T00:00:00Z"]
)
def test_parse_iso_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_iso(text)


def test_canonical_ignores_key_order_but_not_content() -> None:
    shuffled = dict(reversed(list(RECORD.items())))
    assert canonical(shuffled) == canonical(RECORD)
    assert canonical({**RECORD, "answers": {**RECORD["answers"], "recommend": 8}}) != canonical(RECORD)
    assert canonical({"a": "é", "b": [1, True]}) == '{"a":"é","b":[1,true]}'.encode()
    assert json.loads(canonical(RECORD)) == RECORD


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"id": "not-a-uuid"}, "id: must be a UUID string"),
        ({"id": RECORD["id"].upper()}, "id: must be a UUID string"),
        ({"id": RECORD["id"].replace("-", "") + "----"}, "id: must be a UUID string"),
        ({"id": 5}, "id: must be a UUID string"),
        ({"survey_id": ""}, "survey_id: must be a survey id"),
        ({"survey_id": "x" * 65}, "survey_id: must be a survey id"),
        ({"survey_version": 0}, "survey_version: must be a positive integer"),
        ({"survey_version": 1.0}, "survey_version: must be a positive integer"),
        ({"survey_version": True}, "survey_version: must be a positive integer"),
        ({"kiosk_id": 3}, "kiosk_id: must be a string or null"),
        ({"channel": "web"}, "channel: must be one of kiosk, phone, kiosk+phone"),
        ({"language": "e"}, "language: must be a language code"),
        ({"started_at": "2026-11-27T10:00:00"}, "started_at: must be an ISO 8601 UTC time"),
        ({"submitted_at": 1700000000}, "submitted_at: must be an ISO 8601 UTC time"),
        ({"status": "done"}, "status: must be one of completed, partial, handed_off"),
        ({"answers": []}, "answers: must be an object"),
        ({"flags": ["slow"]}, "flags: must be a list of too_fast"),
        ({"flags": "too_fast"}, "flags: must be a list of too_fast"),
    ],
)
def test_record_problems(change: dict[str, Any], problem: str) -> None:
    assert record_problems({**RECORD, **change}) == [problem]


@pytest.mark.parametrize("field", FIELDS)
def test_every_field_is_required(field: str) -> None:
    record = {k: v for k, v in RECORD.items() if k != field}
    assert record_problems(record) == [f"{field}: missing"]


def test_null_kiosk_id_flags_and_more_fields_are_fine() -> None:
    phone_only = {**RECORD, "kiosk_id": None, "channel": "phone", "flags": ["too_fast"], "app": "1.0"}
    assert record_problems(phone_only) == []


@pytest.mark.parametrize("value", [None, [], "record", 1])
def test_a_record_must_be_an_object(value: Any) -> None:
    assert record_problems(value) == ["a response must be an object"]


def test_a_time_before_year_one_in_utc_is_a_problem_not_a_crash() -> None:
    from kiosk.record import record_problems

    record = {
        "id": "5f0c2b1e-8f5e-4c1d-9a77-2f1e0c9b7d10",
        "survey_id": "fft",
        "survey_version": 1,
        "kiosk_id": "k",
        "channel": "kiosk",
        "language": "en",
        "started_at": "0001-01-01T00:00:00+01:00",
        "submitted_at": "2026-11-27T10:01:10Z",
        "status": "completed",
        "answers": {},
    }
    assert record_problems(record) == ["started_at: must be an ISO 8601 UTC time"]

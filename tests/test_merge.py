"""The handoff merge: the kiosk's `handed_off` record and the phone's answers become one response,
the same whichever reaches the server first. On SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from phone_helpers import KIOSK, Phone, PhoneRig, make_phone_rig
from server_helpers import ThreadServer

from kiosk.config import KioskConfig
from kiosk.exports import write_export
from kiosk.record import iso, utc_now
from kiosk.store import ResponseStore
from kiosk.survey import parse_survey
from sync.client import SyncClient
from sync.server.merge import MERGED_DETAIL, PhonePart, merged_record
from sync.server.surveys import publish

pytest_plugins = ["server_fixtures"]


@pytest.fixture
def phone_rig(database_url: str) -> Iterator[PhoneRig]:
    yield from make_phone_rig(database_url)


KIOSK_ANSWERS = {"overall": 2, "front_desk": "no", "wait": "over_30", "recommend": 3}
KIOSK_TEXT = {"improve": "The wait was long and nobody said why"}
CONTACT = "Mornings, on the number the practice has"
NOW = utc_now().replace(microsecond=0)


def finish_on_phone(rig: PhoneRig, path: str, *, contact: bool = True, lang: str | None = None) -> Phone:
    """What is left after the kiosk answers above: contact_ok, and contact_details if yes."""
    phone = Phone(rig.server.app)
    phone.open(path)
    phone.start()
    assert phone.question == "contact_ok"
    if lang:
        phone.open(path, lang=lang)
    phone.answer("yes" if contact else "no")
    if contact:
        assert phone.question == "contact_details"
        phone.answer(CONTACT)
    assert phone.heading in ("Thank you", "Gracias"), phone.page.text[:500]
    return phone


def stored(rig: PhoneRig) -> list[dict[str, Any]]:
    return [json.loads(row.payload) for row in rig.responses()]


def freeze(rig: PhoneRig) -> None:
    rig.server.app.state.phone_pages.clock = lambda: NOW


def test_kiosk_first_then_phone_makes_one_completed_response(phone_rig: PhoneRig) -> None:
    freeze(phone_rig)
    link = phone_rig.link(KIOSK_ANSWERS, text_answers=KIOSK_TEXT, now=NOW - timedelta(minutes=1))
    receipts = phone_rig.sync(link.kiosk_record)
    assert (receipts[link.response_id].status, receipts[link.response_id].detail) == ("created", "")
    (kiosk_row,) = stored(phone_rig)
    assert kiosk_row["status"] == "handed_off"

    finish_on_phone(phone_rig, link.path, lang="es")

    (record,) = stored(phone_rig)
    assert record == {
        "id": link.response_id,
        "survey_id": "post-visit",
        "survey_version": 1,
        "kiosk_id": KIOSK,
        "channel": "kiosk+phone",
        "language": "es",
        "started_at": link.kiosk_record["started_at"],
        "submitted_at": iso(NOW),
        "status": "completed",
        "answers": {
            **KIOSK_ANSWERS,
            **KIOSK_TEXT,
            "contact_ok": True,
            "contact_details": CONTACT,
        },
    }
    (row,) = phone_rig.responses()
    assert (row.channel, row.status, row.kiosk_id, row.site) == ("kiosk+phone", "completed", KIOSK, "main")

    resent = phone_rig.sync(link.kiosk_record)[link.response_id]
    assert (resent.status, resent.detail, resent.stored) == ("duplicate", MERGED_DETAIL, True)
    assert stored(phone_rig) == [record]


def test_phone_first_then_kiosk_gives_the_same_single_response(phone_rig: PhoneRig) -> None:
    freeze(phone_rig)
    first = phone_rig.link(KIOSK_ANSWERS, text_answers=KIOSK_TEXT, now=NOW - timedelta(minutes=1))
    second = phone_rig.link(KIOSK_ANSWERS, text_answers=KIOSK_TEXT, now=NOW - timedelta(minutes=1))

    # Order A: the kiosk's sync, then the phone.
    phone_rig.sync(first.kiosk_record)
    finish_on_phone(phone_rig, first.path)
    # Order B: the phone while the kiosk is offline, then the kiosk's sync.
    finish_on_phone(phone_rig, second.path)
    alone = next(r for r in stored(phone_rig) if r["id"] == second.response_id)
    assert alone["channel"] == "kiosk+phone" and alone["status"] == "completed"
    assert alone["answers"] == {
        **KIOSK_ANSWERS,
        "contact_ok": True,
        "contact_details": alone["answers"]["contact_details"],
    }
    assert "improve" not in alone["answers"]  # its words are only on the kiosk

    arrived = phone_rig.sync(second.kiosk_record)[second.response_id]
    assert (arrived.status, arrived.detail, arrived.stored) == ("created", MERGED_DETAIL, True)
    resent = phone_rig.sync(second.kiosk_record)[second.response_id]
    assert (resent.status, resent.detail, resent.stored) == ("duplicate", MERGED_DETAIL, True)

    by_id = {r["id"]: r for r in stored(phone_rig)}
    assert len(by_id) == 2 == len(phone_rig.responses())
    a, b = (dict(by_id[h.response_id]) for h in (first, second))
    assert a.pop("id") != b.pop("id")
    assert a == b  # the same content whatever arrived first
    assert b["answers"]["improve"] == KIOSK_TEXT["improve"]


def test_an_export_shows_exactly_one_response(phone_rig: PhoneRig) -> None:
    link = phone_rig.link(KIOSK_ANSWERS, text_answers=KIOSK_TEXT)
    phone_rig.sync(link.kiosk_record)
    finish_on_phone(phone_rig, link.path, contact=False)
    phone_rig.sync(link.kiosk_record)
    out = io.BytesIO()
    result = write_export("json", out, stored(phone_rig), lambda sid, v: None)
    exported = json.loads(out.getvalue())
    assert result.count == 1
    assert [(r["id"], r["channel"], r["status"]) for r in exported] == [
        (link.response_id, "kiosk+phone", "completed")
    ]


def test_a_record_that_is_not_this_handoffs_kiosk_half_is_a_conflict(phone_rig: PhoneRig) -> None:
    link = phone_rig.link(KIOSK_ANSWERS, text_answers=KIOSK_TEXT)
    finish_on_phone(phone_rig, link.path, contact=False)
    before = stored(phone_rig)
    completed_here = {**link.kiosk_record, "status": "completed"}
    other_survey = {**link.kiosk_record, "survey_id": "fft", "answers": {"overall": "good"}}
    receipts = phone_rig.sync(completed_here)
    assert receipts[link.response_id].status == "conflict"
    assert phone_rig.sync(other_survey)[link.response_id].status == "conflict"
    assert stored(phone_rig) == before


def test_a_handoff_half_from_another_kiosk_is_a_conflict(phone_rig: PhoneRig) -> None:
    other = PhoneRig(phone_rig.server, phone_rig.server.enroll("desk-2"))
    link = phone_rig.link(KIOSK_ANSWERS, text_answers=KIOSK_TEXT)
    finish_on_phone(phone_rig, link.path, contact=False)
    before = stored(phone_rig)
    forged = {**link.kiosk_record, "kiosk_id": "desk-2"}
    assert other.sync(forged)[link.response_id].status == "conflict"
    assert stored(phone_rig) == before


BRANCHY = {
    "id": "branchy",
    "version": 1,
    "languages": ["en", "es"],
    "title": {"en": "Branches", "es": "Ramas"},
    "welcome": {"en": "Hello", "es": "Hola"},
    "thank_you": {"en": "Thanks", "es": "Gracias"},
    "questions": [
        {"id": "been_before", "type": "yes_no", "text": {"en": "Been here before?", "es": "¿Ya vino?"}},
        {
            "id": "first_visit_note",
            "type": "text",
            "show_if": {"question": "been_before", "answered": False},
            "text": {"en": "Anything new to you?", "es": "¿Algo nuevo?"},
        },
        {
            "id": "mood",
            "type": "rating",
            "required": True,
            "text": {"en": "How do you feel?", "es": "¿Cómo se siente?"},
        },
    ],
}


@pytest.mark.parametrize("phone_answer", [None, "yes"])
def test_kiosk_text_that_a_phone_answer_hid_is_left_out(
    phone_rig: PhoneRig, phone_answer: str | None
) -> None:
    """The kiosk skipped a question and typed into one it showed; the phone's answer may hide it."""
    survey = parse_survey(BRANCHY)
    with phone_rig.server.engine.begin() as connection:
        publish(connection, survey, None)
    link = phone_rig.link({"mood": 4}, text_answers={"first_visit_note": "The new lift"}, survey=survey)
    phone = Phone(phone_rig.server.app)
    phone.open(link.path)
    phone.start()
    assert phone.question == "been_before"  # only what the kiosk left
    phone.answer(phone_answer)
    assert phone.heading == "Thank you"
    phone_rig.sync(link.kiosk_record)
    (record,) = stored(phone_rig)
    if phone_answer is None:
        assert record["answers"] == {"mood": 4, "first_visit_note": "The new lift"}
    else:
        assert record["answers"] == {"mood": 4, "been_before": True}
        assert survey.answers_problems(record["answers"], completed=True) == []


def test_merged_record_is_a_pure_function_of_the_two_halves() -> None:
    phone_record = {
        "id": "5f0c2b1e-8f5e-4c1d-9a77-2f1e0c9b7d10",
        "survey_id": "post-visit",
        "survey_version": 1,
        "kiosk_id": KIOSK,
        "channel": "kiosk+phone",
        "language": "es",
        "started_at": "2026-11-27T10:00:00Z",
        "submitted_at": "2026-11-27T10:05:00Z",
        "status": "completed",
        "answers": {"overall": 2, "contact_ok": False},
    }
    part = PhonePart(phone_record, frozenset({"improve"}))
    kiosk = {**phone_record, "channel": "kiosk", "language": "en", "status": "handed_off"}
    kiosk["answers"] = {"overall": 2, "improve": "Words", "wait": "under_5"}
    merged = merged_record(kiosk, part)
    assert merged["answers"] == {"overall": 2, "contact_ok": False, "improve": "Words"}
    assert {k: merged[k] for k in ("language", "channel", "status", "submitted_at")} == {
        "language": "es",
        "channel": "kiosk+phone",
        "status": "completed",
        "submitted_at": "2026-11-27T10:05:00Z",
    }
    assert merged_record(None, part) == phone_record
    assert PhonePart.from_json(part.to_json()) == part
    assert phone_record["answers"] == {"overall": 2, "contact_ok": False}  # the part is not changed


def race(rig: PhoneRig, phone: Phone, link: Any) -> dict[str, Any]:
    """The phone's last answer and the kiosk's sync, released at the same moment."""
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def submit() -> None:
        barrier.wait()
        results["phone"] = phone.answer("no")

    def sync() -> None:
        barrier.wait()
        results["kiosk"] = rig.sync(link.kiosk_record)[link.response_id]

    threads = [threading.Thread(target=submit), threading.Thread(target=sync)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_a_sync_and_a_submit_racing_on_one_id_still_make_one_merged_response(phone_rig: PhoneRig) -> None:
    links = [phone_rig.link(KIOSK_ANSWERS, text_answers=KIOSK_TEXT) for _ in range(4)]
    phones = []
    for link in links:
        phone = Phone(phone_rig.server.app)
        phone.open(link.path)
        phone.start()
        phones.append(phone)
    for link, phone in zip(links, phones, strict=True):
        results = race(phone_rig, phone, link)
        assert results["kiosk"].stored
        assert "Thank you" in results["phone"].text
    records = stored(phone_rig)
    assert len(records) == len(links)
    for record in records:
        assert (record["channel"], record["status"]) == ("kiosk+phone", "completed")
        assert record["answers"] == {**KIOSK_ANSWERS, **KIOSK_TEXT, "contact_ok": False}


def test_the_real_sync_client_stores_its_half_once_and_never_quarantines_it(
    tmp_path, phone_rig: PhoneRig
) -> None:
    """The kiosk's own uploader: phone first, the kiosk's sync, then a resend the client must accept."""
    link = phone_rig.link(KIOSK_ANSWERS, text_answers=KIOSK_TEXT)
    finish_on_phone(phone_rig, link.path, contact=False)
    store = ResponseStore(tmp_path / "kiosk")
    store.save(link.kiosk_record)
    config = KioskConfig(kiosk_id=KIOSK, token=phone_rig.token)
    try:
        with ThreadServer(phone_rig.server.app) as live:
            config.server_url = live.url
            result = SyncClient(store, config, data_dir=tmp_path / "kiosk").run_once()
            assert (result.stored, result.quarantined, result.pending, result.error) == (1, 0, 0, None)
            # A receipt lost on the way: the kiosk sends the same record again later.
            resent = phone_rig.sync(link.kiosk_record)[link.response_id]
            assert resent.stored and resent.detail == MERGED_DETAIL
        assert store.quarantined() == []
    finally:
        store.close()
    (record,) = stored(phone_rig)
    assert record["answers"]["improve"] == KIOSK_TEXT["improve"]


def test_a_low_score_given_on_the_phone_raises_one_alert(phone_rig: PhoneRig) -> None:
    """The admin's low-score queue hears of responses completed on the phone, and of merges."""
    kiosk_half = {"overall": 5, "front_desk": "definitely", "wait": "under_5"}
    link = phone_rig.link(kiosk_half)
    phone = Phone(phone_rig.server.app)
    phone.open(link.path)
    phone.start()
    phone.answer("2")  # recommend: low by the survey's rule
    phone.answer("")  # improve
    phone.answer("no")
    assert phone.heading == "Thank you"
    phone_rig.sync(link.kiosk_record)
    alerts = phone_rig.server.rows("SELECT response_id FROM alerts")
    assert [row.response_id for row in alerts] == [link.response_id]

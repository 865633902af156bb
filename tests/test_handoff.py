"""Handoff tokens: short, signed, expiring, carrying no free text and no patient identity."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from kiosk.credentials import derive_handoff_key
from kiosk.handoff import HandoffError, mint, read, url
from kiosk.survey import builtin_survey

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
RID = "5f0c2b1e-8f5e-4c1d-9a77-2f1e0c9b7d10"
TOKEN = "front-desk-1.q8Zc3k1m0vF7YyR2n9Jt4wXb6Hs1LpQe"
KEY = derive_handoff_key(TOKEN)
SURVEY = builtin_survey("post-visit")
ANSWERS = {"overall": 2, "front_desk": "no", "wait": "over_30", "recommend": 3, "improve": "Dr Ruiz was late"}


def _mint(**changes) -> str:
    args = dict(
        response_id=RID,
        language="es",
        answers=ANSWERS,
        kiosk_id="front-desk-1",
        key=KEY,
        started_at=NOW - timedelta(minutes=1),
        now=NOW,
    )
    args.update(changes)
    return mint(SURVEY, **args)


def _read(token: str, *, now: datetime = NOW, key: bytes | None = KEY):
    return read(
        token,
        key_for=lambda kiosk: key if kiosk == "front-desk-1" else None,
        survey_for=lambda sid, version: SURVEY if (sid, version) == SURVEY.key else None,
        now=now,
    )


def test_round_trip_keeps_choices_and_marks_text_without_its_words() -> None:
    token = _mint()
    handoff = _read(token)
    assert handoff.response_id == RID
    assert (handoff.survey_id, handoff.survey_version, handoff.language) == ("post-visit", 1, "es")
    assert handoff.answers == {"overall": 2, "front_desk": "no", "wait": "over_30", "recommend": 3}
    assert handoff.text_on_kiosk == {"improve"}
    assert handoff.answered == {"overall", "front_desk", "wait", "recommend", "improve"}
    assert handoff.expires_at == NOW + timedelta(minutes=30)
    assert b"Ruiz" not in base64.urlsafe_b64decode(token + "==")


def test_link_stays_short_enough_for_an_easy_qr_code() -> None:
    every = {"overall": 5, "front_desk": "definitely", "wait": "under_5", "recommend": 10}
    link = url("https://feedback.example-clinic.org/", _mint(answers=every))
    assert link.startswith("https://feedback.example-clinic.org/p/")
    assert len(link) <= 200


def test_multiple_choice_and_yes_no_survive() -> None:
    survey = builtin_survey("post-visit")
    token = _mint(answers={"overall": 5, "front_desk": "somewhat", "contact_ok": False})
    assert _read(token).answers == {"overall": 5, "front_desk": "somewhat", "contact_ok": False}
    assert survey.question("contact_ok").type == "yes_no"


@pytest.mark.parametrize("position", [0, 5, 20, 40, -1])
def test_any_altered_byte_is_refused(position: int) -> None:
    raw = bytearray(base64.urlsafe_b64decode(_mint() + "=="))
    raw[position] ^= 0x01
    altered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(HandoffError) as caught:
        _read(altered)
    assert caught.value.kind in ("invalid", "revoked")


def test_forged_with_another_key_is_invalid() -> None:
    forged = _mint(key=derive_handoff_key("front-desk-1.someone-elses-guess"))
    with pytest.raises(HandoffError) as caught:
        _read(forged)
    assert caught.value.kind == "invalid"


@pytest.mark.parametrize("garbage", ["", "x", "!!!!", "AAAA", "a" * 300])
def test_garbage_is_invalid_not_a_crash(garbage: str) -> None:
    with pytest.raises(HandoffError) as caught:
        _read(garbage)
    assert caught.value.kind in ("invalid", "revoked")


def test_expired_token() -> None:
    with pytest.raises(HandoffError) as caught:
        _read(_mint(), now=NOW + timedelta(minutes=30))
    assert caught.value.kind == "expired"
    assert _read(_mint(), now=NOW + timedelta(minutes=29)).response_id == RID


def test_revoked_kiosk_is_refused() -> None:
    with pytest.raises(HandoffError) as caught:
        _read(_mint(), key=None)
    assert caught.value.kind == "revoked"


def test_unknown_survey_version_is_invalid() -> None:
    with pytest.raises(HandoffError) as caught:
        read(_mint(), key_for=lambda k: KEY, survey_for=lambda s, v: None, now=NOW)
    assert caught.value.kind == "invalid"

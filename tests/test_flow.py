"""The flow engine, step by step: branching, required answers, progress, language, idle and records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kiosk.flow import Flow, FlowError
from kiosk.survey import Survey, load_survey, parse_survey

GOOD = Path(__file__).resolve().parent / "surveys" / "good"
RID = "5f0c2b1e-8f5e-4c1d-9a77-2f1e0c9b7d10"
T = {"en": "words"}


class WallClock:
    """Record timestamps on demand: starts at 10:00:00.7 UTC, moved by hand."""

    def __init__(self) -> None:
        self.moment = datetime(2026, 11, 27, 10, 0, 0, 700_000, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture(scope="module")
def survey() -> Survey:
    return load_survey(GOOD / "all-types.json")


def tiny(*questions: dict[str, Any], **extra: Any) -> Survey:
    return parse_survey(
        {
            "id": "tiny",
            "version": 2,
            "languages": ["en"],
            "title": T,
            "welcome": T,
            "thank_you": T,
            "questions": list(questions),
            **extra,
        }
    )


def start(survey: Survey, language: str = "en", **kwargs: Any) -> Flow:
    kwargs.setdefault("now", 0.0)
    kwargs.setdefault("response_id", RID)
    kwargs.setdefault("kiosk_id", "front-desk-1")
    return Flow(survey, language, **kwargs)


def ids(flow: Flow) -> list[str]:
    return [q.id for q in flow.steps()]


def test_starts_at_the_first_visible_question_in_the_chosen_language(survey: Survey) -> None:
    flow = start(survey, "es")
    assert flow.language == "es"
    assert flow.current is not None and flow.current.id == "mood"
    assert survey.text(flow.current.text, flow.language) == "¿Cómo se siente con su visita?"
    assert flow.is_first and not flow.is_last
    assert ids(flow) == ["mood", "staff", "recommend", "skipped_mood", "contact_ok"]


def test_a_language_the_survey_does_not_offer_is_refused(survey: Survey) -> None:
    with pytest.raises(FlowError, match='survey all-types is not offered in "fr" \\(only en, es\\)'):
        start(survey, "fr")
    flow = start(survey)
    with pytest.raises(FlowError):
        flow.set_language("de")
    assert flow.language == "en"


def test_next_and_back_skip_hidden_questions(survey: Survey) -> None:
    flow = start(survey)
    flow.answer("very_good", now=1)
    assert flow.next(now=2).id == "staff"  # reason and topics stay hidden
    flow.answer(4, now=3)
    assert flow.next(now=4).id == "recommend"
    assert flow.back(now=5).id == "staff"
    assert flow.back(now=6).id == "mood"
    assert flow.back(now=7) is None
    assert flow.current.id == "mood"
    flow.answer("bad", now=8)
    assert flow.next(now=9).id == "reason"
    assert flow.next(now=10).id == "topics"
    assert flow.next(now=11).id == "staff"


def test_required_question_blocks_next_and_finish(survey: Survey) -> None:
    flow = start(survey)
    assert not flow.can_advance
    with pytest.raises(FlowError, match="mood: an answer is required before moving on"):
        flow.next(now=1)
    assert flow.current.id == "mood"
    with pytest.raises(FlowError, match="mood: an answer is required before finishing"):
        flow.finish("completed", now=2)
    assert flow.status is None
    flow.answer("good", now=3)
    assert flow.can_advance
    flow.next(now=4)
    assert flow.current.id == "topics"
    assert flow.can_advance  # optional
    assert flow.next(now=5).id == "staff"


def test_progress_counts_the_questions_visible_now(survey: Survey) -> None:
    flow = start(survey)
    assert flow.progress == (1, 5)
    flow.answer("bad", now=1)
    assert flow.progress == (1, 7)  # reason and topics appear
    flow.next(now=2)
    assert flow.progress == (2, 7)
    flow.answer(None, now=3)
    flow.next(now=4)
    flow.answer(["rooms"], now=5)
    flow.next(now=6)
    assert flow.current.id == "staff" and flow.progress == (4, 7)
    flow.answer(3, now=7)
    assert flow.progress == (4, 8)  # rooms appears: topics has rooms and staff > 1
    flow.answer(1, now=8)
    assert flow.progress == (4, 8)  # rooms hidden again, detractor (staff <= 2) shown
    assert "rooms" not in ids(flow) and "detractor" in ids(flow)


def test_switching_language_keeps_answers_and_place(survey: Survey) -> None:
    clock = WallClock()
    flow = start(survey, clock=clock)
    flow.answer("good", now=1)
    flow.next(now=2)
    flow.answer(["wait", "staff"], now=3)
    before = (flow.answers, flow.current, flow.progress)
    flow.set_language("es")
    assert (flow.answers, flow.current, flow.progress) == before
    flow.next(now=4)
    flow.answer(5, now=5)
    flow.next(now=6)
    flow.answer(10, now=7)
    record = flow.finish("completed", now=60)
    assert record["language"] == "es"
    assert record["answers"] == {"mood": "good", "topics": ["wait", "staff"], "staff": 5, "recommend": 10}


def test_completed_record_is_exactly_the_design_format(survey: Survey) -> None:
    clock = WallClock()
    flow = start(survey, clock=clock, now=100.0)
    clock.moment += timedelta(seconds=70)
    for value in ("bad", "staff", ["wait"], 2, 6, "  Long wait  "):
        flow.answer(value, now=101)
        flow.next(now=102)
    assert flow.current.id == "returning"
    flow.answer(False, now=103)
    assert flow.next(now=104).id == "first_time"
    assert flow.finish("completed", now=200.0) == {
        "id": RID,
        "survey_id": "all-types",
        "survey_version": 3,
        "kiosk_id": "front-desk-1",
        "channel": "kiosk",
        "language": "en",
        "started_at": "2026-11-27T10:00:00Z",
        "submitted_at": "2026-11-27T10:01:10Z",
        "status": "completed",
        "answers": {
            "mood": "bad",
            "reason": "staff",
            "topics": ["wait"],
            "staff": 2,
            "recommend": 6,
            "detractor": "Long wait",
            "returning": False,
        },
    }
    assert flow.status == "completed"


@pytest.mark.parametrize("status", ["partial", "handed_off"])
def test_partial_and_handed_off_records(survey: Survey, status: str) -> None:
    flow = start(survey, clock=WallClock(), channel="kiosk", now=0.0)
    flow.answer("neither", now=1)
    record = flow.finish(status, now=2)
    assert record is not None
    assert record["status"] == status
    assert record["answers"] == {"mood": "neither"}
    assert "flags" not in record  # too_fast only judges completed surveys
    assert list(record) == [
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
    ]


def test_partial_under_a_discard_policy_keeps_nothing() -> None:
    flow = start(tiny({"id": "a", "type": "yes_no", "text": T}, partial_policy="discard"))
    flow.answer(True, now=1)
    assert flow.finish("partial", now=2) is None
    assert flow.status == "partial"


def test_partial_with_no_answers_keeps_nothing(survey: Survey) -> None:
    assert start(survey).finish("partial", now=1) is None


def test_handed_off_without_answers_still_makes_a_record(survey: Survey) -> None:
    """The phone merges by id, so the kiosk's half must exist even when empty."""
    record = start(survey).finish("handed_off", now=1)
    assert record is not None and record["answers"] == {} and record["status"] == "handed_off"


def test_changing_an_answer_drops_answers_it_hides(survey: Survey) -> None:
    flow = start(survey)
    flow.answer("bad", now=1)
    flow.next(now=2)
    flow.answer("waiting", now=3)
    flow.next(now=4)
    flow.answer(["rooms"], now=5)
    assert flow.answers == {"mood": "bad", "reason": "waiting", "topics": ["rooms"]}
    flow.back(now=6)
    flow.back(now=7)
    flow.answer("very_good", now=8)  # hides reason and topics
    assert flow.answers == {"mood": "very_good"}
    flow.answer("bad", now=9)  # shows them again, but the dropped answers stay dropped
    assert flow.answers == {"mood": "bad"}
    assert flow.next(now=10).id == "reason"


def test_dropping_an_answer_cascades_through_later_questions(survey: Survey) -> None:
    flow = start(survey)
    for value in ("good", None, 3, 2):
        if value is not None:
            flow.answer(value, now=1)
        flow.next(now=1)
    assert flow.current.id == "detractor"
    flow.answer("slow", now=2)
    flow.next(now=2)
    flow.answer(False, now=3)
    flow.next(now=3)
    flow.answer("a friend", now=4)
    assert flow.answers["first_time"] == "a friend"
    for _ in range(3):
        flow.back(now=6)
    assert flow.current.id == "recommend"
    flow.answer(None, now=7)  # recommend unanswered: detractor and returning hide, first_time with it
    assert flow.answers == {"mood": "good", "staff": 3}


def test_answers_are_checked_and_a_bad_one_changes_nothing(survey: Survey) -> None:
    flow = start(survey)
    for bad in ("excellent", 3, ["good"], True):
        with pytest.raises(FlowError, match=r"^mood: "):
            flow.answer(bad, now=1)
    assert flow.answers == {}
    flow.answer("good", now=1)
    flow.next(now=2)
    with pytest.raises(FlowError, match='"nope" is not an option'):
        flow.answer(["wait", "nope"], now=3)
    with pytest.raises(FlowError, match="more than once"):
        flow.answer(["wait", "wait"], now=3)
    assert flow.answers == {"mood": "good"}


def test_text_is_trimmed_and_blank_text_takes_the_answer_back() -> None:
    flow = start(tiny({"id": "why", "type": "text", "max_length": 5, "text": T}))
    flow.answer("  ok \n", now=1)
    assert flow.answers == {"why": "ok"}
    flow.answer("   ", now=2)
    assert flow.answers == {}
    with pytest.raises(FlowError, match="is 6 characters, more than the 5 allowed"):
        flow.answer("sixsix", now=3)
    with pytest.raises(FlowError, match="not text"):
        flow.answer("a\x00b", now=4)


def test_a_list_given_or_taken_cannot_change_the_answers_later(survey: Survey) -> None:
    flow = start(survey)
    flow.answer("good", now=1)
    flow.next(now=2)
    chosen = ["wait"]
    flow.answer(chosen, now=3)
    chosen.append("not-an-option")
    flow.answers["topics"].append("rooms")
    assert flow.answers["topics"] == ["wait"]


def test_info_question_takes_no_answer_and_never_blocks(survey: Survey) -> None:
    flow = start(survey)
    for value in ("good", None, 5, 9):
        if value is not None:
            flow.answer(value, now=1)
        flow.next(now=1)
    assert flow.current.id == "promoter" and flow.current.type == "info"
    with pytest.raises(FlowError, match="takes no answer"):
        flow.answer("x", now=2)
    assert flow.can_advance
    assert flow.next(now=3).id == "returning"


def test_contact_details_show_only_after_yes(survey: Survey) -> None:
    flow = start(survey)
    flow.answer("very_good", now=1)
    flow.next(now=1)
    flow.answer(5, now=1)
    flow.next(now=1)
    flow.answer(10, now=1)
    assert ids(flow)[-3:] == ["returning", "skipped_mood", "contact_ok"]
    while not flow.is_last:
        flow.next(now=2)
    assert flow.current.id == "contact_ok"
    assert flow.next(now=3) is None
    flow.answer(True, now=4)
    assert not flow.is_last
    assert flow.next(now=5).id == "contact_details"
    flow.answer("555-0100", now=6)
    record = flow.finish("completed", now=10)
    assert record["answers"]["contact_details"] == "555-0100"
    assert survey.answers_problems(record["answers"], completed=True) == []


def test_idle_phases_follow_the_last_touch(survey: Survey) -> None:
    flow = start(survey, now=1000.0)
    assert (flow.idle_deadline, flow.expiry_deadline) == (1030.0, 1050.0)  # 30 s, then a 20 s countdown
    assert flow.idle_phase(1029.9) == "active"
    assert flow.idle_phase(1030.0) == "still_there"
    assert flow.idle_phase(1049.9) == "still_there"
    assert flow.idle_phase(1050.0) == "expired"
    flow.answer("good", now=1040.0)
    assert flow.idle_phase(1050.0) == "active"
    assert flow.idle_deadline == 1070.0
    flow.touch(1010.0)  # a late event from an earlier time never pulls the deadline forward
    assert flow.idle_deadline == 1070.0
    flow.next(now=1065.0)
    flow.back(now=1066.0)
    assert flow.idle_deadline == 1096.0


def test_idle_seconds_from_the_kiosk_override_the_survey(survey: Survey) -> None:
    flow = start(survey, now=0.0, idle_seconds=90)
    assert flow.idle_deadline == 90.0
    assert flow.expiry_deadline == 110.0


def test_too_fast_flags_only_quick_completed_surveys() -> None:
    one = tiny({"id": "a", "type": "yes_no", "text": T})
    quick = start(one, now=50.0)
    quick.answer(True, now=51.0)
    assert quick.finish("completed", now=52.9)["flags"] == ["too_fast"]
    calm = start(one, now=50.0)
    calm.answer(True, now=51.0)
    assert "flags" not in calm.finish("completed", now=53.0)
    custom = start(one, now=0.0, too_fast_seconds=10.0)
    custom.answer(True, now=1.0)
    assert custom.finish("completed", now=9.0)["flags"] == ["too_fast"]


def test_finished_flow_accepts_nothing_more(survey: Survey) -> None:
    flow = start(survey)
    flow.answer("good", now=1)
    flow.finish("partial", now=2)
    for move in (lambda: flow.answer("bad", now=3), lambda: flow.next(now=3), lambda: flow.back(now=3)):
        with pytest.raises(FlowError, match="already finished"):
            move()
    with pytest.raises(FlowError, match="already finished"):
        flow.finish("completed", now=3)


def test_unknown_status_is_refused(survey: Survey) -> None:
    flow = start(survey)
    with pytest.raises(FlowError, match='"done" is not a status'):
        flow.finish("done", now=1)  # type: ignore[arg-type]
    assert flow.status is None


def test_resume_does_not_ask_again_what_the_kiosk_answered(survey: Survey) -> None:
    kiosk = start(survey, clock=WallClock())
    kiosk.answer("bad", now=1)
    kiosk.next(now=2)
    kiosk.next(now=3)  # reason skipped
    kiosk.answer(["staff"], now=4)
    handed = kiosk.finish("handed_off", now=5)
    phone = start(
        survey,
        "es",
        response_id=handed["id"],
        answers=handed["answers"],
        kiosk_id=None,
        channel="kiosk+phone",
    )
    assert ids(phone) == ["reason", "staff", "recommend", "skipped_mood", "contact_ok"]
    assert phone.current.id == "reason" and phone.progress == (1, 5)
    phone.answer("other", now=6)
    phone.next(now=7)
    phone.answer(4, now=8)
    phone.next(now=9)
    phone.answer(8, now=10)
    record = phone.finish("completed", now=11)
    assert record["id"] == handed["id"] and record["channel"] == "kiosk+phone" and record["kiosk_id"] is None
    assert record["answers"] == {
        "mood": "bad",
        "reason": "other",
        "topics": ["staff"],
        "staff": 4,
        "recommend": 8,
    }


def test_resume_asks_again_an_answer_that_a_change_here_dropped() -> None:
    """Kiosk answered b while a was empty; the phone answers a (hiding b), then takes a back."""
    survey = tiny(
        {"id": "a", "type": "yes_no", "text": T},
        {
            "id": "b",
            "type": "yes_no",
            "required": True,
            "text": T,
            "show_if": {"question": "a", "answered": False},
        },
    )
    phone = start(survey, answers={"b": False})
    assert ids(phone) == ["a"]
    phone.answer(True, now=1)
    assert phone.answers == {"a": True}
    phone.answer(None, now=2)
    assert ids(phone) == ["a", "b"]
    with pytest.raises(FlowError, match="b: an answer is required"):
        phone.finish("completed", now=3)
    phone.next(now=4)
    phone.answer(True, now=5)
    record = phone.finish("completed", now=6)
    assert record["answers"] == {"b": True}
    assert survey.answers_problems(record["answers"], completed=True) == []


def test_resume_with_everything_answered_has_nothing_to_show() -> None:
    survey = tiny({"id": "a", "type": "yes_no", "required": True, "text": T})
    phone = start(survey, answers={"a": True, "gone": 1})
    assert phone.current is None and phone.progress == (0, 0)
    with pytest.raises(FlowError, match="no questions to show"):
        phone.next(now=1)
    assert phone.finish("completed", now=2)["answers"] == {"a": True}

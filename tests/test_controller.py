"""The kiosk's visit lifecycle without a window: every rule the screens rely on, with a fake clock."""

from __future__ import annotations

from typing import Any

import pytest
from controller_helpers import Clock, Deferred, MemoryStore

from kiosk.config import KioskConfig
from kiosk.controller import (
    ADMIN_IDLE_SECONDS,
    CORNER_HOLD_SECONDS,
    PIN_ATTEMPTS,
    PIN_IDLE_SECONDS,
    PIN_LOCK_SECONDS,
    SAVE_FAILED_SECONDS,
    KioskController,
    QuestionView,
)
from kiosk.record import record_problems
from kiosk.survey import builtin_survey, parse_survey


def kiosk(survey_id: str = "fft", **config: Any) -> tuple[KioskController, Clock, MemoryStore]:
    clock, store = Clock(), MemoryStore()
    controller = KioskController(
        builtin_survey(survey_id), KioskConfig(kiosk_id="k1", **config), store, clock=clock
    )
    return controller, clock, store


def complete_fft(c: KioskController, clock: Clock, why: str = "Kind nurse") -> None:
    c.start()
    clock.advance(2)
    c.answer("good")
    c.next()
    clock.advance(2)
    c.type_text(why)
    c.next()


def test_fft_completes_and_saves_before_thank_you() -> None:
    c, clock, store = kiosk()
    background = Deferred()
    c.background = background
    complete_fft(c, clock)
    assert c.saving and c.phase == "question" and not store.records
    background.run()
    assert c.phase == "thank_you" and not c.saving
    (record,) = store.records
    assert record_problems(record) == []
    assert record["status"] == "completed" and record["kiosk_id"] == "k1"
    assert record["answers"] == {"overall": "good", "why": "Kind nurse"}
    assert "flags" not in record
    clock.advance(c.thank_you_seconds - 0.1)
    c.tick()
    assert c.phase == "thank_you"
    clock.advance(0.2)
    c.tick()
    assert c.phase == "welcome" and c.resets == 1


def test_next_waits_for_required_answer_and_progress_counts() -> None:
    c, _, _ = kiosk("post-visit")
    c.start()
    view = c.question_view
    assert view is not None and (view.step, view.steps) == (1, 5) and not view.can_advance
    c.next()
    assert c.question_view is not None and c.question_view.question.id == "overall"
    c.answer(2)
    assert c.question_view.can_advance
    c.next()
    assert c.question_view.question.id == "front_desk"


def test_back_from_first_question_keeps_the_visit_and_language_follows() -> None:
    c, _, store = kiosk()
    c.start()
    c.answer("poor")
    c.back()
    assert c.phase == "welcome" and c.flow is not None
    c.choose_language("es")
    c.start()
    assert c.question_view is not None and c.question_view.value == "poor"
    c.next()
    c.next()
    assert store.records[0]["language"] == "es"


def test_text_keeps_spaces_while_typing_and_stops_at_the_limit() -> None:
    c, _, _ = kiosk("post-visit")
    c.start()
    c.answer(1)
    c.next()
    c.answer("no")
    c.next()
    c.answer("over_30")
    c.next()
    c.answer(3)
    c.next()
    assert c.question_view is not None and c.question_view.question.id == "improve"
    c.type_text("Más ")
    c.type_text("café")
    assert c.draft == "Más café"
    c.erase()
    assert c.draft == "Más caf"
    c.type_text("x" * 600)
    assert len(c.draft) == 500
    assert c.flow is not None and c.flow.answers["improve"] == c.draft


def test_multiple_choice_toggles_in_option_order() -> None:
    survey = parse_survey(
        {
            "id": "mc",
            "version": 1,
            "languages": ["en"],
            "title": {"en": "T"},
            "welcome": {"en": "W"},
            "thank_you": {"en": "Thanks"},
            "questions": [
                {
                    "id": "topics",
                    "type": "multiple_choice",
                    "required": True,
                    "text": {"en": "Which?"},
                    "options": [
                        {"value": "staff", "label": {"en": "Staff"}},
                        {"value": "wait", "label": {"en": "Waiting"}},
                        {"value": "rooms", "label": {"en": "Rooms"}},
                    ],
                }
            ],
        }
    )
    store = MemoryStore()
    c = KioskController(survey, KioskConfig(), store, clock=Clock())
    c.start()
    c.toggle_option("rooms")
    c.toggle_option("staff")
    assert c.question_view is not None and c.question_view.value == ["staff", "rooms"]
    c.toggle_option("rooms")
    c.toggle_option("staff")
    assert c.question_view.value is None and not c.question_view.can_advance


def test_idle_countdown_then_partial_is_saved_and_screen_cleared() -> None:
    c, clock, store = kiosk("post-visit")
    c.start()
    c.answer(4)
    clock.advance(c.idle_seconds - 1)
    c.tick()
    assert not c.still_there
    clock.advance(1)
    c.tick()
    assert c.still_there and c.countdown == 20
    c.touch()  # a tap beside the button does not count: the button is the way to say so
    clock.advance(5)
    c.tick()
    assert c.still_there and c.countdown == 15
    c.still_here()
    assert not c.still_there
    clock.advance(c.idle_seconds + 20)
    c.tick()
    assert c.phase == "welcome" and c.flow is None and c.resets == 1
    (record,) = store.records
    assert record["status"] == "partial" and record["answers"] == {"overall": 4}


def test_idle_with_discard_policy_or_no_answers_keeps_nothing() -> None:
    data = dict(builtin_survey("fft").raw)
    data["partial_policy"] = "discard"
    survey = parse_survey(data)
    clock, store = Clock(), MemoryStore()
    c = KioskController(survey, KioskConfig(), store, clock=clock)
    c.start()
    c.answer("good")
    clock.advance(c.idle_seconds + 20)
    c.tick()
    assert c.phase == "welcome" and store.records == []
    c2, clock2, store2 = kiosk()
    c2.start()
    clock2.advance(c2.idle_seconds + 20)
    c2.tick()
    assert c2.phase == "welcome" and store2.records == []


def test_idle_seconds_from_config() -> None:
    c, clock, _ = kiosk(idle_seconds=10, thank_you_seconds=3)
    assert (c.idle_seconds, c.thank_you_seconds) == (10, 3)
    c.start()
    clock.advance(10)
    c.tick()
    assert c.still_there


def test_welcome_choices_of_someone_who_left_are_reset() -> None:
    c, clock, _ = kiosk()
    c.choose_language("es")
    c.toggle_large_text()
    c.touch()
    clock.advance(c.idle_seconds)
    c.tick()
    assert (c.language, c.large_text, c.resets) == ("en", False, 1)


def test_too_fast_and_identical_rapid_repeats_are_flagged() -> None:
    c, clock, store = kiosk()
    c.start()
    c.answer("good")
    c.next()
    c.next()
    assert store.records[-1]["flags"] == ["too_fast"]
    clock.advance(10)
    c.tick()
    clock.advance(20)
    complete_fft(c, clock, "same")
    assert "flags" not in store.records[-1]
    clock.advance(10)
    c.tick()
    complete_fft(c, clock, "same")
    assert store.records[-1]["flags"] == ["too_fast"]
    clock.advance(10)
    c.tick()
    complete_fft(c, clock, "different")
    assert "flags" not in store.records[-1]


def test_save_failure_shows_calm_message_keeps_answers_and_retries() -> None:
    c, clock, store = kiosk()
    store.fail = "disk full"
    complete_fft(c, clock)
    assert c.phase == "save_failed" and c.last_error == "StoreError: disk full"
    assert len(c.unsaved) == 1 and store.records == []
    clock.advance(SAVE_FAILED_SECONDS)
    c.tick()
    assert c.phase == "welcome"
    store.fail = None
    clock.advance(60)
    complete_fft(c, clock, "second")
    assert c.phase == "thank_you" and c.unsaved == [] and c.last_error is None
    assert [r["answers"]["why"] for r in store.records] == ["Kind nurse", "second"]


def test_inputs_are_ignored_while_saving_and_on_still_there() -> None:
    c, clock, store = kiosk()
    background = Deferred()
    c.background = background
    complete_fft(c, clock)
    c.back()
    c.type_text("late")
    c.tick()
    background.run()
    assert store.records[0]["answers"]["why"] == "Kind nurse"
    c2, clock2, _ = kiosk()
    c2.start()
    clock2.advance(c2.idle_seconds)
    c2.tick()
    c2.answer("good")
    assert c2.flow is not None and c2.flow.answers == {}


def test_reset_clears_everything_of_the_previous_patient() -> None:
    c, _clock, store = kiosk()
    c.choose_language("es")
    c.toggle_high_contrast()
    c.start()
    c.answer("poor")
    c.next()
    c.type_text("secreto")
    c.reset()
    assert (c.phase, c.language, c.high_contrast, c.draft, c.flow) == ("welcome", "en", False, "", None)
    assert store.records[0]["status"] == "partial"


def test_pin_corner_hold_and_lockout() -> None:
    c, clock, _ = kiosk()
    c.corner_down()
    clock.advance(CORNER_HOLD_SECONDS - 0.5)
    c.tick()
    c.corner_up()
    assert not c.pin_open
    c.corner_down()
    clock.advance(CORNER_HOLD_SECONDS)
    c.tick()
    assert c.pin_open
    for _ in range(PIN_ATTEMPTS):
        for d in "1111":
            c.pin_press(d)
        c.pin_submit()
        assert c.pin_wrong
    assert c.pin_locked_seconds == PIN_LOCK_SECONDS
    for d in "2468":
        c.pin_press(d)
    c.pin_submit()
    assert c.phase == "welcome" and c.pin_entry == ""
    clock.advance(PIN_LOCK_SECONDS)
    c.touch()
    c.tick()
    assert c.pin_locked_seconds == 0 and c.pin_failures == 0
    for d in "2468":
        c.pin_press(d)
    c.pin_submit()
    assert c.phase == "admin" and not c.pin_open
    assert c.admin_status is not None and c.admin_status.stored == 0
    assert c.allows_exit
    c.exit_kiosk()
    assert c.exit_requested


def test_pin_pad_and_admin_close_by_themselves() -> None:
    c, clock, _ = kiosk()
    c.corner_down()
    clock.advance(CORNER_HOLD_SECONDS)
    c.tick()
    c.corner_up()
    clock.advance(PIN_IDLE_SECONDS)
    c.tick()
    assert not c.pin_open
    c.open_admin()
    clock.advance(ADMIN_IDLE_SECONDS)
    c.tick()
    assert c.phase == "welcome" and not c.allows_exit


def test_admin_entry_mid_visit_keeps_the_partial_answers() -> None:
    c, _, store = kiosk()
    c.start()
    c.answer("good")
    c.open_admin()
    assert c.phase == "admin" and store.records[0]["status"] == "partial"
    assert c.admin_status is not None and c.admin_status.stored == 1


def test_preview_view_of_a_hidden_question() -> None:
    survey = builtin_survey("post-visit")
    improve = survey.question("improve")
    assert improve is not None
    view = QuestionView.preview(survey, improve, "es")
    assert (view.step, view.steps, view.can_advance) == (5, 7, True)
    assert view.text(improve.text) == "¿Qué podríamos mejorar?"


@pytest.mark.parametrize("language", ["en", "es"])
def test_languages_offered_need_a_catalogue(language: str) -> None:
    c, _, _ = kiosk()
    assert language in c.languages
    c.choose_language(language)
    assert c.texts.language_name == {"en": "English", "es": "Español"}[language]


def test_each_save_nudges_the_uploader_so_answers_leave_promptly(tmp_path: Any) -> None:
    from kiosk.store import ResponseStore

    nudges: list[int] = []
    store = ResponseStore(tmp_path)
    now = [0.0]
    controller = KioskController(
        builtin_survey("fft"),
        KioskConfig(),
        store,
        clock=lambda: now[0],
        after_save=lambda: nudges.append(store.pending_count()),
    )
    controller.start()
    controller.answer("good")
    now[0] = 10.0
    controller.next()
    controller.next()
    assert store.pending_count() == 1
    assert nudges == [1]
    store.close()

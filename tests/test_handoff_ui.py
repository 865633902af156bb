"""The kiosk's side of the phone handoff: "Continue on my phone", the QR code screen, the record.

The first tests drive the controller alone with a fake clock; the rest run the real app in an
offscreen window (tests/handoff_driver.py), tap the real button, read the QR code back from a
screenshot with zxing-cpp, and check the token it carries with the kiosk's key.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from controller_helpers import Clock, Deferred, MemoryStore
from handoff_helpers import run_handoff_driver, scan, stored

from kiosk.config import KioskConfig
from kiosk.controller import KioskController
from kiosk.credentials import derive_handoff_key
from kiosk.handoff import read
from kiosk.record import record_problems, utc_now
from kiosk.survey import Survey, builtin_survey, parse_survey

SERVER = "http://clinic.test:8000"
TOKEN = "desk-ui.8qFf0xJ2m0b7nYt1w3k5r9s2v4x6z8A0C2E4G6I8K1M"
ENROLLED = {"kiosk_id": "desk-ui", "server_url": SERVER, "token": TOKEN}
POST_VISIT = {
    "overall": 2,
    "front_desk": "somewhat",
    "wait": "over_30",
    "recommend": 9,
    "improve": "Shorter wait please",
}
TABLET_INCHES = 10  # a typical 10" tablet shows the same 1280 x 800 pixels


def kiosk(
    survey: Survey | None = None, **config: Any
) -> tuple[KioskController, Clock, MemoryStore, Deferred]:
    clock, store, worker = Clock(), MemoryStore(), Deferred()
    settings = KioskConfig.from_dict(ENROLLED | config)
    controller = KioskController(
        survey or builtin_survey("fft"), settings, store, clock=clock, background=worker
    )
    return controller, clock, store, worker


def read_link(link: str, survey: Survey, token: str = TOKEN) -> Any:
    """The token as the server reads it, with the key it derived from this kiosk's token."""
    assert link.startswith(f"{SERVER}/p/")
    return read(
        link.rsplit("/p/", 1)[1],
        key_for=lambda _kiosk: derive_handoff_key(token),
        survey_for=lambda sid, version: survey if (sid, version) == (survey.id, survey.version) else None,
        now=utc_now(),
    )


def test_the_code_shows_only_once_the_answers_so_far_are_saved() -> None:
    c, _, store, worker = kiosk()
    c.start()
    c.answer("good")
    c.next()
    c.type_text("Kind nurse")
    assert c.question_view is not None and c.question_view.can_hand_off
    c.handoff()
    assert (c.phase, c.saving, c.question_view, store.records) == ("question", True, None, [])
    worker.run()
    assert c.phase == "handoff"
    (record,) = store.records
    assert record_problems(record) == []
    assert (record["status"], record["channel"], record["kiosk_id"]) == ("handed_off", "kiosk", "desk-ui")
    assert record["answers"] == {"overall": "good", "why": "Kind nurse"}
    handoff = read_link(c.handoff_url, c.survey)
    assert handoff.response_id == record["id"]
    assert (handoff.language, handoff.kiosk_id) == ("en", "desk-ui")
    assert dict(handoff.answers) == {"overall": "good"}
    assert handoff.text_on_kiosk == {"why"}, "the words stay on the kiosk; the link only marks them"
    assert "Kind" not in c.handoff_url
    assert timedelta(minutes=29) < handoff.expires_at - utc_now() <= timedelta(minutes=30)


def test_done_and_the_timeout_both_reset_and_forget_the_link() -> None:
    c, clock, store, worker = kiosk(handoff_seconds=60)
    for leave in ("done", "timeout"):
        c.start()
        c.answer("poor")
        c.handoff()
        worker.run()
        assert c.phase == "handoff" and c.handoff_url
        if leave == "done":
            c.reset()
        else:
            clock.now += 59.9
            c.tick()
            assert c.phase == "handoff"
            clock.now += 0.1
            c.tick()
        assert (c.phase, c.handoff_url, c.flow) == ("welcome", None, None)
    assert [r["status"] for r in store.records] == ["handed_off", "handed_off"]
    assert store.records[0]["id"] != store.records[1]["id"]


def test_a_failed_save_is_said_and_no_code_is_shown() -> None:
    c, _, store, worker = kiosk()
    store.fail = "No space left on device"
    c.start()
    c.answer("very_good")
    c.handoff()
    worker.run()
    assert (c.phase, c.handoff_url) == ("save_failed", None)
    assert [r["answers"] for r in c.unsaved] == [{"overall": "very_good"}], "kept for the next save"
    assert "No space left" in (c.last_error or "")


def test_a_save_that_ends_under_the_admin_screen_leaves_it_there() -> None:
    c, _, store, worker = kiosk()
    c.start()
    c.answer("good")
    c.handoff()
    c.open_admin()
    worker.run()
    assert (c.phase, c.handoff_url) == ("admin", None)
    assert [r["status"] for r in store.records] == ["handed_off"]


@pytest.mark.parametrize(
    "config, handoff",
    [({}, False), ({"server_url": None}, True), ({"token": None}, True), ({"kiosk_id": None}, True)],
    ids=["survey-says-no", "no-server", "no-token", "no-kiosk-id"],
)
def test_no_handoff_unless_the_survey_and_the_enrollment_allow_it(
    config: dict[str, Any], handoff: bool
) -> None:
    survey = parse_survey(builtin_survey("fft").raw | {"handoff": handoff})
    c, _, store, worker = kiosk(survey, **config)
    c.start()
    c.answer("good")
    assert c.question_view is not None and not c.question_view.can_hand_off
    c.handoff()
    worker.run()
    assert (c.phase, c.handoff_url, store.records) == ("question", None, [])


# -- the real window ---------------------------------------------------------------------------


def physical_cm(pixels: float, window: list[int]) -> float:
    """How large `pixels` are on a typical 10-inch tablet showing this window's pixels."""
    return pixels / math.hypot(*window) * TABLET_INCHES * 2.54


@pytest.mark.ui
def test_handoff_screen_in_english_and_done_leaves_nothing_behind(tmp_path: Path) -> None:
    png = tmp_path / "handoff-en.png"
    result = run_handoff_driver(
        "handoff",
        tmp_path / "data",
        config={"survey": "post-visit", **ENROLLED},
        language="en",
        answers=POST_VISIT,
        handoff_at="improve",
        finish="done",
        screenshot=str(png),
        secrets=["Shorter wait", "wait please"],
    )
    assert result["offered"] == dict.fromkeys(POST_VISIT, True)
    assert result["stored_when_shown"] == [1], "the code showed before the record was saved"
    assert result["heading"] == "Continue on your phone"
    assert result["steps"] == [
        "Open the camera on your phone.",
        "Point it at this code.",
        "Tap the link that appears, then answer the last questions.",
    ]
    assert result["note"] == "Your answers so far are saved. The link works for 30 minutes."
    assert result["done"] == "Done"
    assert result["layout_problems"] == []
    assert result["texture_filters"] == ["nearest", "nearest"]
    window = result["window"]
    assert result["drawn_px"] == result["modules"] * result["module_px"]
    assert result["drawn_px"] >= 0.45 * window[1]

    code = scan(png)
    assert code.text == result["url"]
    assert code.ec_level == "M"
    assert result["modules"] == 17 + 4 * code.version + 8, "the quiet zone is part of the drawn code"
    assert code.quiet_zone_modules >= 4
    assert code.module_px == result["module_px"], "every module is a whole number of pixels"
    assert physical_cm(code.side_px, window) >= 6, "too small to scan from a metre"

    (record,) = stored(tmp_path / "data")
    assert record_problems(record) == []
    assert (record["status"], record["language"], record["kiosk_id"]) == ("handed_off", "en", "desk-ui")
    assert record["answers"] == POST_VISIT, "the text typed before the tap is kept too"
    handoff = read_link(code.text, builtin_survey("post-visit"))
    assert handoff.response_id == record["id"]
    assert dict(handoff.answers) == {k: v for k, v in POST_VISIT.items() if k != "improve"}
    assert handoff.text_on_kiosk == {"improve"}

    assert (result["phase_after"], result["screen_after"]) == ("welcome", "welcome")
    assert result["leftovers"] == []
    assert result["stored_after"] == 1


@pytest.mark.ui
def test_handoff_screen_in_spanish_resets_by_itself_after_a_minute(tmp_path: Path) -> None:
    """Larger text and high contrast, the hardest layout: on black, the code's own white border is
    the only quiet zone, so it must be there in full."""
    png = tmp_path / "handoff-es.png"
    result = run_handoff_driver(
        "handoff",
        tmp_path / "data",
        config={"survey": "fft", **ENROLLED},
        language="es",
        answers={"overall": "poor"},
        handoff_at="why",
        finish="timeout",
        large_text=True,
        high_contrast=True,
        screenshot=str(png),
    )
    assert (result["font_scale"], result["theme"]) == (1.3, "high_contrast")
    assert result["offered"] == {"overall": True, "why": True}
    assert result["heading"] == "Continúe en su teléfono"
    assert result["steps"] == [
        "Abra la cámara de su teléfono.",
        "Apunte la cámara a este código.",
        "Toque el enlace que aparece y responda las últimas preguntas.",
    ]
    assert (
        result["note"] == "Ya guardamos las respuestas que dio aquí. El enlace funciona durante 30 minutos."
    )
    assert result["done"] == "Listo"
    assert result["layout_problems"] == []
    code = scan(png)
    assert code.text == result["url"] and code.ec_level == "M"
    assert code.quiet_zone_modules == 4
    assert physical_cm(code.side_px, result["window"]) >= 6

    assert result["phase_before_timeout"] == "handoff"
    assert (result["phase_after"], result["screen_after"], result["language_after"]) == (
        "welcome",
        "welcome",
        "en",
    )
    assert result["leftovers"] == []
    (record,) = stored(tmp_path / "data")
    assert (record["status"], record["language"], record["answers"]) == (
        "handed_off",
        "es",
        {"overall": "poor"},
    )
    handoff = read_link(code.text, builtin_survey("fft"))
    assert (handoff.language, dict(handoff.answers), handoff.text_on_kiosk) == (
        "es",
        {"overall": "poor"},
        set(),
    )


@pytest.mark.ui
def test_no_phone_button_when_the_survey_does_not_allow_it(tmp_path: Path) -> None:
    survey = dict(builtin_survey("fft").raw) | {"id": "fft-kiosk-only", "handoff": False}
    survey.pop("$schema")
    data = tmp_path / "data"
    data.mkdir()
    (data / "kiosk-only.json").write_text(json.dumps(survey), encoding="utf-8")
    result = run_handoff_driver(
        "no_handoff",
        data,
        config={"survey": "kiosk-only.json", **ENROLLED},
        language="en",
        answers={"overall": "good", "why": "Fine"},
    )
    assert result == {"offered": {"overall": False, "why": False}, "tapped_hidden": [], "phase": "thank_you"}
    assert [r["status"] for r in stored(data)] == ["completed"]


@pytest.mark.ui
def test_no_phone_button_on_a_kiosk_not_enrolled(tmp_path: Path) -> None:
    result = run_handoff_driver(
        "no_handoff",
        tmp_path / "data",
        config={"survey": "post-visit", "kiosk_id": "desk-ui"},
        language="es",
        answers={**POST_VISIT, "contact_ok": False},
    )
    assert result["offered"] == dict.fromkeys([*POST_VISIT, "contact_ok"], False)
    assert (result["tapped_hidden"], result["phase"]) == ([], "thank_you")

"""Handoff scenarios for the real kiosk window: tests/ui_driver.py's driver, plus the QR code screen.

Run like ui_driver.py, one scenario per process: `python tests/handoff_driver.py '{"scenario": ...}'`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ui_driver import SCENARIOS, Driver, main  # first: it sets Kivy up for an offscreen window

# isort: split
from kivy.core.window import Window

from screens.qr import QrCode
from screens.widgets import ChoiceButton, KioskButton

PHONE_BUTTON = "Continue on my phone"


def phone_button(d: Driver) -> KioskButton | None:
    """The phone button if a patient can see it; None when it is not there."""
    try:
        return d.button(d.t(PHONE_BUTTON))
    except LookupError:
        return None


def screenshot(d: Driver, target: Path) -> None:
    d.pump(2)
    target.parent.mkdir(parents=True, exist_ok=True)
    Path(Window.screenshot(name=str(target.parent / ".shot.png"))).replace(target)


def scenario_handoff(d: Driver, p: dict[str, Any]) -> dict[str, Any]:
    """Answer up to `handoff_at`, tap "Continue on my phone", photograph the code, then leave by
    Done or by the timeout (`finish`), and look for anything the patient left behind."""
    for option, choice in (("large_text", "Larger text"), ("high_contrast", "High contrast")):
        if p.get(option):
            d.tap(d.find(ChoiceButton, text=d.t(choice)))
    d.start(p["language"])
    offered: dict[str, bool] = {}
    while d.c.question_view.question.id != p["handoff_at"]:
        qid = d.c.question_view.question.id
        offered[qid] = phone_button(d) is not None
        d.answer(p["answers"][qid])
        d.clock.advance(2)
        d.next()
    if p["handoff_at"] in p["answers"]:
        d.answer(p["answers"][p["handoff_at"]])  # typed, and not confirmed with Next
    button = phone_button(d)
    offered[p["handoff_at"]] = button is not None
    assert button is not None, "no phone button on the question screen"
    # The rest of the question screen is checked by test_ui_kiosk.py; here, the phone button.
    problems = [m for m in d.layout_problems("question") if repr(button.text) in m]
    d.shot(f"question-{p['language']}")
    d.tap(button)
    d.until(lambda: d.c.phase == "handoff")
    screen = d.app.screens["handoff"]
    qr: QrCode = screen.qr
    shown = {
        "phase": d.c.phase,
        "screen": d.app.manager.current,
        "stored_when_shown": [count for name, count in d.screens_seen if name == "handoff"],
        "heading": screen.heading,
        "steps": list(screen.steps),
        "note": screen.note,
        "done": screen.ids.done.text,
        "url": qr.data,
        "modules": qr.modules,
        "module_px": qr.module_px,
        "drawn_px": qr.drawn_size,
        "window": [Window.width, Window.height],
        "font_scale": d.app.font_scale,
        "theme": d.app.theme.name,
        "texture_filters": [qr.texture.mag_filter, qr.texture.min_filter],
    }
    problems += d.layout_problems("handoff")
    if p.get("screenshot"):
        screenshot(d, Path(p["screenshot"]))
    d.shot(f"handoff-{p['language']}")
    if p["finish"] == "done":
        d.tap(d.button(d.t("Done")))
        before_timeout = None
    else:
        d.wait(d.c.config.handoff_seconds - 1)
        before_timeout = d.c.phase
        d.wait(1)
    d.pump(2)
    secrets = [*p.get("secrets", []), qr_token(shown["url"])]
    return {
        **shown,
        "offered": offered,
        "layout_problems": problems,
        "phase_before_timeout": before_timeout,
        "phase_after": d.c.phase,
        "screen_after": d.app.manager.current,
        "language_after": d.c.language,
        "leftovers": d.leftovers(secrets) + qr_leftovers(d),
        "stored_after": d.store.count(),
    }


def qr_token(url: str) -> str:
    return url.rsplit("/p/", 1)[-1]


def qr_leftovers(d: Driver) -> list[str]:
    return [
        f"a QR code still holds {w.data[:40]!r}"
        for w in d.everything()
        if isinstance(w, QrCode) and (w.data or w.texture is not None)
    ]


def scenario_no_handoff(d: Driver, p: dict[str, Any]) -> dict[str, Any]:
    """Walk the survey: on no question may the phone button show, or answer a tap where it sits."""
    d.start(p["language"])
    offered: dict[str, bool] = {}
    tapped_hidden: list[str] = []
    while d.c.question_view is not None:
        qid = d.c.question_view.question.id
        offered[qid] = phone_button(d) is not None
        d.tap(d.app.screens["question"].ids.phone)
        if d.c.phase != "question" or d.c.question_view is None or d.c.question_view.question.id != qid:
            tapped_hidden.append(qid)
        d.answer(p["answers"][qid])
        d.clock.advance(2)
        d.next()
    d.until(lambda: d.c.phase == "thank_you")
    return {"offered": offered, "tapped_hidden": tapped_hidden, "phase": d.c.phase}


SCENARIOS.update(handoff=scenario_handoff, no_handoff=scenario_no_handoff)

if __name__ == "__main__":
    main()

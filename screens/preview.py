"""Render every screen of a survey to PNG, offscreen, so an admin can review it before deploying it.

The screens are the real ones, drawn by the real app; only the store is a stand-in (a preview saves
nothing) and the clock is a fake one, so that the "Still there?" countdown shows without waiting.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from kiosk.config import KioskConfig
from kiosk.controller import KioskController, QuestionView
from kiosk.survey import Survey

FRAMES_PER_SHOT = 3
# The handoff screen shows an example link, signed with a throwaway key: a preview never signs with
# the kiosk's own key, so a photo of it can start nothing on a real server.
EXAMPLE_SERVER = "https://feedback.example.org"
EXAMPLE_TOKEN = "front-desk-1.preview-only-not-a-kiosk-token"
EXAMPLE_KIOSK = "front-desk-1"


class PreviewStore:
    """Saves nothing: a preview is never a response."""

    def save(self, record: dict[str, Any]) -> None:
        pass

    def count(self) -> int:
        return 0

    def pending_count(self) -> int:
        return 0

    def status(self) -> dict[str, Any]:
        return {"last_error": None}


class PreviewClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def render_preview(
    survey: Survey, config: KioskConfig, languages: list[str], out: Path, *, logo: Path | None = None
) -> list[Path]:
    from kivy.base import EventLoop, runTouchApp
    from kivy.core.window import Window

    from screens.app import KioskApp

    clock = PreviewClock()
    example = dataclasses.replace(
        config, server_url=EXAMPLE_SERVER, token=EXAMPLE_TOKEN, kiosk_id=EXAMPLE_KIOSK
    )
    controller = KioskController(survey, example, PreviewStore(), clock=clock)
    app = KioskApp(controller, speech=None, logo=logo, transitions=False)
    app._run_prepare()
    runTouchApp(embedded=True)
    written: list[Path] = []
    per_language: list[Path] = []

    def shot(name: str) -> None:
        for _ in range(FRAMES_PER_SHOT):
            EventLoop.idle()
        target = out / f"{survey.id}-{controller.language}-{len(per_language) + 1:02d}-{name}.png"
        Path(Window.screenshot(name=str(out / ".shot.png"))).replace(target)
        per_language.append(target)
        written.append(target)

    try:
        for language in languages:
            per_language.clear()
            controller.reset()
            controller.choose_language(language)
            shot("welcome")
            question_screen = app.screen("question")
            app.show_screen("question")
            for question in survey.questions:
                view = QuestionView.preview(survey, question, language, can_hand_off=controller.can_hand_off)
                question_screen.show_view(view, controller.texts)
                shot(f"question-{question.id}")
            controller.start()
            clock.now += controller.idle_seconds + 3
            controller.tick()
            shot("still-there")
            controller.still_here()
            controller.reset()
            controller.choose_language(language)
            thank_you = app.screen("thank_you")
            app.show_screen("thank_you")
            thank_you.show(survey, language, controller.texts, failed=False)
            shot("thank-you")
            thank_you.show(survey, language, controller.texts, failed=True)
            shot("save-failed")
            if controller.can_hand_off:
                controller.reset()
                controller.choose_language(language)
                controller.start()
                controller.handoff()
                shot("handoff")
    finally:
        app.stop()
    return written

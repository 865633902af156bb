"""Render every screen of a survey to PNG, offscreen, so an admin can review it before deploying it.

The screens are the real ones, drawn by the real app; only the store is a stand-in (a preview saves
nothing) and the clock is a fake one, so that the "Still there?" countdown shows without waiting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kiosk.config import KioskConfig
from kiosk.controller import KioskController, QuestionView
from kiosk.survey import Survey

FRAMES_PER_SHOT = 3


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
    controller = KioskController(survey, config, PreviewStore(), clock=clock)
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
                question_screen.show_view(QuestionView.preview(survey, question, language), controller.texts)
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
    finally:
        app.stop()
    return written

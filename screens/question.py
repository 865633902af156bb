"""One question at a time: progress, the question, its answer widget, Read aloud, Back and Next.

The screen is built once; the answer widget of each question is built the first time that question
is shown and kept, so moving between questions only swaps widgets and sets their state.
"""

from __future__ import annotations

from typing import Any

from kivy.app import App

from kiosk.controller import KioskController, QuestionView
from kiosk.i18n import N_, Texts
from screens.base import KioskScreen
from screens.widgets import AnswerWidget, answer_widget, load_kv, rating_words

load_kv(__file__)

HINTS = {
    "single_choice": N_("Choose one answer."),
    "multiple_choice": N_("Choose all the answers that apply."),
    "rating": N_("Choose one answer."),
    "likelihood": N_("Choose a number from 0 to 10."),
    "yes_no": N_("Choose Yes or No."),
    "text": "",
    "info": "",
}


class QuestionScreen(KioskScreen):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._answers: dict[tuple[str, int, str], AnswerWidget] = {}
        self._shown: AnswerWidget | None = None
        self.view: QuestionView | None = None
        if App.get_running_app().speech is None:
            self.ids.header.remove_widget(self.ids.speaker)

    def render(self, c: KioskController) -> None:
        view = c.question_view
        if view is None:  # saving: the last question stays, its buttons asleep
            self.ids.next.disabled = self.ids.back.disabled = True
            self._offer_phone(False)
            self.ids.status.text = c.texts("Saving your answers…") if c.saving else ""
            return
        self.show_view(view, c.texts)

    def show_view(self, view: QuestionView, texts: Texts) -> None:
        q = view.question
        self.view = view
        ids = self.ids
        ids.progress.text = texts("Question {step} of {steps}", step=view.step, steps=view.steps)
        ids.question_text.text = view.text(q.text)
        hint = view.text(q.help) if q.help else texts(HINTS[q.type]) if HINTS[q.type] else ""
        if not q.required and q.takes_answer:
            hint = f"{hint} {texts('You may skip this question.')}".strip()
        ids.hint.text = hint
        key = (*view.survey.key, q.id)  # a new version of the survey gets new widgets
        widget = self._answers.get(key)
        if widget is None:
            widget = self._answers[key] = answer_widget(q)
            widget.bind(on_choose=self._chosen)
            if q.type == "text":
                widget.bind(
                    on_type=lambda _, text: self.controller.type_text(text),
                    on_erase=lambda _: self.controller.erase(),
                )
        if widget is not self._shown:
            ids.answer_area.clear_widgets()
            ids.answer_area.add_widget(widget)
            self._shown = widget
        widget.show(view, texts)
        ids.next.text = texts("Finish") if view.is_last else texts("Next")
        ids.next.disabled = not view.can_advance
        ids.back.disabled = False
        ids.status.text = ""
        self._offer_phone(view.can_hand_off)

    def _offer_phone(self, offered: bool) -> None:
        """ "Continue on my phone" is not there at all unless the survey and the kiosk allow it."""
        self.ids.phone.opacity = 1 if offered else 0
        self.ids.phone.disabled = not offered

    def _chosen(self, _widget: AnswerWidget, value: Any) -> None:
        if self.view is not None and self.view.question.type == "multiple_choice":
            self.controller.toggle_option(value)
        else:
            self.controller.answer(value)

    def read_aloud(self) -> None:
        app = App.get_running_app()
        if app.speech is not None and self.view is not None:
            app.speech.say(spoken_text(self.view, self.controller.texts), self.view.language)

    def clear(self) -> None:
        for widget in self._answers.values():
            widget.clear()
        # Between patients the kiosk may have moved to another survey or version: the widgets of
        # the one it left are not kept for the rest of the day.
        current = self.controller.survey.key
        self._answers = {key: w for key, w in self._answers.items() if key[:2] == current}
        self.ids.answer_area.clear_widgets()
        self._shown = None
        self.view = None
        for name in ("progress", "question_text", "hint", "status"):
            self.ids[name].text = ""
        self._offer_phone(False)


def spoken_text(view: QuestionView, texts: Texts) -> str:
    """The question, its help, then its options in order: what a sighted patient reads on screen."""
    q = view.question
    parts = [view.text(q.text)]
    if q.help:
        parts.append(view.text(q.help))
    if q.options:
        parts += [view.text(o.label) for o in q.options]
    elif q.type == "rating":
        parts += rating_words(view, texts)  # the words on screen, the kiosk's own when the survey has none
    elif q.type == "likelihood":
        parts.append(texts("Choose a number from 0 to 10."))
        if q.min_label and q.max_label:
            parts += [f"0: {view.text(q.min_label)}", f"10: {view.text(q.max_label)}"]
    elif q.type == "yes_no":
        parts += [texts("Yes"), texts("No")]
    return ". ".join(p.rstrip(".") for p in parts if p) + "."

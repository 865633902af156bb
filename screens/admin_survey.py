"""Survey panel: the surveys this kiosk can show, one big button each; a tap makes it the survey.

The choice is saved in config.json and shown from the next patient on (the admin screen is only
ever open between patients). Surveys the server publishes are kept on the kiosk when chosen, so
the kiosk still starts with them offline.
"""

from __future__ import annotations

from typing import Any

from kivy.properties import StringProperty
from kivy.uix.boxlayout import BoxLayout

from kiosk.admin import SurveyChoice
from kiosk.controller import KioskController
from kiosk.i18n import N_, Texts
from screens.admin import AdminPanel, desk
from screens.widgets import ChoiceButton, load_kv

load_kv(__file__)

SOURCE_WORDS = {
    "built-in": N_("built in"),
    "kiosk": N_("kept on this kiosk"),
    "server": N_("from the server"),
}


class SurveyPanel(AdminPanel, BoxLayout):
    status = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shown: tuple[Any, ...] = ()

    def render(self, c: KioskController) -> None:
        admin = c.admin
        assert admin is not None
        t = c.texts
        choices = admin.surveys
        if (choices, t, c.language) != self._shown:
            self._shown = (choices, t, c.language)
            self._fill(choices or [], t, c.language)
        for button in self.ids.surveys.children:
            button.selected = admin.is_active(button.choice)
        if choices is None:
            self.status = t("Checking…")
        elif admin.switching:
            self.status = t("Saving…")
        elif admin.survey_error:
            self.status = t("The survey could not be changed: {error}", error=admin.survey_error)
        elif admin.notice == "survey_switched":
            self.status = t("Saved. The next patient sees this survey.")
        else:
            self.status = ""

    def _fill(self, choices: list[SurveyChoice], t: Texts, language: str) -> None:
        box = self.ids.surveys
        box.clear_widgets()
        for choice in choices:
            button = SurveyButton(choice=choice, text=choice_text(choice, t, language))
            button.bind(on_release=lambda b: desk().choose_survey(b.choice))
            box.add_widget(button)

    def clear(self) -> None:
        self.status = ""
        self.ids.surveys.clear_widgets()
        self._shown = ()


class SurveyButton(ChoiceButton):
    def __init__(self, choice: SurveyChoice, **kwargs: Any) -> None:
        self.choice = choice
        super().__init__(value=choice.survey.id, **kwargs)


def choice_text(choice: SurveyChoice, t: Texts, language: str) -> str:
    survey = choice.survey
    details = t(
        "{id}, version {version}, {source}",
        id=survey.id,
        version=survey.version,
        source=t(SOURCE_WORDS[choice.source]),
    )
    return survey.text(survey.title, language) + "\n" + details

"""The welcome screen: the clinic, one line of invitation, languages in their own names, and Start."""

from __future__ import annotations

from typing import Any

from kivy.properties import StringProperty

from kiosk.controller import KioskController
from kiosk.i18n import Texts
from screens.base import KioskScreen
from screens.widgets import ChoiceButton, load_kv

load_kv(__file__)


class WelcomeScreen(KioskScreen):
    clinic_name = StringProperty("")
    title = StringProperty("")
    invitation = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._languages: list[ChoiceButton] = []

    def render(self, c: KioskController) -> None:
        self.clinic_name = c.config.clinic_name
        self.title = c.survey.text(c.survey.title, c.language)
        self.invitation = c.survey.text(c.survey.welcome, c.language)
        offered = c.languages if len(c.languages) > 1 else []  # one language needs no choosing
        if [b.value for b in self._languages] != offered:
            self.ids.languages.clear_widgets()
            self._languages = []
            for language in offered:
                button = ChoiceButton(value=language, text=Texts(language).language_name)
                button.bind(on_release=lambda b: self.controller.choose_language(b.value))
                self._languages.append(button)
                self.ids.languages.add_widget(button)
        for button in self._languages:
            button.selected = button.value == c.language
        self.ids.large_text.selected = c.large_text
        self.ids.high_contrast.selected = c.high_contrast

    def clear(self) -> None:
        for button in self._languages:
            button.selected = False
        self.ids.large_text.selected = False
        self.ids.high_contrast.selected = False

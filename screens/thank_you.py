"""The end of a visit: "Thank you" once the answers are saved, or a calm word when they could not be."""

from __future__ import annotations

from kivy.properties import BooleanProperty, StringProperty

from kiosk.controller import KioskController
from kiosk.i18n import Texts
from kiosk.survey import Survey
from screens.base import KioskScreen
from screens.widgets import load_kv

load_kv(__file__)


class ThankYouScreen(KioskScreen):
    failed = BooleanProperty(False)
    message = StringProperty("")
    detail = StringProperty("")

    def render(self, c: KioskController) -> None:
        self.show(c.survey, c.language, c.texts, failed=c.phase == "save_failed")

    def show(self, survey: Survey, language: str, texts: Texts, *, failed: bool) -> None:
        self.failed = failed
        if failed:
            self.message = texts("We are sorry: your answers could not be saved just now.")
            self.detail = texts("Please tell the front desk. Thank you for your time.")
        else:
            self.message = survey.text(survey.thank_you, language)
            self.detail = ""

    def clear(self) -> None:
        self.message = self.detail = ""
        self.failed = False

"""The phone handoff: the QR code of the signed link, three short steps, and Done.

The answers so far are already saved when this screen shows. The screen goes back to the welcome
screen on Done or by itself (`config.handoff_seconds`), and forgets the code when it does: the
link carries the patient's answers.
"""

from __future__ import annotations

from kivy.properties import ListProperty, StringProperty

from kiosk.controller import KioskController
from kiosk.i18n import N_, Texts
from screens.base import KioskScreen
from screens.qr import QrCode
from screens.widgets import load_kv

load_kv(__file__)

STEPS = (
    N_("Open the camera on your phone."),
    N_("Point it at this code."),
    N_("Tap the link that appears, then answer the last questions."),
)


class HandoffScreen(KioskScreen):
    heading = StringProperty("")
    steps = ListProperty(["" for _ in STEPS])
    note = StringProperty("")

    @property
    def qr(self) -> QrCode:
        return self.ids.qr

    def render(self, c: KioskController) -> None:
        self.show(c.handoff_url or "", c.texts, c.config.handoff_minutes)

    def show(self, link: str, texts: Texts, minutes: int) -> None:
        self.heading = texts("Continue on your phone")
        self.steps = [texts(step) for step in STEPS]
        saved = texts("Your answers so far are saved.")
        works = texts.plural("The link works for {n} minute.", "The link works for {n} minutes.", minutes)
        self.note = f"{saved} {works}"
        self.qr.data = link

    def clear(self) -> None:
        self.qr.data = ""
        self.heading = self.note = ""
        self.steps = ["" for _ in STEPS]

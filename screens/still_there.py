"""The "Still there?" overlay: the idle countdown, with one large button to carry on (WCAG 2.2.1)."""

from __future__ import annotations

from kivy.properties import StringProperty
from kivy.uix.modalview import ModalView

from kiosk.controller import KioskController
from screens.widgets import load_kv

load_kv(__file__)


class StillThereOverlay(ModalView):
    message = StringProperty("")

    def render(self, c: KioskController) -> None:
        self.message = c.texts.plural(
            "This survey will close in {n} second.", "This survey will close in {n} seconds.", c.countdown
        )

    def clear(self) -> None:
        self.message = ""

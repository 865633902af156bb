"""The staff PIN pad, brought up by holding the top-left corner; five wrong PINs lock it for 5 minutes."""

from __future__ import annotations

from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.modalview import ModalView

from kiosk.controller import PIN_ATTEMPTS, KioskController
from screens.widgets import load_kv

load_kv(__file__)


class PinPad(ModalView):
    dots = StringProperty("")
    message = StringProperty("")
    ready = BooleanProperty(True)

    def render(self, c: KioskController) -> None:
        t = c.texts
        self.dots = "•" * len(c.pin_entry)
        self.ready = c.pin_ready
        locked = c.pin_locked_seconds
        if locked:
            minutes, seconds = divmod(locked, 60)
            self.message = t(
                "Too many wrong PINs. Try again in {minutes}:{seconds:02d}.", minutes=minutes, seconds=seconds
            )
        elif c.pin_checking:
            self.message = t("Checking…")
        elif c.pin_wrong:
            left = PIN_ATTEMPTS - c.pin_failures
            self.message = t.plural("Wrong PIN. {n} try left.", "Wrong PIN. {n} tries left.", left)
        else:
            self.message = ""

    def clear(self) -> None:
        self.dots = self.message = ""

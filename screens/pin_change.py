"""Change-PIN panel: the new PIN twice on a big keypad; it is saved hashed, on the worker thread."""

from __future__ import annotations

from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from kiosk.config import PIN_MAX, PIN_MIN
from kiosk.controller import KioskController
from screens.admin import AdminPanel
from screens.widgets import load_kv

load_kv(__file__)


class PinChangePanel(AdminPanel, BoxLayout):
    instruction = StringProperty("")
    dots = StringProperty("")
    message = StringProperty("")
    ready = BooleanProperty(True)

    def render(self, c: KioskController) -> None:
        admin = c.admin
        assert admin is not None
        t = c.texts
        pin = admin.pin
        self.ready = pin.stage != "saving"
        self.dots = "•" * len(pin.entry)
        if pin.stage == "again":
            self.instruction = t("Enter the new PIN again.")
        elif pin.stage == "saving":
            self.instruction = t("Saving…")
        else:
            self.instruction = t("Enter the new PIN: {low} to {high} digits.", low=PIN_MIN, high=PIN_MAX)
        if pin.problem == "short":
            self.message = t("A PIN has {low} to {high} digits.", low=PIN_MIN, high=PIN_MAX)
        elif pin.problem == "mismatch":
            self.message = t("The two PINs were not the same. Start again.")
        elif pin.problem == "failed":
            self.message = t("The PIN could not be saved: {error}", error=pin.error or "?")
        else:
            self.message = ""

    def clear(self) -> None:
        self.instruction = self.dots = self.message = ""

"""What every screen has: it renders the controller's state, and it can forget the previous patient."""

from __future__ import annotations

from kivy.app import App
from kivy.uix.screenmanager import Screen

from kiosk.controller import KioskController


class KioskScreen(Screen):
    @property
    def controller(self) -> KioskController:
        return App.get_running_app().controller

    def render(self, controller: KioskController) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        """Drop every text, selection and scroll position; called on each reset between patients."""

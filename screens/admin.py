"""The staff screen, minimal for now: what is stored, what waits to sync, the last error, and Exit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kivy.app import App
from kivy.properties import StringProperty

from kiosk.controller import KioskController
from kiosk.i18n import Texts
from screens.base import KioskScreen
from screens.widgets import load_kv

if TYPE_CHECKING:
    from sync.client import SyncClient

load_kv(__file__)


class AdminScreen(KioskScreen):
    stored = StringProperty("")
    pending = StringProperty("")
    last_error = StringProperty("")
    sync = StringProperty("")

    def render(self, c: KioskController) -> None:
        t = c.texts
        status = c.admin_status
        if status is None:
            self.stored = self.pending = self.last_error = t("Checking…")
        else:
            self.stored = t("Responses stored: {n}", n=status.stored)
            self.pending = t("Waiting to sync: {n}", n=status.pending)
            if status.unsaved:
                self.pending += "\n" + t("Not saved yet, kept in memory: {n}", n=status.unsaved)
            self.last_error = t("Last error: {error}", error=status.last_error or t("none"))
        self.sync = sync_line(App.get_running_app().sync, t)

    def clear(self) -> None:
        self.stored = self.pending = self.last_error = self.sync = ""


def sync_line(client: SyncClient | None, t: Texts) -> str:
    """One line about the uploader: its last error, or when it last got through."""
    if client is None:
        return t("Sync: this kiosk is not enrolled with a server.")
    status = client.status
    if status.last_error:
        return t("Sync: {state}", state=status.last_error)
    if status.last_success is None:
        return t("Sync: {state}", state=t("not yet"))
    return t(
        "Sync: {state}", state=t("last sent {time}", time=status.last_success.astimezone().strftime("%H:%M"))
    )

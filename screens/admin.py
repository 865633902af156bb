"""The staff screen behind the PIN: counts, sync, and the doors to export, survey and PIN panels.

It draws what `KioskController.admin_status` and `kiosk.admin.KioskAdmin` hold; the controller's
tick polls their snapshots, so the figures move while the screen is open and nothing here waits on
the network or the disk. The other panels (screens/admin_export, admin_survey, pin_change) replace
the home panel inside this screen, built on first use.
"""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kivy.app import App
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.widget import Widget

from kiosk.controller import KioskController
from kiosk.i18n import Texts
from screens.base import KioskScreen
from screens.widgets import load_kv

if TYPE_CHECKING:
    from kiosk.admin import KioskAdmin

load_kv(__file__)

PANELS = {
    "export": "screens.admin_export:ExportPanel",
    "survey": "screens.admin_survey:SurveyPanel",
    "pin": "screens.pin_change:PinChangePanel",
}
ERROR_CHARS = 160  # a long store error (paths) must not push the buttons off the screen


def desk() -> KioskAdmin:
    """The running kiosk's admin desk, for the panels' buttons."""
    admin = App.get_running_app().controller.admin
    assert admin is not None
    return admin


class AdminPanel(Widget):
    """A panel of the admin screen: `render` draws the controller's state, `clear` forgets it."""

    def render(self, c: KioskController) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        pass


class AdminScreen(KioskScreen):
    survey_line = StringProperty("")
    today = StringProperty("")
    stored = StringProperty("")
    pending = StringProperty("")
    sync = StringProperty("")
    last_error = StringProperty("")
    notice = StringProperty("")
    full = BooleanProperty(False)  # the desk is there (not in a preview): export, survey, PIN
    can_sync = BooleanProperty(False)
    busy = BooleanProperty(False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.home = self.ids.home.__self__  # a strong reference: kv's ids are weak, the panel comes and goes
        self.panels: dict[str, AdminPanel] = {}

    def render(self, c: KioskController) -> None:
        admin = c.admin
        name = admin.panel if admin is not None else "home"
        if name == "home":
            self._show(self.home)
            self._render_home(c, admin)
        else:
            panel = self.panel(name)
            self._show(panel)
            panel.render(c)

    def panel(self, name: str) -> AdminPanel:
        if name not in self.panels:
            module, cls = PANELS[name].split(":")
            self.panels[name] = getattr(importlib.import_module(module), cls)()
        return self.panels[name]

    def _show(self, widget: Widget) -> None:
        if widget.parent is self:
            return
        for child in list(self.children):
            self.remove_widget(child)
        self.add_widget(widget)

    def _render_home(self, c: KioskController, admin: KioskAdmin | None) -> None:
        t = c.texts
        status = c.admin_status
        self.full = admin is not None
        self.busy = admin is not None and admin.busy
        self.can_sync = admin is not None and admin.sync is not None and not admin.syncing
        self.survey_line = t("Survey: {title}", title=c.survey.text(c.survey.title, c.language))
        if status is None:
            self.today = self.stored = self.pending = self.last_error = t("Checking…")
        else:
            self.today = t("Responses today: {n}", n=status.today) if status.today is not None else ""
            self.stored = t("Responses stored: {n}", n=status.stored)
            lines = [t("Waiting to sync: {n}", n=status.pending)]
            if status.quarantined:
                lines.append(t("Refused by the server: {n}", n=status.quarantined))
            if status.unsaved:
                lines.append(t("Not saved yet, kept in memory: {n}", n=status.unsaved))
            self.pending = "\n".join(lines)
            error = status.last_error or (admin.sync_status.last_error if admin and admin.sync else None)
            self.last_error = t("Last error: {error}", error=_shorten(error) if error else t("none"))
        self.sync = sync_line(admin, t)
        self.notice = _notice(c, admin, t)

    def clear(self) -> None:
        for name in ("survey_line", "today", "stored", "pending", "sync", "last_error", "notice"):
            setattr(self, name, "")
        for panel in self.panels.values():
            panel.clear()


def sync_line(admin: KioskAdmin | None, t: Texts) -> str:
    """When the uploader last got through; the error, if any, is on the "Last error" line."""
    status = admin.sync_status if admin is not None else None
    if status is None or not status.enrolled:
        return t("Sync: this kiosk is not enrolled with a server.")
    if admin is not None and admin.syncing:
        return t("Sync: {state}", state=t("sending now…"))
    if status.last_success is None:
        return t("Sync: {state}", state=t("not yet"))
    return t("Sync: {state}", state=t("last sent {time}", time=local_time(status.last_success)))


def local_time(moment: datetime) -> str:
    """14:05 today, 2026-11-26 14:05 another day: staff read the kiosk's own clock."""
    local = moment.astimezone()
    if local.date() == datetime.now().astimezone().date():
        return local.strftime("%H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


def _shorten(text: str) -> str:
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"


def _notice(c: KioskController, admin: KioskAdmin | None, t: Texts) -> str:
    if admin is None:
        return ""
    if admin.notice == "pin_changed":
        return t("The PIN is changed.")
    if admin.notice == "survey_switched":
        title = c.survey.text(c.survey.title, c.language)
        return t("The survey is now {title}. It starts with the next patient.", title=title)
    if admin.busy:
        return t("An export is being written.")
    return ""

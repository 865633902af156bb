"""Export panel: every stored response to a USB stick (or another folder) as CSV, XLSX or JSON.

The folders are big buttons, found again every two seconds while the panel is open, so a stick
plugged in now shows up without a "refresh". The export runs on a thread of its own
(`KioskAdmin.start_export`); this panel draws its progress and then where the file went.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from kiosk.admin import EXPORT_FORMATS, ExportJob, ExportTarget
from kiosk.controller import KioskController
from kiosk.i18n import Texts
from screens.admin import AdminPanel, desk
from screens.widgets import ChoiceButton, KioskButton, load_kv

load_kv(__file__)

FORMAT_NAMES = {"csv": "CSV", "xlsx": "Excel (XLSX)", "json": "JSON"}


class ExportPanel(AdminPanel, BoxLayout):
    intro = StringProperty("")
    status = StringProperty("")
    busy = BooleanProperty(False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.format_buttons: list[ChoiceButton] = []
        for fmt in EXPORT_FORMATS:
            button = ChoiceButton(value=fmt, text=FORMAT_NAMES[fmt])
            button.bind(on_release=lambda b: desk().choose_format(b.value))
            self.format_buttons.append(button)
            self.ids.formats.add_widget(button)
        self._paths: list[Path] | None = None
        self._texts: Texts | None = None

    def render(self, c: KioskController) -> None:
        admin = c.admin
        assert admin is not None
        t = c.texts
        job = admin.export
        self.busy = admin.busy
        status = c.admin_status
        self.intro = (
            ""
            if status is None
            else t.plural(
                "{n} response is stored on this kiosk.",
                "{n} responses are stored on this kiosk.",
                status.stored,
            )
        )
        for button in self.format_buttons:
            button.selected = button.value == admin.export_format
        targets = admin.targets or []
        paths = [target.path for target in targets]
        # The folders are rescanned every few seconds and their free space changes with any write:
        # the buttons are rebuilt only when the folders (or the language) change, else updated.
        if paths != self._paths or t is not self._texts:
            self._paths, self._texts = paths, t
            self._fill_targets(targets)
        for button, target in zip(reversed(self.ids.targets.children), targets, strict=True):
            button.target = target
            button.text = target_text(target, t)
            button.disabled = self.busy or not target.writable
        self.status = export_status(job, t) if job is not None else ""

    def _fill_targets(self, targets: list[ExportTarget]) -> None:
        box = self.ids.targets
        box.clear_widgets()
        for target in targets:
            button = TargetButton(target=target)
            button.bind(on_release=lambda b: desk().start_export(b.target.path))
            box.add_widget(button)

    def clear(self) -> None:
        self.status = self.intro = ""
        for button in self.format_buttons:
            button.selected = False
        self.ids.targets.clear_widgets()
        self._paths = None


class TargetButton(KioskButton):
    """One folder to export to; the text says what it is, where, and how much room is left."""

    def __init__(self, target: ExportTarget, **kwargs: Any) -> None:
        self.target = target
        super().__init__(**kwargs)


def target_text(target: ExportTarget, t: Texts) -> str:
    if target.kind == "removable":
        name = t("USB stick or card: {name}", name=target.name)
    elif target.kind == "kiosk":
        name = t("This kiosk's exports folder")
    else:
        name = t("Folder: {name}", name=target.name)
    details = [str(target.path)]
    if target.free_bytes is not None:
        details.append(t("{size} free", size=human_size(target.free_bytes)))
    if not target.writable:
        details.append(t("cannot be written to"))
    return name + "\n" + " · ".join(details)


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def export_status(job: ExportJob, t: Texts) -> str:
    total = job.total if job.total is not None else "?"
    if job.stage == "reading":
        return t("Reading the responses… {done} of {total}", done=job.done, total=total)
    if job.stage == "writing":
        return t("Writing {fmt}… {done} of {total}", fmt=FORMAT_NAMES[job.fmt], done=job.done, total=total)
    if job.stage == "failed":
        return t("Export failed: {error}", error=job.error or "?")
    done = t.plural(
        "Exported {n} response to {path}", "Exported {n} responses to {path}", job.count, path=str(job.path)
    )
    if job.missing:
        done += "\n" + t("Some surveys were not found: their answers are exported as codes.")
    return done

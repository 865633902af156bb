"""The staff side of the kiosk, behind the PIN: counts, sync, export to a USB stick, survey, PIN.

Kivy-free, like the controller, so that every rule here is tested without a window. Nothing in this
module makes the screen wait: exports and folder scans run on threads of their own (an export must
not hold up the save of the next patient's answers, which goes through the app's one worker), the
PIN hash and the config writes go through the controller's `background`, and the screen only ever
reads snapshots, which `poll()` compares on each tick of the app's clock.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from kiosk.config import PIN_MAX, PIN_MIN, KioskConfig
from kiosk.controller import Background, run_inline
from kiosk.exports import ExportError, export_file
from kiosk.exports.job import TABULAR
from kiosk.exports.surveys import SURVEYS_FOLDER, local_surveys
from kiosk.storage import write_atomic
from kiosk.store import StoreError
from kiosk.survey import Survey, SurveyError, builtin_survey, builtin_survey_ids, load_survey

Panel = Literal["home", "export", "survey", "pin"]
Source = Literal["built-in", "kiosk", "server"]

EXPORT_FORMATS = ("csv", "xlsx", "json")
EXPORTS_FOLDER = "exports"
MOUNTS_FILE = "/proc/self/mounts"
# Where desktop Linux, Raspberry Pi OS, usbmount and hand mounts put USB sticks and SD cards.
MEDIA_ROOTS = ("/media", "/run/media", "/mnt")
RESCAN_SECONDS = 2.0


class ServerSurveys(Protocol):
    def ids(self) -> list[str]: ...

    def get(self, survey_id: str) -> Survey | None: ...


class Uploader(Protocol):
    """The part of sync.client.SyncClient the admin screen uses (kiosk/ never imports sync/)."""

    surveys: ServerSurveys

    @property
    def status(self) -> Any: ...

    def sync_now(self, *, force: bool = False) -> None: ...


class Counter(Protocol):
    def count_since(self, moment: datetime) -> int: ...

    def count(self) -> int: ...

    def iter_records(self) -> Iterator[dict[str, Any]]: ...


def start_thread(job: Callable[[], None]) -> None:
    threading.Thread(target=job, name="kiosk-admin", daemon=True).start()


# -- where an export can go -------------------------------------------------------------------


@dataclass(frozen=True)
class ExportTarget:
    """A folder offered as one big button: a USB stick, the kiosk's own folder, or one IT named."""

    path: Path
    kind: Literal["removable", "kiosk", "configured"]
    free_bytes: int | None
    writable: bool

    @property
    def name(self) -> str:
        return self.path.name or str(self.path)


def _unescape_mount(text: str) -> str:
    """/proc/mounts writes a space in a mount point as \\040."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def removable_folders(mounts_file: str | Path = MOUNTS_FILE) -> list[Path]:
    """Mounted USB sticks and cards: block devices mounted under the media folders.

    The mount table decides, not a listing of /media: a folder that nothing is mounted on (left
    behind by an unplugged stick) would send the export to the kiosk's own disk. Only block
    devices count, so a tmpfs or a network share under /mnt is not offered as a stick (IT can name
    a share in config.json's `export_folders`). Without a Linux mount table there is no stick.
    """
    try:
        lines = Path(mounts_file).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    found: set[Path] = set()
    for line in lines:
        fields = line.split()
        if len(fields) < 2:
            continue
        point = _unescape_mount(fields[1])
        if fields[0].startswith("/dev/") and any(point.startswith(root + "/") for root in MEDIA_ROOTS):
            found.add(Path(point))
    return sorted(found)


def _target(path: Path, kind: Literal["removable", "kiosk", "configured"]) -> ExportTarget:
    """The kiosk's own folder may not exist yet: it is made at the first export, on its parent's disk."""
    where = _existing_parent(path)
    try:
        free: int | None = shutil.disk_usage(where).free
    except OSError:
        free = None
    return ExportTarget(path, kind, free, os.access(where, os.W_OK))


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def export_targets(
    data_dir: Path, configured: list[str], mounts_file: str | Path = MOUNTS_FILE
) -> list[ExportTarget]:
    """USB sticks first (that is what staff came for), then folders IT named, then the kiosk's own."""
    targets = [_target(p, "removable") for p in removable_folders(mounts_file)]
    for name in configured:
        path = Path(name).expanduser()
        if path.is_dir():
            targets.append(_target(path, "configured"))
    targets.append(_target(Path(data_dir) / EXPORTS_FOLDER, "kiosk"))
    seen: set[Path] = set()
    unique = []
    for target in targets:
        if target.path not in seen:
            seen.add(target.path)
            unique.append(target)
    return unique


def export_name(folder: Path, fmt: str, kiosk_id: str | None, day: datetime) -> Path:
    """feedback-<kiosk>-2026-11-27.csv; never over an earlier export of the same day."""
    stem = "-".join(part for part in ("feedback", kiosk_id, day.strftime("%Y-%m-%d")) if part)
    path = folder / f"{stem}.{fmt}"
    n = 2
    while path.exists():
        path = folder / f"{stem}-{n}.{fmt}"
        n += 1
    return path


class ExportCancelled(Exception):
    """The kiosk is closing: the half-written file is removed, the folder keeps no part of it."""


@dataclass
class ExportJob:
    """One export on its own thread; the screen reads its fields, only the thread writes them."""

    folder: Path
    fmt: str
    total: int | None = None
    stage: Literal["reading", "writing", "done", "failed"] = "reading"
    done: int = 0
    path: Path | None = None
    count: int = 0
    missing: list[tuple[str, int]] = field(default_factory=list)
    error: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    finished: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def running(self) -> bool:
        return self.stage in ("reading", "writing")

    @property
    def signature(self) -> tuple[Any, ...]:
        """What the screen shows of it; compared at each tick, so redrawn at most 4 times a second."""
        return (self.stage, self.done, self.error)


# -- surveys ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyChoice:
    survey: Survey
    source: Source
    setting: str  # what config.json's "survey" becomes; a server survey's is set once it is kept


def survey_choices(
    data_dir: Path, server: Mapping[str, Survey], current: Survey, current_setting: str
) -> list[SurveyChoice]:
    """The built-in surveys, those kept on this kiosk, and those the server publishes, one per id.

    When two sources have the same id the server's wins, then the kiosk's own file: between
    patients the server's newest version replaces the others anyway (`KioskController.reset`).
    """
    by_id: dict[str, SurveyChoice] = {}
    for survey_id in builtin_survey_ids():
        with contextlib.suppress(SurveyError):
            by_id[survey_id] = SurveyChoice(builtin_survey(survey_id), "built-in", survey_id)
    folder = Path(data_dir) / SURVEYS_FOLDER
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            with contextlib.suppress(SurveyError):
                survey = load_survey(path)
                kept = by_id.get(survey.id)
                if kept is None or kept.source == "built-in" or survey.version >= kept.survey.version:
                    by_id[survey.id] = SurveyChoice(survey, "kiosk", f"{SURVEYS_FOLDER}/{path.name}")
    for survey in server.values():
        by_id[survey.id] = SurveyChoice(survey, "server", "")
    if current.id not in by_id:  # a file IT named in config.json, outside the surveys folder
        by_id[current.id] = SurveyChoice(current, "kiosk", current_setting)
    return sorted(by_id.values(), key=lambda choice: choice.survey.id)


def keep_survey(data_dir: Path, survey: Survey) -> str:
    """Keep a server survey on this kiosk, so that it starts offline and exports find its labels."""
    folder = Path(data_dir) / SURVEYS_FOLDER
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = f"{survey.id}-v{survey.version}.json"
    write_atomic(folder / name, json.dumps(dict(survey.raw), ensure_ascii=False, indent=2).encode())
    return f"{SURVEYS_FOLDER}/{name}"


# -- the admin desk ---------------------------------------------------------------------------


@dataclass
class PinChange:
    """Enter the new PIN, then again; `problem` says why the last OK was not taken."""

    stage: Literal["first", "again", "saving"] = "first"
    entry: str = ""
    first: str = ""
    problem: Literal["", "short", "mismatch", "failed"] = ""
    error: str | None = None


class KioskAdmin:
    """What the admin screen shows and does; attached to a KioskController, which calls `poll()`."""

    def __init__(
        self,
        config: KioskConfig,
        data_dir: Path,
        store: Counter,
        *,
        sync: Uploader | None = None,
        mounts_file: str | Path = MOUNTS_FILE,
        spawn: Callable[[Callable[[], None]], None] = start_thread,
        wall_clock: Callable[[], datetime] = lambda: datetime.now().astimezone(),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.data_dir = Path(data_dir)
        self.store = store
        self.sync = sync
        self.mounts_file = mounts_file
        self.spawn = spawn
        self.wall_clock = wall_clock
        self.monotonic = monotonic
        self.background: Background = run_inline
        self._changed: Callable[[], None] = lambda: None
        self._use_survey: Callable[[Survey], None] = lambda survey: None
        self._current: Callable[[], Survey] | None = None
        self.panel: Panel = "home"
        self.notice: Literal["", "pin_changed", "survey_switched"] = ""
        self.export_format = EXPORT_FORMATS[0]
        self.export: ExportJob | None = None
        self.targets: list[ExportTarget] | None = None
        self.surveys: list[SurveyChoice] | None = None
        self.survey_error: str | None = None
        self.switching = False
        self.pin = PinChange()
        self._sync_asked: Any = _NOT_ASKED
        self._scanning = False
        self._scanned_at = -float("inf")
        self._seen: tuple[Any, ...] = ()

    def attach(
        self,
        *,
        background: Background,
        changed: Callable[[], None],
        use_survey: Callable[[Survey], None],
        current: Callable[[], Survey],
    ) -> None:
        """Called by the controller that owns this desk: its worker, its listeners, its survey."""
        self.background = background
        self._changed = changed
        self._use_survey = use_survey
        self._current = current

    # -- time passing --------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """An export is being written: the screen stays, and the kiosk does not exit under it."""
        return self.export is not None and self.export.running

    def poll(self) -> tuple[bool, bool]:
        """(anything to draw again, counts to read again): compares the snapshots the threads replace."""
        if (
            self.panel == "export"
            and not self._scanning
            and self.monotonic() - self._scanned_at >= RESCAN_SECONDS
        ):
            self.scan_targets()
        sync_status = self.sync.status if self.sync is not None else None
        export = self.export.signature if self.export is not None else None
        seen = (sync_status, export, self.targets, self.surveys)
        if seen == self._seen:
            return False, False
        before = self._seen or (None, None, None, None)
        self._seen = seen
        export_done = export is not None and export[0] == "done" and before[1] != export
        return True, before[0] is not sync_status or export_done

    def leave(self) -> None:
        """Back to the survey: nothing of the PIN being typed or of the last notice stays."""
        self.panel = "home"
        self.notice = ""
        self.pin = PinChange()
        self._sync_asked = _NOT_ASKED
        if not self.busy:
            self.export = None

    def show(self, panel: Panel) -> None:
        self.panel = panel
        self.notice = ""
        if panel == "export":
            self.scan_targets()
        elif panel == "survey":
            self.scan_surveys()
        elif panel == "pin":
            self.pin = PinChange()
        self._changed()

    # -- counts and sync -----------------------------------------------------------------------

    def count_today(self) -> int:
        """Responses saved since local midnight: "today" is the clinic's day, not UTC's."""
        midnight = self.wall_clock().replace(hour=0, minute=0, second=0, microsecond=0)
        return self.store.count_since(midnight)

    @property
    def sync_status(self) -> Any:
        return self.sync.status if self.sync is not None else None

    @property
    def syncing(self) -> bool:
        """Whether "Sync now" was pressed and the uploader has not finished an attempt since."""
        return (
            self.sync is not None
            and self._sync_asked is not _NOT_ASKED
            and self.sync.status.last_attempt == self._sync_asked
        )

    def sync_now(self) -> None:
        """Only sets the uploader's event: the network is never waited on here."""
        if self.sync is None:
            return
        self._sync_asked = self.sync.status.last_attempt
        self.sync.sync_now(force=True)
        self._changed()

    # -- export --------------------------------------------------------------------------------

    def choose_format(self, fmt: str) -> None:
        """For the next export: one being written keeps the format it started with."""
        if fmt in EXPORT_FORMATS:
            self.export_format = fmt
            self._changed()

    def scan_targets(self) -> None:
        """Look for USB sticks off the UI thread: a stat on a dying stick or network share can hang."""
        if self._scanning:
            return
        self._scanning = True
        self._scanned_at = self.monotonic()
        configured = list(self.config.export_folders)

        def scan() -> None:
            try:
                self.targets = export_targets(self.data_dir, configured, self.mounts_file)
            finally:
                self._scanned_at = self.monotonic()
                self._scanning = False

        self.spawn(scan)

    def start_export(self, folder: Path) -> ExportJob | None:
        """Every stored response to `folder`, on a thread of its own; `export` shows its progress."""
        if self.busy:
            return None
        fmt = self.export_format
        job = ExportJob(Path(folder), fmt, stage="reading" if fmt in TABULAR else "writing")
        self.export = job
        self.spawn(lambda: self._run_export(job))
        self._changed()
        return job

    def _run_export(self, job: ExportJob) -> None:
        try:
            self._write_export(job)
            job.stage = "done"
        except (ExportError, StoreError, OSError) as e:
            job.error = str(e)
            job.stage = "failed"
        except ExportCancelled:
            job.error = "cancelled: the kiosk was closing"
            job.stage = "failed"
        except Exception as e:  # a broken record must not kill the thread silently
            job.error = f"{type(e).__name__}: {e}"
            job.stage = "failed"
        finally:
            job.finished.set()

    def _write_export(self, job: ExportJob) -> None:
        folder = job.folder
        if folder == self.data_dir / EXPORTS_FOLDER:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not folder.is_dir():
            raise ExportError(f"{folder}: the folder is gone (was the USB stick taken out?)")
        job.total = self.store.count()
        surveys = local_surveys(self.data_dir)
        for survey in [*self.server_surveys().values(), *([self._current()] if self._current else [])]:
            surveys[survey.key] = survey
        passes = 0

        def open_records() -> Iterator[dict[str, Any]]:
            nonlocal passes
            passes += 1
            tabular_first_pass = job.fmt in TABULAR and passes == 1
            job.stage = "reading" if tabular_first_pass else "writing"
            job.done = 0
            return self._counted(job, self.store.iter_records())

        path = export_name(folder, job.fmt, self.config.kiosk_id, self.wall_clock())
        result = export_file(
            path,
            job.fmt,
            open_records,
            lambda survey_id, version: surveys.get((survey_id, version)),
            total=job.total,
            show_progress=False,
        )
        job.path, job.count, job.missing = path, result.count, list(result.missing_surveys)

    @staticmethod
    def _counted(job: ExportJob, records: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for record in records:
            if job.cancel.is_set():
                raise ExportCancelled()
            job.done += 1
            yield record

    def close(self, timeout: float = 10.0) -> None:
        """The app is stopping: end an export in flight, so no temporary file is left half-written."""
        job = self.export
        if job is not None and job.running:
            job.cancel.set()
            job.finished.wait(timeout)

    # -- survey --------------------------------------------------------------------------------

    def scan_surveys(self) -> None:
        """Read the survey files off the UI thread: each one is parsed and checked."""
        current = self._current() if self._current else None
        setting = self.config.survey
        server = self.server_surveys()

        def scan() -> None:
            if current is not None:
                self.surveys = survey_choices(self.data_dir, server, current, setting)

        self.spawn(scan)

    def server_surveys(self) -> dict[str, Survey]:
        """The surveys the server publishes for this kiosk, as the uploader last kept them."""
        cache = self.sync.surveys if self.sync is not None else None
        if cache is None:
            return {}
        found = {survey_id: cache.get(survey_id) for survey_id in cache.ids()}
        return {survey_id: survey for survey_id, survey in found.items() if survey is not None}

    def is_active(self, choice: SurveyChoice) -> bool:
        """One choice per survey id, so the survey on screen is the choice with its id."""
        return self._current is not None and self._current().id == choice.survey.id

    def choose_survey(self, choice: SurveyChoice) -> None:
        """Persist the choice in config.json; the controller shows it from the next patient on."""
        if self.switching or self.is_active(choice):
            return
        self.switching = True
        self.survey_error = None
        config, data_dir = self.config, self.data_dir

        def save() -> str:
            setting = keep_survey(data_dir, choice.survey) if choice.source == "server" else choice.setting
            before = config.survey
            config.survey = setting
            try:
                config.save(data_dir)
            except OSError:
                config.survey = before
                raise
            return setting

        self.background(save, lambda result: self._survey_saved(choice, result))
        self._changed()

    def _survey_saved(self, choice: SurveyChoice, result: str | Exception) -> None:
        self.switching = False
        if isinstance(result, Exception):
            self.survey_error = _reason(result)
        else:
            self._use_survey(choice.survey)
            self.notice = "survey_switched"
            self.scan_surveys()
        self._changed()

    # -- PIN -----------------------------------------------------------------------------------

    def pin_press(self, digit: str) -> None:
        pin = self.pin
        if pin.stage != "saving" and digit.isdigit() and len(digit) == 1 and len(pin.entry) < PIN_MAX:
            pin.entry += digit
            pin.problem = ""
            self._changed()

    def pin_erase(self) -> None:
        if self.pin.stage != "saving" and self.pin.entry:
            self.pin.entry = self.pin.entry[:-1]
            self._changed()

    def pin_ok(self) -> None:
        pin = self.pin
        if pin.stage == "saving":
            return
        if len(pin.entry) < PIN_MIN:
            pin.entry, pin.problem = "", "short"
        elif pin.stage == "first":
            pin.first, pin.entry, pin.stage, pin.problem = pin.entry, "", "again", ""
        elif pin.entry != pin.first:
            self.pin = PinChange(problem="mismatch")
        else:
            new, pin.entry, pin.first, pin.stage = pin.entry, "", "", "saving"
            self.background(lambda: self._save_pin(new), self._pin_saved)
        self._changed()

    def _save_pin(self, pin: str) -> None:
        """On the worker: the salted hash takes a fifth of a second. The old PIN stays if saving fails."""
        config = self.config
        before = config.pin_hash
        config.set_pin(pin)
        try:
            config.save(self.data_dir)
        except OSError:
            config.pin_hash = before
            raise

    def _pin_saved(self, result: Exception | None) -> None:
        if isinstance(result, Exception):
            self.pin = PinChange(problem="failed", error=_reason(result))
        else:
            self.pin = PinChange()
            self.panel = "home"
            self.notice = "pin_changed"
        self._changed()


_NOT_ASKED = object()


def _reason(error: Exception) -> str:
    if isinstance(error, OSError):
        return f"{error.filename2 or error.filename or 'config.json'}: {error.strerror or error}"
    return str(error) or type(error).__name__

"""The admin desk without a window: USB sticks, exports, sync, survey switch, PIN change, and the
controller rules around them (no exit and no timeout under an export)."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kiosk.admin import (
    EXPORTS_FOLDER,
    ExportTarget,
    KioskAdmin,
    SurveyChoice,
    export_name,
    export_targets,
    removable_folders,
    survey_choices,
)
from kiosk.config import KioskConfig
from kiosk.controller import ADMIN_IDLE_SECONDS, KioskController
from kiosk.record import iso, new_response_id, utc_now
from kiosk.store import ResponseStore, StoreError
from kiosk.survey import Survey, builtin_survey, parse_survey


def record(n: int, **changes: Any) -> dict[str, Any]:
    now = iso(utc_now())
    return {
        "id": new_response_id(),
        "survey_id": "fft",
        "survey_version": 1,
        "kiosk_id": "desk-1",
        "channel": "kiosk",
        "language": "en",
        "started_at": now,
        "submitted_at": now,
        "status": "completed",
        "answers": {"overall": "good", "why": f"+1 kind nurse {n}"},
        **changes,
    }


def inline(job: Any) -> None:
    job()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Status:
    last_success: datetime | None = None
    last_attempt: datetime | None = None
    last_error: str | None = None
    enrolled: bool = True


class FakeSurveys:
    def __init__(self, surveys: list[Survey]) -> None:
        self._surveys = {s.id: s for s in surveys}

    def ids(self) -> list[str]:
        return sorted(self._surveys)

    def get(self, survey_id: str) -> Survey | None:
        return self._surveys.get(survey_id)


class FakeUploader:
    """Stands in for SyncClient: a snapshot replaced whole, and an event that `sync_now` sets."""

    def __init__(self, surveys: list[Survey] | None = None) -> None:
        self.status = Status()
        self.forced: list[bool] = []
        self.surveys = FakeSurveys(surveys or [])

    def sync_now(self, *, force: bool = False) -> None:
        self.forced.append(force)


def server_survey(survey_id: str = "flu-clinic", version: int = 2) -> Survey:
    data = dict(builtin_survey("fft").raw)
    data.pop("$schema", None)
    return parse_survey({**data, "id": survey_id, "version": version, "title": {"en": "Flu", "es": "Gripe"}})


@pytest.fixture
def store(data_dir: Path) -> Iterator[ResponseStore]:
    with ResponseStore(data_dir) as s:
        yield s


def make(
    data_dir: Path, store: Any, *, sync: FakeUploader | None = None, **config: Any
) -> tuple[KioskAdmin, KioskController, Clock]:
    cfg = KioskConfig(kiosk_id="desk-1", **config)
    cfg.save(data_dir)
    no_sticks = data_dir / "mounts"
    no_sticks.write_text("/dev/sda2 / ext4 rw 0 0\n")
    admin = KioskAdmin(cfg, data_dir, store, sync=sync, spawn=inline, mounts_file=no_sticks)
    clock = Clock()
    controller = KioskController(builtin_survey("post-visit"), cfg, store, clock=clock, admin=admin)
    return admin, controller, clock


# -- where exports can go -------------------------------------------------------------------


def test_usb_sticks_are_block_devices_mounted_under_the_media_folders(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/sda2 / ext4 rw,relatime 0 0\n"
        "/dev/sdb1 /media/pi/KINGSTON vfat rw,nosuid 0 0\n"
        "/dev/sdc1 /media/pi/MY\\040STICK exfat rw 0 0\n"
        "/dev/mmcblk1p1 /run/media/nurse/CARD vfat rw 0 0\n"
        "tmpfs /mnt/scratch tmpfs rw 0 0\n"
        "//nas/share /mnt/share cifs rw 0 0\n"
        "/dev/sdd1 /mediathing ext4 rw 0 0\n"
    )
    assert removable_folders(mounts) == [
        Path("/media/pi/KINGSTON"),
        Path("/media/pi/MY STICK"),
        Path("/run/media/nurse/CARD"),
    ]


def test_targets_sticks_then_configured_then_the_kiosks_own(tmp_path: Path, data_dir: Path) -> None:
    share = tmp_path / "share"
    share.mkdir()
    (tmp_path / "mounts").write_text("")
    targets = export_targets(
        data_dir, [str(share), str(tmp_path / "missing"), str(share)], tmp_path / "mounts"
    )
    assert [(t.path, t.kind) for t in targets] == [
        (share, "configured"),
        (data_dir / EXPORTS_FOLDER, "kiosk"),
    ]
    # The kiosk's folder is made at the first export: until then its disk's room is shown.
    assert all(t.writable and t.free_bytes for t in targets)


def test_export_names_never_replace_an_earlier_export(tmp_path: Path) -> None:
    day = datetime(2026, 11, 27, 9, 30)
    assert export_name(tmp_path, "csv", None, day).name == "feedback-2026-11-27.csv"
    (tmp_path / "feedback-desk-1-2026-11-27.csv").write_text("earlier")
    (tmp_path / "feedback-desk-1-2026-11-27-2.csv").write_text("earlier")
    assert export_name(tmp_path, "csv", "desk-1", day).name == "feedback-desk-1-2026-11-27-3.csv"


# -- exporting ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json"])
def test_export_writes_every_record_to_the_chosen_folder(
    data_dir: Path, store: ResponseStore, tmp_path: Path, fmt: str
) -> None:
    records = [record(n) for n in range(7)]
    for r in records:
        store.save(r)
    admin, _, _ = make(data_dir, store)
    usb = tmp_path / "usb"
    usb.mkdir()
    admin.choose_format(fmt)
    job = admin.start_export(usb)
    assert job is not None and job.stage == "done", job.error
    assert (job.count, job.total, job.done, job.missing) == (7, 7, 7, [])
    assert job.path is not None and job.path.parent == usb and job.path.suffix == f".{fmt}"
    assert [p.name for p in usb.iterdir()] == [job.path.name]
    if fmt == "json":
        assert json.loads(job.path.read_text(encoding="utf-8")) == records
    elif fmt == "csv":
        with open(job.path, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
        assert [row["id"] for row in rows] == [r["id"] for r in records]
        assert rows[0]["why"] == "'+1 kind nurse 0"  # formula-like text stays text
    else:
        openpyxl = pytest.importorskip("openpyxl")
        sheet = openpyxl.load_workbook(job.path, read_only=True)["responses"]
        assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == [r["id"] for r in records]


def test_export_to_the_kiosks_own_folder_makes_it(data_dir: Path, store: ResponseStore) -> None:
    store.save(record(0))
    admin, _, _ = make(data_dir, store)
    job = admin.start_export(data_dir / EXPORTS_FOLDER)
    assert job is not None and job.stage == "done" and job.count == 1
    assert job.path is not None and job.path.parent == data_dir / EXPORTS_FOLDER


def test_a_stick_pulled_out_gives_a_clear_error(data_dir: Path, store: ResponseStore, tmp_path: Path) -> None:
    admin, _, _ = make(data_dir, store)
    job = admin.start_export(tmp_path / "gone")
    assert job is not None and job.stage == "failed"
    assert job.error == f"{tmp_path / 'gone'}: the folder is gone (was the USB stick taken out?)"


class BrokenStore:
    """A store whose disk fails after `good` records: the export fails and leaves no half file."""

    def __init__(self, store: ResponseStore, good: int) -> None:
        self.store, self.good = store, good

    def count(self) -> int:
        return self.store.count()

    def count_since(self, moment: datetime) -> int:
        return self.store.count_since(moment)

    def iter_records(self) -> Iterator[dict[str, Any]]:
        for n, r in enumerate(self.store.iter_records()):
            if n == self.good:
                raise StoreError("part-000001.json: read: Input/output error")
            yield r


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_failed_export_leaves_no_half_file(
    data_dir: Path, store: ResponseStore, tmp_path: Path, fmt: str
) -> None:
    for n in range(5):
        store.save(record(n))
    admin, _, _ = make(data_dir, BrokenStore(store, 3))
    admin.choose_format(fmt)
    job = admin.start_export(tmp_path)
    assert job is not None and job.stage == "failed"
    assert job.error == "part-000001.json: read: Input/output error"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


class StallingStore(BrokenStore):
    """Reading stalls after `good` records until released, like a slow SD card."""

    def __init__(self, store: ResponseStore, good: int) -> None:
        super().__init__(store, good)
        self.release = threading.Event()
        self.stalled = threading.Event()

    def iter_records(self) -> Iterator[dict[str, Any]]:
        for n, r in enumerate(self.store.iter_records()):
            if n == self.good:
                self.stalled.set()
                self.release.wait(10)
            yield r


def test_under_an_export_the_kiosk_neither_exits_nor_times_out(
    data_dir: Path, store: ResponseStore, tmp_path: Path
) -> None:
    for n in range(4):
        store.save(record(n))
    slow = StallingStore(store, 2)
    cfg = KioskConfig(kiosk_id="desk-1")
    admin = KioskAdmin(cfg, data_dir, slow, mounts_file=data_dir / "none")  # a real thread
    clock = Clock()
    c = KioskController(builtin_survey("fft"), cfg, store, clock=clock, admin=admin)
    c.open_admin()
    admin.choose_format("json")
    job = admin.start_export(tmp_path)
    assert job is not None and slow.stalled.wait(10)
    assert admin.busy and admin.start_export(tmp_path) is None  # one export at a time
    assert (job.stage, job.done) == ("writing", 2)
    assert not c.allows_exit
    c.exit_kiosk()
    assert not c.exit_requested
    clock.now += ADMIN_IDLE_SECONDS * 3
    c.tick()
    assert c.phase == "admin"
    slow.release.set()
    assert job.finished.wait(10) and job.stage == "done" and job.count == 4
    c.tick()
    assert c.allows_exit and c.phase == "admin"  # the screen's timeout starts again now
    clock.now += ADMIN_IDLE_SECONDS
    c.tick()
    assert c.phase == "welcome"


def test_closing_the_app_cancels_an_export_and_leaves_nothing(
    data_dir: Path, store: ResponseStore, tmp_path: Path
) -> None:
    for n in range(4):
        store.save(record(n))
    slow = StallingStore(store, 1)
    admin = KioskAdmin(KioskConfig(), data_dir, slow, mounts_file=data_dir / "none")
    admin.choose_format("json")
    job = admin.start_export(tmp_path)
    assert job is not None and slow.stalled.wait(10)
    threading.Timer(0.2, slow.release.set).start()
    admin.close()
    assert job.stage == "failed" and job.error == "cancelled: the kiosk was closing"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


# -- counts and sync ------------------------------------------------------------------------


def test_counts_today_from_local_midnight(data_dir: Path) -> None:
    noon = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    saved_at = [noon - timedelta(days=1), noon - timedelta(hours=11, minutes=59), noon]
    for when in saved_at:
        with ResponseStore(data_dir, clock=lambda when=when: when.timestamp()) as s:
            s.save(record(0))
    with ResponseStore(data_dir, clock=noon.timestamp) as s:
        admin, c, _ = make(data_dir, s)
        admin.wall_clock = lambda: noon
        c.open_admin()
        assert c.admin_status is not None
        assert (c.admin_status.today, c.admin_status.stored, c.admin_status.pending) == (2, 3, 3)


def test_sync_now_forces_a_pass_and_the_screen_follows_the_snapshots(
    data_dir: Path, store: ResponseStore
) -> None:
    uploader = FakeUploader()
    admin, c, _ = make(data_dir, store, sync=uploader)
    c.open_admin()
    changes: list[str] = []
    c.subscribe(lambda: changes.append(c.phase))
    c.tick()
    assert not admin.syncing
    admin.sync_now()
    assert uploader.forced == [True] and admin.syncing
    changes.clear()
    c.tick()
    assert changes == []  # nothing new: no redraw
    store.save(record(0))
    uploader.status = replace(uploader.status, last_attempt=utc_now(), last_success=utc_now())
    c.tick()
    assert not admin.syncing and changes  # a new snapshot: drawn again, and the counts re-read
    assert c.admin_status is not None and c.admin_status.pending == 1


def test_sync_now_without_a_server_does_nothing(data_dir: Path, store: ResponseStore) -> None:
    admin, _, _ = make(data_dir, store)
    admin.sync_now()
    assert not admin.syncing and admin.sync_status is None


# -- survey ---------------------------------------------------------------------------------


def test_survey_choices_one_per_id_server_first(data_dir: Path) -> None:
    kept = dict(builtin_survey("fft").raw) | {"version": 3}
    kept.pop("$schema")
    (data_dir / "surveys").mkdir()
    (data_dir / "surveys" / "fft-v3.json").write_text(json.dumps(kept), encoding="utf-8")
    (data_dir / "surveys" / "broken.json").write_text("{", encoding="utf-8")
    current = server_survey("walk-in", 1)
    choices = survey_choices(data_dir, {"flu-clinic": server_survey()}, current, "walk-in.json")
    summary = [(c.survey.id, c.survey.version, c.source, c.setting) for c in choices]
    assert summary == [
        ("fft", 3, "kiosk", "surveys/fft-v3.json"),
        ("flu-clinic", 2, "server", ""),
        ("post-visit", 1, "built-in", "post-visit"),
        ("walk-in", 1, "kiosk", "walk-in.json"),
    ]


def choice(admin: KioskAdmin, survey_id: str) -> SurveyChoice:
    admin.show("survey")
    assert admin.surveys is not None
    return next(c for c in admin.surveys if c.survey.id == survey_id)


def test_switching_to_a_server_survey_keeps_it_and_applies_between_patients(
    data_dir: Path, store: ResponseStore
) -> None:
    flu = server_survey()
    admin, c, _ = make(data_dir, store, sync=FakeUploader([flu]))
    c.open_admin()
    admin.choose_survey(choice(admin, "flu-clinic"))
    assert admin.notice == "survey_switched" and c.survey == flu
    assert KioskConfig.load(data_dir).survey == "surveys/flu-clinic-v2.json"
    assert json.loads((data_dir / "surveys" / "flu-clinic-v2.json").read_text()) == dict(flu.raw)
    assert admin.is_active(choice(admin, "flu-clinic"))
    c.reset()
    assert (c.phase, c.survey.id, admin.panel, admin.notice) == ("welcome", "flu-clinic", "home", "")


def test_a_survey_switch_that_cannot_be_saved_changes_nothing(data_dir: Path, store: ResponseStore) -> None:
    admin, c, _ = make(data_dir, store)
    c.open_admin()
    (data_dir / "config.json").unlink()
    (data_dir / "config.json").mkdir()  # os.replace onto a folder fails, as a broken disk would
    admin.choose_survey(choice(admin, "fft"))
    assert admin.survey_error is not None and "config.json" in admin.survey_error
    assert c.survey.id == "post-visit" and c.config.survey == "post-visit" and not admin.switching


# -- PIN ------------------------------------------------------------------------------------


def type_pin(admin: KioskAdmin, pin: str) -> None:
    for digit in pin:
        admin.pin_press(digit)
    admin.pin_ok()


def test_pin_change_asks_twice_and_saves_a_hash(data_dir: Path, store: ResponseStore) -> None:
    admin, c, _ = make(data_dir, store)
    c.open_admin()
    admin.show("pin")
    type_pin(admin, "123")
    assert (admin.pin.problem, admin.pin.entry, admin.pin.stage) == ("short", "", "first")
    type_pin(admin, "123456789")  # the ninth digit is not taken
    assert (admin.pin.stage, admin.pin.first) == ("again", "12345678")
    type_pin(admin, "12345679")
    assert (admin.pin.problem, admin.pin.stage, admin.pin.first) == ("mismatch", "first", "")
    type_pin(admin, "2580")
    admin.pin_erase()
    admin.pin_press("0")
    admin.pin_ok()
    type_pin(admin, "2580")
    assert (admin.panel, admin.notice) == ("home", "pin_changed")
    saved = json.loads((data_dir / "config.json").read_text())
    assert "2580" not in json.dumps(saved) and saved["pin_hash"].startswith("pbkdf2_sha256$")
    assert KioskConfig.load(data_dir).check_pin("2580") and c.config.check_pin("2580")
    assert not c.config.check_pin("2468")


def test_a_pin_that_cannot_be_saved_leaves_the_old_one(data_dir: Path, store: ResponseStore) -> None:
    admin, c, _ = make(data_dir, store)
    c.open_admin()
    (data_dir / "config.json").unlink()
    (data_dir / "config.json").mkdir()
    admin.show("pin")
    type_pin(admin, "9999")
    type_pin(admin, "9999")
    assert admin.pin.problem == "failed" and admin.panel == "pin"
    assert c.config.check_pin("2468") and not c.config.check_pin("9999")


def test_leaving_the_admin_screen_forgets_the_pin_being_typed(data_dir: Path, store: ResponseStore) -> None:
    admin, c, _ = make(data_dir, store)
    c.open_admin()
    admin.show("pin")
    type_pin(admin, "4321")
    admin.pin_press("4")
    c.reset()
    assert (admin.panel, admin.pin.entry, admin.pin.first) == ("home", "", "")


def test_the_export_panel_looks_for_sticks_again_while_open(data_dir: Path, store: ResponseStore) -> None:
    admin, c, _ = make(data_dir, store)
    mounts = Path(admin.mounts_file)
    now = [0.0]
    admin.monotonic = lambda: now[0]
    c.open_admin()
    admin.show("export")
    assert admin.targets is not None and [t.kind for t in admin.targets] == ["kiosk"]
    mounts.write_text(f"/dev/sdb1 /media/{data_dir.name}-stick vfat rw 0 0\n")
    c.tick()
    assert [t.kind for t in admin.targets] == ["kiosk"]  # not yet: every two seconds
    now[0] += 2.0
    c.tick()
    stick = admin.targets[0]
    assert isinstance(stick, ExportTarget) and stick.kind == "removable"
    assert stick.path == Path(f"/media/{data_dir.name}-stick")

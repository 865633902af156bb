"""Faults the store must report and survive: damaged files, a full or read-only disk, a failing
folder fsync, and the UI and sync threads writing at once.

Where this machine allows `mount` (root, not a locked-down container), the disk faults run on a
real small tmpfs. We run as root, and chmod does not stop root, so "read-only" means a tmpfs
remounted read-only. Every disk fault also has a variant that injects the errno at the OS call,
which runs everywhere, so CI covers the fault path even when mounts are forbidden.
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from pathlib import Path

import pytest
from store_helpers import make_record, remount, small_tmpfs
from tinydb import TinyDB

import kiosk.storage
import kiosk.store
from kiosk.storage import ChunkStorage
from kiosk.store import (
    FOLDER,
    PART_NAME,
    TABLE,
    ResponseStore,
    StoreError,
    summarize_documents,
)


def saved(store: ResponseStore, numbers) -> list[dict]:
    records = [make_record(n) for n in numbers]
    for record in records:
        store.save(record)
    return records


def assert_all_there(store: ResponseStore, records: list[dict]) -> None:
    for record in records:
        assert json.dumps(store.get(record["id"])) == json.dumps(record)


# -- damaged files ------------------------------------------------------------------------------


def damage(path: Path, how: str) -> None:
    raw = path.read_bytes()
    if how == "truncated":
        path.write_bytes(raw[: len(raw) * 2 // 3])
    elif how == "garbage":
        path.write_bytes(os.urandom(len(raw)))
    elif how in ("index bit flip", "data bit flip"):
        flipped = bytearray(raw)
        at = raw.index(b"\n") + 10 if how == "index bit flip" else len(raw) - 20
        flipped[at] ^= 0x01
        path.write_bytes(bytes(flipped))
    else:
        path.write_bytes(b"")


@pytest.mark.parametrize("how", ["truncated", "garbage", "index bit flip", "empty"])
def test_a_damaged_file_is_set_aside_and_reported_and_the_rest_loads(tmp_path, how):
    with ResponseStore(tmp_path, records_per_file=3) as store:
        records = saved(store, range(9))
    victim = tmp_path / FOLDER / "part-000002.json"
    damage(victim, how)
    damaged = victim.read_bytes()
    with ResponseStore(tmp_path, records_per_file=3) as store:
        status = store.status()
        assert store.count() == 6
        assert_all_there(store, records[:3] + records[6:])
        assert store.get(records[4]["id"]) is None
        assert len(status["corrupt_files"]) == 1
        kept = Path(status["corrupt_files"][0])
        assert kept.name.startswith("part-000002.json.corrupt-")
        assert kept.read_bytes() == damaged  # kept byte for byte, for whoever looks into it
        assert not victim.exists()
        assert any("part-000002.json" in problem for problem in status["problems"])
        # New answers still go in, into a new file rather than the damaged one's name.
        store.save(make_record(20))
        assert not victim.exists()
    with ResponseStore(tmp_path, records_per_file=3) as store:
        # Still visible after a restart, until someone deals with the kept file.
        assert store.status()["corrupt_files"] == [str(kept)]
        assert store.count() == 7


@pytest.mark.parametrize("how", ["garbage", "data bit flip"])
def test_damage_found_while_running_is_set_aside_and_reported(tmp_path, how):
    """A flipped bit in the answers is only seen when they are read (opening reads the indexes);
    it is then set aside and reported just the same."""
    with ResponseStore(tmp_path, records_per_file=1) as store:
        records = saved(store, range(20))  # 20 files; the first ones are no longer cached
        damage(tmp_path / FOLDER / "part-000001.json", how)
        assert store.get(records[0]["id"]) is None
        assert store.count() == 19
        assert len(store.status()["corrupt_files"]) == 1
        assert store.pending()[0] == records[1]


def write_part(data_dir: Path, seq: int, records: list[dict], synced: bool) -> None:
    """A partition file as another copy of the store (a restore from backup) might leave it."""
    db = TinyDB(
        data_dir / FOLDER / PART_NAME.format(seq),
        storage=ChunkStorage,
        summarize=summarize_documents,
    )
    at = time.time()
    docs = [
        {"record": r, "saved_at": at, "synced_at": at if synced else None, "quarantine": None}
        for r in records
    ]
    db.table(TABLE).insert_multiple(docs)
    db.close()


def test_a_response_also_in_another_file_is_counted_and_sent_once(tmp_path):
    with ResponseStore(tmp_path) as store:
        first = saved(store, range(2))
    write_part(tmp_path, 2, [make_record(0), make_record(5)], synced=True)
    with ResponseStore(tmp_path) as store:
        ids = [r["id"] for r in store.iter_records()]
        assert ids == [make_record(n)["id"] for n in (0, 1, 5)]
        assert store.count() == 3
        assert store.pending() == first  # the first copy (not yet sent) wins over the stray one
        assert any("stored twice" in problem for problem in store.status()["problems"])


def test_a_response_twice_in_one_file_is_counted_and_sent_once(tmp_path):
    with ResponseStore(tmp_path) as store:
        first = saved(store, range(2))
    write_part(tmp_path, 2, [make_record(6), make_record(6)], synced=False)
    with ResponseStore(tmp_path) as store:
        assert [r["id"] for r in store.iter_records()] == [r["id"] for r in [*first, make_record(6)]]
        assert store.count() == 3
        assert store.pending() == [*first, make_record(6)]
        assert any("stored twice" in problem for problem in store.status()["problems"])


# -- a full disk --------------------------------------------------------------------------------


def check_full_disk(store: ResponseStore, fill, make_room) -> None:
    records = saved(store, range(5))
    fill()
    with pytest.raises(StoreError) as failure:
        for n in range(5, 400):
            store.save(make_record(n))
            records.append(make_record(n))
    message = str(failure.value)
    assert "disk full" in message and "NOT saved" in message
    assert store.status()["last_error"] == message
    assert_all_there(store, records)
    assert store.count() == len(records)
    assert not [n for n in os.listdir(store.folder) if n.endswith(".tmp")]
    make_room()
    late = make_record(999)
    store.save(late)
    assert store.status()["last_error"] is None
    assert store.get(late["id"]) == late
    assert store.count() == len(records) + 1


def test_full_disk_on_a_real_small_tmpfs(tmp_path):
    with small_tmpfs(tmp_path / "disk", "256k") as mount:
        if mount is None:
            pytest.skip("this machine does not allow mounting a tmpfs; the injected test covers it")
        filler = mount / "filler"
        with ResponseStore(mount, records_per_file=20) as store:

            def fill() -> None:
                free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
                filler.write_bytes(b"x" * max(0, free - 8192))

            check_full_disk(store, fill, filler.unlink)
            records = [r for r in store.iter_records()]
        with ResponseStore(mount, records_per_file=20) as store:
            assert store.count() == len(records)
            assert_all_there(store, records)


def test_full_disk_injected_at_the_os_write(tmp_path, monkeypatch):
    """ENOSPC raised by os.write inside the atomic write, as a full disk raises it."""
    real_write = os.write
    full = threading.Event()

    def write(fd: int, data) -> int:
        if full.is_set():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    with ResponseStore(tmp_path) as store:
        check_full_disk(store, full.set, full.clear)
    with ResponseStore(tmp_path) as store:
        assert store.count() == 6


# -- a read-only disk ---------------------------------------------------------------------------


def check_read_only(store: ResponseStore, make_read_only, make_writable) -> None:
    records = saved(store, range(3))
    make_read_only()
    with pytest.raises(StoreError, match="read-only file system") as failure:
        store.save(make_record(3))
    assert "NOT saved" in str(failure.value)
    with pytest.raises(StoreError, match="read-only file system"):
        store.mark_synced([records[0]["id"]])
    assert_all_there(store, records)
    assert store.pending() == records
    make_writable()
    store.save(make_record(3))
    assert store.mark_synced([records[0]["id"]]) == 1
    assert store.count() == 4


def test_read_only_disk_on_a_real_tmpfs_remounted_read_only(tmp_path):
    with small_tmpfs(tmp_path / "disk", "1m") as mount:
        if mount is None:
            pytest.skip("this machine does not allow mounting a tmpfs; the injected test covers it")
        with ResponseStore(mount) as store:
            check_read_only(store, lambda: remount(mount, "ro"), lambda: remount(mount, "rw"))
        remount(mount, "ro")
        try:
            # A kiosk whose disk went read-only still opens, shows its answers and says why.
            with ResponseStore(mount) as store:
                assert store.count() == 4
                assert store.pending_count() == 3
        finally:
            remount(mount, "rw")


def test_read_only_disk_injected_at_the_os_open(tmp_path, monkeypatch):
    """We are root, so chmod 0500 would not stop us: EROFS is raised by os.open instead."""
    real_open = os.open
    read_only = threading.Event()

    def open_(path, flags, *args, **kwargs):
        if read_only.is_set() and flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)
    with ResponseStore(tmp_path) as store:
        check_read_only(store, read_only.set, read_only.clear)


def test_purge_on_a_read_only_disk_loses_nothing_and_opening_still_works(tmp_path, monkeypatch):
    """EROFS injected at os.open (to create) and os.unlink: as root, chmod would not stop us."""
    now = [1_800_000_000.0]
    with ResponseStore(tmp_path, retention_days=1, records_per_file=2, clock=lambda: now[0]) as store:
        records = saved(store, range(3))
        store.mark_synced([r["id"] for r in records])

    real_open = os.open

    def open_(path, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real_open(path, flags, *args, **kwargs)

    def unlink(path):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "unlink", unlink)
    now[0] += 2 * 86400
    with ResponseStore(tmp_path, retention_days=1, records_per_file=2, clock=lambda: now[0]) as store:
        assert "read-only file system" in store.status()["last_error"]
        assert_all_there(store, records)
        with pytest.raises(StoreError, match="purge: read-only file system"):
            store.purge()
        assert store.count() == 3
        monkeypatch.undo()
        assert store.purge() == 3
        assert store.count() == 0


def test_a_file_unreadable_at_open_is_reported_and_left_alone(tmp_path, monkeypatch):
    with ResponseStore(tmp_path, records_per_file=2) as store:
        records = saved(store, range(6))
    real = kiosk.store.read_index

    def failing_disk(path):
        if path.endswith("part-000002.json"):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(path)

    monkeypatch.setattr(kiosk.store, "read_index", failing_disk)
    victim = tmp_path / FOLDER / "part-000002.json"
    before = victim.read_bytes()
    with ResponseStore(tmp_path, records_per_file=2) as store:
        status = store.status()
        assert "part-000002.json" in status["last_error"]
        assert "input/output error" in status["last_error"]
        assert status["corrupt_files"] == []
        assert store.count() == 4
        assert_all_there(store, records[:2] + records[4:])
        store.save(make_record(7))
    assert victim.read_bytes() == before  # not set aside, not overwritten: it may read again
    monkeypatch.undo()
    with ResponseStore(tmp_path, records_per_file=2) as store:
        assert store.count() == 7


def test_opening_fails_clearly_when_the_folder_cannot_be_made(tmp_path):
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data folder should be")
    with pytest.raises(StoreError, match="open"):
        ResponseStore(blocker)


# -- a failing folder fsync after the file was replaced -----------------------------------------


def test_a_save_retried_after_a_failed_folder_fsync_is_not_stored_twice(tmp_path, monkeypatch):
    real = kiosk.storage.fsync_dir
    failures = iter([OSError(errno.EIO, os.strerror(errno.EIO))])

    def flaky(folder):
        error = next(failures, None)
        if error is not None:
            raise error
        real(folder)

    record = make_record(1)
    with ResponseStore(tmp_path) as store:
        store.save(make_record(0))
        monkeypatch.setattr(kiosk.storage, "fsync_dir", flaky)
        with pytest.raises(StoreError, match="input/output error"):
            store.save(record)
        store.save(record)  # the UI retries: harmless, and now durable
        assert store.count() == 2
        assert store.pending()[-1] == record
    with ResponseStore(tmp_path) as store:
        assert store.count() == 2
        assert [r["id"] for r in store.iter_records()].count(record["id"]) == 1


# -- two threads at once ------------------------------------------------------------------------


def test_ui_saves_while_the_sync_thread_marks_receipts(tmp_path):
    total = 200
    errors: list[BaseException] = []
    marked_while_saving = []
    start = threading.Barrier(2)
    done_saving = threading.Event()
    store = ResponseStore(tmp_path, records_per_file=7)

    def ui() -> None:
        try:
            start.wait()
            for n in range(total):
                store.save(make_record(n))
        except BaseException as exc:
            errors.append(exc)
        finally:
            done_saving.set()

    def sync() -> None:
        try:
            start.wait()
            while True:
                finished = done_saving.is_set()
                batch = store.pending(limit=25)
                if batch:
                    store.mark_synced([r["id"] for r in batch])
                    if not finished:
                        marked_while_saving.append(len(batch))
                elif finished:
                    return
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ui), threading.Thread(target=sync)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    store.close()
    assert errors == []
    assert marked_while_saving, "the two threads never overlapped"
    with ResponseStore(tmp_path, records_per_file=7) as store:
        found = list(store.iter_records())
        assert len(found) == store.count() == total
        assert len({r["id"] for r in found}) == total
        assert found == [make_record(n) for n in range(total)]
        assert store.pending() == []
        assert store.status()["synced"] == total

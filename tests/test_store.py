"""The response store's contract: exact round trips, outbox order, receipts, retention, status."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
from datetime import UTC, datetime, timedelta

import pytest
from store_helpers import make_record

from kiosk.store import (
    FOLDER,
    ConflictingRecord,
    InvalidRecord,
    ResponseStore,
    StoreError,
)

DAY = 86400.0
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC).timestamp()


class Clock:
    """A settable clock, so that retention and "today" are tested without waiting."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def ids(records: list[dict]) -> list[str]:
    return [r["id"] for r in records]


def part_files(data_dir) -> list[str]:
    return sorted(n for n in os.listdir(data_dir / FOLDER) if n.startswith("part-"))


def test_round_trip_is_exact_and_survives_reopen(tmp_path):
    records = [make_record(n) for n in range(6)]
    with ResponseStore(tmp_path) as store:
        for record in records:
            store.save(record)
        for record in records:
            assert json.dumps(store.get(record["id"])) == json.dumps(record)
    with ResponseStore(tmp_path) as store:
        assert store.count() == 6
        for record in records:
            # Same bytes, key order included: a resend must be identical to the first send.
            assert json.dumps(store.get(record["id"])) == json.dumps(record)
        assert store.get("no-such-id") is None


def test_callers_cannot_change_what_is_stored(tmp_path):
    record = make_record(1)
    with ResponseStore(tmp_path) as store:
        store.save(record)
        record["answers"]["why"] = "changed after save"
        got = store.get(make_record(1)["id"])
        got["answers"]["recommend"] = 99
        store.pending()[0]["status"] = "changed"
        next(store.iter_records())["answers"]["topics"].append("changed")
        assert store.get(got["id"]) == make_record(1)


def test_pending_is_oldest_first_across_files_and_restarts(tmp_path):
    records = [make_record(n) for n in range(10)]
    with ResponseStore(tmp_path, records_per_file=3) as store:
        for record in records:
            store.save(record)
        assert len(part_files(tmp_path)) == 4
        assert ids(store.pending(limit=4)) == ids(records[:4])
        assert ids(store.pending()) == ids(records)
        assert store.pending(limit=0) == []
        assert store.mark_synced(ids(records[:5])) == 5
        assert ids(store.pending()) == ids(records[5:])
        assert store.pending_count() == 5
    with ResponseStore(tmp_path, records_per_file=3) as store:
        assert ids(store.pending()) == ids(records[5:])
        assert store.count() == 10
        store.save(make_record(10))
        assert ids(store.pending())[-1] == make_record(10)["id"]


def test_saving_the_same_response_again_is_harmless(tmp_path):
    record = make_record(3)
    with ResponseStore(tmp_path) as store:
        store.save(record)
        store.save(dict(record))
        store.save(dict(reversed(list(record.items()))))  # same content, other key order
        assert store.count() == 1
        assert store.pending_count() == 1
        # The first save is what is kept, byte for byte.
        assert json.dumps(store.get(record["id"])) == json.dumps(record)


@pytest.mark.parametrize(
    "change",
    [
        {"status": "handed_off"},
        {"answers": {"overall": "poor"}},
        {"survey_version": 1.0},  # equal in Python, different on the wire
    ],
)
def test_same_id_with_other_content_is_refused(tmp_path, change):
    record = make_record(4)
    with ResponseStore(tmp_path) as store:
        store.save(record)
        with pytest.raises(ConflictingRecord, match=record["id"]):
            store.save({**record, **change})
        assert store.get(record["id"]) == record
        assert store.count() == 1


@pytest.mark.parametrize(
    "bad",
    [
        "not a dict",
        {"survey_id": "fft"},
        {"id": 7},
        {"id": ""},
        {"id": "x", "answers": {"topics": {"staff"}}},
        {"id": "x", "answers": {"topics": ("staff",)}},
        {"id": "x", "answers": {"ratio": float("nan")}},
        {"id": "x", "answers": {1: "one"}},
    ],
)
def test_bad_responses_are_refused_and_nothing_is_written(tmp_path, bad):
    with ResponseStore(tmp_path) as store:
        with pytest.raises(InvalidRecord, match="save"):
            store.save(bad)
        assert store.count() == 0
        assert part_files(tmp_path) == []


def test_mark_synced_counts_changes_and_persists(tmp_path):
    records = [make_record(n) for n in range(4)]
    with ResponseStore(tmp_path, records_per_file=2) as store:
        for record in records:
            store.save(record)
        assert store.mark_synced([records[0]["id"], records[3]["id"], "unknown-id"]) == 2
        assert store.mark_synced([records[0]["id"]]) == 0
        assert store.mark_synced(iter([records[1]["id"], records[1]["id"]])) == 1
    with ResponseStore(tmp_path, records_per_file=2) as store:
        assert ids(store.pending()) == [records[2]["id"]]
        assert store.status()["synced"] == 3
        assert store.count() == 4


def test_quarantine_takes_refused_responses_out_of_the_outbox_for_good(tmp_path):
    clock = Clock()
    records = [make_record(n) for n in range(3)]
    with ResponseStore(tmp_path, clock=clock) as store:
        for record in records:
            store.save(record)
        assert store.quarantine({records[1]["id"]: "conflict: differs from server copy"}) == 1
        assert store.quarantine({"unknown-id": "rejected"}) == 0
        assert ids(store.pending()) == [records[0]["id"], records[2]["id"]]
        assert store.status()["quarantined"] == 1
        store.mark_synced(ids(store.pending()))
    clock.now += 365 * DAY
    with ResponseStore(tmp_path, clock=clock) as store:
        # A year on, the synced ones are purged; the refused one is still there for staff.
        assert store.count() == 1
        assert store.quarantined() == [(records[1], "conflict: differs from server copy")]
        assert store.pending() == []
        status = store.status()
        assert (status["quarantined"], status["pending"], status["synced"]) == (1, 0, 0)
        # If the server later accepts it after all, it leaves quarantine.
        assert store.mark_synced([records[1]["id"]]) == 1
        assert store.quarantined() == []


def test_retention_purges_only_old_synced_responses(tmp_path):
    clock = Clock()
    old = [make_record(n) for n in range(4)]
    recent = make_record(10)
    with ResponseStore(tmp_path, retention_days=90, records_per_file=2, clock=clock) as store:
        for record in old:
            store.save(record)
        store.mark_synced(ids(old[:3]))  # old[3] never got a receipt
        clock.now += 60 * DAY
        store.save(recent)
        store.mark_synced([recent["id"]])
        files_before = part_files(tmp_path)
        assert store.purge(now=T0 + 89 * DAY) == 0
        assert store.purge(now=T0 + 91 * DAY) == 3
        assert store.count() == 2
        assert store.get(old[3]["id"]) == old[3]
        assert store.get(recent["id"]) == recent
        assert ids(store.pending()) == [old[3]["id"]]
        # The file that only held purged responses is gone, not kept empty.
        assert len(part_files(tmp_path)) == len(files_before) - 1
    clock.now = T0 + 151 * DAY
    with ResponseStore(tmp_path, retention_days=90, records_per_file=2, clock=clock) as store:
        # Opening purges too: `recent` is now 91 days old. Unsynced stays, however old.
        assert store.count() == 1
        assert store.get(old[3]["id"]) == old[3]


def test_purge_runs_from_mark_synced_for_kiosks_that_never_restart(tmp_path):
    clock = Clock()
    first, second = make_record(1), make_record(2)
    with ResponseStore(tmp_path, retention_days=1, clock=clock) as store:
        store.save(first)
        store.mark_synced([first["id"]])
        clock.now += 2 * DAY
        store.save(second)
        store.mark_synced([second["id"]])
        assert store.get(first["id"]) is None
        assert store.get(second["id"]) == second


def test_count_since_and_iter_records_filter_by_saved_time_and_fields(tmp_path):
    clock = Clock()
    records = [make_record(n) for n in range(9)]
    with ResponseStore(tmp_path, records_per_file=2, clock=clock) as store:
        for record in records:
            store.save(record)
            clock.now += 3600
        start = datetime.fromtimestamp(T0, UTC)
        assert store.count_since(start) == 9
        assert store.count_since(start + timedelta(hours=7)) == 2
        assert store.count_since(start.replace(tzinfo=None) + timedelta(hours=8)) == 1
        assert ids(store.iter_records()) == ids(records)
        window = store.iter_records(since=start + timedelta(hours=2), until=start + timedelta(hours=5))
        assert ids(window) == ids(records[2:5])
        fft = [r for r in records if r["survey_id"] == "fft"]
        assert ids(store.iter_records(survey_id="fft")) == ids(fft)
        partial = [r for r in records if r["status"] == "partial"]
        assert ids(store.iter_records(status="partial")) == ids(partial)
        store.mark_synced(ids(records))
        assert ids(store.iter_records()) == ids(records)  # exports include synced responses


def test_status_reports_counts_and_the_oldest_unsent_answer(tmp_path):
    clock = Clock()
    with ResponseStore(tmp_path, clock=clock) as store:
        assert store.status()["oldest_pending_at"] is None
        store.save(make_record(1))
        clock.now += 60
        store.save(make_record(2))
        status = store.status()
        assert status["oldest_pending_at"] == "2026-11-27T09:00:00Z"
        assert (status["count"], status["pending"], status["files"]) == (2, 2, 1)
        assert status["corrupt_files"] == [] and status["problems"] == []
        assert status["last_error"] is None
        assert status["folder"] == str(tmp_path / FOLDER)


def test_files_are_private_and_a_missing_folder_is_created(tmp_path):
    data_dir = tmp_path / "not" / "there" / "yet"
    with ResponseStore(data_dir) as store:
        store.save(make_record(1))
    folder = data_dir / FOLDER
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for name in part_files(data_dir):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600


def test_an_existing_folder_is_made_private(tmp_path):
    (tmp_path / FOLDER).mkdir(mode=0o755)
    os.chmod(tmp_path / FOLDER, 0o755)
    with ResponseStore(tmp_path):
        assert stat.S_IMODE((tmp_path / FOLDER).stat().st_mode) == 0o700


def test_a_second_store_on_the_same_folder_is_refused(tmp_path):
    store = ResponseStore(tmp_path)
    with pytest.raises(StoreError, match="already open"):
        ResponseStore(tmp_path)
    store.close()
    with ResponseStore(tmp_path) as again:
        assert again.count() == 0


def test_a_folder_that_cannot_be_locked_is_a_clear_error(tmp_path, monkeypatch):
    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.raises(StoreError, match="cannot lock the folder"):
        ResponseStore(tmp_path)


def test_a_closed_store_says_so(tmp_path):
    store = ResponseStore(tmp_path)
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.save(make_record(1))
    with pytest.raises(StoreError, match="closed"):
        store.pending()


def test_left_over_temporary_files_are_removed_at_open(tmp_path):
    with ResponseStore(tmp_path) as store:
        store.save(make_record(1))
    leftover = tmp_path / FOLDER / ".part-000001.json.0badcafe.tmp"
    leftover.write_bytes(b'{"v":1, half a write')
    with ResponseStore(tmp_path) as store:
        assert not leftover.exists()
        assert store.count() == 1
        assert store.status()["corrupt_files"] == []


@pytest.mark.parametrize("kwargs", [{"retention_days": -1}, {"records_per_file": 0}])
def test_nonsense_settings_are_refused(tmp_path, kwargs):
    with pytest.raises(ValueError):
        ResponseStore(tmp_path, **kwargs)

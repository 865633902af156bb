"""Pulled plugs: a child process saves (and acknowledges) responses in a loop and is SIGKILLed at
random moments, over and over, on the same store.

The child reports a response only after `save()` has returned, and a receipt only after
`mark_synced()` has returned. After every kill the store must open, hold every reported response
byte for byte, hold nothing twice, and keep every reported receipt. Responses saved but not yet
reported may or may not be there; if they are, they must be intact too.

The child is a fork of this process (no interpreter start-up), so 200+ kills take seconds.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

from store_helpers import derived, make_record

from kiosk.store import FOLDER, ResponseStore

KILLS = 210  # the issue asks for at least 200
PER_FILE = 7  # small files: kills land in file roll-overs and in rewrites of older files


def child(data_dir: Path, report: Path, cycle: int, progress: int) -> None:
    """Runs in the forked child; never returns. Tells the parent of each step on `progress`."""
    try:
        store = ResponseStore(data_dir, records_per_file=PER_FILE)
        os.write(progress, b"o")
        out = os.open(report, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        n = 0
        while True:
            record = make_record(n, cycle)
            store.save(record)
            os.write(out, f"S {json.dumps(record)}\n".encode())
            os.write(progress, b"s")
            if n % 2 == 1:
                batch = [r["id"] for r in store.pending(limit=3)]
                store.mark_synced(batch)
                os.write(out, f"Y {json.dumps(batch)}\n".encode())
            if n == 2 and cycle % 4 == 0:
                victim = store.pending(limit=1)
                if victim:
                    store.quarantine({victim[0]["id"]: "conflict"})
                    os.write(out, f"Q {victim[0]['id']}\n".encode())
            n += 1
    finally:
        os._exit(3)


def test_sigkill_at_random_moments_never_loses_or_doubles_an_answer(tmp_path):
    rng = random.Random(20261127)
    data_dir = tmp_path / "kiosk"
    report = tmp_path / "report.txt"
    saved: dict[str, str] = {}
    synced: set[str] = set()
    quarantined: set[str] = set()
    offset = 0
    kills = 0
    cut_mid_write = 0
    started = time.monotonic()
    checking = 0.0
    for cycle in range(1, KILLS + 1):
        progress_r, progress_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(progress_r)
            child(data_dir, report, cycle, progress_w)
        os.close(progress_w)
        # One kill in five lands at a random time from the start, often while the store opens
        # (clean-up, purge). The others wait for the open and a random number of saves, then a
        # random fraction of one more, so that a busy CI machine still kills in mid-save.
        if cycle % 5:
            wanted = rng.randint(1, 5)
            while wanted > 0:
                step = os.read(progress_r, wanted)
                assert step, f"cycle {cycle}: the child stopped early"
                wanted -= len(step)
            time.sleep(rng.uniform(0.0, 0.004))
        else:
            time.sleep(rng.uniform(0.0, 0.02))
        os.kill(pid, signal.SIGKILL)
        os.close(progress_r)
        _, wait_status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(wait_status), f"cycle {cycle}: the child died on its own"
        assert os.WTERMSIG(wait_status) == signal.SIGKILL
        kills += 1

        text = report.read_bytes()[offset:] if report.exists() else b""
        complete = text[: text.rfind(b"\n") + 1]  # a line cut by the kill was never reported
        offset += len(complete)
        if report.exists():  # and the next child must not append its first line to that piece
            os.truncate(report, offset)
        for line in complete.decode().splitlines():
            kind, payload = line.split(" ", 1)
            if kind == "S":
                saved[json.loads(payload)["id"]] = payload
            elif kind == "Y":
                synced.update(json.loads(payload))
            else:
                quarantined.add(payload)

        check_started = time.monotonic()
        folder = data_dir / FOLDER
        cut_mid_write += folder.exists() and any(n.endswith(".tmp") for n in os.listdir(folder))
        with ResponseStore(data_dir, records_per_file=PER_FILE) as store:
            found = {}
            for record in store.iter_records():
                assert record["id"] not in found, f"cycle {cycle}: {record['id']} stored twice"
                assert json.dumps(record) == json.dumps(derived(record)), f"cycle {cycle}: torn"
                found[record["id"]] = json.dumps(record)
            assert len(found) == store.count()
            missing = saved.keys() - found.keys()
            assert not missing, f"cycle {cycle}: reported saves lost: {sorted(missing)[:3]}"
            for rid, line in saved.items():
                assert found[rid] == line, f"cycle {cycle}: {rid} changed"
            # Every reported receipt held: nothing to mark again (this writes nothing).
            assert synced <= found.keys()
            assert store.mark_synced(synced) == 0, f"cycle {cycle}: a receipt was lost"
            assert quarantined <= {r["id"] for r, _ in store.quarantined()}
            status = store.status()
            assert status["corrupt_files"] == [] and status["problems"] == []
        assert not [n for n in os.listdir(folder) if n.endswith(".tmp")]
        checking += time.monotonic() - check_started

    elapsed = time.monotonic() - started
    print(
        f"{kills} kills ({cut_mid_write} in the middle of a file write), {len(saved)} reported "
        f"saves, {len(synced)} receipts, {len(quarantined)} quarantined, in {elapsed:.1f}s "
        f"({checking:.1f}s checking)"
    )
    assert cut_mid_write, "no kill landed inside a write; the test proved little"
    assert len(saved) >= kills, "the kills mostly landed before any save; it proved little"
    assert synced and quarantined

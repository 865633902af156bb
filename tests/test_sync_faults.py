"""Every saved answer reaches the server exactly once: real processes, real faults.

A real server process (`python main.py server`) on loopback, the real sync client in its thread,
and between them a TCP proxy that drops connections, delays them, cuts them after the server has
committed, answers 502/503/429 itself and serves a Wi-Fi login page. The server is SIGKILLed and
restarted half-way. Records keep being saved while all this happens.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from server_helpers import FAULTS, FaultProxy, ServerProcess, post_visit_record, random_plan
from sqlalchemy import create_engine, text

from kiosk.config import KioskConfig
from kiosk.store import ResponseStore
from sync.client import SyncClient
from sync.protocol import parse_enrollment

GOOD_BEFORE, GOOD_DURING = 1500, 500
REJECTED, CONFLICTS = 6, 3
DEADLINE_S = 100


@pytest.fixture
def kiosk_dir(tmp_path: Path) -> Iterator[Path]:
    """The kiosk's store on tmpfs when there is one: its own durability is tested elsewhere, and
    2,000 fsynced saves on a slow disk would dominate this test."""
    if not (Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK)):
        yield tmp_path / "kiosk"
        return
    folder = Path(tempfile.mkdtemp(dir="/dev/shm", prefix="kiosk-faults-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_every_record_is_stored_exactly_once_through_faults_and_a_server_restart(tmp_path, kiosk_dir):
    server = ServerProcess(tmp_path / "server")
    enrolled = server.cli("add-kiosk", "desk-1", "--url", server.url)
    assert enrolled.returncode == 0, enrolled.stderr
    enrollment = parse_enrollment(enrolled.stdout.strip().splitlines()[-1])
    server.start()
    headers = {"Authorization": f"Bearer {enrollment.token}"}
    store = ResponseStore(kiosk_dir)
    good = [post_visit_record(n=n) for n in range(GOOD_BEFORE + GOOD_DURING)]
    bad = [post_visit_record(n=n, answers={"overall": 9}) for n in range(REJECTED)]
    clashing = [post_visit_record(n=n) for n in range(CONFLICTS)]
    originals = [{**record, "language": "es"} for record in clashing]
    answer = requests.post(
        f"{server.url}/api/v1/responses", json={"responses": originals}, headers=headers, timeout=10
    )
    assert [r["status"] for r in answer.json()["receipts"]] == ["created"] * CONFLICTS
    early = good[:GOOD_BEFORE] + bad + clashing
    for record in sorted(early, key=lambda r: r["id"]):
        store.save(record)

    config = KioskConfig(kiosk_id="desk-1", token=enrollment.token)
    try:
        with FaultProxy(server.port, plan=random_plan(seed=5, fault_share=0.4), delay_s=0.2) as proxy:
            config.server_url = proxy.url
            client = SyncClient(
                store,
                config,
                batch_size=25,
                interval_s=0.05,
                read_timeout_s=5,
                backoff_base_s=0.02,
                backoff_cap_s=0.2,
            )

            def keep_saving() -> None:
                for record in good[GOOD_BEFORE:]:
                    store.save(record)
                    client.sync_now()
                    time.sleep(0.002)

            writer = threading.Thread(target=keep_saving)
            client.start()
            writer.start()
            restarted = False
            deadline = time.monotonic() + DEADLINE_S
            while time.monotonic() < deadline:
                if not restarted and store.status()["synced"] >= len(good) // 2:
                    server.kill()
                    time.sleep(0.3)
                    server.start()
                    restarted = True
                if restarted and not writer.is_alive() and store.pending_count() == 0:
                    break
                time.sleep(0.05)
            writer.join()
            assert client.stop(timeout_s=10)
    finally:
        server.stop()

    assert restarted
    log = server.log.read_text()
    assert "Traceback" not in log
    assert '" 500' not in log
    assert store.pending_count() == 0, client.status
    for fault in FAULTS:
        assert proxy.used[fault] >= 1, (fault, proxy.used)
    lost_receipts = [a for a in proxy.cut_answers if b'"status":"created"' in a]
    assert lost_receipts, "no receipt was lost after a commit"

    engine = create_engine(f"sqlite:///{tmp_path / 'server' / 'server' / 'server.db'}")
    with engine.connect() as connection:
        rows = {
            row.id: json.loads(row.payload)
            for row in connection.execute(text("SELECT id, payload FROM responses"))
        }
        total = connection.execute(text("SELECT count(*) FROM responses")).scalar_one()
    engine.dispose()
    assert total == len(rows) == len(good) + CONFLICTS
    for record in good:
        assert rows[record["id"]] == record
    for original in originals:
        assert rows[original["id"]] == original

    quarantined = {record["id"]: why for record, why in store.quarantined()}
    assert set(quarantined) == {r["id"] for r in bad + clashing}
    for record in bad:
        assert quarantined[record["id"]].startswith("rejected: answers.overall")
    for record in clashing:
        assert quarantined[record["id"]].startswith("conflict: ")
    store.close()

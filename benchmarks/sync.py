"""Sync and ingest speed, each against a baseline measured in the same run.

1. 10,000 pending records synced by the real client to a real server (SQLite) over loopback,
   against the same client sending one POST per record (timed on a sample, per record).
2. Server ingest throughput, batches of 500 over keep-alive connections, on SQLite and on
   PostgreSQL (127.0.0.1:5432, database `test`, in a schema of its own, dropped afterwards):
   one server process with one kiosk sending, and two workers with two kiosks sending at once.

Run: .venv/bin/python benchmarks/sync.py [--records N] [--sample N] [--no-postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, text  # noqa: E402

from kiosk.config import KioskConfig  # noqa: E402
from kiosk.record import iso, new_response_id, utc_now  # noqa: E402
from kiosk.store import ResponseStore  # noqa: E402
from sync.client import SyncClient  # noqa: E402
from sync.server.auth import add_kiosk  # noqa: E402
from sync.server.db import make_engine, prepare_database  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BATCH = 500
GOAL_SYNC_S = 5.0
GOAL_RATIO = 20.0
GOAL_INGEST = 5000.0


def record(n: int) -> dict[str, Any]:
    now = iso(utc_now())
    answers: dict[str, Any] = {
        "overall": 1 + n % 5,
        "front_desk": ("definitely", "somewhat", "no")[n % 3],
        "wait": ("under_5", "5_to_15", "15_to_30", "over_30")[n % 4],
        "recommend": n % 11,
    }
    if answers["overall"] <= 3:
        answers["improve"] = f"Shorter waits at the front desk, please (visit {n})"
    return {
        "id": new_response_id(),
        "survey_id": "post-visit",
        "survey_version": 1,
        "kiosk_id": "bench-1",
        "channel": "kiosk",
        "language": "en",
        "started_at": now,
        "submitted_at": now,
        "status": "completed",
        "answers": answers,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """CPU time used by a process and its children (uvicorn's workers): on a shared machine, a
    rate per CPU second shows what the code costs, whatever else is running."""
    total = 0.0
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in children.read_text().split() if children.exists() else []:
        total += cpu_seconds(int(child))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return total + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def server(data_dir: Path, database: str | None = None, workers: int = 1) -> Iterator[tuple[str, str, int]]:
    """A real `python main.py server` with one enrolled kiosk; yields (url, token, pid)."""
    url = database or f"sqlite:///{data_dir / 'server' / 'server.db'}"
    (data_dir / "server").mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    prepare_database(engine)
    with engine.begin() as connection:
        token = add_kiosk(connection, "bench-1", None)
    engine.dispose()
    port = free_port()
    command = [
        sys.executable,
        str(REPO / "main.py"),
        "server",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--data-dir",
        str(data_dir),
        *(["--database", database] if database else []),
    ]
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start; see {data_dir / 'server.log'}")
            time.sleep(0.1)
        yield base, token, process.pid
    finally:
        process.terminate()
        process.wait(20)
        log.close()


def filled_store(folder: Path, count: int) -> ResponseStore:
    """A store on disk holding `count` pending records. They are saved on tmpfs when there is one
    and the files copied: saving 10,000 with an fsync each would take minutes, and only the sync
    is being measured."""
    scratch = Path(tempfile.mkdtemp(dir="/dev/shm")) if os.access("/dev/shm", os.W_OK) else folder
    with ResponseStore(scratch) as store:
        for n in range(count):
            store.save(record(n))
    if scratch != folder:
        shutil.copytree(scratch, folder)
        shutil.rmtree(scratch)
    return ResponseStore(folder)


def timed_sync(base: str, token: str, folder: Path, count: int, batch_size: int) -> float:
    store = filled_store(folder, count)
    config = KioskConfig(kiosk_id="bench-1", token=token, server_url=base)
    client = SyncClient(store, config, batch_size=batch_size)
    started = time.perf_counter()
    result = client.run_once()
    elapsed = time.perf_counter() - started
    store.close()
    if result.error or result.stored != count:
        raise SystemExit(f"sync failed: {result}")
    return elapsed


def ingest_rate(base: str, token: str, pid: int, batches: int, senders: int = 1) -> tuple[float, float]:
    """Records per second of wall-clock time, and per second of the server's CPU time, with
    `senders` kiosks posting batches of 500 at the same time."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    bodies = [
        [json.dumps({"responses": [record(n) for n in range(BATCH)]}).encode() for _ in range(batches)]
        for _ in range(senders)
    ]
    failures: list[str] = []

    def send(mine: list[bytes]) -> None:
        with requests.Session() as session:
            for body in mine:
                answer = session.post(f"{base}/api/v1/responses", data=body, headers=headers, timeout=60)
                statuses = {r["status"] for r in answer.json()["receipts"]}
                if statuses != {"created"}:
                    failures.append(str(statuses))

    send([json.dumps({"responses": [record(0)]}).encode()])
    threads = [threading.Thread(target=send, args=(mine,)) for mine in bodies]
    started, cpu = time.perf_counter(), cpu_seconds(pid)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed, used = time.perf_counter() - started, cpu_seconds(pid) - cpu
    if failures:
        raise SystemExit(f"ingest failed: {failures[0]}")
    count = senders * batches * BATCH
    return count / elapsed, count / used


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    name = f"bench_{os.getpid()}"
    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{name}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{name}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def report(setup: str, rate: float, cpu_rate: float) -> None:
    print(
        f"ingest on {setup}: {rate:,.0f} records/s; goal >= {GOAL_INGEST:,.0f}: "
        f"{verdict(rate >= GOAL_INGEST)} ({cpu_rate:,.0f} records per CPU second of the server)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=300, help="records sent one POST each")
    parser.add_argument("--batches", type=int, default=20, help="ingest batches of 500 per kiosk")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as root:
        work = Path(root)
        with server(work / "sqlite") as (base, token, pid):
            batched = timed_sync(base, token, work / "kiosk-batched", args.records, BATCH)
            single = timed_sync(base, token, work / "kiosk-single", args.sample, 1)
            sqlite_rate, sqlite_cpu_rate = ingest_rate(base, token, pid, args.batches)
        per_batched = batched / args.records
        per_single = single / args.sample
        ratio = per_single / per_batched
        print(
            f"sync {args.records} pending, batches of {BATCH}: {batched:.2f} s "
            f"({args.records / batched:,.0f} records/s); goal <= {GOAL_SYNC_S:.0f} s: "
            f"{verdict(batched <= GOAL_SYNC_S)}"
        )
        print(
            f"one POST per record ({args.sample} sent): {per_single * 1000:.2f} ms per record, "
            f"{per_single * args.records:.1f} s for {args.records}"
        )
        print(
            f"batched vs one POST per record: {ratio:.1f}x faster; goal >= {GOAL_RATIO:.0f}x: "
            f"{verdict(ratio >= GOAL_RATIO)}"
        )
        report("SQLite, 1 process, 1 kiosk sending", sqlite_rate, sqlite_cpu_rate)
        with server(work / "sqlite2", workers=2) as (base, token, pid):
            report("SQLite, 2 workers, 2 kiosks sending", *ingest_rate(base, token, pid, args.batches, 2))
        if not args.no_postgres:
            with postgres_schema() as url, server(work / "pg", url) as (base, token, pid):
                report("PostgreSQL, 1 process, 1 kiosk sending", *ingest_rate(base, token, pid, args.batches))
            with postgres_schema() as url, server(work / "pg2", url, workers=2) as (base, token, pid):
                report(
                    "PostgreSQL, 2 workers, 2 kiosks sending", *ingest_rate(base, token, pid, args.batches, 2)
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How long one save takes as the store grows: our store against TinyDB's default and the floor.

For 1,000, 10,000 and 100,000 responses already stored, in the same run:
  (a) our ResponseStore.save (fsync of the file and of the folder);
  (b) TinyDB's default JSONStorage insert (no fsync at all, so it is flattered; at 100,000 one
      insert takes seconds, so it gets only a few samples);
  (c) appending one line to a file and fsyncing it: the floor for any durable save.
It prints p50/p95 and the ratios, then the time to open a store of 100,000 and its RSS, measured
in a fresh process. The stores are built by writing partition files through the store's own
TinyDB storage (one write per file), which is what 100,000 saves would leave on disk, minus the
hours of fsyncs.

    .venv/bin/python benchmarks/store.py [--samples 300] [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tinydb import TinyDB

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kiosk.storage import ChunkStorage
from kiosk.store import (
    DEFAULT_RECORDS_PER_FILE,
    FOLDER,
    PART_NAME,
    TABLE,
    ResponseStore,
    summarize_documents,
)

JSON_STORAGE_SAMPLES = {1_000: 30, 10_000: 8, 100_000: 3}


def response(n: int) -> dict:
    """A realistic response: about 400 bytes, a free-text answer, a list, a score."""
    return {
        "id": str(uuid.uuid4()),
        "survey_id": "fft",
        "survey_version": 1,
        "kiosk_id": "front-desk-1",
        "channel": "kiosk",
        "language": "en",
        "started_at": "2026-11-27T10:00:00Z",
        "submitted_at": "2026-11-27T10:01:10Z",
        "status": "completed",
        "answers": {
            "overall": "very_good",
            "why": f"Kind nurse, short wait, visit {n}",
            "recommend": n % 11,
            "topics": ["staff", "wait"],
        },
    }


def build_store(data_dir: Path, count: int, synced: bool) -> None:
    """Partition files as `count` saves (and, if `synced`, their receipts) would leave them."""
    folder = data_dir / FOLDER
    folder.mkdir(mode=0o700, parents=True)
    start = time.time() - 86400
    per_file = DEFAULT_RECORDS_PER_FILE
    for seq, first in enumerate(range(0, count, per_file), start=1):
        docs = []
        for n in range(first, min(first + per_file, count)):
            at = start + n * 0.5
            docs.append(
                {
                    "record": response(n),
                    "saved_at": at,
                    "synced_at": at + 1 if synced else None,
                    "quarantine": None,
                }
            )
        db = TinyDB(folder / PART_NAME.format(seq), storage=ChunkStorage, summarize=summarize_documents)
        db.table(TABLE).insert_multiple(docs)
        db.close()


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(samples_ms)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


class Baselines:
    """TinyDB's default storage and a plain append, holding `count` responses like our store."""

    def __init__(self, folder: Path, count: int) -> None:
        folder.mkdir()
        path = folder / "db.json"
        path.write_text(json.dumps({"_default": {str(n + 1): response(n) for n in range(count)}}))
        self.tinydb = TinyDB(path)
        append = folder / "append.jsonl"
        append.write_text("".join(json.dumps(response(n)) + "\n" for n in range(count)))
        self.fd = os.open(append, os.O_WRONLY | os.O_APPEND)

    def json_storage_insert(self, record: dict) -> None:
        self.tinydb.insert(record)

    def append_fsync(self, record: dict) -> None:
        os.write(self.fd, (json.dumps(record) + "\n").encode())
        os.fsync(self.fd)

    def close(self) -> None:
        self.tinydb.close()
        os.close(self.fd)


def timed(action, record: dict, into: list[float]) -> None:
    t0 = time.perf_counter()
    action(record)
    into.append((time.perf_counter() - t0) * 1000)


def measure(base: Path, count: int, samples: int) -> dict[str, list[float]]:
    """Interleaved, sample by sample, so that all cases meet the same disk and CPU contention."""
    build_store(base / f"ours-{count}-pending", count, synced=False)
    build_store(base / f"ours-{count}-synced", count, synced=True)
    baselines = Baselines(base / f"baselines-{count}", count)
    json_every = max(1, samples // JSON_STORAGE_SAMPLES.get(count, 5))
    times: dict[str, list[float]] = {"pending": [], "synced": [], "json": [], "append": []}
    with (
        ResponseStore(base / f"ours-{count}-pending") as pending,
        ResponseStore(base / f"ours-{count}-synced") as synced,
    ):
        for n in range(samples):
            timed(pending.save, response(n), times["pending"])
            timed(synced.save, response(n), times["synced"])
            timed(baselines.append_fsync, response(n), times["append"])
            if n % json_every == 0:
                timed(baselines.json_storage_insert, response(n), times["json"])
    baselines.close()
    return times


OPEN_PROBE = """
import json, sys, time
def rss_kib():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
sys.path.insert(0, sys.argv[2])
from kiosk.store import ResponseStore
before = rss_kib()
t0, c0 = time.perf_counter(), time.process_time()
store = ResponseStore(sys.argv[1])
opened, opened_cpu = time.perf_counter() - t0, time.process_time() - c0
t0 = time.perf_counter()
batch = store.pending(500)
first_batch = time.perf_counter() - t0
t0 = time.perf_counter()
store.mark_synced([r["id"] for r in batch])
marked = time.perf_counter() - t0
print(json.dumps({
    "open_s": opened, "open_cpu_s": opened_cpu, "count": store.count(),
    "rss_before_mib": before / 1024, "rss_after_mib": rss_kib() / 1024,
    "pending500_ms": first_batch * 1000, "mark_synced500_ms": marked * 1000,
}))
"""


def probe_open(data_dir: Path) -> dict:
    """Open in a fresh process, so that RSS and timing are the kiosk's at start-up."""
    root = str(Path(__file__).resolve().parent.parent)
    out = subprocess.run(
        [sys.executable, "-c", OPEN_PROBE, str(data_dir), root],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--sizes", default="1000,10000,100000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("save latency in ms; all cases interleaved sample by sample")
    print(f"{'stored':>8} {'case':<34} {'p50':>8} {'p95':>8} {'n':>5}")
    labels = {
        "pending": "ours, all stored pending (worse)",
        "synced": "ours, all stored synced",
        "json": "TinyDB JSONStorage (no fsync!)",
        "append": "append + fsync (the floor)",
    }
    p95: dict[tuple[int, str], float] = {}
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        base = Path(tmp)
        for count in sizes:
            times = measure(base, count, args.samples)
            for case, label in labels.items():
                p50, p95[count, case] = percentiles(times[case])
                print(f"{count:>8} {label:<34} {p50:>8.2f} {p95[count, case]:>8.2f} {len(times[case]):>5}")
            print(
                f"{'':>8} p95 ratios: ours / append = {p95[count, 'pending'] / p95[count, 'append']:.1f}x,"
                f" JSONStorage / ours = {p95[count, 'json'] / p95[count, 'pending']:.0f}x"
            )
            sys.stdout.flush()
        smallest, largest = min(sizes), max(sizes)
        for case in ("pending", "synced"):
            ratio = p95[largest, case] / p95[smallest, case]
            print(f"{labels[case]}: p95 at {largest} / p95 at {smallest} = {ratio:.2f}x (goal <= 1.5x)")
        for case in ("pending", "synced"):
            probes = [probe_open(base / f"ours-{largest}-{case}") for _ in range(3)]
            best = min(probes, key=lambda p: p["open_s"])
            print(
                f"open {best['count']} stored (all {case}): {best['open_s'] * 1000:.0f} ms wall, "
                f"{best['open_cpu_s'] * 1000:.0f} ms CPU (best of 3; goal <= 1000 ms); "
                f"RSS {best['rss_before_mib']:.0f} MiB before open, {best['rss_after_mib']:.0f} MiB "
                f"after; then pending(500) {best['pending500_ms']:.0f} ms, "
                f"mark_synced(500) {best['mark_synced500_ms']:.0f} ms"
            )
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

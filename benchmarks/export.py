"""Exports of 100,000 responses: time and peak memory of each format, against plain baselines.

Each measurement runs in a fresh process, so its peak RSS is its own. In the same run:
  (a) baselines: a plain csv.writer dump of the same rows (no survey, no neutralising, no BOM),
      and a json.dumps loop writing one record per line; and the cost of producing the records;
  (b) our exports (kiosk.exports.export_file) of the same streamed records: CSV (two passes:
      plan, then write), XLSX, JSON, JSON Lines, FHIR;
  (c) the kiosk end to end: `python main.py export` on a store of that many responses, built as
      benchmarks/store.py builds one (partition files written through the store's own storage);
  (d) the server end to end: `python main.py server export` from a SQLite database holding that
      many responses, as ingest stores them (rows streamed from SQL into the same writers).
Each run is repeated and the fastest kept (other processes share this machine); CPU seconds are
shown beside wall seconds for the same reason. Goals at 100,000, on wall time: CSV <= 3 s,
XLSX <= 20 s, peak RSS <= 200 MB. Exits 1 if a goal is missed.

    .venv/bin/python benchmarks/export.py [--count 100000] [--repeat 3] [--no-store] [--no-server]
      [--only-server]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOALS = {"csv": 3.0, "xlsx": 20.0}
RSS_GOAL_MB = 200.0
WHYS = [
    "Kind nurse, short wait",
    '=HYPERLINK("https://evil.example","click")',
    "الانتظار كان طويلاً جداً",
    "护士非常友好 👍",
    "-- the parking was full, and the front desk could not say how long the wait would be",
]
STATUSES = ["completed"] * 8 + ["partial", "handed_off"]


def responses(count: int) -> Iterator[dict[str, Any]]:
    """Post-visit responses, about 450 bytes each, made on the fly so they cost no memory."""
    for n in range(count):
        answers: dict[str, Any] = {
            "overall": 1 + n % 5,
            "front_desk": ("definitely", "somewhat", "no")[n % 3],
            "wait": ("under_5", "5_to_15", "15_to_30", "over_30")[n % 4],
            "recommend": n % 11,
        }
        if n % 5 < 3:
            answers["improve"] = f"{WHYS[n % len(WHYS)]} (visit {n})"
        if n % 7 == 0:
            answers["contact_ok"] = False
        day = 1 + n % 28
        yield {
            "id": f"{n:08x}-0000-4000-8000-{n:012x}",
            "survey_id": "post-visit",
            "survey_version": 1,
            "kiosk_id": "front-desk-1",
            "channel": "kiosk",
            "language": ("en", "es")[n % 2],
            "started_at": f"2026-11-{day:02d}T10:00:00Z",
            "submitted_at": f"2026-11-{day:02d}T10:01:10Z",
            "status": STATUSES[n % len(STATUSES)],
            "answers": answers,
        }


def baseline_csv(count: int, path: Path) -> None:
    """The floor: the same rows through csv.writer, with nothing looked up or checked."""
    columns = ["overall", "front_desk", "wait", "recommend", "improve", "contact_ok", "contact_details"]
    meta = ["id", "survey_id", "survey_version", "kiosk_id", "channel", "language"]
    meta += ["started_at", "submitted_at", "status"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(meta + columns)
        for r in responses(count):
            answers = r["answers"]
            writer.writerow([r[m] for m in meta] + [answers.get(c, "") for c in columns])


def baseline_json(count: int, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in responses(count):
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def source_only(count: int, path: Path) -> None:
    path.write_text(str(sum(1 for _ in responses(count))))


def ours(fmt: str, count: int, path: Path) -> None:
    from kiosk.exports import export_file
    from kiosk.survey import builtin_survey

    surveys = {("post-visit", 1): builtin_survey("post-visit")}
    result = export_file(
        path,
        fmt,
        lambda: responses(count),
        lambda survey_id, version: surveys.get((survey_id, version)),
        show_progress=False,
    )
    assert result.count == count, result


def build_store(data_dir: Path, count: int) -> None:
    """Partition files as `count` saves would leave them (see benchmarks/store.py)."""
    from tinydb import TinyDB

    from kiosk.storage import ChunkStorage
    from kiosk.store import DEFAULT_RECORDS_PER_FILE, FOLDER, PART_NAME, TABLE, summarize_documents

    folder = data_dir / FOLDER
    folder.mkdir(mode=0o700, parents=True)
    start = time.time() - 86400
    stream = responses(count)
    per_file = DEFAULT_RECORDS_PER_FILE
    for seq, first in enumerate(range(0, count, per_file), start=1):
        docs = {}
        for n in range(first, min(first + per_file, count)):
            doc = {"record": next(stream), "saved_at": start + n * 0.5, "synced_at": None, "quarantine": None}
            docs[str(n - first + 1)] = doc
        db = TinyDB(folder / PART_NAME.format(seq), storage=ChunkStorage, summarize=summarize_documents)
        db.storage.write({TABLE: docs})
        db.close()


def read_store(data_dir: Path, count: int, path: Path) -> None:
    """The floor of any kiosk export: one pass over the store's records."""
    from kiosk.store import ResponseStore

    with ResponseStore(data_dir) as store:
        seen = sum(1 for _ in store.iter_records())
    assert seen == count, seen
    path.write_text("")


def kiosk_command(fmt: str, data_dir: Path, path: Path, count: int) -> None:
    import contextlib
    import io

    import main

    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        code = main.main(["export", "--data-dir", str(data_dir), "--format", fmt, "-o", str(path)])
    assert code == 0 and f"exported {count} response(s)" in said.getvalue(), (code, said.getvalue())


def build_server_db(folder: Path, count: int) -> str:
    """A migrated server database holding `count` responses, with the columns ingest fills."""
    import hashlib

    from sqlalchemy import insert

    from kiosk.record import canonical, parse_iso
    from sync.server.db import make_engine, prepare_database
    from sync.server.models import Response

    url = f"sqlite:///{folder / 'server.db'}"
    engine = make_engine(url)
    prepare_database(engine)
    received = parse_iso("2026-12-01T00:00:00Z")
    rows = []
    with engine.begin() as connection:
        for record in responses(count):
            text = canonical(record)
            rows.append(
                {
                    "id": record["id"],
                    "survey_id": record["survey_id"],
                    "survey_version": record["survey_version"],
                    "kiosk_id": record["kiosk_id"],
                    "site": "main",
                    "channel": record["channel"],
                    "status": record["status"],
                    "submitted_at": parse_iso(record["submitted_at"]),
                    "received_at": received,
                    "digest": hashlib.sha256(text).hexdigest(),
                    "payload": text.decode(),
                }
            )
            if len(rows) == 5000:
                connection.execute(insert(Response), rows)
                rows = []
        if rows:
            connection.execute(insert(Response), rows)
    engine.dispose()
    return url


def server_command(fmt: str, url: str, path: Path, count: int) -> None:
    import contextlib
    import io

    import main

    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        code = main.main(["server", "export", "--database", url, "--format", fmt, "-o", str(path)])
    assert code == 0 and f"exported {count} response(s)" in said.getvalue(), (code, said.getvalue())


def progress_shown(url: str, count: int) -> str | None:
    """Run `server export --progress` once as an admin would and read its bar off stderr.

    Returns what is wrong with it, or None: a long export must show the bar, and it must end at
    every response exported.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "progress.xlsx"
        command = ["server", "export", "--database", url, "--format", "xlsx", "--progress", "-o", str(out)]
        done = subprocess.run(
            [sys.executable, "main.py", *command], capture_output=True, text=True, check=False, cwd=ROOT
        )
    if done.returncode != 0:
        return f"exit {done.returncode}: {done.stderr[-500:]}"
    frames = [f for f in done.stderr.split("\r") if f.strip()]
    if not frames:
        return "no progress bar on stderr"
    last = frames[-1].strip()
    if f"100% {count:,}/{count:,}" not in last:
        return f"the bar ended at {last!r}"
    return None


def child(kind: str, count: int, data_dir: str | None) -> None:
    """Run one measurement in this fresh process; print seconds and peak RSS as JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"out.{kind}"
        start_usage = resource.getrusage(resource.RUSAGE_SELF)
        before = start_usage.ru_maxrss / 1024
        cpu_before = start_usage.ru_utime + start_usage.ru_stime
        started = time.perf_counter()
        if kind == "baseline-csv":
            baseline_csv(count, path)
        elif kind == "baseline-json":
            baseline_json(count, path)
        elif kind == "source":
            source_only(count, path)
        elif kind == "kiosk-read":
            assert data_dir is not None
            read_store(Path(data_dir), count, path)
        elif kind.startswith("server-"):
            assert data_dir is not None
            server_command(kind.removeprefix("server-"), data_dir, path, count)
        elif kind.startswith("kiosk-"):
            assert data_dir is not None
            kiosk_command(kind.removeprefix("kiosk-"), Path(data_dir), path, count)
        else:
            ours(kind, count, path)
        seconds = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_SELF)
        size = path.stat().st_size / 1e6
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    peak = usage.ru_maxrss / 1024
    print(
        json.dumps({"seconds": seconds, "cpu": cpu, "rss_mb": peak, "start_rss_mb": before, "file_mb": size})
    )


def measure(kind: str, count: int, repeat: int, data_dir: Path | str | None = None) -> dict[str, float]:
    """The fastest of `repeat` fresh processes, and the highest peak RSS among them."""
    args = [sys.executable, __file__, "--child", kind, "--count", str(count)]
    if data_dir is not None:
        args += ["--data-dir", str(data_dir)]
    runs = []
    for _ in range(repeat):
        done = subprocess.run(args, capture_output=True, text=True, check=False, cwd=ROOT)
        if done.returncode != 0:
            sys.exit(f"{kind}: failed\n{done.stderr}")
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    best = min(runs, key=lambda r: r["seconds"])
    return dict(best, cpu=min(r["cpu"] for r in runs), rss_mb=max(r["rss_mb"] for r in runs))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, the fastest kept")
    parser.add_argument("--no-store", action="store_true", help="skip the kiosk end-to-end runs")
    parser.add_argument("--no-server", action="store_true", help="skip the `server export` runs")
    parser.add_argument(
        "--only-server", action="store_true", help="only the baseline and the `server export` runs"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.count, args.data_dir)
        return 0

    count = args.count
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"exports of {count:,} responses, best of {args.repeat} fresh processes each")
    print(f"load average before: {load} on {os.cpu_count()} CPUs\n")
    results: dict[str, dict[str, float]] = {}
    progress_problem: str | None = None
    kinds = ("source", "baseline-csv", "baseline-json", "csv", "xlsx", "json", "jsonl", "fhir")
    for kind in kinds[:3] if args.only_server else kinds:
        results[kind] = measure(kind, count, args.repeat)
    if not args.no_server:
        with tempfile.TemporaryDirectory() as tmp:
            url = build_server_db(Path(tmp), count)
            for fmt in ("csv", "xlsx"):
                results[f"server-{fmt}"] = measure(f"server-{fmt}", count, args.repeat, url)
            progress_problem = progress_shown(url, count)
    if not args.no_store and not args.only_server:
        with tempfile.TemporaryDirectory() as tmp:
            build_store(Path(tmp), count)
            results["kiosk-read"] = measure("kiosk-read", count, args.repeat, Path(tmp))
            for fmt in ("csv", "xlsx", "json"):
                results[f"kiosk-{fmt}"] = measure(f"kiosk-{fmt}", count, args.repeat, Path(tmp))

    base = {"csv": results["baseline-csv"]["seconds"], "json": results["baseline-json"]["seconds"]}
    print(f"{'run':<15}{'wall s':>8}{'CPU s':>8}{'ratio':>18}{'peak RSS MB':>13}{'file MB':>9}")
    for kind, r in results.items():
        fmt = kind.removeprefix("kiosk-").removeprefix("server-")
        against = "csv" if fmt in ("csv", "xlsx", "baseline-csv") else "json"
        ratio = "" if fmt in ("source", "read") else f"{r['seconds'] / base[against]:6.1f}x {against} base"
        row = f"{kind:<15}{r['seconds']:8.2f}{r['cpu']:8.2f}{ratio:>18}{r['rss_mb']:13.0f}"
        print(row + (f"{r['file_mb']:9.1f}" if r["file_mb"] else ""))
    print("(kiosk-read: iterating the store once, no export; CSV and XLSX read it twice)")
    print("(server-*: `python main.py server export` from SQLite, the process start included)")

    missed = []
    scale = max(count / 100_000, 1.0)  # a smaller export must meet the 100,000 goals too
    for kind, r in results.items():
        fmt = kind.removeprefix("kiosk-").removeprefix("server-")
        if fmt in GOALS and r["seconds"] > GOALS[fmt] * scale:
            missed.append(f"{kind}: {r['seconds']:.2f} s > {GOALS[fmt] * scale:.1f} s")
        if not kind.startswith("baseline") and r["rss_mb"] > RSS_GOAL_MB:
            missed.append(f"{kind}: peak RSS {r['rss_mb']:.0f} MB > {RSS_GOAL_MB:.0f} MB")
    if progress_problem is not None:
        missed.append(f"server-xlsx --progress: {progress_problem}")
    elif not args.no_server:
        print("\nprogress bar: `server export --format xlsx --progress` drew it up to 100% of the responses")
    goals = ", ".join(f"{f.upper()} <= {s * scale:.1f} s" for f, s in GOALS.items())
    print(f"\ngoals: {goals}, peak RSS <= {RSS_GOAL_MB:.0f} MB")
    print("all met" if not missed else "MISSED:\n  " + "\n  ".join(missed))
    return 1 if missed else 0


if __name__ == "__main__":
    os.environ.pop("KIOSK_PROGRESS", None)
    sys.exit(main())

"""`python main.py export` against a real kiosk store: filters, surveys, errors, the progress bar."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from export_helpers import ARABIC, DANGEROUS, crafted_records, record, survey_v1, write_surveys

import main
from kiosk.store import ResponseStore


@pytest.fixture
def kiosk_dir(data_dir: Path) -> Path:
    """A kiosk data folder holding the crafted responses and the surveys they were given under."""
    with ResponseStore(data_dir) as store:
        for r in crafted_records():
            store.save(r)
    write_surveys(data_dir / "surveys")
    return data_dir


def export(*args: str) -> int:
    return main.main(["export", *args])


def csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))


def test_csv_with_date_and_status_filters(kiosk_dir: Path, tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "out.csv"
    code = export("--data-dir", str(kiosk_dir), "--format", "csv", "-o", str(out),
                  "--since", "2026-11-26", "--until", "2026-11-27")  # fmt: skip
    assert code == 0
    rows = csv_rows(out)
    assert [r["submitted_at"] for r in rows] == [
        "2026-11-26T09:01:10Z",
        "2026-11-26T23:59:59Z",
        "2026-11-27T00:00:00Z",
    ]
    assert rows[0]["why"] == ARABIC and rows[2]["parking"] == "hard" and rows[0]["parking"] == ""
    assert "exported 3 response(s)" in capsys.readouterr().out

    code = export("--data-dir", str(kiosk_dir), "--format", "csv", "-o", str(out),
                  "--status", "partial", "--status", "handed_off")  # fmt: skip
    assert code == 0
    assert sorted(r["status"] for r in csv_rows(out)) == ["handed_off", "partial"]


def test_since_a_full_iso_time(kiosk_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    assert export("--data-dir", str(kiosk_dir), "--format", "json", "-o", str(out),
                  "--since", "2026-11-28T10:01:10Z") == 0  # fmt: skip
    records = json.loads(out.read_text(encoding="utf-8"))
    assert {r["submitted_at"] for r in records} == {"2026-11-28T10:01:10Z"}
    assert [r["answers"]["why"][0] for r in records] == list(DANGEROUS)


def test_json_export_is_the_stored_records(kiosk_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "all.json"
    assert export("--data-dir", str(kiosk_dir), "--format", "json", "-o", str(out)) == 0
    exported = json.loads(out.read_text(encoding="utf-8"))
    with ResponseStore(kiosk_dir) as store:
        assert exported == [store.get(r["id"]) for r in exported]
        assert len(exported) == store.count()


def test_survey_filter_and_labels(kiosk_dir: Path, tmp_path: Path) -> None:
    with ResponseStore(kiosk_dir) as store:
        store.save(record({"overall": "good"}, survey_id="fft", submitted_at="2026-11-27T11:01:10Z"))
    out = tmp_path / "fft.csv"
    assert export("--data-dir", str(kiosk_dir), "--format", "csv", "-o", str(out),
                  "--survey", "fft", "--labels", "--label-language", "es") == 0  # fmt: skip
    rows = csv_rows(out)
    assert [(r["survey_id"], r["overall"]) for r in rows] == [("fft", "Buena")]
    assert "topics" not in rows[0], "only the chosen survey's questions"


def test_xlsx_and_fhir_from_the_store(kiosk_dir: Path, tmp_path: Path) -> None:
    import openpyxl
    from fhir.resources.R4B.bundle import Bundle

    xlsx, fhir = tmp_path / "out.xlsx", tmp_path / "out.fhir.json"
    assert export("--data-dir", str(kiosk_dir), "--format", "xlsx", "-o", str(xlsx)) == 0
    assert export("--data-dir", str(kiosk_dir), "--format", "fhir", "-o", str(fhir)) == 0
    book = openpyxl.load_workbook(xlsx)
    assert book.sheetnames == ["responses", "codebook"]
    assert book["responses"].max_row == 1 + len(crafted_records())
    bundle = Bundle.model_validate_json(fhir.read_bytes())
    assert len(bundle.entry) == len(crafted_records())


def test_an_old_version_from_survey_file(data_dir: Path, tmp_path: Path, capsys: Any) -> None:
    with ResponseStore(data_dir) as store:
        store.save(record({"overall": 4, "topics": ["cost"]}))
    out = tmp_path / "out.csv"
    assert export("--data-dir", str(data_dir), "--format", "csv", "-o", str(out), "--labels") == 0
    assert "clinic-test v1: definition not found" in capsys.readouterr().err
    assert csv_rows(out)[0]["topics"] == "cost", "codes when the definition is missing"

    survey_file = tmp_path / "clinic-test-v1.json"
    survey_file.write_text(json.dumps(survey_v1()), encoding="utf-8")
    assert export("--data-dir", str(data_dir), "--format", "csv", "-o", str(out), "--labels",
                  "--survey-file", str(survey_file)) == 0  # fmt: skip
    assert "not found" not in capsys.readouterr().err
    assert csv_rows(out)[0]["topics"] == "'@Cost"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-02-30"], '--since: "2026-02-30" is not a date'),
        (["--until", "tomorrow"], '--until: "tomorrow" is not a date'),
        (["--since", "2026-11-28", "--until", "2026-11-27"], "after --until"),
    ],
)
def test_bad_filters_exit_2_with_a_message(
    kiosk_dir: Path, tmp_path: Path, capsys: Any, args: list[str], message: str
) -> None:
    out = tmp_path / "out.csv"
    assert export("--data-dir", str(kiosk_dir), "--format", "csv", "-o", str(out), *args) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_missing_data_folder_exits_2(tmp_path: Path, capsys: Any) -> None:
    assert export("--data-dir", str(tmp_path / "nope"), "--format", "csv", "-o", str(tmp_path / "o")) == 2
    assert "no such data folder" in capsys.readouterr().err
    assert not (tmp_path / "nope").exists(), "an export must not create an empty store"


def test_broken_survey_file_exits_2(kiosk_dir: Path, tmp_path: Path, capsys: Any) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "x"', encoding="utf-8")
    assert export("--data-dir", str(kiosk_dir), "--format", "csv", "-o", str(tmp_path / "o.csv"),
                  "--survey-file", str(bad)) == 2  # fmt: skip
    assert "bad.json: line 1" in capsys.readouterr().err


def test_unwritable_output_exits_1(kiosk_dir: Path, tmp_path: Path, capsys: Any) -> None:
    target = tmp_path / "no-such-folder" / "out.csv"
    assert export("--data-dir", str(kiosk_dir), "--format", "csv", "-o", str(target)) == 1
    assert "out.csv: cannot write" in capsys.readouterr().err


def test_store_open_elsewhere_exits_1(kiosk_dir: Path, tmp_path: Path, capsys: Any) -> None:
    with ResponseStore(kiosk_dir):
        assert export("--data-dir", str(kiosk_dir), "--format", "csv", "-o", str(tmp_path / "o.csv")) == 1
    assert "already open" in capsys.readouterr().err


def test_long_export_shows_the_progress_bar_when_forced(
    kiosk_dir: Path, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    """A real export that takes over a second: slowed at the store, not faked at the clock."""
    real = ResponseStore.iter_records

    def slow(self: ResponseStore, **kwargs: Any) -> Iterator[dict[str, Any]]:
        stored = list(real(self, **kwargs))
        for n in range(2100):
            time.sleep(0.0006)
            yield dict(stored[n % len(stored)], id=f"00000000-0000-4000-8000-{n:012d}")

    monkeypatch.setattr(ResponseStore, "iter_records", slow)
    out = tmp_path / "out.jsonl"
    assert export("--data-dir", str(kiosk_dir), "--format", "jsonl", "-o", str(out),
                  "--survey", "clinic-test", "--progress") == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "\rexporting jsonl" in err and "2,100 responses" in err and err.endswith("\n")
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2100


def test_quick_export_without_a_terminal_stays_quiet(kiosk_dir: Path, tmp_path: Path, capsys: Any) -> None:
    assert export("--data-dir", str(kiosk_dir), "--format", "csv", "-o", str(tmp_path / "o.csv")) == 0
    assert capsys.readouterr().err == ""


def test_command_line_exit_codes_without_traceback(kiosk_dir: Path, tmp_path: Path, repo: Path) -> None:
    env = dict(os.environ, KIOSK_DATA_DIR=str(kiosk_dir))
    env.pop("KIOSK_DEBUG", None)
    run = [sys.executable, "main.py", "export", "--format", "csv", "-o", str(tmp_path / "o.csv")]
    bad = subprocess.run([*run, "--since", "11/27/2026"], cwd=repo, env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "--since" in bad.stderr
    good = subprocess.run([*run, "--until", "2026-11-25"], cwd=repo, env=env, capture_output=True, text=True)
    assert good.returncode == 0, good.stderr
    assert "exported 1 response(s)" in good.stdout

"""`python main.py server export` on crafted data, every format and every filter, on SQLite and PostgreSQL.

The data is the export tests' own: formula injections, Arabic, Chinese, emoji, multiple choice,
a partial and a handed-off response (merged with a phone), and two versions of one survey.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from admin_helpers import store
from export_helpers import ARABIC, CHINESE, DANGEROUS, EMOJI, crafted_records, survey_v1, survey_v2
from fhir.resources.R4B.bundle import Bundle
from server_helpers import REPO, run_main

from kiosk.exports.table import METADATA
from kiosk.survey import parse_survey
from sync.server.db import make_engine
from sync.server.surveys import publish

pytest_plugins = ["server_fixtures", "admin_fixtures"]

QUESTIONS = ["overall", "topics", "parking", "recommend", "returning", "why"]
NORTH = 3  # the first three crafted responses come from site north, the others from south


@pytest.fixture
def crafted(admin_db: str) -> tuple[str, list[dict[str, Any]]]:
    """The database holding both survey versions and the crafted responses; and those records."""
    engine = make_engine(admin_db)
    with engine.begin() as connection:
        publish(connection, parse_survey(survey_v1()), None)
        publish(connection, parse_survey(survey_v2()), None)
    records = crafted_records()
    store(engine, records[:NORTH], site="north", kiosk_id="front-desk-1")
    store(engine, records[NORTH:], site="south", kiosk_id="front-desk-1")
    engine.dispose()
    return admin_db, records


def export(url: str, fmt: str, out: Path, *options: str) -> bytes:
    assert run_main("server", "export", "--database", url, "--format", fmt, "-o", str(out), *options) == 0
    return out.read_bytes()


def in_order(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Oldest first, ties by id: the order the server exports in."""
    return sorted(records, key=lambda r: (r["submitted_at"], r["id"]))


def read_csv(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def ids(records: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in records]


def test_every_format_holds_every_response_exactly(crafted, tmp_path, capsys):
    url, records = crafted
    expected = in_order(records)

    data = export(url, "csv", tmp_path / "all.csv")
    assert f"exported {len(records)} response(s)" in capsys.readouterr().out
    rows = read_csv(data)
    assert list(rows[0]) == list(METADATA) + QUESTIONS
    assert [r["id"] for r in rows] == ids(expected)
    by_id = {r["id"]: r for r in rows}
    first, arabic, chinese, handed = (by_id[r["id"]] for r in records[:4])
    assert (first["topics"], first["why"], first["parking"]) == ("staff; wait", EMOJI, "")
    assert (arabic["why"], arabic["language"]) == (ARABIC, "ar")
    assert (chinese["why"], chinese["status"]) == (CHINESE, "partial")
    assert (handed["status"], handed["channel"], handed["survey_version"], handed["parking"]) == (
        "handed_off",
        "kiosk+phone",
        "2",
        "hard",
    )
    for record in records[4:]:
        why = by_id[record["id"]]["why"]
        assert why == "'" + record["answers"]["why"], "a formula is neutralised with a leading quote"
        assert why[1] in DANGEROUS

    book = openpyxl.load_workbook(io.BytesIO(export(url, "xlsx", tmp_path / "all.xlsx")))
    sheet = book["responses"]
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert header == list(METADATA) + QUESTIONS
    cells = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    assert list(cells) == ids(expected)
    why = header.index("why")
    for record in records[4:]:
        cell = cells[record["id"]][why]
        assert cell.value == record["answers"]["why"] and cell.data_type == "s" and cell.quotePrefix
    assert cells[records[0]["id"]][header.index("overall")].value == 5
    assert cells[records[1]["id"]][why].value == ARABIC
    assert "codebook" in book.sheetnames

    assert json.loads(export(url, "json", tmp_path / "all.json")) == expected
    lines = export(url, "jsonl", tmp_path / "all.jsonl").decode().splitlines()
    assert [json.loads(line) for line in lines] == expected

    data = export(url, "fhir", tmp_path / "all.fhir.json")
    bundle = Bundle.model_validate_json(data)
    resources = [e.resource for e in bundle.entry]
    assert [r.id for r in resources] == ids(expected)
    raw = {e["resource"]["id"]: e["resource"] for e in json.loads(data)["entry"]}
    assert raw[records[1]["id"]]["item"][0]["text"] == "بشكل عام؟"
    assert raw[records[3]["id"]]["questionnaire"].endswith("clinic-test|2")
    assert raw[records[3]["id"]]["status"] == "in-progress"
    topics = {i["linkId"]: i for i in raw[records[0]["id"]]["item"]}["topics"]["answer"]
    assert [a["valueCoding"]["code"] for a in topics] == ["staff", "wait"]


def test_each_filter_narrows_the_export(crafted, tmp_path):
    url, records = crafted
    out = tmp_path / "part.json"

    def chosen(*options: str) -> list[str]:
        return ids(json.loads(export(url, "json", out, *options)))

    assert chosen("--since", "2026-11-26") == ids(in_order(records[1:]))
    assert chosen("--until", "2026-11-26") == ids(records[:3]), "a bare date means that whole day"
    assert chosen("--since", "2026-11-26T23:59:59Z", "--until", "2026-11-27") == ids(records[2:4])
    assert chosen("--survey", "clinic-test") == ids(in_order(records))
    assert chosen("--survey", "fft") == []
    assert chosen("--site", "north") == ids(records[:NORTH])
    assert chosen("--site", "south") == ids(in_order(records[NORTH:]))
    assert chosen("--status", "partial", "--status", "handed_off") == ids(records[2:4])
    assert chosen("--status", "completed", "--site", "north") == ids(records[:2])
    rows = read_csv(export(url, "csv", tmp_path / "north.csv", "--site", "north", "--labels"))
    assert [r["id"] for r in rows] == ids(records[:NORTH])
    assert rows[0]["topics"] == "Staff; =Waiting time", "only a cell that starts with = is neutralised"
    assert rows[1]["overall"] == "جيد", "labels in the response's own language"


def test_answers_outside_the_plan_and_unknown_surveys_are_never_dropped(admin_db, tmp_path, capsys):
    """Rows ingest would refuse (restored from elsewhere) still leave in full, as codes."""
    engine = make_engine(admin_db)
    with engine.begin() as connection:
        publish(connection, parse_survey(survey_v1()), None)
    odd = crafted_records()[0]
    odd["answers"]["mystery"] = "kept"
    ghost = {**crafted_records()[1], "survey_id": "ghost", "survey_version": 3}
    store(engine, [odd, ghost], alerts=False)
    engine.dispose()
    capsys.readouterr()
    rows = read_csv(export(admin_db, "csv", tmp_path / "odd.csv"))
    assert "warning: survey ghost v3: definition not found" in capsys.readouterr().err
    by_id = {r["id"]: r for r in rows}
    assert by_id[odd["id"]]["mystery"] == "kept"
    assert by_id[ghost["id"]]["why"] == ARABIC and by_id[ghost["id"]]["survey_id"] == "ghost"
    book = openpyxl.load_workbook(io.BytesIO(export(admin_db, "xlsx", tmp_path / "odd.xlsx")))
    header = [c.value for c in next(book["responses"].iter_rows(max_row=1))]
    assert "mystery" in header


def test_the_command_runs_as_a_process(tmp_path):
    data = tmp_path / "data"
    empty = tmp_path / "empty.csv"
    command = [sys.executable, str(REPO / "main.py"), "server", "export", "--data-dir", str(data)]
    command += ["--format", "csv", "-o", str(empty), "--site", "north", "--status", "partial"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"exported 0 response(s) to {empty}"
    assert empty.read_bytes().startswith(b'\xef\xbb\xbf"id"')
    assert empty.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("--since", "2026-13-01"), 2, "--since:"),
        (("--site", "a/b"), 2, "--site:"),
        (("--database", "mysql://x"), 2, "--database:"),
        (("--output", "/nonexistent/folder/x.csv"), 1, "cannot write"),
        (("--survey-file", "/nonexistent/survey.json"), 2, "survey.json"),
    ],
)
def test_bad_input_exits_with_a_message_and_no_traceback(tmp_path, capsys, args, code, words):
    options = ["--format", "csv", "-o", str(tmp_path / "x.csv"), "--data-dir", str(tmp_path / "data")]
    assert run_main("server", "export", *options, *args) == code
    said = capsys.readouterr().err
    assert words in said and "Traceback" not in said
    assert not (tmp_path / "x.csv").exists()


def test_an_unknown_option_value_is_a_usage_error(capsys):
    for args in (("--format", "pdf"), ("--format", "csv", "--status", "lost")):
        with pytest.raises(SystemExit) as stopped:
            run_main("server", "export", "-o", "x.csv", *args)
        assert stopped.value.code == 2 and "invalid choice" in capsys.readouterr().err

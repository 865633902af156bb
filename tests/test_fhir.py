"""FHIR R4 Questionnaire export and import: lossless round trips, valid FHIR, and refusals that
name every unsupported element."""

from __future__ import annotations

import copy
import json
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.questionnaire import Questionnaire

from kiosk.conditions import Rule
from kiosk.fhir import (
    ENABLE_WHEN_EXPRESSION,
    ITEM_CONTROL,
    TRANSLATION,
    X_CONTACT,
    X_SHOW_IF,
    fhirpath,
    questionnaire_to_survey,
    questionnaire_url,
    survey_to_questionnaire,
)
from kiosk.survey import BUILTIN_DIR, CONTACT_OK, SurveyError, check_survey

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fhir"
SURVEY_FILES = [
    *sorted(BUILTIN_DIR.glob("*.json")),
    *sorted((FIXTURES / "surveys").glob("*.json")),
    *sorted((ROOT / "tests" / "surveys" / "good").glob("*.json")),
]
IDS = [f"{p.parent.name}/{p.stem}" for p in SURVEY_FILES]


def load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("$schema", None)
    return data


def through_json(data: Any) -> Any:
    """What a file on disk would hold: proves the export is plain JSON."""
    return json.loads(json.dumps(data, ensure_ascii=False))


def exported(name: str) -> dict[str, Any]:
    path = next(p for p in SURVEY_FILES if p.stem == name)
    return through_json(survey_to_questionnaire(load(path)))


def problems_of(q: Any) -> list[str]:
    with pytest.raises(SurveyError) as caught:
        questionnaire_to_survey(q)
    assert caught.value.problems, "a refusal must name at least one problem"
    return [f"{p.where}: {p.what}" for p in caught.value.problems]


def test_fixtures_are_found_and_valid() -> None:
    assert {"fft", "post-visit", "everything", "minimal", "contact-limits"} <= {p.stem for p in SURVEY_FILES}
    for path in SURVEY_FILES:
        assert check_survey(load(path)) == [], path


@pytest.mark.parametrize("path", SURVEY_FILES, ids=IDS)
def test_round_trip_is_lossless(path: Path) -> None:
    survey = load(path)
    q = through_json(survey_to_questionnaire(survey))
    back = questionnaire_to_survey(q)
    assert back == survey
    assert through_json(survey_to_questionnaire(back)) == q


@pytest.mark.parametrize("path", SURVEY_FILES, ids=IDS)
def test_export_validates_with_fhir_resources(path: Path) -> None:
    q = through_json(survey_to_questionnaire(load(path)))
    model = Questionnaire.model_validate(q)
    assert model.status == "active"
    assert len(model.item) == len(q["item"])


@pytest.mark.parametrize("path", SURVEY_FILES, ids=IDS)
def test_export_keeps_fhir_invariants(path: Path) -> None:
    """fhir.resources checks structure only, so the Questionnaire rules (que-*, ext-1) are checked here."""
    survey = load(path)
    q = survey_to_questionnaire(survey)
    assert fhir_rule_breaks(q, survey["languages"]) == []


def fhir_rule_breaks(q: dict[str, Any], languages: list[str]) -> list[str]:
    breaks: list[str] = []
    if not re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", q["id"]):
        breaks.append("id: not a FHIR id")
    if not re.fullmatch(r"[A-Z][A-Za-z0-9_]{0,254}", q["name"]):
        breaks.append("name: not a computable name (que-0)")
    if not q["url"].startswith("https://"):
        breaks.append("url: not absolute")
    link_ids: list[str] = []

    def walk_items(items: list[dict[str, Any]], at: str) -> None:
        for i, item in enumerate(items):
            where = f"{at}[{i}]"
            link_ids.append(item["linkId"])
            kind = item["type"]
            if kind == "display" and ({"item", "required", "repeats"} & set(item)):
                breaks.append(f"{where}: display items take no children, required or repeats (que-1, que-6)")
            if "answerOption" in item and kind not in ("choice", "integer", "string", "date", "time"):
                breaks.append(f"{where}: answerOption on a {kind} item (que-5)")
            if "maxLength" in item and kind not in ("boolean", "decimal", "integer", "string", "text", "url"):
                breaks.append(f"{where}: maxLength on a {kind} item (que-10)")
            if len(item.get("enableWhen", [])) > 1 and "enableBehavior" not in item:
                breaks.append(f"{where}: several enableWhen without enableBehavior (que-12)")
            for ew in item.get("enableWhen", []):
                answers = [k for k in ew if k.startswith("answer")]
                if len(answers) != 1:
                    breaks.append(f"{where}: enableWhen needs one answer[x]")
                if ew["operator"] == "exists" and answers != ["answerBoolean"]:
                    breaks.append(f"{where}: exists needs answerBoolean (que-7)")
            if "text" in item and len(languages) > 1:
                got = [t["extension"][0]["valueCode"] for t in item["_text"]["extension"]]
                if got != languages[1:]:
                    breaks.append(f"{where}._text: translations {got}, not {languages[1:]}")
            walk_items(item.get("item", []), f"{where}.item")

    walk_items(q["item"], "item")
    if len(link_ids) != len(set(link_ids)):
        breaks.append("linkIds are not unique (que-2)")
    for item in q["item"]:
        for ew in item.get("enableWhen", []):
            if ew["question"] not in link_ids:
                breaks.append(f"enableWhen names unknown linkId {ew['question']}")

    def walk_extensions(node: Any, at: str) -> None:
        if isinstance(node, dict):
            if "url" in node and ("extension" in node or any(k.startswith("value") for k in node)):
                has_value = any(k.startswith("value") for k in node)
                if has_value == bool(node.get("extension")):
                    breaks.append(f"{at}: an extension needs a value or extensions, not both (ext-1)")
                if node["url"] == TRANSLATION:
                    parts = [e["url"] for e in node["extension"]]
                    if parts != ["lang", "content"]:
                        breaks.append(f"{at}: a translation has parts {parts}")
            for key, value in node.items():
                walk_extensions(value, f"{at}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk_extensions(value, f"{at}[{i}]")

    walk_extensions(q, "")
    return breaks


def answers_for(survey: dict[str, Any], rnd: random.Random) -> dict[str, Any]:
    """A random set of answers, each a value the question accepts; about a third left out."""
    answers: dict[str, Any] = {}
    questions = list(survey["questions"])
    if "contact" in survey:
        questions.append({"id": CONTACT_OK, "type": "yes_no"})
    for q in questions:
        if q["type"] == "info" or rnd.random() < 0.3:
            continue
        values = [o["value"] for o in q.get("options", [])]
        answers[q["id"]] = {
            "single_choice": lambda v=values: rnd.choice(v),
            "multiple_choice": lambda v=values: rnd.sample(v, rnd.randint(1, len(v))),
            "rating": lambda: rnd.randint(1, 5),
            "likelihood": lambda: rnd.randint(0, 10),
            "yes_no": lambda: rnd.random() < 0.5,
            "text": lambda: rnd.choice(["rude", "fine", "Rude"]),
        }[q["type"]]()
    return answers


def fhir_enabled(item: dict[str, Any], answers: dict[str, Any]) -> bool:
    """enableWhen as the FHIR R4 specification defines it, written independently of kiosk code."""
    results = []
    for ew in item["enableWhen"]:
        given = answers.get(ew["question"])
        values = [] if given is None else given if isinstance(given, list) else [given]
        key = next(k for k in ew if k.startswith("answer"))
        expected = ew[key]["code"] if key == "answerCoding" else ew[key]
        op = ew["operator"]
        if op == "exists":
            results.append(bool(values) == expected)
            continue
        equal = [type(v) is type(expected) and v == expected for v in values]
        compare = {
            "<": lambda v, e=expected: v < e,
            "<=": lambda v, e=expected: v <= e,
            ">": lambda v, e=expected: v > e,
            ">=": lambda v, e=expected: v >= e,
        }
        if not values:
            results.append(False)
        elif op == "=":
            results.append(any(equal))
        elif op == "!=":
            results.append(not any(equal))
        else:
            results.append(any(compare[op](v) for v in values))
    return all(results) if item.get("enableBehavior", "all") == "all" else any(results)


@pytest.mark.parametrize("path", SURVEY_FILES, ids=IDS)
def test_enable_when_means_what_show_if_means(path: Path) -> None:
    """The standard elements alone must show a question exactly when the kiosk would."""
    survey = load(path)
    q = survey_to_questionnaire(survey)
    rules = {s["id"]: Rule.from_json(s["show_if"]) for s in survey["questions"] if "show_if" in s}
    rnd = random.Random(path.stem)
    for item in q["item"]:
        if item["linkId"] not in rules:
            continue
        if "enableWhen" not in item:
            urls = [e["url"] for e in item["extension"]]
            assert ENABLE_WHEN_EXPRESSION in urls and X_SHOW_IF in urls
            continue
        for _ in range(300):
            answers = answers_for(survey, rnd)
            assert fhir_enabled(item, answers) == rules[item["linkId"]].holds(answers), (item, answers)


def test_inexpressible_rule_gets_an_sdc_expression() -> None:
    q = exported("everything")
    item = next(i for i in q["item"] if i["linkId"] == "why_low")
    assert "enableWhen" not in item
    expression = next(e for e in item["extension"] if e["url"] == ENABLE_WHEN_EXPRESSION)
    assert expression["valueExpression"] == {
        "language": "text/fhirpath",
        "expression": "(%resource.repeat(item).where(linkId = 'nps').answer.value.where($this <= 6).exists())"
        " and (%resource.repeat(item).where(linkId = 'visit').answer.value.code"
        ".where($this in ('urgent-care' | 'other')).exists())",
    }
    kinds = {"q": "text"}
    assert fhirpath({"question": "q", "not": "it's \\ here"}, kinds) == (
        "%resource.repeat(item).where(linkId = 'q').answer.value.exists() and "
        "%resource.repeat(item).where(linkId = 'q').answer.value.where($this = 'it\\'s \\\\ here').empty()"
    )


def test_export_uses_standard_fhir_elements() -> None:
    fft = exported("fft")
    assert (
        fft["url"]
        == questionnaire_url("fft")
        == "https://patient-feedback-kiosk.example/fhir/Questionnaire/fft"
    )
    assert (fft["version"], fft["language"], fft["status"]) == ("1", "en", "active")
    assert fft["title"] == "Friends and Family Test"
    assert fft["_title"]["extension"][0] == {
        "url": TRANSLATION,
        "extension": [
            {"url": "lang", "valueCode": "es"},
            {"url": "content", "valueString": "Prueba de Amigos y Familia"},
        ],
    }
    overall, why = fft["item"]
    assert (overall["type"], overall["repeats"], overall["required"]) == ("choice", False, True)
    assert [o["valueCoding"]["code"] for o in overall["answerOption"]][:2] == ["very_good", "good"]
    assert overall["answerOption"][0]["valueCoding"]["display"] == "Very good"
    assert (why["type"], why["maxLength"]) == ("text", 500)
    (help_item,) = why["item"]
    assert help_item["type"] == "display"
    assert help_item["extension"][0]["url"] == ITEM_CONTROL
    assert help_item["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "help"

    visit = exported("post-visit")
    by_id = {i["linkId"]: i for i in visit["item"]}
    assert [o["valueInteger"] for o in by_id["overall"]["answerOption"]] == [1, 2, 3, 4, 5]
    assert [o["valueInteger"] for o in by_id["recommend"]["answerOption"]] == list(range(11))
    assert [
        c["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] for c in by_id["recommend"]["item"]
    ] == [
        "lower",
        "upper",
    ]
    improve = by_id["improve"]
    assert improve["enableBehavior"] == "any"
    assert improve["enableWhen"][:2] == [
        {"question": "overall", "operator": "<=", "answerInteger": 3},
        {"question": "front_desk", "operator": "=", "answerCoding": {"code": "no"}},
    ]
    assert [i["linkId"] for i in visit["item"][-2:]] == ["contact_ok", "contact_details"]
    assert by_id["contact_ok"]["type"] == "boolean"
    assert by_id["contact_details"]["enableWhen"] == [
        {"question": "contact_ok", "operator": "=", "answerBoolean": True}
    ]
    assert by_id["contact_details"]["maxLength"] == 200
    assert by_id["contact_ok"]["extension"] == [{"url": X_CONTACT, "valueCode": "question"}]


def test_questionnaire_url_names_a_version_and_takes_a_base() -> None:
    assert questionnaire_url("post-visit", 3).endswith("/Questionnaire/post-visit|3")
    assert questionnaire_url("fft", 1, base="https://fhir.clinic.example/r4/") == (
        "https://fhir.clinic.example/r4/Questionnaire/fft|1"
    )
    survey = load(BUILTIN_DIR / "fft.json")
    q = survey_to_questionnaire(survey, base="https://fhir.clinic.example/r4")
    assert q["url"] == "https://fhir.clinic.example/r4/Questionnaire/fft"
    assert questionnaire_to_survey(q) == survey


def test_export_refuses_an_invalid_survey() -> None:
    survey = load(BUILTIN_DIR / "fft.json")
    survey["questions"][0]["type"] = "slider"
    with pytest.raises(SurveyError) as caught:
        survey_to_questionnaire(survey)
    assert caught.value.problems[0].where == "questions[0].type"


def test_plain_questionnaire_from_another_tool_imports_sensibly() -> None:
    q = json.loads((FIXTURES / "plain-nps.json").read_text(encoding="utf-8"))
    survey = questionnaire_to_survey(q)
    assert check_survey(survey) == []
    assert survey == json.loads((FIXTURES / "plain-nps.expected.json").read_text(encoding="utf-8"))
    kinds = {s["id"]: s["type"] for s in survey["questions"]}
    assert kinds["nps"] == "likelihood"  # integer 0..10
    assert kinds["pain"] == "rating"  # integer with minValue 1, maxValue 5
    assert kinds["returning"] == "yes_no"
    assert kinds["liked"] == "multiple_choice"
    Questionnaire.model_validate(survey_to_questionnaire(survey))


def test_every_unsupported_element_is_named_where_it_stands() -> None:
    q = json.loads((FIXTURES / "unsupported.json").read_text(encoding="utf-8"))
    expected = (FIXTURES / "unsupported.expected").read_text(encoding="utf-8").splitlines()
    found = problems_of(q)
    assert found == expected
    for line in (
        'item[0].type: "attachment" is not supported',
        "item[2].item: nested groups are not supported",
        'item[5].enableWhen[0].question: no item with linkId "nowhere"',
    ):
        assert line in found


def _node(q: dict[str, Any], path: str) -> Any:
    node: Any = q
    for part in filter(None, re.split(r"[.\[\]]+", path)):
        node = node[int(part)] if part.isdigit() else node[part]
    return node


def _set(path: str, **values: Any) -> Any:
    """A change to an exported fft Questionnaire: update the element at `path`."""
    return lambda q: _node(q, path).update(values)


def _drop(path: str, key: str) -> Any:
    return lambda q: _node(q, path).pop(key)


EXISTS = {"operator": "exists", "answerBoolean": True}
HELP_CODING = "item[1].item[0].extension[0].valueCodeableConcept.coding[0]"


@pytest.mark.parametrize(
    ("change", "where", "what"),
    [
        (_set("item[0]", type="quantity"), "item[0].type", '"quantity" is not supported'),
        (_set("item[0]", answerValueSet="http://x.example/vs"), "item[0].answerValueSet", "value sets"),
        (_set("item[1]", initial=[{"valueString": "x"}]), "item[1].initial", "initial values"),
        (_set("item[1]", repeats=True), "item[1].repeats", "only supported on choice"),
        (_set("item[1]", prefix="2."), "item[1].prefix", "prefixes are not supported"),
        (_set("item[1]", readOnly=True), "item[1].readOnly", "read-only"),
        (_set("item[1]", maxLength=9000), "item[1].maxLength", "5000"),
        (_set("item[0]", maxLength=10), "item[0].maxLength", "only supported on string and text"),
        (
            _set("item[1]", enableWhen=[{"question": "nope", **EXISTS}]),
            "item[1].enableWhen[0].question",
            "nope",
        ),
        (_set("item[1]", enableWhen=[{"question": "why", **EXISTS}]), "item[1].enableWhen", "itself"),
        (
            _set("item[0].answerOption[0].valueCoding", code="Very-Good"),
            "item[0].answerOption[0].valueCoding.code",
            "Very-Good",
        ),
        (
            _drop("item[0].answerOption[1].valueCoding", "_display"),
            "item[0].answerOption[1].valueCoding.display",
            'missing the "es" text',
        ),
        (_set("", language="english"), "language", "english"),
        (_set("", version="1.0.2"), "version", "is not a whole number"),
        (_drop("", "language"), "language", "missing"),
        (_drop("", "item"), "item", "missing"),
        (_set(HELP_CODING, code="lower"), "item[1].item[0]", "only a help text"),
        (_set("item[1].item[0]", type="group"), "item[1].item[0]", "nested groups are not supported"),
        (_set("item[1]", type="group"), "item[1].item", "nested groups are not supported"),
    ],
)
def test_unsupported_or_wrong_input_is_refused_with_its_place(change: Any, where: str, what: str) -> None:
    q = exported("fft")
    change(q)
    found = problems_of(q)
    assert any(line.startswith(f"{where}: ") and what in line for line in found), found


def test_not_a_questionnaire_is_refused() -> None:
    assert problems_of([]) == ["(top level): not a FHIR Questionnaire (not an object)"]
    assert problems_of({"resourceType": "Patient"}) == [
        'resourceType: must be "Questionnaire", not "Patient"'
    ]


def test_a_show_if_extension_that_disagrees_with_enable_when_is_caught() -> None:
    q = exported("everything")
    index, topics = next((i, item) for i, item in enumerate(q["item"]) if item["linkId"] == "topics")
    assert topics["extension"][0]["url"] == X_SHOW_IF
    topics["enableWhen"][1]["answerCoding"]["code"] = "urgent-care"
    found = problems_of(q)
    assert found == [
        f"item[{index}].extension[0]: disagrees with the item's enableWhen (edited by another tool?): "
        "remove this extension or fix enableWhen"
    ]


def test_contact_items_must_close_the_questionnaire() -> None:
    q = exported("post-visit")
    q["item"].insert(0, q["item"].pop())
    found = problems_of(q)
    assert (
        "item[0]: the contact questions must be the last two items, contact_ok then contact_details" in found
    )


def test_thank_you_defaults_only_where_we_have_words() -> None:
    q = json.loads((FIXTURES / "plain-nps.json").read_text(encoding="utf-8"))
    q["language"] = "es"
    assert questionnaire_to_survey(q)["thank_you"] == {"es": "Gracias."}
    q["language"] = "sw"
    assert any(line.startswith('extension: no thank-you text in "sw"') for line in problems_of(q))


def test_welcome_falls_back_to_the_title() -> None:
    q = json.loads((FIXTURES / "plain-nps.json").read_text(encoding="utf-8"))
    del q["description"]
    assert questionnaire_to_survey(q)["welcome"] == {"en": "Quick feedback"}


JUNK: list[Any] = [None, 0, -1, 1.5, True, "", "x", [], [{}], {}, {"url": 3}, {"code": 5}, [1, 2]]


def _paths(node: Any, at: tuple = ()) -> list[tuple]:
    found = [at]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*at, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*at, index))
    return found


def test_damaged_questionnaires_never_crash_the_import() -> None:
    """Any JSON must end in a survey that passes check_survey or in named problems, never a traceback."""
    seeds = [exported(name) for name in ("everything", "post-visit", "contact-limits")]
    seeds.append(json.loads((FIXTURES / "plain-nps.json").read_text(encoding="utf-8")))
    rnd = random.Random(20261127)
    imported = refused = 0
    for _ in range(600):
        q = copy.deepcopy(rnd.choice(seeds))
        for _ in range(rnd.randint(1, 3)):
            at = rnd.choice(_paths(q)[1:])
            parent = q
            for key in at[:-1]:
                parent = parent[key]
            roll = rnd.random()
            if roll < 0.5:
                parent[at[-1]] = copy.deepcopy(rnd.choice(JUNK))
            elif roll < 0.8:
                del parent[at[-1]]
            elif isinstance(parent, list):
                parent.append(copy.deepcopy(parent[at[-1]]))
        try:
            survey = questionnaire_to_survey(q)
        except SurveyError as e:
            assert e.problems
            refused += 1
        else:
            assert check_survey(survey) == []
            imported += 1
    assert refused > 100 and imported > 10


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_round_trip(tmp_path: Path) -> None:
    source = FIXTURES / "surveys" / "everything.json"
    q_file, s_file = tmp_path / "q.json", tmp_path / "s.json"
    done = run_cli("survey", "to-fhir", str(source), "-o", str(q_file))
    assert done.returncode == 0, done.stderr
    Questionnaire.model_validate(json.loads(q_file.read_text(encoding="utf-8")))
    done = run_cli("survey", "from-fhir", str(q_file), "-o", str(s_file))
    assert done.returncode == 0, done.stderr
    assert json.loads(s_file.read_text(encoding="utf-8")) == load(source)
    assert run_cli("survey", "check", str(s_file)).returncode == 0


def test_cli_refuses_unsupported_input_with_one_line_per_problem(tmp_path: Path) -> None:
    source = FIXTURES / "unsupported.json"
    out = tmp_path / "s.json"
    done = run_cli("survey", "from-fhir", str(source), "-o", str(out))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    expected = (FIXTURES / "unsupported.expected").read_text(encoding="utf-8").splitlines()
    assert done.stderr.splitlines() == [f"{source}: {line}" for line in expected]
    assert not out.exists()

    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceType": "Questionnaire",', encoding="utf-8")
    done = run_cli("survey", "from-fhir", str(broken), "-o", str(out))
    assert done.returncode == 2
    assert done.stderr.startswith(f"{broken}: line 1, column")

"""kiosk/schema.py against the reference `jsonschema` (Draft 2020-12): the same files are valid for both.

Deliberate differences, both stricter on our side:
- JSON Schema counts 2.0 as an integer; we reject it, because a survey version or a scale value
  written 2.0 is a mistake, and the record format carries integers.
- Python's `re` (which `jsonschema` uses for `pattern`) lets `$` match before a final newline, so it
  accepts the id "fft\\n"; ECMA 262, which JSON Schema specifies, does not, and neither do we.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from kiosk.schema import SchemaValidator, Violation, survey_schema
from kiosk.survey import check_survey

REPO = Path(__file__).resolve().parent.parent
FILES = sorted(
    [
        *(REPO / "tests" / "surveys" / "bad").glob("*.json"),
        *(REPO / "tests" / "surveys" / "good").glob("*.json"),
        *(REPO / "assets" / "surveys").glob("*.json"),
    ]
)
# Files where the two disagree on purpose (see the module docstring): we reject, jsonschema accepts.
DELIBERATE = {"11-version-float", "43-id-trailing-newline"}

REFERENCE = Draft202012Validator(survey_schema())
OURS = SchemaValidator(survey_schema())


def parsed(path: Path) -> Any:
    """The document as Python's json reads it (last duplicate key wins, NaN allowed), or None."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None


def deliberately_different(value: Any) -> bool:
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, str):
        return value.endswith("\n")
    if isinstance(value, list):
        return any(deliberately_different(v) for v in value)
    if isinstance(value, dict):
        return any(deliberately_different(k) or deliberately_different(v) for k, v in value.items())
    return False


def test_schema_file_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(survey_schema())
    assert survey_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_enough_files_to_compare() -> None:
    comparable = [p for p in FILES if parsed(p) is not None]
    assert len(comparable) >= 30
    assert {p.stem for p in comparable} >= DELIBERATE


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_agrees_with_jsonschema(path: Path) -> None:
    data = parsed(path)
    if data is None:
        pytest.skip("not JSON that Python reads: nothing for a schema to judge")
    ours = not OURS.violations(data)
    reference = REFERENCE.is_valid(data)
    if path.stem in DELIBERATE:
        assert (ours, reference) == (False, True)
        assert deliberately_different(data)
    else:
        assert ours == reference, [e.message for e in REFERENCE.iter_errors(data)] + [
            f"{v.path}: {v.message}" for v in OURS.violations(data)
        ]


@pytest.mark.parametrize(
    ("schema", "value", "violation"),
    [
        ({"type": "integer"}, 2.0, Violation("(top level)", "must be an integer, not a number (2.0)")),
        ({"type": "integer"}, True, Violation("(top level)", "must be an integer, not a boolean (true)")),
        ({"type": "object"}, None, Violation("(top level)", "must be an object, not null")),
        (
            {"type": "string", "pattern": "^[a-z]+$"},
            "abc\n",
            Violation("(top level)", 'must be text of the form ^[a-z]+$, not "abc\\n"'),
        ),
        ({"uniqueItems": True}, [1, True, 1], Violation("(top level)", "lists 1 more than once")),
        ({"enum": ["a", "b"]}, "c", Violation("(top level)", 'must be one of "a", "b", not "c"')),
        (
            {"properties": {"a": {"minimum": 3}}},
            {"a": 2},
            Violation("a", "must be at least 3, not 2"),
        ),
        (
            {"minProperties": 2, "properties": {"x": {}, "y": {}}},
            {"x": 1},
            Violation("(top level)", "must have at least 2 fields, has only x (known: x, y)"),
        ),
        ({"items": {"maxLength": 2}}, ["ab", "abc"], Violation("[1]", "must be at most 2 characters")),
    ],
)
def test_messages(schema: dict[str, Any], value: Any, violation: Violation) -> None:
    assert SchemaValidator(schema).violations(value) == [violation]


def test_true_and_1_are_different_items() -> None:
    assert SchemaValidator({"uniqueItems": True}).violations([1, True, "1"]) == []
    assert Draft202012Validator({"uniqueItems": True}).is_valid([1, True, "1"])


def test_deep_value_is_reported_not_raised() -> None:
    deep: Any = []
    for _ in range(990):
        deep = [deep]
    problems = check_survey(
        {**json.loads((REPO / "assets/surveys/fft.json").read_text()), "partial_policy": deep}
    )
    assert [p.what for p in problems] == ['must be one of "keep", "discard", not (a deeply nested array)']


# Random damage to good surveys: the two validators must still agree, and the checker must never raise.
KEYS = sorted(
    {
        *survey_schema()["properties"],
        *survey_schema()["$defs"]["question"]["properties"],
        *survey_schema()["$defs"]["condition"]["properties"],
        *survey_schema()["$defs"]["option"]["properties"],
        "all",
        "any",
        "en",
        "es",
        "fr",
    }
)
WORDS = ["en", "es", "pt-BR", "EN", "", "good", "overall", "recommend", "mood", "https://x.org/a", "http://x"]
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 12),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(WORDS),
    st.text(max_size=6),
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
SEEDS = [parsed(p) for p in FILES if p.parent.name == "good" or p.parent.name == "surveys"]


def _places(node: Any, path: tuple = ()) -> list[tuple]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _places(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _places(value, (*path, index))
    return found


def _nudge(value: Any) -> st.SearchStrategy[Any]:
    """A value of the same JSON type, often just inside or just outside what the schema allows."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(-1, 12) | st.sampled_from([value - 1, value + 1, 600, 601, 5000, 5001])
    if isinstance(value, str):
        return st.sampled_from([*WORDS, value, value.upper(), value + " ", value[:1], value * 2])
    return VALUES


def _mutate(doc: Any, path: tuple, action: str, value: Any, key: str) -> Any:
    if not path:
        return value
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "add" and isinstance(parent[last], dict):
        parent[last][key] = value
    elif action == "add" and isinstance(parent[last], list):
        parent[last].append(value)
    else:
        parent[last] = value
    return doc


def _at(doc: Any, path: tuple) -> Any:
    for step in path:
        doc = doc[step]
    return doc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_agrees_with_jsonschema_on_damaged_surveys(data: st.DataObject) -> None:
    doc = copy.deepcopy(data.draw(st.sampled_from(SEEDS)))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_places(doc)))
        action = data.draw(st.sampled_from(["nudge", "nudge", "replace", "delete", "add"]))
        strategy = _nudge(_at(doc, path)) if action == "nudge" else VALUES
        doc = _mutate(doc, path, action, data.draw(strategy), data.draw(st.sampled_from(KEYS)))
    ours = not OURS.violations(doc)
    reference = REFERENCE.is_valid(doc)
    event(f"valid for jsonschema: {reference}")
    if deliberately_different(doc):
        assert reference or not ours
    else:
        assert ours == reference
    problems = check_survey(doc)
    assert all(p.where and p.what for p in problems)
    assert ours or problems

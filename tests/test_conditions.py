"""The condition grammar behind show_if and low_score: FHIR enableWhen semantics, JSON types kept apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kiosk.conditions import Condition, Rule, same_value
from kiosk.survey import builtin_survey, load_survey

GOOD = Path(__file__).resolve().parent / "surveys" / "good"
ANSWERS: dict[str, Any] = {"mood": "good", "topics": ["wait", "staff"], "nps": 7, "happy": False, "why": "ok"}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"question": "mood", "equals": "good"}, True),
        ({"question": "mood", "equals": "poor"}, False),
        ({"question": "topics", "equals": "staff"}, True),  # chosen among several
        ({"question": "topics", "equals": "rooms"}, False),
        ({"question": "nps", "equals": 7}, True),
        ({"question": "happy", "equals": False}, True),
        ({"question": "happy", "equals": 0}, False),  # false is not 0
        ({"question": "nps", "equals": True}, False),
        ({"question": "why", "equals": "ok"}, True),
        ({"question": "mood", "not": "poor"}, True),
        ({"question": "mood", "not": "good"}, False),
        ({"question": "topics", "not": "staff"}, False),
        ({"question": "topics", "not": "rooms"}, True),
        ({"question": "absent", "not": "good"}, False),  # no answer: false, as in FHIR
        ({"question": "mood", "one_of": ["poor", "good"]}, True),
        ({"question": "topics", "one_of": ["rooms", "wait"]}, True),
        ({"question": "topics", "one_of": ["rooms"]}, False),
        ({"question": "nps", "one_of": [6, 8]}, False),
        ({"question": "nps", "lt": 8}, True),
        ({"question": "nps", "lt": 7}, False),
        ({"question": "nps", "lte": 7}, True),
        ({"question": "nps", "lte": 6}, False),
        ({"question": "nps", "gt": 6}, True),
        ({"question": "nps", "gt": 7}, False),
        ({"question": "nps", "gte": 7}, True),
        ({"question": "nps", "gte": 8}, False),
        ({"question": "happy", "lt": 1}, False),  # a boolean is not a number
        ({"question": "mood", "gt": 0}, False),
        ({"question": "absent", "lt": 100}, False),
        ({"question": "mood", "answered": True}, True),
        ({"question": "mood", "answered": False}, False),
        ({"question": "absent", "answered": True}, False),
        ({"question": "absent", "answered": False}, True),
        ({"question": "absent", "equals": "good"}, False),
    ],
)
def test_condition(condition: dict[str, Any], expected: bool) -> None:
    assert Condition.from_json(condition).holds(ANSWERS) is expected
    assert Rule.from_json(condition).holds(ANSWERS) is expected


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"all": [{"question": "mood", "equals": "good"}, {"question": "nps", "gte": 7}]}, True),
        ({"all": [{"question": "mood", "equals": "good"}, {"question": "nps", "gt": 7}]}, False),
        ({"any": [{"question": "mood", "equals": "poor"}, {"question": "nps", "gt": 7}]}, False),
        ({"any": [{"question": "mood", "equals": "poor"}, {"question": "happy", "equals": False}]}, True),
        ({"any": [{"question": "absent", "answered": False}]}, True),
    ],
)
def test_groups(rule: dict[str, Any], expected: bool) -> None:
    assert Rule.from_json(rule).holds(ANSWERS) is expected


@pytest.mark.parametrize(
    "rule",
    [
        {"question": "nps", "one_of": [1, 2]},
        {"question": "happy", "equals": True},
        {"all": [{"question": "a", "lt": 3}, {"question": "b", "answered": False}]},
        {"any": [{"question": "a", "not": "x"}]},
    ],
)
def test_json_round_trip(rule: dict[str, Any]) -> None:
    parsed = Rule.from_json(rule)
    assert parsed.to_json() == rule
    assert Rule.from_json(parsed.to_json()) == parsed
    wanted = [rule["question"]] if "question" in rule else [c["question"] for c in next(iter(rule.values()))]
    assert list(parsed.questions) == wanted


def test_one_of_is_kept_immutable() -> None:
    condition = Condition.from_json({"question": "a", "one_of": ["x"]})
    assert condition.value == ("x",)
    assert hash(condition) == hash(Condition("a", "one_of", ("x",)))


def test_same_value_keeps_json_types_apart() -> None:
    assert same_value(1, 1) and same_value("a", "a")
    assert not same_value(True, 1)
    assert not same_value(1, 1.0)
    assert not same_value(0, False)


def test_low_score_rules_of_the_shipped_surveys() -> None:
    fft = builtin_survey("fft")
    assert fft.is_low_score({"overall": "poor"})
    assert fft.is_low_score({"overall": "very_poor", "why": "rude"})
    assert not fft.is_low_score({"overall": "dont_know"})
    assert not fft.is_low_score({})
    visit = builtin_survey("post-visit")
    assert visit.is_low_score({"overall": 2})
    assert visit.is_low_score({"overall": 5, "recommend": 6})
    assert visit.is_low_score({"front_desk": "no"})
    assert not visit.is_low_score({"overall": 3, "front_desk": "somewhat", "recommend": 7})


def test_a_survey_without_low_score_never_alerts() -> None:
    survey = load_survey(GOOD / "minimal.json")
    assert survey.low_score is None
    assert not survey.is_low_score({"happy": False})

"""Properties of the flow engine over random valid surveys and random paths through them.

The test keeps its own model of the answers, with its own reading of the condition rules (the
FHIR enableWhen semantics in kiosk/conditions.py's docstring), and checks the engine against it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import answers_for, survey_documents

from kiosk.flow import Flow, FlowError
from kiosk.record import CHANNELS, FIELDS, STATUSES, record_problems
from kiosk.survey import Survey, check_survey, parse_survey

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TIME = re.compile(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")
UUID = re.compile(r"\A[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")
ANSWER_TYPES = {
    "single_choice": str,
    "multiple_choice": list,
    "rating": int,
    "likelihood": int,
    "yes_no": bool,
    "text": str,
}


def wall_clock() -> datetime:
    return datetime(2026, 11, 27, 10, 0, 0, 500_000, tzinfo=UTC)


def holds(condition: dict[str, Any], answers: dict[str, Any]) -> bool:
    """The model's own reading of one condition."""
    qid = condition["question"]
    (op,) = (k for k in condition if k != "question")
    value = condition[op]
    if op == "answered":
        return (qid in answers) is value
    if qid not in answers:
        return False
    answer = answers[qid]
    chosen = answer if isinstance(answer, list) else [answer]
    wanted = value if op == "one_of" else [value]
    same = [c for c in chosen if any(type(c) is type(v) and c == v for v in wanted)]
    if op in ("equals", "one_of"):
        return bool(same)
    if op == "not":
        return not same
    if type(answer) is not int:
        return False
    return {"lt": answer < value, "lte": answer <= value, "gt": answer > value, "gte": answer >= value}[op]


def shown(question: dict[str, Any], answers: dict[str, Any]) -> bool:
    rule = question.get("show_if")
    if rule is None:
        return True
    if "question" in rule:
        return holds(rule, answers)
    results = [holds(c, answers) for c in next(iter(rule.values()))]
    return any(results) if "any" in rule else all(results)


def model_questions(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The file's questions plus the two the contact block adds, as the model sees them."""
    found = list(doc["questions"])
    if "contact" in doc:
        found.append({"id": "contact_ok", "type": "yes_no"})
        found.append(
            {"id": "contact_details", "type": "text", "show_if": {"question": "contact_ok", "equals": True}}
        )
    return found


def model_prune(doc: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for q in model_questions(doc):
        if q["id"] in answers and shown(q, kept):
            kept[q["id"]] = answers[q["id"]]
    return kept


def model_visible(doc: dict[str, Any], answers: dict[str, Any]) -> list[dict[str, Any]]:
    return [q for q in model_questions(doc) if shown(q, answers)]


def assert_record(record: dict[str, Any], survey: Survey, flow: Flow, status: str) -> None:
    """The record is exactly the design's format, and its answers are ones the survey accepts."""
    assert set(record) - {"flags"} == set(FIELDS)
    assert record_problems(record) == []
    assert UUID.match(record["id"]) and record["id"] == flow.response_id
    assert record["survey_id"] == survey.id and type(record["survey_id"]) is str
    assert record["survey_version"] == survey.version and type(record["survey_version"]) is int
    assert record["kiosk_id"] == flow.kiosk_id
    assert record["channel"] == flow.channel and record["channel"] in CHANNELS
    assert record["language"] == flow.language and record["language"] in survey.languages
    assert TIME.match(record["started_at"]) and TIME.match(record["submitted_at"])
    assert record["status"] == status and status in STATUSES
    assert record.get("flags", ["too_fast"]) == ["too_fast"]
    assert type(record["answers"]) is dict
    for qid, value in record["answers"].items():
        question = survey.question(qid)
        assert question is not None
        assert type(value) is ANSWER_TYPES[question.type]
        if isinstance(value, list):
            assert value and all(type(v) is str for v in value)
    assert survey.answers_problems(record["answers"], completed=status == "completed") == []


def walk(
    data: st.DataObject, doc: dict[str, Any], flow: Flow, model: dict[str, Any], now: float
) -> tuple[dict[str, Any], float, set[str]]:
    """Random taps: answer, clear, next, back, switch language. Checks the engine after each one.

    Returns the answers, the time, and which answers given elsewhere still stand untouched.
    """
    survey = flow.survey
    elsewhere = set(model)
    for _ in range(data.draw(st.integers(0, 25), label="taps")):
        current = flow.current
        if current is None:
            break
        now += data.draw(st.floats(0, 5), label="pause")
        action = data.draw(st.sampled_from(["answer", "answer", "clear", "next", "next", "back", "language"]))
        if action == "answer" and current.takes_answer:
            value = data.draw(answers_for(current), label=f"answer to {current.id}")
            flow.answer(value, now=now)
            model[current.id] = value.strip() if isinstance(value, str) else value
            model = model_prune(doc, model)
        elif action == "answer":
            with pytest.raises(FlowError):
                flow.answer("anything", now=now)
        elif action == "clear":
            flow.answer(None, now=now)
            model.pop(current.id, None)
            model = model_prune(doc, model)
        elif action == "next":
            if current.required and current.id not in model:
                with pytest.raises(FlowError):
                    flow.next(now=now)
                assert flow.current == current
            else:
                flow.next(now=now)
        elif action == "back":
            before = flow.current
            if flow.back(now=now) is not None:
                assert flow.next(now=now) == before, "back then next must return to the same question"
        else:
            answers = flow.answers
            flow.set_language(data.draw(st.sampled_from(survey.languages), label="language"))
            assert flow.answers == answers
        assert flow.answers == model
        # Answers given elsewhere are not asked again, unless a change here has dropped them.
        elsewhere &= set(model)
        steps = [
            q["id"] for q in model_visible(doc, model) if q["id"] not in elsewhere or q["id"] not in model
        ]
        assert [q.id for q in flow.steps()] == steps
        k, n = flow.progress
        assert n == len(steps) and 1 <= k <= n
        assert flow.current is not None and flow.current.id == steps[k - 1]
    return model, now, elsewhere


def finish(data: st.DataObject, flow: Flow, doc: dict[str, Any], model: dict[str, Any], now: float) -> Any:
    survey = flow.survey
    status = data.draw(st.sampled_from(["completed", "partial", "handed_off"]), label="status")
    missing = [q for q in model_visible(doc, model) if q.get("required") and q["id"] not in model]
    if status == "completed" and missing:
        with pytest.raises(FlowError):
            flow.finish(status, now=now)
        return None
    record = flow.finish(status, now=now)
    if status == "partial" and (survey.partial_policy == "discard" or not model):
        assert record is None
        return None
    assert record is not None
    assert_record(record, survey, flow, status)
    assert record["answers"] == model
    # No answer to a question hidden at the end, and no required visible question skipped.
    assert all(shown(q, model) for q in model_questions(doc) if q["id"] in model)
    if status == "completed":
        assert all(q["id"] in model for q in model_visible(doc, model) if q.get("required"))
    return record


@SETTINGS
@given(doc=survey_documents(), data=st.data())
def test_random_paths_through_random_surveys(doc: dict[str, Any], data: st.DataObject) -> None:
    assert check_survey(doc) == []
    survey = parse_survey(doc)
    language = data.draw(st.sampled_from(survey.languages), label="start language")
    flow = Flow(survey, language, now=100.0, kiosk_id="front-desk-1", clock=wall_clock)
    assert flow.current is not None and flow.current.id == model_visible(doc, {})[0]["id"]
    model, now, _ = walk(data, doc, flow, {}, 100.0)
    finish(data, flow, doc, model, now)


@SETTINGS
@given(doc=survey_documents(), data=st.data())
def test_phone_resumes_a_handed_off_response(doc: dict[str, Any], data: st.DataObject) -> None:
    """The phone shows only what the kiosk left, never asks again, and the merged record is still valid."""
    survey = parse_survey(doc)
    kiosk = Flow(survey, survey.languages[0], now=0.0, kiosk_id="front-desk-1", clock=wall_clock)
    model, now, _ = walk(data, doc, kiosk, {}, 0.0)
    handed = kiosk.finish("handed_off", now=now)
    assert handed is not None and handed["answers"] == model
    language = data.draw(st.sampled_from(survey.languages), label="phone language")
    phone = Flow(
        survey,
        language,
        now=0.0,
        channel="kiosk+phone",
        response_id=handed["id"],
        answers=handed["answers"],
        clock=wall_clock,
    )
    assert phone.response_id == handed["id"]
    assert not {q.id for q in phone.steps()} & set(handed["answers"])
    if phone.current is None:
        return
    model, now, standing = walk(data, doc, phone, dict(model), 0.0)
    record = finish(data, phone, doc, model, now)
    if record is not None:
        # Never lost: every kiosk answer that no phone answer has hidden is in the record unchanged.
        assert {qid: record["answers"][qid] for qid in standing} == {
            qid: handed["answers"][qid] for qid in standing
        }

"""FHIR R4: a Bundle of type collection holding one QuestionnaireResponse per response.

Each response names its Questionnaire by canonical URL with the survey version (`url|version`,
as `survey to-fhir` writes it), so a FHIR tool can pair every answer with the exact question it
answered. The Bundle is written piece by piece, so a large export never sits in memory.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO

from kiosk.exports.progress import Progress
from kiosk.exports.table import SurveyBook, survey_key
from kiosk.exports.to_json import ESCAPE, encode
from kiosk.fhir import questionnaire_url
from kiosk.record import iso, utc_now
from kiosk.survey import CHOICE_TYPES, Question, Survey

FHIR_STATUS = {"completed": "completed", "partial": "in-progress", "handed_off": "in-progress"}


def response_resource(record: Mapping[str, Any], survey: Survey | None) -> dict[str, Any]:
    """One record as a QuestionnaireResponse; answers follow the survey's question order."""
    survey_id, version = survey_key(record)
    resource: dict[str, Any] = {"resourceType": "QuestionnaireResponse"}
    rid = record.get("id")
    if isinstance(rid, str):
        resource["id"] = rid
        resource["identifier"] = {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{rid}"}
    language = record.get("language") if isinstance(record.get("language"), str) else ""
    if language:
        resource["language"] = language
    if survey_id is not None:
        resource["questionnaire"] = questionnaire_url(survey_id, version)
    resource["status"] = FHIR_STATUS.get(record.get("status"), "in-progress")  # type: ignore[arg-type]
    if isinstance(record.get("submitted_at"), str):
        resource["authored"] = record["submitted_at"]
    answers = record.get("answers")
    if isinstance(answers, dict) and answers:
        order = [q.id for q in survey.questions if q.id in answers] if survey else []
        order += [qid for qid in answers if qid not in order]
        system = questionnaire_url(survey_id) if survey_id is not None else None
        items = []
        for qid in order:
            question = survey.question(qid) if survey else None
            item: dict[str, Any] = {"linkId": qid}
            if question is not None and survey is not None:
                item["text"] = survey.text(question.text, language)
            item["answer"] = _answers(answers[qid], question, survey, system, version, language)
            items.append(item)
        resource["item"] = items
    return resource


def _answers(
    value: Any,
    question: Question | None,
    survey: Survey | None,
    system: str | None,
    version: int | None,
    language: str,
) -> list[dict[str, Any]]:
    if question is not None and question.type in CHOICE_TYPES:
        codes = value if isinstance(value, list) else [value]
        answers = []
        for code in codes:
            coding: dict[str, Any] = {}
            if system is not None:
                coding["system"] = system
                if version is not None:
                    coding["version"] = str(version)
            coding["code"] = str(code)
            option = question.option(code) if isinstance(code, str) else None
            if option is not None and survey is not None:
                coding["display"] = survey.text(option.label, language)
            answers.append({"valueCoding": coding})
        return answers
    values = value if isinstance(value, list) else [value]
    return [_typed(v) for v in values]


def _typed(value: Any) -> dict[str, Any]:
    """A FHIR answer chosen by the value's own type, which the record format fixes per question."""
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int):
        return {"valueInteger": value}
    if isinstance(value, str):
        return {"valueString": value}
    return {"valueString": json.dumps(value, ensure_ascii=False)}


def write_fhir(
    out: BinaryIO, records: Iterable[Mapping[str, Any]], book: SurveyBook, progress: Progress
) -> int:
    head = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "collection",
        "timestamp": iso(utc_now()),
    }
    out.write(encode(head)[:-1].encode())
    done = 0
    for record in records:
        # FHIR forbids empty arrays, so "entry" opens only with the first response.
        out.write(b',"entry":[\n' if not done else b",\n")
        resource = response_resource(record, book.get(*survey_key(record)))
        entry = {"fullUrl": f"urn:uuid:{record.get('id')}", "resource": resource}
        out.write(encode(entry).encode(errors=ESCAPE))
        done += 1
        if not done & 1023:
            progress.update(done)
    out.write(b"\n]}\n" if done else b"}\n")
    progress.finish(done)
    return done

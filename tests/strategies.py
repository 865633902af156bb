"""Hypothesis strategies: random VALID survey documents, and valid answers to their questions.

A survey is built question by question, so that every `show_if` only looks at earlier questions and
every condition value can match the question it names. Texts come in every declared language.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from kiosk.survey import Question

LANGUAGES = ["en", "es", "fr", "pt-BR", "zh"]
OPTION_VALUES = ["good", "poor", "very_good", "0", "9z", "wait-long", "staff", "a"]
ICONS = ["clock", "person", "question", "desk"]
# Few distinct words, so that text conditions sometimes match random answers.
TEXT_WORDS = ["ok", "late", "kind staff", "no"]
TYPES = ["single_choice", "multiple_choice", "rating", "likelihood", "yes_no", "text", "info"]
SCALES = {"rating": (1, 5), "likelihood": (0, 10)}

# Printable text without lone surrogates: what a keyboard or a phone form can send.
printable = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12)


@st.composite
def texts(draw: st.DrawFn, languages: list[str]) -> dict[str, str]:
    return {language: draw(printable) for language in languages}


@st.composite
def conditions(draw: st.DrawFn, target: dict[str, Any]) -> dict[str, Any]:
    """A condition on `target` whose value has the question's type, so it passes the checker."""
    kind, qid = target["type"], target["id"]
    if kind in ("single_choice", "multiple_choice"):
        values = [o["value"] for o in target["options"]]
        op = draw(st.sampled_from(["equals", "not", "one_of", "answered"]))
        operand: Any = {
            "equals": st.sampled_from(values),
            "not": st.sampled_from(values),
            "one_of": st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True),
            "answered": st.booleans(),
        }[op]
    elif kind in SCALES:
        low, high = SCALES[kind]
        op = draw(st.sampled_from(["equals", "not", "one_of", "lt", "lte", "gt", "gte", "answered"]))
        operand = {
            "equals": st.integers(low, high),
            "not": st.integers(low, high),
            "one_of": st.lists(st.integers(low, high), min_size=1, max_size=4, unique=True),
            "lt": st.integers(low + 1, high + 1),
            "lte": st.integers(low, high),
            "gt": st.integers(low - 1, high - 1),
            "gte": st.integers(low, high),
            "answered": st.booleans(),
        }[op]
    elif kind == "yes_no":
        op = draw(st.sampled_from(["equals", "not", "answered"]))
        operand = st.booleans()
    else:
        op = draw(st.sampled_from(["equals", "not", "one_of", "answered"]))
        words = st.sampled_from(TEXT_WORDS)
        operand = {
            "equals": words,
            "not": words,
            "one_of": st.lists(words, min_size=1, max_size=2, unique=True),
            "answered": st.booleans(),
        }[op]
    return {"question": qid, op: draw(operand)}


@st.composite
def rules(draw: st.DrawFn, targets: list[dict[str, Any]]) -> dict[str, Any]:
    """A lone condition, or an all/any group of them, on questions from `targets`."""
    form = draw(st.sampled_from(["single", "all", "any"]))
    if form == "single":
        return draw(conditions(draw(st.sampled_from(targets))))
    count = draw(st.integers(1, 3))
    return {form: [draw(conditions(draw(st.sampled_from(targets)))) for _ in range(count)]}


@st.composite
def questions(
    draw: st.DrawFn, index: int, earlier: list[dict[str, Any]], languages: list[str]
) -> dict[str, Any]:
    kind = draw(st.sampled_from(TYPES))
    q: dict[str, Any] = {
        "id": f"{draw(st.sampled_from(['q', 'mood', 'nps', 'wait']))}{index}",
        "type": kind,
        "text": draw(texts(languages)),
    }
    if kind != "info" and draw(st.booleans()):
        q["required"] = draw(st.booleans())
    if draw(st.booleans()):
        q["help"] = draw(texts(languages))
    if kind in ("single_choice", "multiple_choice"):
        fewest = 2 if kind == "single_choice" else 1
        values = draw(st.lists(st.sampled_from(OPTION_VALUES), min_size=fewest, max_size=5, unique=True))
        q["options"] = []
        for value in values:
            option: dict[str, Any] = {"value": value, "label": draw(texts(languages))}
            if draw(st.booleans()):
                option["face"] = draw(st.integers(1, 5))
            if draw(st.booleans()):
                option["icon"] = draw(st.sampled_from(ICONS))
            q["options"].append(option)
    elif kind == "rating":
        if draw(st.booleans()):
            q["style"] = draw(st.sampled_from(["faces", "stars"]))
        if draw(st.booleans()):
            q["labels"] = [draw(texts(languages)) for _ in range(5)]
    elif kind == "likelihood":
        if draw(st.booleans()):
            q["min_label"] = draw(texts(languages))
            q["max_label"] = draw(texts(languages))
    elif kind == "text" and draw(st.booleans()):
        q["max_length"] = draw(st.integers(10, 60))
    answerable = [e for e in earlier if e["type"] != "info"]
    if answerable and draw(st.integers(0, 2)):
        q["show_if"] = draw(rules(answerable))
    return q


@st.composite
def survey_documents(draw: st.DrawFn, max_questions: int = 7) -> dict[str, Any]:
    """A random survey document that `check_survey` accepts."""
    languages = draw(st.lists(st.sampled_from(LANGUAGES), min_size=1, max_size=3, unique=True))
    doc: dict[str, Any] = {
        "id": draw(st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,10}\Z")),
        "version": draw(st.integers(1, 10**6)),
        "languages": languages,
        "title": draw(texts(languages)),
        "welcome": draw(texts(languages)),
        "thank_you": draw(texts(languages)),
        "questions": [],
    }
    for index in range(draw(st.integers(1, max_questions))):
        doc["questions"].append(draw(questions(index, doc["questions"], languages)))
    if draw(st.booleans()):
        doc["partial_policy"] = draw(st.sampled_from(["keep", "discard"]))
    if draw(st.booleans()):
        doc["handoff"] = draw(st.booleans())
    if draw(st.booleans()):
        doc["idle"] = {
            "question_seconds": draw(st.integers(10, 600)),
            "countdown_seconds": draw(st.integers(20, 120)),
        }
    if draw(st.booleans()):
        doc["review_link"] = {"url": "https://example.org/review", "text": draw(texts(languages))}
    if draw(st.booleans()):
        doc["contact"] = {"question": draw(texts(languages)), "field": draw(texts(languages))}
        if draw(st.booleans()):
            doc["contact"]["max_length"] = draw(st.integers(10, 500))
    answerable = [q for q in doc["questions"] if q["type"] != "info"]
    if answerable and draw(st.booleans()):
        doc["low_score"] = draw(rules(answerable))
    return doc


def answers_for(question: Question) -> st.SearchStrategy[Any]:
    """Valid answers to a question, as a patient could give them (text may carry spaces to trim)."""
    if question.type == "single_choice":
        return st.sampled_from([o.value for o in question.options])
    if question.type == "multiple_choice":
        return st.lists(st.sampled_from([o.value for o in question.options]), min_size=1, unique=True)
    if question.type in SCALES:
        low, high = SCALES[question.type]
        return st.integers(low, high)
    if question.type == "yes_no":
        return st.booleans()
    if question.type == "text":
        words = st.sampled_from(TEXT_WORDS) | printable.filter(str.strip)
        padded = st.tuples(st.sampled_from(["", " "]), words, st.sampled_from(["", "\n"])).map("".join)
        return padded.filter(lambda text: len(text.strip()) <= question.max_length)
    return st.nothing()

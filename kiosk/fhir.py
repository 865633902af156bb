"""Survey <-> FHIR R4 Questionnaire, for the subset of FHIR our surveys can hold.

Export uses standard elements wherever FHIR has one (texts with the translation extension,
answerOption, enableWhen, maxLength, help/lower/upper display items) so other tools show the
survey properly, and keeps what FHIR cannot say in extensions under our own namespace, so that a
survey sent to FHIR and back is the same document.

Import refuses, rather than approximates: a Questionnaire that uses anything outside the subset is
rejected with one Problem per unsupported element, because a partial import would silently change
what patients are asked. See docs/fhir.md for the mapping and the policy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kiosk.schema import join
from kiosk.survey import (
    CHOICE_TYPES,
    CONTACT_DETAILS,
    CONTACT_OK,
    Problem,
    SurveyError,
    check_survey,
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


NAMESPACE = "https://patient-feedback-kiosk.example/fhir"
DEFAULT_BASE = NAMESPACE
EXT = NAMESPACE + "/StructureDefinition/"
SURVEY_ID_SYSTEM = NAMESPACE + "/survey-id"

TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"
ITEM_CONTROL = "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl"
ITEM_CONTROL_SYSTEM = "http://hl7.org/fhir/questionnaire-item-control"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
ENABLE_WHEN_EXPRESSION = (
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression"
)

X_THANK_YOU = EXT + "thank-you"
X_IDLE = EXT + "idle"
X_PARTIAL_POLICY = EXT + "partial-policy"
X_HANDOFF = EXT + "handoff"
X_REVIEW_LINK = EXT + "review-link"
X_LOW_SCORE = EXT + "low-score"
X_CONTACT = EXT + "contact"
X_SHOW_IF = EXT + "show-if"
X_RATING_STYLE = EXT + "rating-style"
X_OPTION_LABEL = EXT + "option-label"
X_OPTION_FACE = EXT + "option-face"
X_OPTION_ICON = EXT + "option-icon"
X_HELP = EXT + "help"
X_REQUIRED = EXT + "required"

FHIR_TYPE = {
    "single_choice": "choice",
    "multiple_choice": "choice",
    "rating": "integer",
    "likelihood": "integer",
    "yes_no": "boolean",
    "text": "text",
    "info": "display",
}
SCALES = {"rating": list(range(1, 6)), "likelihood": list(range(0, 11))}
OPERATORS = {"equals": "=", "not": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
ANSWER_KEY = {
    "single_choice": "answerCoding",
    "multiple_choice": "answerCoding",
    "rating": "answerInteger",
    "likelihood": "answerInteger",
    "yes_no": "answerBoolean",
    "text": "answerString",
}
# Display items under a question, by itemControl code: the survey field each one carries.
CHILD_TEXTS = {"help": "help", "lower": "min_label", "upper": "max_label"}
# itemControl codes on a question only choose a widget; the kiosk draws its own, so they are ignored.
QUESTION_CONTROLS = _words("autocomplete drop-down check-box lookup radio-button slider spinner text-box")
# The kiosk's thank-you screen has no FHIR element; a Questionnaire from another tool gets this.
DEFAULT_THANK_YOU = {
    "en": "Thank you.",
    "es": "Gracias.",
    "fr": "Merci.",
    "de": "Vielen Dank.",
    "it": "Grazie.",
    "pt": "Obrigado.",
    "nl": "Dank u wel.",
    "pl": "Dziękujemy.",
}

SURVEY_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
QUESTION_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

# Questionnaire elements that describe the form but do not change what a patient sees or answers.
IGNORED_TOP = _words(
    "id meta text url name status experimental subjectType date publisher contact useContext "
    "jurisdiction purpose copyright approvalDate lastReviewDate effectivePeriod code derivedFrom "
    "contained"
)
READ_TOP = _words(
    "resourceType language title _title description _description version identifier extension item"
)
KNOWN_TOP = IGNORED_TOP | READ_TOP | {"implicitRules", "modifierExtension"}
IGNORED_ITEM = frozenset({"id", "definition", "code"})
READ_ITEM = _words(
    "linkId type text _text required repeats enableWhen enableBehavior answerOption maxLength "
    "item extension readOnly"
)
UNSUPPORTED_ITEM = {
    "prefix": "prefixes are not supported (put the number in the text)",
    "answerValueSet": "answer value sets are not supported; list the answers in answerOption",
    "initial": "initial values are not supported: the kiosk never pre-fills an answer",
    "modifierExtension": "modifier extensions are not supported",
}
ANSWER_TYPES = _words(
    "answerBoolean answerDecimal answerInteger answerDate answerDateTime answerTime answerString "
    "answerCoding answerQuantity answerReference"
)


def questionnaire_url(survey_id: str, version: int | None = None, base: str = DEFAULT_BASE) -> str:
    """The canonical URL of a survey's Questionnaire; with a version, the `url|version` form
    that a QuestionnaireResponse uses to name exactly the survey it answers."""
    url = f"{base.rstrip('/')}/Questionnaire/{survey_id}"
    return url if version is None else f"{url}|{version}"


# ---------------------------------------------------------------------------------------------
# Export


def survey_to_questionnaire(survey: Mapping[str, Any], base: str = DEFAULT_BASE) -> dict[str, Any]:
    """A survey document as a FHIR R4 Questionnaire resource (a JSON-ready dict)."""
    problems = check_survey(survey)
    if problems:
        raise SurveyError(problems)
    languages = list(survey["languages"])
    kinds = {q["id"]: q["type"] for q in survey["questions"]}
    if "contact" in survey:
        kinds[CONTACT_OK] = "yes_no"
    sid = survey["id"]

    extensions: list[dict[str, Any]] = [_text_extension(X_THANK_YOU, survey["thank_you"], languages)]
    if "idle" in survey:
        extensions.append({"url": X_IDLE, "valueString": _compact(survey["idle"])})
    if "partial_policy" in survey:
        extensions.append({"url": X_PARTIAL_POLICY, "valueCode": survey["partial_policy"]})
    if "handoff" in survey:
        extensions.append({"url": X_HANDOFF, "valueBoolean": survey["handoff"]})
    if "review_link" in survey:
        link = survey["review_link"]
        extensions.append(
            {
                "url": X_REVIEW_LINK,
                "extension": [
                    {"url": "url", "valueUrl": link["url"]},
                    _text_extension("text", link["text"], languages),
                ],
            }
        )
    if "low_score" in survey:
        extensions.append({"url": X_LOW_SCORE, "valueString": _compact(survey["low_score"])})

    q: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": sid.replace("_", "-"),
        "extension": extensions,
        "url": questionnaire_url(sid, base=base),
        "identifier": [{"system": SURVEY_ID_SYSTEM, "value": sid}],
        "version": str(survey["version"]),
        "name": _fhir_name(sid),
    }
    _put_text(q, "title", survey["title"], languages)
    q["status"] = "active"
    _put_text(q, "description", survey["welcome"], languages)
    q["language"] = languages[0]
    q["item"] = [_question_item(question, kinds, languages) for question in survey["questions"]]
    if "contact" in survey:
        q["item"] += _contact_items(survey["contact"], languages)
    return q


def _question_item(
    question: Mapping[str, Any], kinds: Mapping[str, str], languages: list[str]
) -> dict[str, Any]:
    kind = question["type"]
    qid = question["id"]
    item: dict[str, Any] = {"linkId": qid}
    extensions: list[dict[str, Any]] = []
    _put_text(item, "text", question["text"], languages)
    item["type"] = FHIR_TYPE[kind]
    if "show_if" in question:
        extensions += _put_show_if(item, question["show_if"], kinds)
    if "required" in question:
        if kind == "info":  # FHIR forbids `required` on display items, even false
            extensions.append({"url": X_REQUIRED, "valueBoolean": question["required"]})
        else:
            item["required"] = question["required"]
    if kind in CHOICE_TYPES:
        item["repeats"] = kind == "multiple_choice"
    if "max_length" in question:
        item["maxLength"] = question["max_length"]
    if kind in CHOICE_TYPES:
        item["answerOption"] = [_choice_option(o, languages) for o in question["options"]]
    elif kind in SCALES:
        labels = question.get("labels")
        item["answerOption"] = []
        for n in SCALES[kind]:
            option: dict[str, Any] = {"valueInteger": n}
            if labels:
                option["extension"] = [_text_extension(X_OPTION_LABEL, labels[n - 1], languages)]
            item["answerOption"].append(option)
    if "style" in question:
        extensions.append({"url": X_RATING_STYLE, "valueCode": question["style"]})
    if kind == "info" and "help" in question:
        extensions.append(_text_extension(X_HELP, question["help"], languages))
    children = [
        _child_text(qid, code, question[key], languages)
        for code, key in CHILD_TEXTS.items()
        if key in question and not (kind == "info" and key == "help")
    ]
    if children:
        item["item"] = children
    if extensions:
        item["extension"] = extensions
    return item


def _choice_option(option: Mapping[str, Any], languages: list[str]) -> dict[str, Any]:
    coding: dict[str, Any] = {"code": option["value"]}
    _put_text(coding, "display", option["label"], languages)
    result: dict[str, Any] = {"valueCoding": coding}
    extensions = []
    if "face" in option:
        extensions.append({"url": X_OPTION_FACE, "valueInteger": option["face"]})
    if "icon" in option:
        extensions.append({"url": X_OPTION_ICON, "valueCode": option["icon"]})
    if extensions:
        result["extension"] = extensions
    return result


def _child_text(qid: str, code: str, text: Mapping[str, str], languages: list[str]) -> dict:
    child: dict[str, Any] = {
        "extension": [
            {
                "url": ITEM_CONTROL,
                "valueCodeableConcept": {"coding": [{"system": ITEM_CONTROL_SYSTEM, "code": code}]},
            }
        ],
        "linkId": f"{qid}-{code}",
    }
    _put_text(child, "text", text, languages)
    child["type"] = "display"
    return child


def _contact_items(contact: Mapping[str, Any], languages: list[str]) -> list[dict[str, Any]]:
    """The contact block as the two questions the kiosk really asks, marked so import folds
    them back into the block."""
    consent: dict[str, Any] = {
        "extension": [{"url": X_CONTACT, "valueCode": "question"}],
        "linkId": CONTACT_OK,
    }
    _put_text(consent, "text", contact["question"], languages)
    consent["type"] = "boolean"
    details: dict[str, Any] = {
        "extension": [{"url": X_CONTACT, "valueCode": "field"}],
        "linkId": CONTACT_DETAILS,
    }
    _put_text(details, "text", contact["field"], languages)
    details["type"] = "text"
    details["enableWhen"] = [_CONTACT_CONDITION]
    if "max_length" in contact:
        details["maxLength"] = contact["max_length"]
    return [consent, details]


_CONTACT_CONDITION = {"question": CONTACT_OK, "operator": "=", "answerBoolean": True}


def _put_show_if(item: dict[str, Any], rule: Mapping[str, Any], kinds: Mapping[str, str]) -> list:
    """Write a show_if rule as enableWhen; return the extensions needed where that is not exact."""
    standard = enable_when(rule, kinds)
    if standard is not None:
        conditions, behavior = standard
        item["enableWhen"] = conditions
        if behavior is not None:
            item["enableBehavior"] = behavior
        if _rule_from_enable_when(conditions, behavior) == rule:
            return []
        return [{"url": X_SHOW_IF, "valueString": _compact(rule)}]
    return [
        {"url": X_SHOW_IF, "valueString": _compact(rule)},
        {
            "url": ENABLE_WHEN_EXPRESSION,
            "valueExpression": {
                "language": "text/fhirpath",
                "expression": fhirpath(rule, kinds),
            },
        },
    ]


def enable_when(
    rule: Mapping[str, Any], kinds: Mapping[str, str]
) -> tuple[list[dict[str, Any]], str | None] | None:
    """A show_if rule as (enableWhen list, enableBehavior), or None when standard enableWhen
    cannot say it: a one_of with several values inside an `all` group."""
    form = "single" if "question" in rule else next(iter(rule))
    conditions = [rule] if form == "single" else list(rule[form])
    result: list[dict[str, Any]] = []
    behavior = None if form == "single" else form
    for c in conditions:
        if "one_of" in c:
            values = list(c["one_of"])
            if len(values) > 1:
                if form == "all":
                    return None
                behavior = "any"
            result += [_enable_condition(c["question"], "equals", v, kinds) for v in values]
        else:
            (op,) = (k for k in c if k != "question")
            result.append(_enable_condition(c["question"], op, c[op], kinds))
    return result, behavior


def _enable_condition(target: str, op: str, value: Any, kinds: Mapping[str, str]) -> dict:
    if op == "answered":
        return {"question": target, "operator": "exists", "answerBoolean": value}
    key = ANSWER_KEY[kinds[target]]
    answer = {"code": value} if key == "answerCoding" else value
    return {"question": target, "operator": OPERATORS[op], key: answer}


def _rule_from_enable_when(conditions: list[dict[str, Any]], behavior: str | None) -> dict:
    """How import reads a list of enableWhen our export wrote: one condition per entry."""
    read = []
    for ew in conditions:
        if ew["operator"] == "exists":
            read.append({"question": ew["question"], "answered": ew["answerBoolean"]})
            continue
        op = next(k for k, v in OPERATORS.items() if v == ew["operator"])
        key = next(k for k in ew if k.startswith("answer"))
        value = ew[key]["code"] if key == "answerCoding" else ew[key]
        read.append({"question": ew["question"], op: value})
    if behavior is None and len(read) == 1:
        return read[0]
    return {behavior or "all": read}


def fhirpath(rule: Mapping[str, Any], kinds: Mapping[str, str]) -> str:
    """The rule as an SDC enableWhenExpression, for tools that cannot read our extension."""
    form = "single" if "question" in rule else next(iter(rule))
    conditions = [rule] if form == "single" else list(rule[form])
    parts = [_fhirpath_condition(c, kinds) for c in conditions]
    return (
        parts[0]
        if form == "single"
        else f" {'or' if form == 'any' else 'and'} ".join(f"({p})" for p in parts)
    )


def _fhirpath_condition(c: Mapping[str, Any], kinds: Mapping[str, str]) -> str:
    target = c["question"]
    (op,) = (k for k in c if k != "question")
    value = c[op]
    answers = f"%resource.repeat(item).where(linkId = {_literal(target)}).answer.value"
    if kinds[target] in CHOICE_TYPES:
        answers += ".code"
    if op == "answered":
        return f"{answers}.{'exists' if value else 'empty'}()"
    if op == "one_of":
        options = " | ".join(_literal(v) for v in value)
        return f"{answers}.where($this in ({options})).exists()"
    if op == "not":
        return f"{answers}.exists() and {answers}.where($this = {_literal(value)}).empty()"
    sign = "=" if op == "equals" else OPERATORS[op]
    return f"{answers}.where($this {sign} {_literal(value)}).exists()"


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _put_text(target: dict[str, Any], key: str, text: Mapping[str, str], languages: list[str]) -> None:
    """A translated text as a FHIR string plus the standard translation extension."""
    target[key] = text[languages[0]]
    translations = [_translation(lang, text[lang]) for lang in languages[1:]]
    if translations:
        target["_" + key] = {"extension": translations}


def _text_extension(url: str, text: Mapping[str, str], languages: list[str]) -> dict[str, Any]:
    """A translated text inside one of our extensions: one translation entry per language.

    (`_valueString` would be the textbook form, but common FHIR libraries reject it.)"""
    return {"url": url, "extension": [_translation(lang, text[lang]) for lang in languages]}


def _translation(language: str, content: str) -> dict[str, Any]:
    return {
        "url": TRANSLATION,
        "extension": [
            {"url": "lang", "valueCode": language},
            {"url": "content", "valueString": content},
        ],
    }


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _fhir_name(survey_id: str) -> str:
    """A computable name as FHIR wants it (starts with a capital, no hyphens)."""
    name = "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]", survey_id))
    return name if name[:1].isalpha() else "Survey" + name


# ---------------------------------------------------------------------------------------------
# Import


def questionnaire_to_survey(q: Any, source: str = "<questionnaire>") -> dict[str, Any]:
    """A Questionnaire as a survey document that passes check_survey.

    Raises SurveyError listing every element outside the supported subset, with its FHIR path."""
    return _Reader(source).survey(q)


@dataclass
class _Target:
    """What a condition needs to know about the item it looks at."""

    index: int
    kind: str | None
    strings: dict[str, str] = field(default_factory=dict)


@dataclass
class _Reader:
    """One import: collects every problem instead of stopping at the first, and remembers where in
    the Questionnaire each part of the survey came from, to report the survey's own problems there."""

    source: str
    problems: list[Problem] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)
    language: str = "?"
    languages: list[str] = field(default_factory=list)

    def fail(self, where: str, what: str) -> None:
        self.problems.append(Problem(where, what))

    def survey(self, q: Any) -> dict[str, Any]:
        if not isinstance(q, dict):
            raise SurveyError(
                [Problem("(top level)", "not a FHIR Questionnaire (not an object)")], self.source
            )
        if q.get("resourceType") != "Questionnaire":
            found = json.dumps(q.get("resourceType"), ensure_ascii=False)
            raise SurveyError([Problem("resourceType", f'must be "Questionnaire", not {found}')], self.source)
        self.check_keys(
            q,
            "",
            READ_TOP,
            IGNORED_TOP,
            KNOWN_TOP,
            {
                "implicitRules": "implicit rules are not supported",
                "modifierExtension": "modifier extensions are not supported",
            },
            "Questionnaire",
        )

        language = q.get("language")
        if isinstance(language, str) and language:
            self.language = language
        else:
            self.fail("language", 'missing: say which language the texts are in (e.g. "en")')
        self.languages = [self.language]
        self.origins["languages"] = "language"

        extensions = self.extensions(
            q,
            "",
            {
                X_THANK_YOU,
                X_IDLE,
                X_PARTIAL_POLICY,
                X_HANDOFF,
                X_REVIEW_LINK,
                X_LOW_SCORE,
            },
        )
        survey: dict[str, Any] = {"id": self.survey_id(q), "version": self.version(q)}
        title = self.text(q, "title", "title", "missing: the kiosk shows the survey's title")
        welcome = self.text(q, "description", "welcome", None) or title
        if "description" not in q:
            self.origins["welcome"] = "title"
        thank_you = self.thank_you(extensions)
        items = self.items(q)
        survey.update(
            {"languages": self.languages, "title": title, "welcome": welcome, "thank_you": thank_you}
        )
        if X_IDLE in extensions:
            survey["idle"] = self.json_value(extensions[X_IDLE], "idle")
        if X_PARTIAL_POLICY in extensions:
            survey["partial_policy"] = self.value(
                extensions[X_PARTIAL_POLICY], "valueCode", str, "partial_policy"
            )
        if X_HANDOFF in extensions:
            survey["handoff"] = self.value(extensions[X_HANDOFF], "valueBoolean", bool, "handoff")
        if X_REVIEW_LINK in extensions:
            survey["review_link"] = self.review_link(extensions[X_REVIEW_LINK])
        if X_LOW_SCORE in extensions:
            survey["low_score"] = self.json_value(extensions[X_LOW_SCORE], "low_score")
        questions, contact = items
        if contact is not None:
            survey["contact"] = contact
        survey["questions"] = questions
        if self.problems:
            raise SurveyError(self.problems, self.source)
        for problem in check_survey(survey):
            self.problems.append(self.locate(problem))
        if self.problems:
            raise SurveyError(self.problems, self.source)
        return survey

    # -- top level -------------------------------------------------------------------------

    def survey_id(self, q: dict[str, Any]) -> str:
        identifiers = q.get("identifier", [])
        ours = [
            (i, ident)
            for i, ident in enumerate(identifiers if isinstance(identifiers, list) else [])
            if isinstance(ident, dict) and ident.get("system") == SURVEY_ID_SYSTEM
        ]
        if ours:
            i, ident = ours[0]
            self.origins["id"] = f"identifier[{i}].value"
            return ident.get("value")
        self.origins["id"] = "id"
        rid = q.get("id")
        if isinstance(rid, str) and SURVEY_ID.fullmatch(rid.lower()):
            return rid.lower()
        self.fail(
            "id",
            "missing or unusable as a survey id: give the Questionnaire an id of "
            'lowercase letters, digits, - and _ (e.g. "pain-check")',
        )
        return "?"

    def version(self, q: dict[str, Any]) -> int:
        version = q.get("version")
        if version is None:
            return 1
        if isinstance(version, str) and version.isdigit() and int(version) >= 1:
            return int(version)
        self.fail(
            "version",
            f"{_show(version)} is not a whole number: survey versions count "
            "1, 2, 3...; change it or remove it (then it is 1)",
        )
        return 1

    def thank_you(self, extensions: dict[str, tuple[str, dict]]) -> dict[str, str]:
        if X_THANK_YOU in extensions:
            where, ext = extensions[X_THANK_YOU]
            self.origins["thank_you"] = where
            return self.extension_text(ext, where)
        self.origins["thank_you"] = "extension"
        text = {}
        for language in self.languages:
            words = DEFAULT_THANK_YOU.get(language.split("-")[0])
            if words is None:
                self.fail(
                    "extension",
                    f'no thank-you text in "{language}": add the extension {X_THANK_YOU} (see docs/fhir.md)',
                )
            else:
                text[language] = words
        return text

    def review_link(self, found: tuple[str, dict]) -> dict[str, Any]:
        where, ext = found
        self.origins["review_link"] = where
        self.only_keys(ext, where, {"url", "extension"})
        parts = {
            p.get("url"): (join(join(where, "extension"), i), p) for i, p in enumerate(_extension_list(ext))
        }
        link: dict[str, Any] = {}
        if "url" in parts:
            link["url"] = self.value(parts["url"], "valueUrl", str, "review_link.url")
        if "text" in parts:
            at, text = parts["text"]
            self.origins["review_link.text"] = at
            link["text"] = self.extension_text(text, at)
        if set(parts) - {"url", "text"} or len(parts) != len(_extension_list(ext)):
            self.fail(where, "has parts other than one url and one text")
        return link

    # -- items -----------------------------------------------------------------------------

    def items(self, q: dict[str, Any]) -> tuple[list[dict], dict | None]:
        items = q.get("item")
        if not isinstance(items, list) or not items:
            self.fail("item", "missing: a survey needs at least one question")
            return [], None
        targets: dict[str, _Target] = {}
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                self.fail(f"item[{i}]", "must be an object")
                continue
            link = item.get("linkId")
            if not isinstance(link, str):
                continue  # reported with the item
            if link in targets:
                first = targets[link].index
                self.fail(f"item[{i}].linkId", f'"{link}" is used again (first at item[{first}])')
            else:
                targets[link] = _Target(i, self.kind(item), self.string_values(item))
        marked = [
            i
            for i, item in enumerate(items)
            if isinstance(item, dict) and any(e.get("url") == X_CONTACT for e in _extension_list(item))
        ]
        contact = None
        questions_end = len(items)
        if marked:
            contact = self.contact(items, marked)
            questions_end = len(items) - 2
        questions = []
        for i, item in enumerate(items[:questions_end]):
            if isinstance(item, dict):
                question = self.question(item, f"item[{i}]", len(questions), targets)
                if question is not None:
                    questions.append(question)
        return questions, contact

    def kind(self, item: dict[str, Any]) -> str | None:
        """Which survey question type an item becomes, or None (reported later) if none."""
        fhir_type = item.get("type")
        if fhir_type == "choice":
            if _integer_options(item):
                return _scale_kind(item)
            return "multiple_choice" if item.get("repeats") is True else "single_choice"
        if fhir_type == "integer":
            return _scale_kind(item)
        simple = {"boolean": "yes_no", "string": "text", "text": "text", "display": "info"}
        return simple.get(fhir_type) if isinstance(fhir_type, str) else None

    def string_values(self, item: dict[str, Any]) -> dict[str, str]:
        options = item.get("answerOption")
        if not isinstance(options, list):
            return {}
        return {
            o["valueString"]: _slug(o["valueString"])
            for o in options
            if isinstance(o, dict) and isinstance(o.get("valueString"), str)
        }

    def question(
        self, item: dict[str, Any], at: str, qi: int, targets: dict[str, _Target]
    ) -> dict[str, Any] | None:
        here = join("questions", qi)
        self.origins[here] = at
        self.check_keys(
            item,
            at,
            READ_ITEM,
            IGNORED_ITEM,
            READ_ITEM | IGNORED_ITEM | set(UNSUPPORTED_ITEM),
            UNSUPPORTED_ITEM,
            "Questionnaire.item",
        )
        fhir_type = item.get("type")
        link = item.get("linkId")
        if not isinstance(link, str) or not QUESTION_ID.fullmatch(link):
            self.fail(
                join(at, "linkId"),
                f"{_show(link)} cannot be a question id (a lowercase "
                "letter, then lowercase letters, digits or _): rename it",
            )
        self.origins[join(here, "id")] = join(at, "linkId")
        kind = self.kind(item)
        if fhir_type == "group":
            self.fail(
                join(at, "item") if "item" in item else join(at, "type"), "nested groups are not supported"
            )
            return None
        if kind is None:
            if fhir_type in ("choice", "integer"):
                self.fail(
                    join(at, "answerOption"),
                    "an integer answer is only supported as the "
                    "whole numbers 1 to 5 (a rating) or 0 to 10 (a likelihood scale), given "
                    "in order in answerOption or by minValue/maxValue",
                )
            else:
                self.fail(join(at, "type"), f"{_show(fhir_type)} is not supported")
            return None
        allowed = {X_SHOW_IF, ENABLE_WHEN_EXPRESSION}
        if kind == "rating":
            allowed.add(X_RATING_STYLE)
        if kind == "info":
            allowed |= {X_HELP, X_REQUIRED}
        else:
            allowed.add(ITEM_CONTROL)
        if fhir_type == "integer":
            allowed |= {MIN_VALUE, MAX_VALUE}
        extensions = self.extensions(item, at, allowed)
        if ITEM_CONTROL in extensions:
            self.question_control(extensions[ITEM_CONTROL])
        question: dict[str, Any] = {"id": link, "type": kind}
        question["text"] = self.text(
            item, "text", join(here, "text"), "missing: the kiosk needs the question's words", at
        )
        if "required" in item:
            question["required"] = item["required"]
            self.origins[join(here, "required")] = join(at, "required")
        if X_REQUIRED in extensions:
            question["required"] = self.value(
                extensions[X_REQUIRED], "valueBoolean", bool, join(here, "required")
            )
        if item.get("repeats") is True and kind != "multiple_choice":
            self.fail(join(at, "repeats"), "repeating answers are only supported on choice items")
        if item.get("readOnly") is True:
            self.fail(join(at, "readOnly"), "read-only items are not supported")
        if "enableWhen" in item or X_SHOW_IF in extensions:
            show_if = self.show_if(item, at, here, extensions, targets)
            if show_if is not None:
                question["show_if"] = show_if
        elif "enableBehavior" in item:
            self.fail(join(at, "enableBehavior"), "has no enableWhen to combine")
        elif ENABLE_WHEN_EXPRESSION in extensions:
            self.fail(
                extensions[ENABLE_WHEN_EXPRESSION][0], "enableWhenExpression is not supported; use enableWhen"
            )
        if "maxLength" in item:
            if kind == "text":
                question["max_length"] = item["maxLength"]
                self.origins[join(here, "max_length")] = join(at, "maxLength")
            else:
                self.fail(join(at, "maxLength"), "is only supported on string and text items")
        if kind in CHOICE_TYPES:
            question["options"] = self.choice_options(item, at, here)
        elif "answerOption" in item and kind not in SCALES:
            self.fail(join(at, "answerOption"), f"is not supported on {fhir_type} items")
        if kind in SCALES:
            self.scale(item, at, here, question, extensions)
        if X_RATING_STYLE in extensions:
            question["style"] = self.value(extensions[X_RATING_STYLE], "valueCode", str, join(here, "style"))
        if X_HELP in extensions:
            where, ext = extensions[X_HELP]
            self.origins[join(here, "help")] = where
            question["help"] = self.extension_text(ext, where)
        self.children(item, at, here, kind, question)
        return question

    def question_control(self, found: tuple[str, dict]) -> None:
        where, ext = found
        code = _control_code(ext)
        if code not in QUESTION_CONTROLS:
            self.fail(where, f"itemControl {_show(code)} is not supported on a question")

    def children(self, item: dict, at: str, here: str, kind: str, question: dict) -> None:
        """Display items under a question: its help text and the labels of a 0-10 scale."""
        children = item.get("item")
        if children is None:
            return
        if not isinstance(children, list) or kind == "info":
            self.fail(join(at, "item"), "items nested under a display item are not supported")
            return
        for ci, child in enumerate(children):
            where = join(join(at, "item"), ci)
            if not isinstance(child, dict) or child.get("type") != "display":
                what = (
                    "nested groups are not supported"
                    if isinstance(child, dict) and child.get("type") == "group"
                    else "nested questions are not supported"
                )
                self.fail(where, what)
                continue
            self.only_keys(child, where, {"linkId", "type", "text", "_text", "extension", "id"})
            extensions = self.extensions(child, where, {ITEM_CONTROL})
            code = _control_code(extensions[ITEM_CONTROL][1]) if ITEM_CONTROL in extensions else None
            key = CHILD_TEXTS.get(code or "")
            if key is None or (key != "help" and kind != "likelihood"):
                self.fail(
                    where,
                    "only a help text (itemControl help), or the lower and upper "
                    "labels of a 0 to 10 scale, may stand under a question",
                )
                continue
            if key in question:
                self.fail(where, f"a second {code} text for the same question")
                continue
            question[key] = self.text(child, "text", join(here, key), "missing", where)

    def show_if(
        self, item: dict, at: str, here: str, extensions: dict, targets: dict[str, _Target]
    ) -> dict | None:
        conditions = item.get("enableWhen", [])
        behavior = item.get("enableBehavior")
        self.origins[join(here, "show_if")] = join(at, "enableWhen")
        if not isinstance(conditions, list):
            self.fail(join(at, "enableWhen"), "must be a list")
            return None
        read = [
            self.condition(ew, join(join(at, "enableWhen"), i), targets) for i, ew in enumerate(conditions)
        ]
        if behavior not in (None, "all", "any"):
            self.fail(join(at, "enableBehavior"), f"{_show(behavior)} is not all or any")
            return None
        if behavior is None and len(conditions) > 1:
            self.fail(
                join(at, "enableBehavior"),
                "missing: FHIR needs all or any when there is more than one enableWhen",
            )
        if X_SHOW_IF in extensions:
            return self.show_if_extension(item, extensions, here, targets)
        if ENABLE_WHEN_EXPRESSION in extensions:
            self.fail(
                extensions[ENABLE_WHEN_EXPRESSION][0], "enableWhenExpression is not supported; use enableWhen"
            )
        if any(c is None for c in read) or not read:
            if not read:
                self.fail(join(at, "enableWhen"), "is empty")
            return None
        return read[0] if behavior is None and len(read) == 1 else {behavior or "all": read}

    def show_if_extension(
        self, item: dict, extensions: dict, here: str, targets: dict[str, _Target]
    ) -> dict | None:
        """Our exact rule, kept where enableWhen cannot say it; it must agree with enableWhen,
        or another tool changed one without the other."""
        where, _ = extensions[X_SHOW_IF]
        rule = self.json_value(extensions[X_SHOW_IF], join(here, "show_if"))
        if not isinstance(rule, dict):
            return rule
        kinds = {link: t.kind for link, t in targets.items() if t.kind is not None}
        try:
            standard = enable_when(rule, kinds)
            expression = None if standard is not None else fhirpath(rule, kinds)
        except (KeyError, TypeError, ValueError, AttributeError, StopIteration):
            return rule  # a malformed rule: check_survey names what is wrong with it
        conditions, behavior = standard if standard is not None else (None, None)
        found_expression = None
        if ENABLE_WHEN_EXPRESSION in extensions:
            value = extensions[ENABLE_WHEN_EXPRESSION][1].get("valueExpression")
            found_expression = value.get("expression") if isinstance(value, dict) else value
        if (item.get("enableWhen"), item.get("enableBehavior"), found_expression) != (
            conditions,
            behavior,
            expression,
        ):
            self.fail(
                where,
                "disagrees with the item's enableWhen (edited by another tool?): "
                "remove this extension or fix enableWhen",
            )
        return rule

    def condition(self, ew: Any, at: str, targets: dict[str, _Target]) -> dict | None:
        if not isinstance(ew, dict):
            self.fail(at, "must be an object")
            return None
        self.only_keys(ew, at, {"question", "operator", "id"} | ANSWER_TYPES)
        target = ew.get("question")
        answers = [k for k in ew if k in ANSWER_TYPES]
        if not isinstance(target, str) or target not in targets:
            self.fail(join(at, "question"), f"no item with linkId {_show(target)}")
            return None
        if len(answers) != 1:
            self.fail(at, "needs exactly one answer[x]")
            return None
        key, value = answers[0], ew[answers[0]]
        if key not in ANSWER_KEY.values():
            self.fail(
                join(at, key),
                "is not supported: compare with a code, a whole number, true or false, or a string",
            )
            return None
        op = ew.get("operator")
        if op == "exists":
            if not isinstance(value, bool) or key != "answerBoolean":
                self.fail(join(at, key), "exists needs answerBoolean true or false")
                return None
            return {"question": target, "answered": value}
        ours = next((k for k, v in OPERATORS.items() if v == op), None)
        if ours is None:
            self.fail(join(at, "operator"), f"{_show(op)} is not supported")
            return None
        kind = targets[target].kind
        if kind is None:
            return None  # the target item itself is reported
        if kind == "info":
            self.fail(join(at, "question"), f'"{target}" is a display item and has no answer')
            return None
        expected = ANSWER_KEY[kind]
        strings = targets[target].strings
        if key == "answerString" and kind in CHOICE_TYPES and strings:
            if not isinstance(value, str) or value not in strings:
                self.fail(join(at, key), f'{_show(value)} is not an answer of "{target}"')
                return None
            return {"question": target, ours: strings[value]}
        if key != expected:
            self.fail(
                join(at, key),
                f'"{target}" is a {kind.replace("_", " ")} question: compare it with {expected}',
            )
            return None
        if key == "answerCoding":
            value = value.get("code") if isinstance(value, dict) else None
            if not isinstance(value, str):
                self.fail(join(at, key), "needs a code")
                return None
        return {"question": target, ours: value}

    def choice_options(self, item: dict, at: str, here: str) -> list[dict[str, Any]]:
        options = item.get("answerOption")
        if "answerValueSet" in item:
            return []  # reported as unsupported with the item's other elements
        if not isinstance(options, list) or not options:
            self.fail(join(at, "answerOption"), "missing: a choice item needs its answers listed")
            return []
        result = []
        for oi, option in enumerate(options):
            where = join(join(at, "answerOption"), oi)
            ours = join(join(here, "options"), oi)
            self.origins[ours] = where
            if not isinstance(option, dict):
                self.fail(where, "must be an object")
                continue
            self.only_keys(
                option,
                where,
                {"valueCoding", "_valueString", "extension", "initialSelected", "id"}
                | {key for key in option if key.startswith("value")},
            )
            if option.get("initialSelected") is True:
                self.fail(
                    join(where, "initialSelected"),
                    "initial values are not supported: the kiosk never pre-fills an answer",
                )
            extensions = self.extensions(option, where, {X_OPTION_FACE, X_OPTION_ICON})
            entry: dict[str, Any] = {}
            if isinstance(option.get("valueCoding"), dict):
                coding = option["valueCoding"]
                at_coding = join(where, "valueCoding")
                self.only_keys(coding, at_coding, {"system", "version", "code", "display", "_display", "id"})
                entry["value"] = coding.get("code")
                self.origins[join(ours, "value")] = join(at_coding, "code")
                entry["label"] = self.text(
                    coding,
                    "display",
                    join(ours, "label"),
                    "missing: the kiosk shows it on the button",
                    at_coding,
                )
            elif isinstance(option.get("valueString"), str):
                entry["value"] = _slug(option["valueString"])
                self.origins[join(ours, "value")] = join(where, "valueString")
                entry["label"] = self.text(option, "valueString", join(ours, "label"), "", where)
            else:
                kind = next((k for k in option if k.startswith("value")), None)
                self.fail(
                    join(where, kind or "value[x]"),
                    "only valueCoding and valueString answers are supported on a choice",
                )
                continue
            if X_OPTION_FACE in extensions:
                entry["face"] = self.value(extensions[X_OPTION_FACE], "valueInteger", int, join(ours, "face"))
            if X_OPTION_ICON in extensions:
                entry["icon"] = self.value(extensions[X_OPTION_ICON], "valueCode", str, join(ours, "icon"))
            result.append(entry)
        return result

    def scale(self, item: dict, at: str, here: str, question: dict, extensions: dict) -> None:
        """Rating and likelihood items: the answers are fixed; only rating labels are read."""
        for url in (MIN_VALUE, MAX_VALUE):
            if url in extensions and "answerOption" in item:
                self.fail(
                    extensions[url][0], "give the scale by answerOption or by minValue/maxValue, not both"
                )
        labels = []
        for oi, option in enumerate(item.get("answerOption", [])):
            where = join(join(at, "answerOption"), oi)
            self.only_keys(option, where, {"valueInteger", "extension", "initialSelected", "id"})
            if option.get("initialSelected") is True:
                self.fail(
                    join(where, "initialSelected"),
                    "initial values are not supported: the kiosk never pre-fills an answer",
                )
            allowed = {X_OPTION_LABEL} if question["type"] == "rating" else set()
            found = self.extensions(option, where, allowed)
            if X_OPTION_LABEL in found:
                label_at, ext = found[X_OPTION_LABEL]
                self.origins[join(join(here, "labels"), len(labels))] = label_at
                labels.append(self.extension_text(ext, label_at))
        if labels:
            if len(labels) != 5:
                self.fail(join(at, "answerOption"), "give a label to every point of the rating or to none")
            question["labels"] = labels
            self.origins[join(here, "labels")] = join(at, "answerOption")

    # -- the contact block -----------------------------------------------------------------

    def contact(self, items: list, marked: list[int]) -> dict[str, Any] | None:
        """Our two marked items at the end become the survey's contact block again."""
        n = len(items)
        shape = [
            (CONTACT_OK, "boolean", "question"),
            (CONTACT_DETAILS, "text", "field"),
        ]
        if marked != [n - 2, n - 1]:
            for i in marked:
                self.fail(
                    f"item[{i}]",
                    f"the contact questions must be the last two items, {CONTACT_OK} then {CONTACT_DETAILS}",
                )
            return None
        contact: dict[str, Any] = {}
        for (link, fhir_type, role), i in zip(shape, marked, strict=True):
            item, at = items[i], f"item[{i}]"
            self.origins["contact"] = at
            found = self.extensions(item, at, {X_CONTACT})
            allowed = {"linkId", "type", "text", "_text", "extension"}
            if role == "field":
                allowed |= {"enableWhen", "maxLength"}
            self.only_keys(item, at, allowed)
            code = self.value(found[X_CONTACT], "valueCode", str, "contact")
            if (item.get("linkId"), item.get("type"), code) != (link, fhir_type, role):
                self.fail(
                    at,
                    f"the contact {role} must be a {fhir_type} item with linkId "
                    f'"{link}" and the contact extension "{role}"',
                )
                continue
            contact[role] = self.text(item, "text", join("contact", role), "missing", at)
            if role == "field":
                if item.get("enableWhen") != [_CONTACT_CONDITION]:
                    self.fail(
                        join(at, "enableWhen"), f"the contact field shows exactly when {CONTACT_OK} = true"
                    )
                if "maxLength" in item:
                    contact["max_length"] = item["maxLength"]
                    self.origins["contact.max_length"] = join(at, "maxLength")
        return contact

    # -- building blocks -------------------------------------------------------------------

    def check_keys(
        self,
        obj: dict,
        at: str,
        read: frozenset,
        ignored: frozenset,
        known: frozenset,
        unsupported: Mapping[str, str],
        element: str,
    ) -> None:
        for key in obj:
            where = join(at, key)
            base = key.removeprefix("_")
            if key in read or key in ignored or (key.startswith("_") and base in ignored):
                continue
            if key in unsupported:
                self.fail(where, unsupported[key])
            elif key.startswith("_") and base in known:
                self.fail(where, f"extensions on {base} are not supported")
            elif key in known:
                self.fail(where, "is not supported")
            else:
                self.fail(where, f"is not an element of {element}")

    def only_keys(self, obj: Any, at: str, allowed: set[str]) -> None:
        if not isinstance(obj, dict):
            self.fail(at or "(top level)", "must be an object")
            return
        for key in obj:
            if key not in allowed:
                self.fail(join(at, key), "is not supported here")

    def extensions(self, obj: dict, at: str, allowed: set[str]) -> dict[str, tuple[str, dict]]:
        """The extensions of an element by URL; any other extension is reported."""
        found: dict[str, tuple[str, dict]] = {}
        extensions = obj.get("extension", [])
        if not isinstance(extensions, list):
            self.fail(join(at, "extension"), "must be a list")
            return found
        for i, ext in enumerate(extensions):
            where = join(join(at, "extension"), i)
            url = ext.get("url") if isinstance(ext, dict) else None
            if not isinstance(url, str):
                self.fail(where, "an extension needs a url")
            elif url in found:
                self.fail(where, f"the extension {url} appears twice")
            elif url in allowed:
                found[url] = (where, ext)
            elif url == ITEM_CONTROL:
                self.fail(where, f"itemControl {_show(_control_code(ext))} is not supported here")
            else:
                self.fail(where, f"the extension {_show(url)} is not supported")
        return found

    def value(self, found: tuple[str, dict], key: str, kind: type, ours: str) -> Any:
        where, ext = found
        self.origins[ours] = where
        self.only_keys(ext, where, {"url", key})
        value = ext.get(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.fail(where, f"needs {key}")
        return value

    def json_value(self, found: tuple[str, dict], ours: str) -> Any:
        where, _ = found
        text = self.value(found, "valueString", str, ours)
        try:
            return json.loads(text) if isinstance(text, str) else None
        except json.JSONDecodeError as e:
            self.fail(join(where, "valueString"), f"not valid JSON: {e.msg}")
            return None

    def text(self, obj: dict, key: str, ours: str, missing: str | None, at: str = "") -> Any:
        """A FHIR string with its translations, as one of our text maps."""
        where = join(at, key)
        self.origins[ours] = where
        value = obj.get(key)
        if value is None:
            if missing is not None:
                self.fail(where, missing)
            return None
        if not isinstance(value, str):
            self.fail(where, "must be a string")
            return None
        text = {self.language: value}
        extra = obj.get("_" + key)
        if extra is None:
            return text
        at_extra = join(at, "_" + key)
        self.only_keys(extra, at_extra, {"extension", "id"})
        if isinstance(extra, dict):
            for language, content in self.translations(extra, at_extra, TRANSLATION):
                if language in text:
                    self.fail(at_extra, f'the "{language}" text is given twice')
                text[language] = content
        return text

    def extension_text(self, ext: dict, where: str) -> dict[str, str]:
        """A translated text inside one of our extensions: a translation entry per language."""
        self.only_keys(ext, where, {"url", "extension"})
        text: dict[str, str] = {}
        for language, content in self.translations(ext, where, TRANSLATION, register=False):
            if language in text:
                self.fail(where, f'the "{language}" text is given twice')
            text[language] = content
        return text

    def translations(self, obj: dict, at: str, url: str, register: bool = True):
        extensions = obj.get("extension")
        if not isinstance(extensions, list):
            self.fail(join(at, "extension"), "must be a list of translations")
            return
        for i, ext in enumerate(extensions):
            where = join(join(at, "extension"), i)
            if not isinstance(ext, dict) or ext.get("url") != url:
                found = ext.get("url") if isinstance(ext, dict) else None
                self.fail(where, f"the extension {_show(found)} is not supported")
                continue
            parts = {p.get("url"): p for p in _extension_list(ext)}
            language = parts.get("lang", {}).get("valueCode")
            content = parts.get("content", {}).get("valueString")
            if (
                not isinstance(language, str)
                or not isinstance(content, str)
                or len(parts) != 2
                or len(_extension_list(ext)) != 2
                or set(ext) != {"url", "extension"}
            ):
                self.fail(where, "a translation needs exactly a lang (valueCode) and a content (valueString)")
                continue
            if register and language not in self.languages:
                self.languages.append(language)
            yield language, content

    def locate(self, problem: Problem) -> Problem:
        """Say where in the Questionnaire a problem of the built survey comes from."""
        path = problem.where
        while path not in self.origins:
            cut = max(path.rfind("."), path.rfind("["))
            if cut <= 0:
                return problem
            path = path[:cut]
        what = problem.what if path == problem.where else f"{problem.what} (survey {problem.where})"
        return Problem(self.origins[path], what)


def _integer_options(item: dict[str, Any]) -> bool:
    options = item.get("answerOption")
    return (
        isinstance(options, list)
        and bool(options)
        and all(isinstance(o, dict) and "valueInteger" in o for o in options)
    )


def _scale_kind(item: dict[str, Any]) -> str | None:
    """rating for the whole numbers 1-5, likelihood for 0-10, in order; None for anything else."""
    if "answerOption" in item:
        if not _integer_options(item):
            return None
        values = [o["valueInteger"] for o in item["answerOption"]]
    else:
        bounds = {}
        for ext in _extension_list(item):
            if ext.get("url") in (MIN_VALUE, MAX_VALUE):
                bounds[ext["url"]] = ext.get("valueInteger")
        low, high = bounds.get(MIN_VALUE), bounds.get(MAX_VALUE)
        if not isinstance(low, int) or not isinstance(high, int):
            return None
        values = list(range(low, high + 1))
    return next((kind for kind, scale in SCALES.items() if values == scale), None)


def _extension_list(obj: Any) -> list[dict[str, Any]]:
    """The well-formed extensions of an element, for peeking; `extensions` reports bad ones."""
    found = obj.get("extension") if isinstance(obj, dict) else None
    if not isinstance(found, list):
        return []
    return [e for e in found if isinstance(e, dict) and isinstance(e.get("url"), str)]


def _control_code(ext: Any) -> Any:
    concept = ext.get("valueCodeableConcept") if isinstance(ext, dict) else None
    codings = concept.get("coding") if isinstance(concept, dict) else None
    if isinstance(codings, list) and len(codings) == 1 and isinstance(codings[0], dict):
        code = codings[0].get("code")
        return code if isinstance(code, str) else None
    return None


def _slug(text: str) -> str:
    """An option value for an answer given as a plain string: "Very good" -> "very_good"."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:64]


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)

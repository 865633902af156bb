"""`show_if` and low-score rules: one small grammar, evaluated the same way on the kiosk and the server.

Semantics follow FHIR's enableWhen, so that surveys round-trip: a condition on a question with no
answer is false, except `answered: false`. On a multiple-choice question, `equals` means "chosen".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

OPERATORS = ("equals", "not", "one_of", "lt", "lte", "gt", "gte", "answered")
COMPARISONS = ("lt", "lte", "gt", "gte")


def same_value(a: Any, b: Any) -> bool:
    """Equality that keeps JSON types apart: `true` never equals `1`."""
    return type(a) is type(b) and a == b


@dataclass(frozen=True, slots=True)
class Condition:
    question: str
    op: str
    value: Any

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Condition:
        (op,) = (key for key in data if key != "question")
        value = data[op]
        return cls(data["question"], op, tuple(value) if op == "one_of" else value)

    def to_json(self) -> dict[str, Any]:
        value = list(self.value) if self.op == "one_of" else self.value
        return {"question": self.question, self.op: value}

    def holds(self, answers: Mapping[str, Any]) -> bool:
        if self.question not in answers:
            return self.op == "answered" and self.value is False
        answer = answers[self.question]
        if self.op == "answered":
            return self.value is True
        chosen = answer if isinstance(answer, list) else [answer]
        if self.op == "equals":
            return any(same_value(c, self.value) for c in chosen)
        if self.op == "not":
            return not any(same_value(c, self.value) for c in chosen)
        if self.op == "one_of":
            return any(same_value(c, v) for c in chosen for v in self.value)
        if isinstance(answer, bool) or not isinstance(answer, int):
            return False
        return {
            "lt": answer < self.value,
            "lte": answer <= self.value,
            "gt": answer > self.value,
            "gte": answer >= self.value,
        }[self.op]


@dataclass(frozen=True, slots=True)
class Rule:
    """A lone condition, or conditions joined by all/any; `form` keeps how the file wrote it."""

    form: Literal["single", "all", "any"]
    conditions: tuple[Condition, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rule:
        if "question" in data:
            return cls("single", (Condition.from_json(data),))
        (form,) = data.keys()
        return cls(form, tuple(Condition.from_json(c) for c in data[form]))

    def to_json(self) -> dict[str, Any]:
        if self.form == "single":
            return self.conditions[0].to_json()
        return {self.form: [c.to_json() for c in self.conditions]}

    def holds(self, answers: Mapping[str, Any]) -> bool:
        wanted = self.form == "any"
        for condition in self.conditions:
            if condition.holds(answers) is wanted:
                return wanted
        return not wanted

    @property
    def questions(self) -> tuple[str, ...]:
        return tuple(c.question for c in self.conditions)

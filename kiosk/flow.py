"""The flow engine: one patient's way through one survey, as pure state.

It has no clock and no timers of its own: every call that passes time takes `now` (a monotonic
second count) from the caller, so the kiosk's Clock, the phone pages and the tests all drive it the
same way. Wall-clock timestamps for the record come from an injected `clock`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

from kiosk.record import STATUSES, iso, new_response_id, utc_now
from kiosk.survey import Question, Survey

Status = Literal["completed", "partial", "handed_off"]
IdlePhase = Literal["active", "still_there", "expired"]
DEFAULT_TOO_FAST_SECONDS = 3.0


class FlowError(ValueError):
    """A move the survey does not allow, such as skipping a required question."""


class Flow:
    """Where one respondent stands: the current question, the answers so far, and idle deadlines."""

    def __init__(
        self,
        survey: Survey,
        language: str,
        *,
        now: float,
        kiosk_id: str | None = None,
        channel: str = "kiosk",
        response_id: str | None = None,
        answers: Mapping[str, Any] | None = None,
        idle_seconds: float | None = None,
        too_fast_seconds: float = DEFAULT_TOO_FAST_SECONDS,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.survey = survey
        self.language = self._checked_language(language)
        self.kiosk_id = kiosk_id
        self.channel = channel
        self.response_id = response_id or new_response_id()
        self.idle_seconds = float(idle_seconds or survey.idle.question_seconds)
        self.too_fast_seconds = too_fast_seconds
        self._clock = clock
        self.started_at = clock()
        self._started = now
        self._last_touch = now
        self._answers: dict[str, Any] = _detached(survey.prune(answers or {}))
        self._answered_elsewhere = frozenset(self._answers)
        steps = self.steps()
        self._current: str | None = steps[0].id if steps else None
        self.status: Status | None = None

    def _checked_language(self, language: str) -> str:
        if language not in self.survey.languages:
            offered = ", ".join(self.survey.languages)
            raise FlowError(f'survey {self.survey.id} is not offered in "{language}" (only {offered})')
        return language

    @property
    def answers(self) -> dict[str, Any]:
        return _detached(self._answers)

    def steps(self) -> list[Question]:
        """The questions this respondent sees now; those answered before a handoff are not asked again."""
        return [q for q in self.survey.visible(self._answers) if q.id not in self._answered_elsewhere]

    @property
    def current(self) -> Question | None:
        return None if self._current is None else self.survey.question(self._current)

    @property
    def progress(self) -> tuple[int, int]:
        """(k, n) for "k of n": n counts the questions visible with the answers given so far."""
        steps = self.steps()
        ids = [q.id for q in steps]
        return (ids.index(self._current) + 1 if self._current in ids else len(ids), len(ids))

    @property
    def can_advance(self) -> bool:
        q = self.current
        return q is not None and (not q.required or q.id in self._answers)

    @property
    def is_last(self) -> bool:
        steps = [q.id for q in self.steps()]
        return self._current in steps and steps.index(self._current) == len(steps) - 1

    @property
    def is_first(self) -> bool:
        steps = [q.id for q in self.steps()]
        return not steps or steps[0] == self._current

    def answer(self, value: Any, *, now: float) -> None:
        """Record an answer to the current question; None (or blank text) takes it back."""
        q = self._require_open()
        self.touch(now)
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "" or value == []:
            self._answers.pop(q.id, None)
        else:
            if (why := q.answer_problem(value)) is not None:
                raise FlowError(f"{q.id}: {why}")
            self._answers[q.id] = list(value) if isinstance(value, list) else value
        self._answers = self.survey.prune(self._answers)
        # An answer given elsewhere that this change dropped must be asked here if it shows again.
        self._answered_elsewhere = self._answered_elsewhere.intersection(self._answers)

    def next(self, *, now: float) -> Question | None:
        """Move on; returns the new question, or None when the survey is done and may be finished."""
        q = self._require_open()
        self.touch(now)
        if not self.can_advance:
            raise FlowError(f"{q.id}: an answer is required before moving on")
        steps = [s.id for s in self.steps()]
        position = steps.index(q.id)
        if position + 1 >= len(steps):
            return None
        self._current = steps[position + 1]
        return self.current

    def back(self, *, now: float) -> Question | None:
        """Move to the previous visible question; None when already at the first."""
        q = self._require_open()
        self.touch(now)
        steps = [s.id for s in self.steps()]
        position = steps.index(q.id)
        if position == 0:
            return None
        self._current = steps[position - 1]
        return self.current

    def set_language(self, language: str) -> None:
        self.language = self._checked_language(language)

    def touch(self, now: float) -> None:
        """Any tap proves someone is there; it pushes the idle deadline back."""
        self._last_touch = max(self._last_touch, now)

    @property
    def idle_deadline(self) -> float:
        """When "Still there?" should appear."""
        return self._last_touch + self.idle_seconds

    @property
    def expiry_deadline(self) -> float:
        """When the "Still there?" countdown ends and the survey closes."""
        return self.idle_deadline + self.survey.idle.countdown_seconds

    def idle_phase(self, now: float) -> IdlePhase:
        if now >= self.expiry_deadline:
            return "expired"
        if now >= self.idle_deadline:
            return "still_there"
        return "active"

    def finish(self, status: Status, *, now: float) -> dict[str, Any] | None:
        """Close the survey and produce its record, or None when nothing is to be kept.

        A `partial` with no answers, or under a "discard" policy, keeps nothing: an abandoned
        screen is not a response.
        """
        if self.status is not None:
            raise FlowError("this survey is already finished")
        if status not in STATUSES:
            raise FlowError(f'"{status}" is not a status ({", ".join(STATUSES)})')
        if status == "completed":
            missing = [q.id for q in self.steps() if q.required and q.id not in self._answers]
            if missing:
                raise FlowError(f"{missing[0]}: an answer is required before finishing")
        self.status = status
        if status == "partial" and (self.survey.partial_policy == "discard" or not self._answers):
            return None
        record: dict[str, Any] = {
            "id": self.response_id,
            "survey_id": self.survey.id,
            "survey_version": self.survey.version,
            "kiosk_id": self.kiosk_id,
            "channel": self.channel,
            "language": self.language,
            "started_at": iso(self.started_at),
            "submitted_at": iso(self._clock()),
            "status": status,
            "answers": self.answers,
        }
        if status == "completed" and now - self._started < self.too_fast_seconds:
            record["flags"] = ["too_fast"]
        return record

    def _require_open(self) -> Question:
        if self.status is not None:
            raise FlowError("this survey is already finished")
        q = self.current
        if q is None:
            raise FlowError("this survey has no questions to show")
        return q


def _detached(answers: Mapping[str, Any]) -> dict[str, Any]:
    """Copy lists too: a caller changing a list it passed or got back must not change our answers."""
    return {qid: list(v) if isinstance(v, list) else v for qid, v in answers.items()}

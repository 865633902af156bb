"""One browser's visit to the phone pages: its state on the server, and the flow rebuilt from it.

The survey engine is the kiosk's own `kiosk.flow.Flow`. Each request rebuilds it: started with
the kiosk's answers (from the token), it asks only what is left, then the phone's own answers are
replayed up to the question the patient is on. Only the phone's answers are kept here, and which
kiosk answers a phone answer hid (`withdrawn`), which is all the kiosk-side Flow remembers too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from kiosk.flow import Flow, FlowError
from kiosk.handoff import Handoff
from kiosk.i18n import N_
from kiosk.record import iso
from kiosk.survey import Question, Survey
from sync.server.merge import MERGED_CHANNEL, PhonePart
from sync.server.models import PhoneSession

# Stands for a free-text answer given on the kiosk, whose words the token does not carry. A real
# answer can never equal it: answers holding NUL are refused (Question.answer_problem).
ON_KIOSK = "\x00answered on the kiosk"
HANDOFF_GRACE = timedelta(minutes=15)
POSTER_VISIT = timedelta(hours=2)
SECRET_BYTES = 32


class AnswerProblem(ValueError):
    """A form value that cannot be this question's answer; `message` (with `values`) is for the
    patient, translated where it is shown."""

    def __init__(self, message: str, **values: object) -> None:
        super().__init__(message)
        self.message = message
        self.values = values


@dataclass(slots=True)
class Visit:
    response_id: str
    channel: str
    survey_id: str
    survey_version: int
    site: str
    kiosk_id: str | None
    language: str
    answers: dict[str, Any]
    withdrawn: set[str]
    current: str | None
    cookie_hash: str
    csrf: str
    started_at: datetime
    created_at: datetime
    expires_at: datetime
    submitted_at: datetime | None = None

    @property
    def is_handoff(self) -> bool:
        return self.channel == MERGED_CHANNEL

    def bound_to(self, cookie: str | None) -> bool:
        """Whether this browser's cookie is the one the visit was (last) started with."""
        return cookie is not None and hmac.compare_digest(_hash(cookie), self.cookie_hash)

    def csrf_ok(self, sent: Any) -> bool:
        return isinstance(sent, str) and hmac.compare_digest(sent.encode(), self.csrf.encode())

    def bind(self) -> str:
        """A new cookie and form token: the browser that opens the link last holds the visit."""
        secret = f"{self.response_id}.{secrets.token_urlsafe(SECRET_BYTES)}"
        self.cookie_hash = _hash(secret)
        self.csrf = secrets.token_urlsafe(SECRET_BYTES)
        return secret


def cookie_response_id(cookie: str | None) -> str | None:
    """The response id a visit cookie names (checked against its hash before anything is trusted)."""
    if not cookie or "." not in cookie or len(cookie) > 200:
        return None
    rid = cookie.split(".", 1)[0]
    try:
        return rid if str(uuid.UUID(rid)) == rid else None
    except ValueError:
        return None


def new_visit(
    *,
    response_id: str,
    channel: str,
    survey: Survey,
    site: str,
    kiosk_id: str | None,
    language: str,
    started_at: datetime,
    now: datetime,
    expires_at: datetime,
) -> Visit:
    return Visit(
        response_id=response_id,
        channel=channel,
        survey_id=survey.id,
        survey_version=survey.version,
        site=site,
        kiosk_id=kiosk_id,
        language=language,
        answers={},
        withdrawn=set(),
        current=None,
        cookie_hash="",
        csrf="",
        started_at=started_at,
        created_at=now,
        expires_at=expires_at,
    )


def load_visit(connection: Connection, response_id: str) -> Visit | None:
    s = (
        connection.execute(select(PhoneSession).where(PhoneSession.response_id == response_id))
        .mappings()
        .first()
    )
    if s is None:
        return None
    return Visit(
        response_id=s["response_id"],
        channel=s["channel"],
        survey_id=s["survey_id"],
        survey_version=s["survey_version"],
        site=s["site"],
        kiosk_id=s["kiosk_id"],
        language=s["language"],
        answers=json.loads(s["answers"]),
        withdrawn=set(json.loads(s["withdrawn"])),
        current=s["current"],
        cookie_hash=s["cookie_hash"],
        csrf=s["csrf"],
        started_at=aware(s["started_at"]),
        created_at=aware(s["created_at"]),
        expires_at=aware(s["expires_at"]),
        submitted_at=aware(s["submitted_at"]) if s["submitted_at"] else None,
    )


def save_visit(connection: Connection, visit: Visit, *, new: bool) -> None:
    values = {
        "channel": visit.channel,
        "survey_id": visit.survey_id,
        "survey_version": visit.survey_version,
        "site": visit.site,
        "kiosk_id": visit.kiosk_id,
        "language": visit.language,
        "answers": json.dumps(visit.answers, ensure_ascii=False, sort_keys=True),
        "withdrawn": json.dumps(sorted(visit.withdrawn)),
        "current": visit.current,
        "cookie_hash": visit.cookie_hash,
        "csrf": visit.csrf,
        "started_at": visit.started_at,
        "created_at": visit.created_at,
        "expires_at": visit.expires_at,
        "submitted_at": visit.submitted_at,
    }
    if new:
        connection.execute(insert(PhoneSession).values(response_id=visit.response_id, **values))
    else:
        connection.execute(
            update(PhoneSession).where(PhoneSession.response_id == visit.response_id).values(**values)
        )


def forget_expired(connection: Connection, now: datetime) -> None:
    """Visits past their end are of no further use: a used link is known by its stored response."""
    connection.execute(delete(PhoneSession).where(PhoneSession.expires_at < now))


def aware(moment: datetime) -> datetime:
    """SQLite hands times back without their zone; every time stored here is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


def kiosk_given(handoff: Handoff | None, withdrawn: set[str]) -> dict[str, Any]:
    """The kiosk's answers that still stand; its free text only as a mark."""
    if handoff is None:
        return {}
    given = {qid: value for qid, value in handoff.answers.items() if qid not in withdrawn}
    given.update({qid: ON_KIOSK for qid in handoff.text_on_kiosk if qid not in withdrawn})
    return given


def restore(survey: Survey, visit: Visit, handoff: Handoff | None) -> Flow:
    """The flow as the patient left it: the same engine and branching as on the kiosk.

    The phone's answers are replayed forward as far as the flow lets a patient go, then the flow
    steps back to the question the patient is on.
    """
    flow = Flow(
        survey,
        visit.language,
        now=visit.started_at.timestamp(),
        kiosk_id=visit.kiosk_id,
        channel=visit.channel,
        response_id=visit.response_id,
        answers=kiosk_given(handoff, visit.withdrawn),
        clock=lambda: visit.started_at,
    )
    if visit.current is None:
        return flow
    now = visit.started_at.timestamp()
    while (question := flow.current) is not None:
        if question.id in visit.answers:
            flow.answer(visit.answers[question.id], now=now)
        try:
            if flow.next(now=now) is None:
                break
        except FlowError:  # a required question not (yet again) answered: the patient stops here too
            break
    while flow.current is not None and flow.current.id != visit.current:
        if flow.back(now=now) is None:
            break
    return flow


def remember(visit: Visit, flow: Flow, handoff: Handoff | None, changed: str | None = None) -> None:
    """Keep what the phone answered, and which kiosk answers its answers hid.

    `changed` is the question this request answered. Any other answer the flow does not hold was
    either hidden by that answer (and goes, as on the kiosk) or lies past a required question the
    patient has yet to answer again, so the replay could not reach it (and stays).
    """
    answers = flow.answers
    if handoff is not None:
        visit.withdrawn |= {qid for qid in handoff.answered if qid not in answers}
    given = kiosk_given(handoff, visit.withdrawn)
    unreached = {qid: value for qid, value in visit.answers.items() if qid not in answers and qid != changed}
    standing = flow.survey.prune({**unreached, **answers})
    visit.answers = {qid: value for qid, value in standing.items() if qid not in given}
    visit.current = flow.current.id if flow.current else None
    visit.language = flow.language


def phone_record(
    flow: Flow, visit: Visit, handoff: Handoff | None, now: datetime
) -> tuple[dict[str, Any], PhonePart | None]:
    """Finish the flow; the response record, and for a handoff the phone's half for the merge."""
    record = flow.finish("completed", now=now.timestamp())
    assert record is not None  # a completed survey always keeps its record
    answers = record["answers"]
    record["answers"] = {qid: value for qid, value in answers.items() if value != ON_KIOSK}
    record["submitted_at"] = iso(now)
    record["started_at"] = iso(visit.started_at)
    if handoff is None:
        return record, None
    record["kiosk_id"] = handoff.kiosk_id
    kiosk_text = frozenset(qid for qid, value in answers.items() if value == ON_KIOSK)
    return record, PhonePart(record, kiosk_text)


def read_answer(question: Question, values: list[str]) -> Any:
    """The answer a form sends for `question`, typed as the record wants it; None for no answer.

    Raises AnswerProblem with words for the patient when the value cannot be an answer at all
    (only a hand-made request sends one; the page offers nothing else).
    """
    values = [v for v in values if isinstance(v, str)]
    if question.type == "info":
        return None
    if question.type == "multiple_choice":
        chosen = [o.value for o in question.options if o.value in values]
        if len(chosen) != len(set(values)):
            raise AnswerProblem(N_("Please choose from the answers shown."))
        return chosen or None
    value = values[0] if values else ""
    if question.type == "text":
        if len(value.strip()) > question.max_length:
            raise AnswerProblem(
                N_("Please keep your answer to {n} characters or fewer."), n=question.max_length
            )
        if question.answer_problem(value.strip() or "-") is not None:
            raise AnswerProblem(N_("Please take out the unusual characters in your answer."))
        return value
    if value == "":
        return None
    if question.type == "single_choice":
        if question.option(value) is None:
            raise AnswerProblem(N_("Please choose from the answers shown."))
        return value
    if question.type == "yes_no":
        if value not in ("yes", "no"):
            raise AnswerProblem(N_("Please choose from the answers shown."))
        return value == "yes"
    scale = question.scale
    if (
        scale is None
        or len(value) > 2
        or not (value.isascii() and value.isdigit())
        or int(value) not in scale
    ):
        raise AnswerProblem(N_("Please choose from the answers shown."))
    return int(value)

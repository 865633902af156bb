"""The dashboard's figures for one survey, period and site, with small counts hidden.

- Friends and Family Test, NHS method: % positive is "Very good" plus "Good" over every answer to
  the question, "Don't know" included; % negative is "Poor" plus "Very poor" over the same.
- Likelihood to recommend (0-10): % answering 9-10 minus % answering 0-6, in points from -100
  to 100.
- Any breakdown of fewer than `MIN_COUNT` responses is hidden ("fewer than 5"): a day, a week, a
  site, a question's answers, and the whole selection, comments included, so that nobody can be
  recognised from a small group. A breakdown with none is shown as 0, which identifies nobody.

Days and weeks are the practice's (settings `time_zone`). Versions of a survey are read together;
each question takes its wording and options from the newest version that has it.
"""

from __future__ import annotations

import json
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from kiosk.survey import CONTACT_DETAILS, CONTACT_OK, Question, Survey
from sync.server.admin.accounts import as_utc
from sync.server.models import Response

MIN_COUNT = 5
FFT_POSITIVE = ("very_good", "good")
FFT_NEGATIVE = ("poor", "very_poor")
MAX_COMMENTS = 100
SCORED = ("single_choice", "rating", "likelihood", "yes_no")


def is_fft(question: Question) -> bool:
    """A single-choice question answered on the Friends and Family Test's scale."""
    values = {o.value for o in question.options}
    return question.type == "single_choice" and values >= {*FFT_POSITIVE, *FFT_NEGATIVE}


def shown(count: int) -> bool:
    return count == 0 or count >= MIN_COUNT


@dataclass(frozen=True, slots=True)
class Selection:
    survey_id: str
    site: str | None
    since: date
    until: date  # inclusive
    zone: ZoneInfo

    def bounds(self) -> tuple[datetime, datetime]:
        """The UTC instants of the period's first and after its last local midnight."""
        start = datetime.combine(self.since, time(0), self.zone).astimezone(UTC)
        end = datetime.combine(self.until + timedelta(days=1), time(0), self.zone).astimezone(UTC)
        return start, end

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1


@dataclass
class FftFigure:
    question: Question
    answered: int
    positive: float | None
    negative: float | None


@dataclass
class RecommendFigure:
    question: Question
    answered: int
    promoters: float | None
    detractors: float | None

    @property
    def score(self) -> float | None:
        if self.promoters is None or self.detractors is None:
            return None
        return self.promoters - self.detractors


@dataclass
class Bar:
    label: str
    count: int
    share: float


@dataclass
class Distribution:
    question: Question
    text: str
    answered: int
    bars: list[Bar]

    @property
    def hidden(self) -> bool:
        return not shown(self.answered)


@dataclass
class Trend:
    start: date
    count: int
    fft_positive: float | None
    recommend: float | None


@dataclass
class Comment:
    submitted: datetime
    site: str
    scores: list[tuple[str, str]]
    texts: list[tuple[str, str]]


@dataclass
class SiteRow:
    site: str
    count: int
    fft_positive: float | None
    fft_negative: float | None
    recommend: float | None


@dataclass
class Dashboard:
    selection: Selection
    survey: Survey | None
    total: int = 0
    per_day: list[tuple[date, int | None]] = field(default_factory=list)
    fft: FftFigure | None = None
    recommend: list[RecommendFigure] = field(default_factory=list)
    distributions: list[Distribution] = field(default_factory=list)
    trend_unit: str = "week"
    trends: list[Trend] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    comments_total: int = 0
    sites: list[SiteRow] = field(default_factory=list)

    @property
    def hidden(self) -> bool:
        return not shown(self.total)


def merged_questions(versions: Iterable[Survey]) -> tuple[Survey | None, dict[str, tuple[Survey, Question]]]:
    """The newest version, and every answerable question of any version: the newest version's in
    its order, then any that only older versions asked; each in the newest wording it has."""
    ordered = sorted(versions, key=lambda s: s.version, reverse=True)
    questions: dict[str, tuple[Survey, Question]] = {}
    for survey in ordered:
        for q in survey.questions:
            if q.takes_answer and q.id not in questions:
                questions[q.id] = (survey, q)
    return (ordered[0] if ordered else None), questions


class _Tally:
    """Counts for one group of responses (the whole selection, a week, a site)."""

    def __init__(self, fft: str | None, likelihood: list[str]) -> None:
        self.fft = fft
        self.likelihood = likelihood
        self.count = 0
        self.fft_answers: Counter[str] = Counter()
        self.scores: dict[str, Counter[int]] = {qid: Counter() for qid in likelihood}

    def add(self, answers: Mapping[str, Any]) -> None:
        self.count += 1
        if self.fft is not None and isinstance(answers.get(self.fft), str):
            self.fft_answers[answers[self.fft]] += 1
        for qid in self.likelihood:
            value = answers.get(qid)
            if type(value) is int:
                self.scores[qid][value] += 1

    def fft_shares(self) -> tuple[int, float | None, float | None]:
        answered = sum(self.fft_answers.values())
        if answered < MIN_COUNT:
            return answered, None, None
        positive = sum(self.fft_answers[v] for v in FFT_POSITIVE)
        negative = sum(self.fft_answers[v] for v in FFT_NEGATIVE)
        return answered, 100 * positive / answered, 100 * negative / answered

    def recommend(self, qid: str) -> tuple[int, float | None, float | None]:
        scores = self.scores[qid]
        answered = sum(scores.values())
        if answered < MIN_COUNT:
            return answered, None, None
        promoters = sum(n for value, n in scores.items() if value >= 9)
        detractors = sum(n for value, n in scores.items() if value <= 6)
        return answered, 100 * promoters / answered, 100 * detractors / answered

    def recommend_score(self) -> float | None:
        if not self.likelihood:
            return None
        _, promoters, detractors = self.recommend(self.likelihood[0])
        return None if promoters is None or detractors is None else promoters - detractors


def trend_start(day: date, unit: str) -> date:
    if unit == "month":
        return day.replace(day=1)
    return day - timedelta(days=day.weekday())


def build(
    connection: Connection, selection: Selection, versions: Iterable[Survey], language: str | None = None
) -> Dashboard:
    """Read the selection's responses once, oldest first, and work out every figure."""
    newest, questions = merged_questions(versions)
    board = Dashboard(selection, newest)
    lang = language or (newest.languages[0] if newest else "en")
    fft = next((qid for qid, (_, q) in questions.items() if is_fft(q)), None)
    likelihood = [qid for qid, (_, q) in questions.items() if q.type == "likelihood"]
    whole = _Tally(fft, likelihood)
    answered: dict[str, Counter[Any]] = {qid: Counter() for qid in questions}
    totals: Counter[str] = Counter()
    per_day: Counter[date] = Counter()
    board.trend_unit = "month" if selection.days > 190 else "week"
    trends: dict[date, _Tally] = {}
    sites: dict[str, _Tally] = {}
    comments: deque[Comment] = deque(maxlen=MAX_COMMENTS)
    start, end = selection.bounds()
    statement = (
        select(Response.payload, Response.site, Response.submitted_at)
        .where(
            Response.survey_id == selection.survey_id,
            Response.submitted_at >= start,
            Response.submitted_at < end,
        )
        .order_by(Response.submitted_at, Response.id)
    )
    if selection.site is not None:
        statement = statement.where(Response.site == selection.site)
    rows = connection.execution_options(stream_results=True, yield_per=1000).execute(statement)
    for payload, site, submitted_at in rows:
        record = json.loads(payload)
        answers = record.get("answers") or {}
        local = as_utc(submitted_at).astimezone(selection.zone)  # type: ignore[union-attr]
        per_day[local.date()] += 1
        whole.add(answers)
        trends.setdefault(trend_start(local.date(), board.trend_unit), _Tally(fft, likelihood)).add(answers)
        sites.setdefault(site, _Tally(fft, likelihood)).add(answers)
        for qid, value in answers.items():
            if qid in answered:
                for item in value if isinstance(value, list) else [value]:
                    answered[qid][item] += 1
                totals[qid] += 1
        texts = [
            (_text(questions, qid, lang), value)
            for qid, value in answers.items()
            if qid in questions
            and questions[qid][1].type == "text"
            and qid != CONTACT_DETAILS
            and isinstance(value, str)
        ]
        if texts:
            board.comments_total += 1
            comments.append(Comment(local, site, _scores(questions, answers, lang), texts))
    board.total = whole.count
    day = selection.since
    while day <= selection.until:
        count = per_day.get(day, 0)
        board.per_day.append((day, count if shown(count) else None))
        day += timedelta(days=1)
    if fft is not None:
        n, positive, negative = whole.fft_shares()
        board.fft = FftFigure(questions[fft][1], n, positive, negative)
    for qid in likelihood:
        n, promoters, detractors = whole.recommend(qid)
        board.recommend.append(RecommendFigure(questions[qid][1], n, promoters, detractors))
    for qid, (_, q) in questions.items():
        if q.id == CONTACT_DETAILS:
            continue
        total = totals[qid]
        bars = _bars(q, answered[qid], total, lang)
        board.distributions.append(Distribution(q, _text(questions, qid, lang), total, bars))
    for begin in sorted(trends):
        tally = trends[begin]
        positive = tally.fft_shares()[1] if fft is not None else None
        board.trends.append(Trend(begin, tally.count, positive, tally.recommend_score()))
    if selection.site is None:
        for site in sorted(sites):
            tally = sites[site]
            _, positive, negative = tally.fft_shares()
            board.sites.append(SiteRow(site, tally.count, positive, negative, tally.recommend_score()))
    if not board.hidden:
        board.comments = list(reversed(comments))
    return board


def _text(questions: Mapping[str, tuple[Survey, Question]], qid: str, lang: str) -> str:
    survey, question = questions[qid]
    return survey.text(question.text, lang)


def _scores(
    questions: Mapping[str, tuple[Survey, Question]], answers: Mapping[str, Any], lang: str
) -> list[tuple[str, str]]:
    """The response's scored answers, in question order, to show beside its comments."""
    scores = []
    for qid, (_survey, q) in questions.items():
        if qid in answers and q.type in SCORED and qid != CONTACT_OK:
            scores.append((_text(questions, qid, lang), q.label(answers[qid], lang)))
    return scores


def _bars(q: Question, counts: Counter[Any], total: int, lang: str) -> list[Bar]:
    """Every possible answer in order, counted; text answers are not counted here."""
    if q.type in ("single_choice", "multiple_choice"):
        values: list[Any] = [o.value for o in q.options]
        values += sorted((v for v in counts if v not in values and isinstance(v, str)), key=str)
    elif q.type in ("rating", "likelihood"):
        assert q.scale is not None
        values = list(q.scale)
    elif q.type == "yes_no":
        values = [True, False]
    else:
        return []
    return [
        Bar(q.label(v, lang), counts.get(v, 0), 100 * counts.get(v, 0) / total if total else 0.0)
        for v in values
    ]

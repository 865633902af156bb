"""Exports from the server's database: rows stream from SQL straight into kiosk.exports' writers.

The filters become SQL (the columns `submitted_at`, `survey_id`, `status` and `site` are indexed
for this), so the database sends only what is asked for, and rows are fetched a batch at a time:
memory stays flat however many responses there are. The survey versions come from the database's
published surveys, plus any `--survey-file`.

CSV and XLSX need their columns before the first row. The kiosk learns them in a first pass over
every record; the server asks SQL how many responses each survey version has instead, because
ingest only stores answers that the version defines, so the version's questions are the columns.
Each row is still checked on its way out: a response holding an answer its version lacks (a
database restored from elsewhere, a --survey-file that differs) sends the export back to a full
first pass, so no answer is ever left out.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Select, func, select

from kiosk.exports import ExportOptions, ExportResult, RecordFilter, Scan, export_file
from kiosk.survey import Survey, SurveyError
from sync.server.db import reader
from sync.server.models import Response
from sync.server.surveys import SurveyBook

log = logging.getLogger(__name__)

FETCH = 2000
TABULAR = ("csv", "xlsx")
MEDIA_TYPES = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "json": ("application/json", "json"),
    "jsonl": ("application/x-ndjson", "jsonl"),
    "fhir": ("application/fhir+json", "fhir.json"),
}

Resolve = Callable[[str, int], Survey | None]
Columns = dict[tuple[str, int], frozenset[str]]


class _Unplanned(Exception):
    """A response with an answer outside the planned columns: plan again the slow, sure way."""


def _where(statement: Select[Any], chosen: RecordFilter, site: str | None) -> Select[Any]:
    if chosen.since is not None:
        statement = statement.where(Response.submitted_at >= chosen.since)
    if chosen.before is not None:
        statement = statement.where(Response.submitted_at < chosen.before)
    if chosen.survey_id is not None:
        statement = statement.where(Response.survey_id == chosen.survey_id)
    if chosen.statuses:
        statement = statement.where(Response.status.in_(chosen.statuses))
    if site is not None:
        statement = statement.where(Response.site == site)
    return statement


class ServerRecords:
    """The records an export asks for; each call opens a fresh stream, oldest first."""

    def __init__(
        self, engine: Engine, chosen: RecordFilter, site: str | None, version: int | None = None
    ) -> None:
        self.engine = reader(engine)
        self.chosen = chosen
        self.site = site
        self.version = version

    def _select(self, *columns: Any) -> Select[Any]:
        statement = _where(select(*columns), self.chosen, self.site)
        if self.version is not None:
            statement = statement.where(Response.survey_version == self.version)
        return statement

    def __call__(self) -> Iterator[dict[str, Any]]:
        return self._stream(None)

    def _stream(self, columns: Columns | None) -> Iterator[dict[str, Any]]:
        """The records, oldest first; with `columns`, stops with _Unplanned at an answer outside them."""
        statement = self._select(Response.payload).order_by(Response.submitted_at, Response.id)
        # Payloads are compact JSON as ingest wrote them, so the scanner can read them straight,
        # skipping decode()'s whitespace checks (a tenth of the reading time).
        scan_once = json.JSONDecoder().scan_once
        with self.engine.connect() as connection:
            result = connection.execution_options(stream_results=True, yield_per=FETCH).execute(statement)
            for (payload,) in result:
                record = scan_once(payload, 0)[0]
                if columns is not None:
                    allowed = columns.get((record["survey_id"], record["survey_version"]))
                    if allowed is None or not record["answers"].keys() <= allowed:
                        raise _Unplanned(record["id"])
                yield record

    def count(self) -> int:
        with self.engine.connect() as connection:
            return connection.execute(self._select(func.count()).select_from(Response)).scalar_one()

    def checked(self, columns: Columns) -> Callable[[], Iterator[dict[str, Any]]]:
        """Like calling self, but stops with _Unplanned at an answer its planned columns lack."""
        return lambda: self._stream(columns)

    def plan(self, resolve: Resolve, overridden: set[tuple[str, int]]) -> tuple[Scan, Columns]:
        """The columns by SQL: counts per survey version, whose definitions give the questions.

        A version without a stored definition, or one replaced by a --survey-file, is read in
        full to learn which answers it holds.
        """
        plan, columns = Scan(), {}
        statement = self._select(Response.survey_id, Response.survey_version, func.count()).group_by(
            Response.survey_id, Response.survey_version
        )
        with self.engine.connect() as connection:
            counts = connection.execute(statement).all()
        for survey_id, version, count in counts:
            key = (survey_id, version)
            plan.total += count
            plan.answered[key] = {}
            survey = resolve(survey_id, version)
            if survey is not None and key not in overridden:
                columns[key] = frozenset(q.id for q in survey.questions if q.takes_answer)
                continue
            one = ServerRecords(self.engine, replace(self.chosen, survey_id=survey_id), self.site, version)
            for record in one():
                plan.answered[key].update(dict.fromkeys(record["answers"]))
            columns[key] = frozenset(plan.answered[key])
        return plan, columns


def resolver(engine: Engine, extra: Iterable[Survey] = ()) -> Resolve:
    """(survey id, version) -> Survey from the database; `extra` definitions win."""
    book = SurveyBook(reader(engine))
    given = {s.key: s for s in extra}

    def resolve(survey_id: str, version: int) -> Survey | None:
        if (survey_id, version) in given:
            return given[(survey_id, version)]
        try:
            return book.get(survey_id, version)
        except SurveyError:
            return None

    return resolve


def export_to_file(
    engine: Engine,
    path: str | Path,
    fmt: str,
    chosen: RecordFilter,
    site: str | None,
    *,
    options: ExportOptions | None = None,
    extra: Iterable[Survey] = (),
    show_progress: bool | None = None,
) -> ExportResult:
    """`server export` and the admin web's downloads: the file appears only once complete."""
    records = ServerRecords(engine, chosen, site)
    extra = list(extra)
    resolve = resolver(engine, extra)
    common: dict[str, Any] = {"options": options or ExportOptions(), "show_progress": show_progress}
    if fmt in TABULAR:
        plan, columns = records.plan(resolve, {s.key for s in extra})
        try:
            return export_file(path, fmt, records.checked(columns), resolve, plan=plan, **common)
        except _Unplanned as e:
            log.warning("response %s holds an answer its survey version lacks; planning from every row", e)
        return export_file(path, fmt, records, resolve, **common)
    return export_file(path, fmt, records, resolve, total=records.count(), **common)

"""Which responses an export holds: dates, survey, status, parsed from what an admin types.

Dates filter on `submitted_at`, the moment the patient finished, because that is the day an admin
means by "responses from Tuesday". Times without a zone are UTC, like every record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from kiosk.record import STATUSES, parse_iso

DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# The store filters by the time it saved a response, a moment after submitted_at on the same
# clock; a wide margin lets it skip old files while this filter decides exactly.
STORE_MARGIN = timedelta(days=2)


class FilterError(ValueError):
    """A filter the admin got wrong, said as `--option: what`."""


def parse_moment(text: str, option: str, *, end: bool = False) -> datetime:
    """The instant a --since or --until value names; with `end`, the first instant after it.

    A bare date given to --until means that whole day, so its end is the next midnight.
    """
    value = text.strip()
    try:
        if DATE_ONLY.match(value):
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise FilterError(
            f'{option}: "{text}" is not a date (YYYY-MM-DD) or an ISO 8601 time (YYYY-MM-DDTHH:MM:SSZ)'
        ) from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment + timedelta(microseconds=1) if end else moment


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """since <= submitted_at < before, plus survey id and status; None means no limit."""

    since: datetime | None = None
    before: datetime | None = None
    survey_id: str | None = None
    statuses: tuple[str, ...] = ()

    @classmethod
    def parse(
        cls,
        since: str | None = None,
        until: str | None = None,
        survey_id: str | None = None,
        statuses: Iterable[str] | None = None,
    ) -> RecordFilter:
        low = parse_moment(since, "--since") if since else None
        high = parse_moment(until, "--until", end=True) if until else None
        if low is not None and high is not None and low >= high:
            raise FilterError(f"--since {since} is after --until {until}: no response can match")
        wanted = tuple(dict.fromkeys(statuses or ()))
        unknown = [s for s in wanted if s not in STATUSES]
        if unknown:
            raise FilterError(f'--status: "{unknown[0]}" is not one of {", ".join(STATUSES)}')
        return cls(low, high, survey_id or None, wanted)

    def matches(self, record: Mapping[str, Any]) -> bool:
        if self.survey_id is not None and record.get("survey_id") != self.survey_id:
            return False
        if self.statuses and record.get("status") not in self.statuses:
            return False
        if self.since is None and self.before is None:
            return True
        try:
            moment = parse_iso(record.get("submitted_at"))  # type: ignore[arg-type]
        except (TypeError, ValueError, AttributeError):
            return False
        return (self.since is None or moment >= self.since) and (self.before is None or moment < self.before)

    def apply(self, records: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        return (r for r in records if self.matches(r))

    def store_arguments(self) -> dict[str, Any]:
        """Coarse bounds for `ResponseStore.iter_records`, which `apply` then refines."""
        return {
            "since": None if self.since is None else self.since - STORE_MARGIN,
            "until": None if self.before is None else self.before + STORE_MARGIN,
            "survey_id": self.survey_id,
            "status": self.statuses[0] if len(self.statuses) == 1 else None,
        }

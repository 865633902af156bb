"""Publishing surveys to sites, serving the active ones, and the versions ingest checks against.

A survey version, once published, never changes: records name (survey id, version) and are
validated against exactly that definition, however long they waited on a kiosk. A new version
must be higher than every version already active where it is published.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select

from kiosk.record import canonical, utc_now
from kiosk.survey import Survey, builtin_survey, builtin_survey_ids, parse_survey
from sync.server.models import ALL_SITES, Publication, SurveyVersion


class PublishError(ValueError):
    """A survey that may not be published as asked."""


@dataclass(frozen=True, slots=True)
class ActiveSurveys:
    definitions: list[dict[str, Any]]
    etag: str


def definition_digest(definition: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(definition)).hexdigest()


def publish(connection: Connection, survey: Survey, site: str | None) -> str:
    """Make `survey` active for `site` (None: every site); returns what was done, in words."""
    scope = site or ALL_SITES
    where = "every site" if scope == ALL_SITES else f"site {scope}"
    definition = dict(survey.raw)
    digest = definition_digest(definition)
    known = connection.execute(
        select(SurveyVersion.digest).where(
            SurveyVersion.survey_id == survey.id, SurveyVersion.version == survey.version
        )
    ).scalar_one_or_none()
    if known is not None and known != digest:
        raise PublishError(
            f"{survey.id} v{survey.version} is already published with other "
            "content; give the changed survey a higher version"
        )
    newest = select(func.max(Publication.version)).where(Publication.survey_id == survey.id)
    if scope != ALL_SITES:
        newest = newest.where(Publication.site.in_((scope, ALL_SITES)))
    current = connection.execute(newest).scalar_one_or_none()
    if current is not None and survey.version <= current:
        raise PublishError(
            f"{survey.id}: version {survey.version} must be higher than "
            f"v{current}, already active for {where}"
        )
    now = utc_now()
    if known is None:
        connection.execute(
            insert(SurveyVersion).values(
                survey_id=survey.id,
                version=survey.version,
                digest=digest,
                published_at=now,
                definition=json.dumps(definition, sort_keys=True, separators=(",", ":")),
            )
        )
    connection.execute(
        insert(Publication).values(
            survey_id=survey.id,
            version=survey.version,
            site=scope,
            published_at=now,
        )
    )
    return f"published {survey.id} v{survey.version} for {where}"


def seed_builtin_surveys(connection: Connection) -> None:
    """A new server offers the built-in templates everywhere, so a fresh install works at once."""
    if connection.execute(select(func.count()).select_from(SurveyVersion)).scalar_one():
        return
    for survey_id in builtin_survey_ids():
        publish(connection, builtin_survey(survey_id), None)


def active_surveys(connection: Connection, site: str) -> ActiveSurveys:
    """The newest version of each survey published for `site` or for every site."""
    newest = (
        select(Publication.survey_id, func.max(Publication.version).label("version"))
        .where(Publication.site.in_((site, ALL_SITES)))
        .group_by(Publication.survey_id)
        .subquery()
    )
    rows = connection.execute(
        select(SurveyVersion.definition, SurveyVersion.digest)
        .join(
            newest,
            (SurveyVersion.survey_id == newest.c.survey_id) & (SurveyVersion.version == newest.c.version),
        )
        .order_by(SurveyVersion.survey_id)
    ).all()
    etag = hashlib.sha256("".join(row.digest for row in rows).encode()).hexdigest()[:32]
    return ActiveSurveys([json.loads(row.definition) for row in rows], f'"{etag}"')


class SurveyBook:
    """Parsed survey versions for ingest; versions are immutable, so a cached one stays right."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._surveys: dict[tuple[str, int], Survey] = {}

    def get(self, survey_id: str, version: int) -> Survey | None:
        key = (survey_id, version)
        if (survey := self._surveys.get(key)) is not None:
            return survey
        with self.engine.connect() as connection:
            definition = connection.execute(
                select(SurveyVersion.definition).where(
                    SurveyVersion.survey_id == survey_id, SurveyVersion.version == version
                )
            ).scalar_one_or_none()
        if definition is None:
            return None
        survey = parse_survey(json.loads(definition), f"{survey_id} v{version}")
        self._surveys[key] = survey
        return survey

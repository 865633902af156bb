"""The server's tables. Alembic migrations create them; these classes are what the code reads.

Times are UTC. A response keeps the record exactly as it arrived (`payload`, canonical JSON) plus
the columns the dashboards and exports filter on; `digest` tells a resend from a conflict without
reading the payload back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKeyConstraint, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ALL_SITES = "*"
DEFAULT_SITE = "main"


class Base(DeclarativeBase):
    pass


class Kiosk(Base):
    """An enrolled kiosk: its credentials (hashes only) and the health it reported last."""

    __tablename__ = "kiosks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64))
    handoff_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    app_version: Mapped[str | None] = mapped_column(String(64))
    pending: Mapped[int | None] = mapped_column(Integer)
    oldest_pending_age_s: Mapped[float | None] = mapped_column(Float)
    kiosk_clock: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    clock_drift_s: Mapped[float | None] = mapped_column(Float)


class SurveyVersion(Base):
    """One survey definition. An (id, version) pair names one content forever."""

    __tablename__ = "surveys"

    survey_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Publication(Base):
    """A survey version made active for one site, or for every site (`ALL_SITES`)."""

    __tablename__ = "publications"
    __table_args__ = (
        ForeignKeyConstraint(["survey_id", "version"], ["surveys.survey_id", "surveys.version"]),
        Index("ix_publications_site_survey", "site", "survey_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    survey_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    site: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Response(Base):
    __tablename__ = "responses"
    __table_args__ = (
        Index("ix_responses_survey_submitted", "survey_id", "submitted_at"),
        Index("ix_responses_site_submitted", "site", "submitted_at"),
        Index("ix_responses_kiosk", "kiosk_id"),
        Index("ix_responses_received", "received_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    survey_id: Mapped[str] = mapped_column(String(64))
    survey_version: Mapped[int] = mapped_column(Integer)
    kiosk_id: Mapped[str | None] = mapped_column(String(64))
    site: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    digest: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)

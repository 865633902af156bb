"""The server's tables. Alembic migrations create them; these classes are what the code reads.

Times are UTC. A response keeps the record exactly as it arrived (`payload`, canonical JSON) plus
the columns the dashboards and exports filter on; `digest` tells a resend from a conflict without
reading the payload back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
)
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


class Admin(Base):
    """A practice manager who may log in to /admin; only an argon2id hash of the password is kept."""

    __tablename__ = "admins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AdminSession(Base):
    """A logged-in browser; keyed by a hash of the cookie, so a copy of the database opens nothing."""

    __tablename__ = "admin_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    admin_id: Mapped[int] = mapped_column(ForeignKey("admins.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LoginLockout(Base):
    """Failed logins per typed username and per address, shared by every server process."""

    __tablename__ = "admin_lockouts"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    first_failure_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Alert(Base):
    """A response that matched its survey's low-score rule, in the queue until someone resolves it.

    `notify_after` doubles as the e-mail claim: a process that sends the e-mail first moves it on,
    so two workers never send one alert twice.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_status_due", "status", "due_at"),
        Index("ix_alerts_notify", "notified_at", "notify_after"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    response_id: Mapped[str] = mapped_column(ForeignKey("responses.id"), unique=True)
    survey_id: Mapped[str] = mapped_column(String(64))
    survey_version: Mapped[int] = mapped_column(Integer)
    site: Mapped[str] = mapped_column(String(64))
    kiosk_id: Mapped[str | None] = mapped_column(String(64))
    reasons: Mapped[str] = mapped_column(Text)
    contact_ok: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notify_after: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    notify_attempts: Mapped[int] = mapped_column(Integer)


class AlertNote(Base):
    """The history of an alert: who changed what, and the notes they wrote."""

    __tablename__ = "alert_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    change: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)


class AlertRule(Base):
    """What counts as a low score for one survey, as set in the admin web (wins over settings.json)."""

    __tablename__ = "alert_rules"

    survey_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    use_survey_rule: Mapped[bool] = mapped_column(Boolean)
    own_rule: Mapped[str | None] = mapped_column(Text)
    keywords: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(64))


class PhoneSession(Base):
    """One browser's way through the phone pages, kept on the server so a link is single-use.

    Keyed by the response id: a handoff link names it, a poster mints a fresh one per session.
    `answers` holds only what was answered on the phone; `withdrawn` names kiosk answers that a
    phone answer hid (so they are asked again if they show again, as on the kiosk).
    """

    __tablename__ = "phone_sessions"
    __table_args__ = (Index("ix_phone_sessions_expires", "expires_at"),)

    response_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    survey_id: Mapped[str] = mapped_column(String(64))
    survey_version: Mapped[int] = mapped_column(Integer)
    site: Mapped[str] = mapped_column(String(64))
    kiosk_id: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    answers: Mapped[str] = mapped_column(Text)
    withdrawn: Mapped[str] = mapped_column(Text)
    current: Mapped[str | None] = mapped_column(String(64))
    cookie_hash: Mapped[str] = mapped_column(String(64))
    csrf: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class HandoffPart(Base):
    """The phone's half of a handed-off response, kept until (and after) the kiosk's half arrives.

    `phone_part` is what the phone submitted; `kiosk_digest` is the digest of the kiosk's own
    record once it has been merged in, so the kiosk's resend is recognised as harmless.
    """

    __tablename__ = "handoff_parts"

    response_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    phone_part: Mapped[str] = mapped_column(Text)
    kiosk_digest: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

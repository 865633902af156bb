"""Kiosks, surveys and their publications, and responses.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "kiosks",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("handoff_key", sa.String(64), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("revoked_at", UTC_TIME, nullable=True),
        sa.Column("last_seen_at", UTC_TIME, nullable=True),
        sa.Column("app_version", sa.String(64), nullable=True),
        sa.Column("pending", sa.Integer(), nullable=True),
        sa.Column("oldest_pending_age_s", sa.Float(), nullable=True),
        sa.Column("kiosk_clock", UTC_TIME, nullable=True),
        sa.Column("clock_drift_s", sa.Float(), nullable=True),
    )
    op.create_table(
        "surveys",
        sa.Column("survey_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("published_at", UTC_TIME, nullable=False),
    )
    op.create_table(
        "publications",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("survey_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("published_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["survey_id", "version"], ["surveys.survey_id", "surveys.version"]),
    )
    op.create_index("ix_publications_site_survey", "publications", ["site", "survey_id"])
    op.create_table(
        "responses",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("survey_id", sa.String(64), nullable=False),
        sa.Column("survey_version", sa.Integer(), nullable=False),
        sa.Column("kiosk_id", sa.String(64), nullable=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("submitted_at", UTC_TIME, nullable=False),
        sa.Column("received_at", UTC_TIME, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
    )
    op.create_index("ix_responses_survey_submitted", "responses", ["survey_id", "submitted_at"])
    op.create_index("ix_responses_site_submitted", "responses", ["site", "submitted_at"])
    op.create_index("ix_responses_kiosk", "responses", ["kiosk_id"])
    op.create_index("ix_responses_received", "responses", ["received_at"])


def downgrade() -> None:
    op.drop_table("responses")
    op.drop_table("publications")
    op.drop_table("surveys")
    op.drop_table("kiosks")

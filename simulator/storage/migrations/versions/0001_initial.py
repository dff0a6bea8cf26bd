"""Initial schema: profiles, sessions, turns (with question and rubric snapshots) and grades.

Revision ID: 0001
Revises:
Create Date: 2025-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_profiles"),
        sa.UniqueConstraint("name", name="uq_profiles_name"),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("interviewer", sa.String(200), nullable=False),
        sa.Column("judge", sa.String(200), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.Column("finished_at", UTC_TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
        sa.ForeignKeyConstraint(["profile_id"], ["profiles.id"], name="fk_sessions_profile_id_profiles",
                                ondelete="CASCADE"),
        sa.CheckConstraint("status IN ('active', 'finished', 'abandoned')", name="ck_sessions_status"),
    )
    op.create_index("ix_sessions_profile_id", "sessions", ["profile_id"])
    op.create_index("ix_sessions_started_at", "sessions", ["started_at"])
    op.create_table(
        "turns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("question_id", sa.String(80), nullable=True),
        sa.Column("topic", sa.String(80), nullable=True),
        sa.Column("question_snapshot", sa.JSON(), nullable=True),
        sa.Column("rubric_snapshot", sa.JSON(), nullable=True),
        sa.Column("parent_turn_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_turns"),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], name="fk_turns_session_id_sessions",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["parent_turn_id"], ["turns.id"], name="fk_turns_parent_turn_id_turns",
                                ondelete="SET NULL"),
        sa.UniqueConstraint("session_id", "seq", name="uq_turns_session_id_seq"),
        sa.CheckConstraint("role IN ('interviewer', 'candidate')", name="ck_turns_role"),
        sa.CheckConstraint("kind IN ('question', 'follow_up', 'answer', 'note')", name="ck_turns_kind"),
    )
    op.create_index("ix_turns_session_id", "turns", ["session_id"])
    op.create_index("ix_turns_question_id", "turns", ["question_id"])
    op.create_table(
        "grades",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("turn_id", sa.Integer(), nullable=False),
        sa.Column("judge", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("overall", sa.Float(), nullable=True),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("points", sa.JSON(), nullable=False),
        sa.Column("misconceptions", sa.JSON(), nullable=False),
        sa.Column("citations", sa.JSON(), nullable=False),
        sa.Column("feedback", sa.Text(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("grade", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_grades"),
        sa.ForeignKeyConstraint(["turn_id"], ["turns.id"], name="fk_grades_turn_id_turns", ondelete="CASCADE"),
        sa.UniqueConstraint("turn_id", name="uq_grades_turn_id"),
        sa.CheckConstraint("status IN ('scored', 'unscored')", name="ck_grades_status"),
    )


def downgrade() -> None:
    op.drop_table("grades")
    op.drop_index("ix_turns_question_id", table_name="turns")
    op.drop_index("ix_turns_session_id", table_name="turns")
    op.drop_table("turns")
    op.drop_index("ix_sessions_started_at", table_name="sessions")
    op.drop_index("ix_sessions_profile_id", table_name="sessions")
    op.drop_table("sessions")
    op.drop_table("profiles")

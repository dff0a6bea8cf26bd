"""Spoken answers: each answer turn may carry its delivery measures, and a recording kept at the candidate's request.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from simulator.storage.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("turns", sa.Column("delivery", sa.JSON(none_as_null=True), nullable=True))
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("turn_id", sa.Integer(), nullable=False),
        sa.Column("mime", sa.String(60), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["turn_id"], ["turns.id"], name="fk_recordings_turn_id_turns", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_recordings"),
        sa.UniqueConstraint("turn_id", name="uq_recordings_turn_id"),
    )


def downgrade() -> None:
    op.drop_table("recordings")
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("delivery")

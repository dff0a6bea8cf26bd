"""Time per answer and turn metadata: turns.answered_at, turns.duration_s, turns.meta.

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("turns") as batch:
        batch.add_column(sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("duration_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("meta", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("meta")
        batch.drop_column("duration_s")
        batch.drop_column("answered_at")

"""Each grade is stored once, as JSON: the per-field copies (judge, criteria, points...) are dropped.

``status`` and ``overall`` stay as columns because SQL filters and averages on them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COPIES = {
    "judge": sa.String(200), "model": sa.String(200), "reason": sa.Text(), "criteria": sa.JSON(),
    "points": sa.JSON(), "misconceptions": sa.JSON(), "citations": sa.JSON(), "feedback": sa.Text(),
    "flags": sa.JSON(), "latency_ms": sa.Float(), "prompt_tokens": sa.Integer(), "completion_tokens": sa.Integer(),
}


def upgrade() -> None:
    with op.batch_alter_table("grades") as batch:
        for name in COPIES:
            batch.drop_column(name)


def downgrade() -> None:
    with op.batch_alter_table("grades") as batch:
        for name, kind in COPIES.items():
            batch.add_column(sa.Column(name, kind, nullable=True))
    grades = sa.table("grades", sa.column("id", sa.Integer()), sa.column("grade", sa.JSON()),
                      *(sa.column(name, kind) for name, kind in COPIES.items()))
    connection = op.get_bind()
    for row_id, grade in connection.execute(sa.select(grades.c.id, grades.c.grade)).all():
        data = json.loads(grade) if isinstance(grade, str) else grade
        connection.execute(grades.update().where(grades.c.id == row_id)
                           .values({name: data.get(name) for name in COPIES}))

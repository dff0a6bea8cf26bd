"""Profiles are identified by a normalised form of their name, so look-alike names are one profile.

Existing profiles whose names normalise to the same identity are merged into the oldest one: their sessions
move to it and nothing is deleted but the duplicate profile rows themselves.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from simulator.storage.validation import profile_identity

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

IDENTITY_MAX = 400
profiles = sa.table("profiles", sa.column("id", sa.Integer()), sa.column("name", sa.String()),
                    sa.column("identity", sa.String()))
sessions = sa.table("sessions", sa.column("id", sa.Integer()), sa.column("profile_id", sa.Integer()))


def upgrade() -> None:
    # Added in place, nullable and with a unique index: making SQLite rebuild the profiles table would delete
    # every session through the ON DELETE CASCADE of their foreign key.
    op.add_column("profiles", sa.Column("identity", sa.String(IDENTITY_MAX), nullable=True))
    connection = op.get_bind()
    kept: dict[str, int] = {}
    for row_id, name in connection.execute(sa.select(profiles.c.id, profiles.c.name).order_by(profiles.c.id)):
        identity = _identity(name, row_id)
        if identity in kept:
            connection.execute(sessions.update().where(sessions.c.profile_id == row_id)
                               .values(profile_id=kept[identity]))
            connection.execute(profiles.delete().where(profiles.c.id == row_id))
            continue
        kept[identity] = row_id
        connection.execute(profiles.update().where(profiles.c.id == row_id).values(identity=identity))
    op.create_index("ix_profiles_identity", "profiles", ["identity"], unique=True)


def _identity(name: str, row_id: int) -> str:
    try:
        return profile_identity(name)
    except ValueError:  # a name made only of invisible characters stays its own, still reachable profile
        return f"#profile-{row_id}"


def downgrade() -> None:
    op.drop_index("ix_profiles_identity", table_name="profiles")
    op.drop_column("profiles", "identity")  # SQLite 3.35+ drops a column in place

"""Profiles belong to an owner: a signed-in user (OIDC issuer and subject) or, without login, the local user ('').

Profile names become unique per owner, so two users may both call their profile "candidate"; a users table keeps
each signed-in user's email and name, for coaches' views.

SQLite must rebuild the profiles table to drop its old unique constraint; ``db.migrate`` switches foreign keys off
for the migration (as SQLite's own procedure for schema changes says), so no session is cascaded away.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from simulator.storage.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OWNER_MAX = 300


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("owner", sa.String(OWNER_MAX), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("owner", name="pk_users"),
    )
    with op.batch_alter_table("profiles") as batch:
        batch.add_column(sa.Column("owner", sa.String(OWNER_MAX), nullable=False, server_default=""))
        batch.drop_constraint("uq_profiles_name", type_="unique")
        batch.drop_index("ix_profiles_identity")
        batch.create_unique_constraint("uq_profiles_owner_identity", ["owner", "identity"])


def downgrade() -> None:
    with op.batch_alter_table("profiles") as batch:
        batch.drop_constraint("uq_profiles_owner_identity", type_="unique")
        batch.create_index("ix_profiles_identity", ["identity"], unique=True)
        batch.create_unique_constraint("uq_profiles_name", ["name"])
        batch.drop_column("owner")
    op.drop_table("users")

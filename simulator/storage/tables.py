"""The ORM tables (SQLAlchemy 2.0 typed mappings). Migrations in ``migrations/`` create and change them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from simulator.storage.records import ROLES, STATUSES, TURN_KINDS

PROFILE_NAME_MAX = 60
OWNER_MAX = 300
LOCAL_OWNER = ""
"""The owner of everything stored while login is off."""
PROFILE_IDENTITY_MAX = 400
"""NFKC can expand a character to many (one ligature becomes 18 letters), so the identity column is wider."""

_JSON = JSON(none_as_null=True)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset, so it is stored as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def now() -> datetime:
    return datetime.now(UTC)


def _in(column: str, values: Iterable[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UserRow(Base):
    """A signed-in user (login on): who owns what, and how coaches see them."""

    __tablename__ = "users"

    owner: Mapped[str] = mapped_column(String(OWNER_MAX), primary_key=True)
    """Issuer and OIDC subject: the stable key that data belongs to."""
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class ProfileRow(Base):
    __tablename__ = "profiles"
    __table_args__ = (UniqueConstraint("owner", "identity"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(OWNER_MAX), default=LOCAL_OWNER, server_default=LOCAL_OWNER)
    """Who the profile belongs to: a user's ``UserRow.owner``, or the local owner (empty) without login."""
    name: Mapped[str] = mapped_column(String(PROFILE_NAME_MAX))
    identity: Mapped[str | None] = mapped_column(String(PROFILE_IDENTITY_MAX))
    """The name as it identifies the profile (``validation.profile_identity``); the shown name is the first used.
    Always written; nullable only because adding NOT NULL would make SQLite rebuild the table (see 0004)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class SessionRow(Base):
    __tablename__ = "sessions"
    __table_args__ = (CheckConstraint(_in("status", STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    settings: Mapped[dict[str, Any]] = mapped_column(_JSON)
    interviewer: Mapped[str] = mapped_column(String(200))
    judge: Mapped[str] = mapped_column(String(200))
    plan: Mapped[list[str]] = mapped_column(_JSON)
    position: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TurnRow(Base):
    __tablename__ = "turns"
    __table_args__ = (
        UniqueConstraint("session_id", "seq"),
        CheckConstraint(_in("role", ROLES), name="role"),
        CheckConstraint(_in("kind", TURN_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    question_id: Mapped[str | None] = mapped_column(String(80), index=True)
    topic: Mapped[str | None] = mapped_column(String(80))
    question_snapshot: Mapped[dict[str, Any] | None] = mapped_column(_JSON)
    rubric_snapshot: Mapped[dict[str, Any] | None] = mapped_column(_JSON)
    parent_turn_id: Mapped[int | None] = mapped_column(ForeignKey("turns.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_s: Mapped[float | None] = mapped_column(Float)
    meta: Mapped[dict[str, Any] | None] = mapped_column(_JSON)
    delivery: Mapped[dict[str, Any] | None] = mapped_column(_JSON)
    """For a spoken answer: pace, fillers and pauses (``speech.delivery.Delivery``); never part of the grade."""


class RecordingRow(Base):
    """A spoken answer's audio, kept only when the candidate asked for it."""

    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), unique=True)
    mime: Mapped[str] = mapped_column(String(60))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class GradeRow(Base):
    """One grade per answer, stored once as JSON (``grade``). ``status`` and ``overall`` are copies of two of its
    fields, kept as columns only so SQL can filter and average them; they are written from the same object."""

    __tablename__ = "grades"
    __table_args__ = (CheckConstraint("status IN ('scored', 'unscored')", name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    overall: Mapped[float | None] = mapped_column(Float)
    grade: Mapped[dict[str, Any]] = mapped_column(_JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

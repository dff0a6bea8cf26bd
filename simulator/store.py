"""Persistence for interviews: profiles, sessions, turns and grades (SQLAlchemy 2.0, SQLite by default).

Every write is its own short transaction, committed before the call returns, so a crash loses at most
the operation in flight. Questions and rubrics are stored as snapshots of what was asked, so later edits
to the YAML never change history. API keys are never stored: no column or settings field holds one.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    Select,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    exists,
    func,
    make_url,
    select,
    text,
)
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, aliased, mapped_column, sessionmaker
from sqlalchemy.pool import StaticPool

from simulator import bank
from simulator.grading import Grade
from simulator.schemas import Difficulty, Question, Rubric

DB_URL_ENV = "SIMULATOR_DB_URL"
DEFAULT_DB_PATH = bank.PROJECT_ROOT / "data" / "simulator.db"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 10_000
PROFILE_NAME_MAX = 60
_JOINERS = "\u200c\u200d"

Role = Literal["interviewer", "candidate"]
TurnKind = Literal["question", "follow_up", "answer", "note"]
SessionStatus = Literal["active", "finished", "abandoned"]
PlanMode = Literal["mixed", "weakest-first", "retry-low"]
AgentKind = Literal["offline", "llm"]

ROLES: tuple[str, ...] = ("interviewer", "candidate")
TURN_KINDS: tuple[str, ...] = ("question", "follow_up", "answer", "note")
STATUSES: tuple[str, ...] = ("active", "finished", "abandoned")
_ROLES_FOR_KIND = {"question": {"interviewer"}, "follow_up": {"interviewer"}, "answer": {"candidate"},
                   "note": {"interviewer", "candidate"}}
_SECRET_KEYS = {"apikey", "api_key", "api-key", "authorization", "password", "secret", "access_token", "bearer"}
_BEGIN_MODE = "simulator_sqlite_begin"
_FILE_LOCKS: dict[str, threading.Lock] = {}
_FILE_LOCKS_GUARD = threading.Lock()
_T = TypeVar("_T")


class NotFoundError(ValueError):
    """A profile, session or turn id that is not in the database."""


class ConflictError(ValueError):
    """Another writer got there first: the session's last turn is not the one the caller saw, or the
    answer is already graded. Re-read the session to see what happened."""


# ---------------------------------------------------------------- settings and read models


class SessionSettings(BaseModel):
    """How an interview session was set up. Deliberately has no API key or endpoint secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    questions: int = Field(default=5, ge=1, le=50)
    """Number of main questions in the plan."""
    topics: list[str] = []
    """Topics to draw questions from; empty means every topic."""
    difficulty: list[Difficulty] = []
    """Difficulties to draw from; empty means any."""
    mode: PlanMode = "mixed"
    """Plan selection: mixed, weakest topics first, or retry of questions scored low."""
    follow_ups: int = Field(default=1, ge=0, le=5)
    """Most follow-up questions asked after one main question."""
    time_limit_s: int | None = Field(default=None, gt=0)
    """Soft time limit per answer in seconds; None for no limit."""
    interviewer: AgentKind = "offline"
    """Which interviewer asks the questions."""
    judge: AgentKind = "offline"
    """Which judge grades the answers."""

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> SessionSettings:
        """Settings read back from the database; fields that no longer exist are ignored."""
        return cls.model_validate({k: v for k, v in data.items() if k in cls.model_fields})


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class ProfileInfo(_View):
    id: int
    """Database id."""
    name: str
    """Unique display name."""
    created_at: datetime
    """When the profile was created (UTC)."""


class TurnRecord(_View):
    id: int
    """Database id."""
    session_id: int
    """Session the turn belongs to."""
    seq: int
    """Position in the session's conversation, from 1, without gaps."""
    role: Role
    """Who spoke."""
    kind: TurnKind
    """question, follow_up, answer or note."""
    text: str
    """What was said."""
    question_id: str | None
    """Bank question the turn is about (inherited from the parent turn when not given)."""
    topic: str | None
    """Topic of that question."""
    question_snapshot: dict[str, Any] | None
    """The question exactly as asked (``Question.model_dump``), or None."""
    rubric_snapshot: dict[str, Any] | None
    """The rubrics as asked, by rubric id, or None."""
    parent_turn_id: int | None
    """For an answer: the question or follow-up it answers."""
    created_at: datetime
    """When the turn was stored (UTC)."""
    answered_at: datetime | None
    """For an answer: when it was submitted (UTC)."""
    duration_s: float | None
    """For an answer: seconds the candidate took."""
    meta: dict[str, Any]
    """Free notes, e.g. that the LLM interviewer fell back to offline phrasing."""
    grade: Grade | None
    """The grade attached to an answer, once graded."""
    graded_at: datetime | None
    """When the grade was attached (UTC)."""

    def question(self) -> Question | None:
        """The question as it was asked, rebuilt from the snapshot."""
        return None if self.question_snapshot is None else Question.model_validate(self.question_snapshot)

    def rubrics(self) -> dict[str, Rubric]:
        """The rubrics as they were when asked, rebuilt from the snapshot."""
        return {k: Rubric.model_validate(v) for k, v in (self.rubric_snapshot or {}).items()}


class SessionSummary(_View):
    id: int
    """Session id."""
    profile: str
    """Profile name."""
    status: SessionStatus
    """active, finished or abandoned."""
    started_at: datetime
    """When the session started (UTC)."""
    finished_at: datetime | None
    """When it was finished or abandoned (UTC)."""
    answered: int
    """Number of answer turns."""
    average_score: float | None
    """Mean overall score of the scored grades (0 to 10); None when nothing is scored."""
    topics: list[str]
    """Topics of the questions asked, sorted."""


class SessionDetail(_View):
    id: int
    """Session id."""
    profile: str
    """Profile name."""
    status: SessionStatus
    """active, finished or abandoned."""
    settings: SessionSettings
    """How the session was set up."""
    interviewer: str
    """Interviewer used (e.g. ``offline`` or ``llm:model-name``)."""
    judge: str
    """Judge used."""
    plan: list[str]
    """Question ids in the order they are asked."""
    position: int
    """Index in ``plan`` of the next question to ask."""
    started_at: datetime
    """When the session started (UTC)."""
    finished_at: datetime | None
    """When it was finished or abandoned (UTC)."""
    turns: list[TurnRecord]
    """The conversation in order, with grades attached to answers."""

    @property
    def answers(self) -> list[TurnRecord]:
        return [t for t in self.turns if t.kind == "answer"]

    @property
    def pending_grades(self) -> list[TurnRecord]:
        """Answers stored but not graded yet (e.g. the process stopped while grading)."""
        return [t for t in self.answers if t.grade is None]


class HistoryEntry(_View):
    session_id: int
    """Session of the answer."""
    turn_id: int
    """The answer turn."""
    answered_at: datetime
    """When the answer was given (UTC)."""
    question_id: str | None
    """Bank question answered, None for ad-hoc questions."""
    topic: str | None
    """Topic of that question."""
    follow_up: bool
    """Whether the answer replied to a follow-up rather than a main question."""
    status: Literal["scored", "unscored"]
    """Grade status."""
    overall: float | None
    """Overall score 0 to 10; None when unscored."""
    criteria: dict[str, int]
    """Level 0 to 4 per ``rubric.criterion``."""


class QuestionScore(_View):
    question_id: str
    """Bank question id."""
    topic: str | None
    """Its topic when last asked."""
    attempts: int
    """Scored answers to it as a main question."""
    latest: float
    """Most recent overall score."""
    best: float
    """Best overall score."""
    last_answered_at: datetime
    """When it was last answered (UTC)."""


# ---------------------------------------------------------------- ORM tables

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


def _now() -> datetime:
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


class ProfileRow(Base):
    __tablename__ = "profiles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(PROFILE_NAME_MAX), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


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
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, index=True)
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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_s: Mapped[float | None] = mapped_column(Float)
    meta: Mapped[dict[str, Any] | None] = mapped_column(_JSON)


class GradeRow(Base):
    __tablename__ = "grades"
    __table_args__ = (CheckConstraint("status IN ('scored', 'unscored')", name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), unique=True)
    judge: Mapped[str] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    overall: Mapped[float | None] = mapped_column(Float)
    criteria: Mapped[list[Any]] = mapped_column(_JSON)
    points: Mapped[list[Any]] = mapped_column(_JSON)
    misconceptions: Mapped[list[Any]] = mapped_column(_JSON)
    citations: Mapped[list[Any]] = mapped_column(_JSON)
    feedback: Mapped[str] = mapped_column(Text)
    flags: Mapped[list[str]] = mapped_column(_JSON)
    latency_ms: Mapped[float] = mapped_column(Float)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    grade: Mapped[dict[str, Any]] = mapped_column(_JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


# ---------------------------------------------------------------- engine and migrations


def database_url(url: str | None = None) -> str:
    """The URL to use: the argument, else ``SIMULATOR_DB_URL``, else ``data/simulator.db`` in the project."""
    return url or os.environ.get(DB_URL_ENV) or f"sqlite:///{DEFAULT_DB_PATH}"


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (see :func:`database_url`); SQLite gets WAL, foreign keys and a busy timeout."""
    parsed = make_url(database_url(url))
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    if _is_memory(parsed):
        # One shared connection: otherwise every pooled connection would see its own empty database.
        engine = create_engine(parsed, connect_args={"check_same_thread": False}, poolclass=StaticPool)
    else:
        Path(parsed.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"check_same_thread": False,
                                                     "timeout": BUSY_TIMEOUT_MS / 1000})
    _install_sqlite_hooks(engine)
    return engine


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or "mode=memory" in str(url)


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own implicit BEGIN skips SELECT and DDL; we emit BEGIN ourselves in _begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # Writers take the write lock up front: a deferred transaction that reads and then writes gets
        # SQLITE_BUSY without waiting when another writer committed in between (WAL snapshot conflict).
        connection.exec_driver_sql(f"BEGIN {connection.get_execution_options().get(_BEGIN_MODE, 'DEFERRED')}")


def _enable_wal(cursor: Any) -> None:
    """Switch the file to WAL once; retry, as SQLite reports "locked" here without waiting."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _writer(engine: Engine) -> Engine:
    return engine.execution_options(**{_BEGIN_MODE: "IMMEDIATE"})


def _write_lock(engine: Engine) -> AbstractContextManager[Any]:
    """One lock per SQLite file for this process's writers.

    SQLite's busy handler retries by sleeping, which lets one unlucky writer wait seconds while others
    keep winning; queueing this process's writers on a lock keeps waits short. Other processes are
    still kept out by SQLite's own lock and the busy timeout.
    """
    url = engine.url
    if url.get_backend_name() != "sqlite" or _is_memory(url):
        return nullcontext()
    key = os.path.realpath(url.database or "")
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(key, threading.Lock())


def alembic_config() -> Config:
    """Alembic configuration built in code: no alembic.ini needed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` in one transaction; safe when several processes open at once."""
    config = alembic_config()
    with _writer(engine).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(4242001)"))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None before the first migration."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


# ---------------------------------------------------------------- validation


def clean_profile_name(name: object) -> str:
    """The stored form of a profile name: stripped, NFC, invisible format characters (zero-width, bidi
    controls) removed so look-alike names are one profile; 1 to 60 characters, no control characters."""
    if not isinstance(name, str):
        raise ValueError(f"profile name must be text, got {type(name).__name__}")
    # Joiners (U+200C/D) build emoji and some scripts' letters, so they stay unless they dangle at the ends.
    visible = "".join(c for c in name if unicodedata.category(c) != "Cf" or c in _JOINERS)
    cleaned = unicodedata.normalize("NFC", visible.strip().strip(_JOINERS).strip())
    if not cleaned:
        raise ValueError("profile name is empty")
    if len(cleaned) > PROFILE_NAME_MAX:
        raise ValueError(f"profile name is {len(cleaned)} characters long; the limit is {PROFILE_NAME_MAX}")
    bad = next((c for c in cleaned if unicodedata.category(c) in {"Cc", "Cs", "Zl", "Zp"}), None)
    if bad is not None:
        raise ValueError(f"profile name contains a control character ({bad!r}); use letters, digits, spaces")
    return cleaned


def _check_turn(role: str, kind: str, text: str, duration_s: float | None, meta: Mapping[str, Any] | None) -> None:
    if not isinstance(text, str):
        raise ValueError(f"turn text must be text, got {type(text).__name__}")
    if kind not in _ROLES_FOR_KIND:
        raise ValueError(f"unknown turn kind {kind!r}; expected one of {', '.join(TURN_KINDS)}")
    if role not in _ROLES_FOR_KIND[kind]:
        raise ValueError(f"a {kind} turn is spoken by {' or '.join(sorted(_ROLES_FOR_KIND[kind]))}, not {role!r}")
    if duration_s is not None and duration_s < 0:
        raise ValueError(f"duration_s must not be negative (got {duration_s})")
    _reject_secrets(meta or {})


def _reject_secrets(value: Any) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if str(key).lower() in _SECRET_KEYS:
                raise ValueError(f"turn meta must not hold secrets (key {key!r})")
            _reject_secrets(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _reject_secrets(item)


def _rubric_snapshot(rubrics: Iterable[Rubric] | Mapping[str, Rubric] | None) -> dict[str, Any] | None:
    if rubrics is None:
        return None
    items = rubrics.values() if isinstance(rubrics, Mapping) else rubrics
    return {r.id: r.model_dump(mode="json") for r in items}


# ---------------------------------------------------------------- row → model


def _profile_info(row: ProfileRow) -> ProfileInfo:
    return ProfileInfo(id=row.id, name=row.name, created_at=row.created_at)


def _grade_columns(grade: Grade) -> dict[str, Any]:
    dumped = grade.model_dump(mode="json")
    return {
        "judge": grade.judge, "model": grade.model, "status": grade.status, "reason": grade.reason,
        "overall": grade.overall, "criteria": dumped["criteria"], "points": dumped["points"],
        "misconceptions": dumped["misconceptions"], "citations": dumped["citations"],
        "feedback": grade.feedback, "flags": dumped["flags"], "latency_ms": grade.latency_ms,
        "prompt_tokens": grade.prompt_tokens, "completion_tokens": grade.completion_tokens, "grade": dumped,
    }


def _turn_record(row: TurnRow, grade: GradeRow | None) -> TurnRecord:
    return TurnRecord(
        id=row.id, session_id=row.session_id, seq=row.seq, role=row.role, kind=row.kind, text=row.text,
        question_id=row.question_id, topic=row.topic, question_snapshot=row.question_snapshot,
        rubric_snapshot=row.rubric_snapshot, parent_turn_id=row.parent_turn_id, created_at=row.created_at,
        answered_at=row.answered_at, duration_s=row.duration_s, meta=row.meta or {},
        grade=None if grade is None else Grade.model_validate(grade.grade),
        graded_at=None if grade is None else grade.created_at,
    )


@dataclass(frozen=True)
class _ListFilter:
    profile: str | None
    since: datetime | None
    topic: str | None
    min_score: float | None
    max_score: float | None
    limit: int | None


# ---------------------------------------------------------------- the store


class Store:
    """Interview persistence. One short transaction per call; safe to share between threads.

    Opening a store upgrades the database schema to the latest migration.
    """

    def __init__(self, url_or_engine: str | Engine | None = None):
        self.engine = url_or_engine if isinstance(url_or_engine, Engine) else make_engine(url_or_engine)
        migrate(self.engine)
        self._reads = sessionmaker(self.engine, expire_on_commit=False)
        self._writes = sessionmaker(_writer(self.engine), expire_on_commit=False)
        self._write_lock = _write_lock(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- transactions

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        with self._reads() as session, session.begin():
            yield session

    def _write(self, work: Callable[[Session], _T], attempts: int = 5) -> _T:
        """Run ``work`` in its own committed transaction, retrying when a concurrent writer took a unique key."""
        for attempt in range(attempts):
            try:
                with self._write_lock, self._writes.begin() as session:
                    return work(session)
            except IntegrityError:
                # SQLite writers are serialised by BEGIN IMMEDIATE; other backends may race on seq or name.
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    # -- profiles

    def get_or_create_profile(self, name: str) -> ProfileInfo:
        cleaned = clean_profile_name(name)

        def work(session: Session) -> ProfileInfo:
            row = session.scalar(select(ProfileRow).where(ProfileRow.name == cleaned))
            if row is None:
                row = ProfileRow(name=cleaned)
                session.add(row)
                session.flush()
            return _profile_info(row)

        return self._write(work)

    def get_profile(self, name: str) -> ProfileInfo | None:
        cleaned = clean_profile_name(name)
        with self._reading() as session:
            row = session.scalar(select(ProfileRow).where(ProfileRow.name == cleaned))
            return None if row is None else _profile_info(row)

    def list_profiles(self) -> list[ProfileInfo]:
        with self._reading() as session:
            return [_profile_info(r) for r in session.scalars(select(ProfileRow).order_by(ProfileRow.name))]

    # -- sessions

    def create_session(self, profile: str, settings: SessionSettings, interviewer: str, judge: str,
                       plan: Sequence[str]) -> int:
        """Start an active session for ``profile`` (created when new); returns the session id."""
        if not isinstance(settings, SessionSettings):
            raise ValueError("settings must be a SessionSettings")
        profile_id = self.get_or_create_profile(profile).id

        def work(session: Session) -> int:
            row = SessionRow(profile_id=profile_id, status="active", settings=settings.model_dump(mode="json"),
                             interviewer=interviewer, judge=judge, plan=[str(q) for q in plan], position=0)
            session.add(row)
            session.flush()
            return row.id

        return self._write(work)

    def advance(self, session_id: int, position: int) -> None:
        """Record that the next question to ask is ``plan[position]``."""
        def work(session: Session) -> None:
            row = _active_session(session, session_id)
            if not 0 <= position <= len(row.plan):
                raise ValueError(f"position {position} is outside the plan of {len(row.plan)} questions")
            row.position = position

        self._write(work)

    def finish_session(self, session_id: int) -> None:
        self._end(session_id, "finished")

    def abandon_session(self, session_id: int) -> None:
        self._end(session_id, "abandoned")

    def _end(self, session_id: int, status: str) -> None:
        def work(session: Session) -> None:
            row = _session_row(session, session_id)
            if row.status == status:
                return  # ending twice (e.g. a UI rerun) is harmless
            if row.status != "active":
                raise ValueError(f"session {session_id} is already {row.status}")
            row.status, row.finished_at = status, _now()

        self._write(work)

    def open_session_for(self, profile: str) -> SessionDetail | None:
        """The profile's most recent active session, to resume; None when there is none."""
        cleaned = clean_profile_name(profile)
        with self._reading() as session:
            session_id = session.scalar(
                select(SessionRow.id).join(ProfileRow, ProfileRow.id == SessionRow.profile_id)
                .where(ProfileRow.name == cleaned, SessionRow.status == "active")
                .order_by(SessionRow.started_at.desc(), SessionRow.id.desc()).limit(1)
            )
        return None if session_id is None else self.session_detail(session_id)

    # -- turns and grades

    def add_turn(self, session_id: int, role: Role, kind: TurnKind, text: str, question: Question | None = None,
                 rubrics: Iterable[Rubric] | Mapping[str, Rubric] | None = None, parent_turn_id: int | None = None,
                 meta: Mapping[str, Any] | None = None, duration_s: float | None = None,
                 after_seq: int | None = None) -> int:
        """Store one turn, committed before returning; returns its id. ``seq`` is assigned atomically.

        With ``after_seq`` the turn is stored only if the session's last turn still has that seq (0: no turn
        yet), checked in the same transaction; otherwise :class:`ConflictError`. Two writers that saw the same
        state (two tabs, a double click) therefore cannot both add a turn.
        """
        _check_turn(role, kind, text, duration_s, meta)
        snapshot = _rubric_snapshot(rubrics)

        def work(session: Session) -> int:
            _active_session(session, session_id, lock=True)
            parent = _parent_turn(session, session_id, kind, parent_turn_id)
            seq = _next_seq(session, session_id)
            if after_seq is not None and seq != after_seq + 1:
                raise ConflictError(f"session {session_id} moved on: its last turn is number {seq - 1}, "
                                    f"not {after_seq}")
            now = _now()
            row = TurnRow(
                session_id=session_id, seq=seq, role=role, kind=kind, text=text,
                question_id=question.id if question else parent and parent.question_id,
                topic=question.topic if question else parent and parent.topic,
                question_snapshot=question.model_dump(mode="json") if question else None,
                rubric_snapshot=snapshot, parent_turn_id=parent_turn_id, created_at=now,
                answered_at=now if kind == "answer" else None, duration_s=duration_s, meta=dict(meta or {}) or None,
            )
            session.add(row)
            session.flush()
            return row.id

        return self._write(work)

    def attach_grade(self, turn_id: int, grade: Grade, replace: bool = False) -> int:
        """Attach ``grade`` to an answer turn; returns the grade id. One grade per answer unless ``replace``."""
        if not isinstance(grade, Grade):
            raise ValueError("grade must be a Grade")

        def work(session: Session) -> int:
            turn = session.get(TurnRow, turn_id)
            if turn is None:
                raise NotFoundError(f"no turn {turn_id}")
            if turn.kind != "answer":
                raise ValueError(f"turn {turn_id} is a {turn.kind}; only answers are graded")
            row = session.scalar(select(GradeRow).where(GradeRow.turn_id == turn_id))
            if row is not None and not replace:
                raise ConflictError(f"turn {turn_id} is already graded")
            row = row or GradeRow(turn_id=turn_id)
            for name, value in _grade_columns(grade).items():
                setattr(row, name, value)
            row.created_at = _now()
            session.add(row)
            session.flush()
            return row.id

        return self._write(work)

    # -- reads

    def session_detail(self, session_id: int) -> SessionDetail:
        """Everything about one session: settings, plan, and every turn with its grade."""
        with self._reading() as session:
            row = _session_row(session, session_id)
            profile = session.get_one(ProfileRow, row.profile_id).name
            turns = session.execute(
                select(TurnRow, GradeRow).outerjoin(GradeRow, GradeRow.turn_id == TurnRow.id)
                .where(TurnRow.session_id == session_id).order_by(TurnRow.seq)
            ).all()
        return SessionDetail(
            id=row.id, profile=profile, status=row.status, settings=SessionSettings.from_stored(row.settings),
            interviewer=row.interviewer, judge=row.judge, plan=row.plan, position=row.position,
            started_at=row.started_at, finished_at=row.finished_at,
            turns=[_turn_record(t, g) for t, g in turns],
        )

    def list_sessions(self, profile: str | None = None, since: datetime | None = None, topic: str | None = None,
                      min_score: float | None = None, max_score: float | None = None,
                      limit: int | None = None) -> list[SessionSummary]:
        """Session summaries, newest first. Score bounds apply to the average of scored grades."""
        wanted = _ListFilter(clean_profile_name(profile) if profile is not None else None,
                             since, topic, min_score, max_score, limit)
        with self._reading() as session:
            rows = session.execute(_summary_query(wanted)).all()
            topics = _topics_by_session(session, [r.id for r in rows])
        return [
            SessionSummary(id=r.id, profile=r.profile, status=r.status, started_at=r.started_at,
                           finished_at=r.finished_at, answered=r.answered or 0,
                           average_score=None if r.average is None else round(float(r.average), 4),
                           topics=topics.get(r.id, []))
            for r in rows
        ]

    def history(self, profile: str, scored_only: bool = True) -> list[HistoryEntry]:
        """Every graded answer of ``profile``, oldest first, for progress charts."""
        cleaned = clean_profile_name(profile)
        parent = aliased(TurnRow)
        query = (
            select(TurnRow.session_id, TurnRow.id, TurnRow.created_at, TurnRow.question_id, TurnRow.topic,
                   parent.kind.label("parent_kind"), GradeRow.status, GradeRow.overall, GradeRow.criteria)
            .join(GradeRow, GradeRow.turn_id == TurnRow.id)
            .join(SessionRow, SessionRow.id == TurnRow.session_id)
            .join(ProfileRow, ProfileRow.id == SessionRow.profile_id)
            .outerjoin(parent, parent.id == TurnRow.parent_turn_id)
            .where(ProfileRow.name == cleaned, TurnRow.kind == "answer")
            .order_by(TurnRow.created_at, TurnRow.id)
        )
        if scored_only:
            query = query.where(GradeRow.status == "scored")
        with self._reading() as session:
            rows = session.execute(query).all()
        return [
            HistoryEntry(session_id=r.session_id, turn_id=r.id, answered_at=r.created_at, question_id=r.question_id,
                         topic=r.topic, follow_up=r.parent_kind == "follow_up", status=r.status, overall=r.overall,
                         criteria={c["key"]: c["level"] for c in r.criteria or []})
            for r in rows
        ]

    def question_scores(self, profile: str) -> dict[str, QuestionScore]:
        """Latest and best scored answer per bank question (main questions only), by question id."""
        scores: dict[str, QuestionScore] = {}
        for entry in self.history(profile):
            if entry.follow_up or entry.question_id is None or entry.overall is None:
                continue
            seen = scores.get(entry.question_id)
            scores[entry.question_id] = QuestionScore(
                question_id=entry.question_id, topic=entry.topic, attempts=(seen.attempts if seen else 0) + 1,
                latest=entry.overall, best=max(entry.overall, seen.best) if seen else entry.overall,
                last_answered_at=entry.answered_at,
            )
        return scores


# ---------------------------------------------------------------- query helpers


def _session_row(session: Session, session_id: int, lock: bool = False) -> SessionRow:
    query = select(SessionRow).where(SessionRow.id == session_id)
    # FOR UPDATE serialises concurrent turn writers on PostgreSQL; SQLite's BEGIN IMMEDIATE already does.
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise NotFoundError(f"no session {session_id}")
    return row


def _active_session(session: Session, session_id: int, lock: bool = False) -> SessionRow:
    row = _session_row(session, session_id, lock)
    if row.status != "active":
        raise ValueError(f"session {session_id} is {row.status}; only active sessions take changes")
    return row


def _parent_turn(session: Session, session_id: int, kind: str, parent_turn_id: int | None) -> TurnRow | None:
    if parent_turn_id is None:
        return None
    parent = session.get(TurnRow, parent_turn_id)
    if parent is None or parent.session_id != session_id:
        raise NotFoundError(f"no turn {parent_turn_id} in session {session_id}")
    if kind == "answer" and parent.kind not in ("question", "follow_up"):
        raise ValueError(f"an answer replies to a question or follow-up, not to a {parent.kind}")
    return parent


def _next_seq(session: Session, session_id: int) -> int:
    return (session.scalar(select(func.max(TurnRow.seq)).where(TurnRow.session_id == session_id)) or 0) + 1


def _summary_query(wanted: _ListFilter) -> Select[Any]:
    answered = (select(TurnRow.session_id, func.count().label("n")).where(TurnRow.kind == "answer")
                .group_by(TurnRow.session_id).subquery())
    scores = (select(TurnRow.session_id, func.avg(GradeRow.overall).label("average"))
              .join(GradeRow, GradeRow.turn_id == TurnRow.id).where(GradeRow.status == "scored")
              .group_by(TurnRow.session_id).subquery())
    query = (
        select(SessionRow.id, ProfileRow.name.label("profile"), SessionRow.status, SessionRow.started_at,
               SessionRow.finished_at, answered.c.n.label("answered"), scores.c.average)
        .join(ProfileRow, ProfileRow.id == SessionRow.profile_id)
        .outerjoin(answered, answered.c.session_id == SessionRow.id)
        .outerjoin(scores, scores.c.session_id == SessionRow.id)
        .order_by(SessionRow.started_at.desc(), SessionRow.id.desc())
    )
    if wanted.profile is not None:
        query = query.where(ProfileRow.name == wanted.profile)
    if wanted.since is not None:
        query = query.where(SessionRow.started_at >= wanted.since)
    if wanted.topic is not None:
        query = query.where(exists().where(TurnRow.session_id == SessionRow.id, TurnRow.topic == wanted.topic))
    if wanted.min_score is not None:
        query = query.where(scores.c.average >= wanted.min_score)
    if wanted.max_score is not None:
        query = query.where(scores.c.average <= wanted.max_score)
    return query.limit(wanted.limit) if wanted.limit is not None else query


def _topics_by_session(session: Session, session_ids: list[int]) -> dict[int, list[str]]:
    if not session_ids:
        return {}
    rows = session.execute(
        select(TurnRow.session_id, TurnRow.topic).distinct()
        .where(TurnRow.session_id.in_(session_ids), TurnRow.topic.is_not(None))
    ).all()
    topics: dict[int, list[str]] = {}
    for session_id, topic in rows:
        topics.setdefault(session_id, []).append(topic)
    return {k: sorted(v) for k, v in topics.items()}

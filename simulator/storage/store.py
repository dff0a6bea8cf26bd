"""Persistence for interviews: profiles, sessions, turns and grades (SQLAlchemy 2.0, SQLite by default).

Every write is its own short transaction, committed before the call returns, so a crash loses at most
the operation in flight. Questions and rubrics are stored as snapshots of what was asked, so later edits
to the YAML never change history. API keys are never stored: no column or settings field holds one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from simulator.content.schemas import Question, Rubric
from simulator.grading.contract import Grade
from simulator.speech.delivery import Delivery
from simulator.storage.db import make_engine, migrate, plain_failures, retryable, write_lock, writer
from simulator.storage.queries import ListFilter, question_turn, summary_query, topics_by_session
from simulator.storage.records import (
    ConflictError,
    HistoryEntry,
    NotFoundError,
    ProfileInfo,
    QuestionScore,
    Recording,
    Role,
    SessionDetail,
    SessionSettings,
    SessionSummary,
    TurnKind,
    TurnRecord,
    UserInfo,
)
from simulator.storage.tables import (
    LOCAL_OWNER,
    GradeRow,
    ProfileRow,
    RecordingRow,
    SessionRow,
    TurnRow,
    UserRow,
    now,
)
from simulator.storage.validation import check_turn, clean_profile_name, profile_identity, rubric_snapshot

_T = TypeVar("_T")
_LABEL_MAX = SessionRow.__table__.c.judge.type.length


def _profile_info(row: ProfileRow) -> ProfileInfo:
    return ProfileInfo(id=row.id, name=row.name, created_at=row.created_at)


def _grade_columns(grade: Grade) -> dict[str, Any]:
    """The grade row's values: the whole grade once, plus the two fields SQL filters and averages on."""
    return {"status": grade.status, "overall": grade.overall, "grade": grade.model_dump(mode="json")}


def _turn_record(row: TurnRow, grade: GradeRow | None, recorded: bool = False) -> TurnRecord:
    return TurnRecord(
        id=row.id, session_id=row.session_id, seq=row.seq, role=row.role, kind=row.kind, text=row.text,
        question_id=row.question_id, topic=row.topic, question_snapshot=row.question_snapshot,
        rubric_snapshot=row.rubric_snapshot, parent_turn_id=row.parent_turn_id, created_at=row.created_at,
        answered_at=row.answered_at, duration_s=row.duration_s, meta=row.meta or {},
        delivery=None if row.delivery is None else Delivery.model_validate(row.delivery), has_recording=recorded,
        grade=None if grade is None else Grade.model_validate(grade.grade),
        graded_at=None if grade is None else grade.created_at,
    )


# ---------------------------------------------------------------- the store


class Store:
    """Interview persistence. One short transaction per call; safe to share between threads.

    Opening a store upgrades the database schema to the latest migration.
    """

    def __init__(self, url_or_engine: str | Engine, owner: str = LOCAL_OWNER):
        url = url_or_engine.url if isinstance(url_or_engine, Engine) else url_or_engine
        with plain_failures(url):
            self.engine = url_or_engine if isinstance(url_or_engine, Engine) else make_engine(url_or_engine)
            migrate(self.engine)
        self._reads = sessionmaker(self.engine, expire_on_commit=False)
        self._writes = sessionmaker(writer(self.engine), expire_on_commit=False)
        self._write_lock = write_lock(self.engine)
        self.owner = owner
        self.read_only = False

    def scoped(self, owner: str, read_only: bool = False) -> Store:
        """This store seen as ``owner``: only their profiles and sessions exist; ``read_only`` refuses every write
        (a coach looking at a candidate). Shares the engine, so never close a scoped view."""
        view = copy.copy(self)
        view.owner, view.read_only = owner, read_only
        return view

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- transactions

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        with plain_failures(self.engine.url), self._reads() as session, session.begin():
            yield session

    def _write(self, work: Callable[[Session], _T], attempts: int = 5) -> _T:
        """Run ``work`` in its own committed transaction, again when it lost a race (see :func:`retryable`)."""
        if self.read_only:
            raise PermissionError("this is a read-only view of another user's interviews")
        for attempt in range(attempts):
            try:
                with plain_failures(self.engine.url), self._write_lock, self._writes.begin() as session:
                    return work(session)
            except Exception as error:
                # SQLite writers are serialised by BEGIN IMMEDIATE; PostgreSQL ones may race on a profile name or
                # a grade's turn, or be picked as a deadlock victim. The transaction was rolled back: run it again.
                if attempt == attempts - 1 or not retryable(error):
                    raise
        raise AssertionError("unreachable")

    # -- profiles

    def _mine(self, identity: str) -> tuple[Any, ...]:
        return ProfileRow.owner == self.owner, ProfileRow.identity == identity

    def get_or_create_profile(self, name: str) -> ProfileInfo:
        cleaned = clean_profile_name(name)
        identity = profile_identity(cleaned)

        def work(session: Session) -> ProfileInfo:
            row = session.scalar(select(ProfileRow).where(*self._mine(identity)))
            if row is None:
                row = ProfileRow(owner=self.owner, name=cleaned, identity=identity)
                session.add(row)
                session.flush()
            return _profile_info(row)

        return self._write(work)

    def get_profile(self, name: str) -> ProfileInfo | None:
        identity = profile_identity(clean_profile_name(name))
        with self._reading() as session:
            row = session.scalar(select(ProfileRow).where(*self._mine(identity)))
            return None if row is None else _profile_info(row)

    def list_profiles(self) -> list[ProfileInfo]:
        with self._reading() as session:
            mine = select(ProfileRow).where(ProfileRow.owner == self.owner).order_by(ProfileRow.name)
            return [_profile_info(r) for r in session.scalars(mine)]

    # -- users (login on)

    def record_user(self, owner: str, email: str, name: str) -> None:
        """Remember a signed-in user's email and name (shown to coaches); their data is keyed by ``owner``."""
        def work(session: Session) -> None:
            row = session.get(UserRow, owner) or UserRow(owner=owner)
            row.email, row.name, row.last_seen_at = email[:320], name[:200], now()
            session.add(row)

        self._write(work)

    def list_users(self) -> list[UserInfo]:
        """Every signed-in user who has been seen, by email."""
        with self._reading() as session:
            rows = session.scalars(select(UserRow).order_by(UserRow.email, UserRow.owner))
            return [UserInfo(owner=r.owner, email=r.email, name=r.name, last_seen_at=r.last_seen_at) for r in rows]

    def claim_local_data(self, owner: str) -> int:
        """Give the profiles kept while login was off to ``owner`` (the first coach to sign in); a profile of the
        same name there absorbs the local one's sessions. Returns how many profiles moved."""
        def work(session: Session) -> int:
            local = session.scalars(select(ProfileRow).where(ProfileRow.owner == LOCAL_OWNER)).all()
            for row in local:
                twin = session.scalar(select(ProfileRow).where(ProfileRow.owner == owner,
                                                                ProfileRow.identity == row.identity))
                if twin is None:
                    row.owner = owner
                    continue
                session.execute(update(SessionRow).where(SessionRow.profile_id == row.id)
                                .values(profile_id=twin.id))
                session.delete(row)
            return len(local)

        return self._write(work)

    # -- sessions

    def create_session(self, profile: str, settings: SessionSettings, interviewer: str, judge: str,
                       plan: Sequence[str]) -> int:
        """Start an active session for ``profile`` (created when new); returns the session id."""
        if not isinstance(settings, SessionSettings):
            raise ValueError("settings must be a SessionSettings")
        profile_id = self.get_or_create_profile(profile).id
        # Labels only (e.g. "llm:<model>"); cut to the column's width, which PostgreSQL enforces and SQLite not.
        interviewer, judge = interviewer[:_LABEL_MAX], judge[:_LABEL_MAX]

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
            row = _active_session(session, session_id, owner=self.owner)
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
            row = _session_row(session, session_id, owner=self.owner)
            if row.status == status:
                return  # ending twice (e.g. a UI rerun) is harmless
            if row.status != "active":
                raise ValueError(f"session {session_id} is already {row.status}")
            row.status, row.finished_at = status, now()

        self._write(work)

    def open_session_for(self, profile: str) -> SessionDetail | None:
        """The profile's most recent active session, to resume; None when there is none."""
        identity = profile_identity(clean_profile_name(profile))
        with self._reading() as session:
            session_id = session.scalar(
                select(SessionRow.id).join(ProfileRow, ProfileRow.id == SessionRow.profile_id)
                .where(*self._mine(identity), SessionRow.status == "active")
                .order_by(SessionRow.started_at.desc(), SessionRow.id.desc()).limit(1)
            )
        return None if session_id is None else self.session_detail(session_id)

    # -- turns and grades

    def add_turn(self, session_id: int, role: Role, kind: TurnKind, text: str, question: Question | None = None,
                 rubrics: Iterable[Rubric] | Mapping[str, Rubric] | None = None, parent_turn_id: int | None = None,
                 meta: Mapping[str, Any] | None = None, duration_s: float | None = None,
                 after_seq: int | None = None, delivery: Delivery | None = None,
                 recording: Recording | None = None) -> int:
        """Store one turn, committed before returning; returns its id. ``seq`` is assigned atomically.

        With ``after_seq`` the turn is stored only if the session's last turn still has that seq (0: no turn
        yet), checked in the same transaction; otherwise :class:`ConflictError`. Two writers that saw the same
        state (two tabs, a double click) therefore cannot both add a turn. An answer may carry how it was spoken
        (``delivery``) and, when the candidate chose to keep it, the ``recording``: stored in the same transaction.
        """
        check_turn(role, kind, text, duration_s, meta)
        if (delivery is not None or recording is not None) and kind != "answer":
            raise ValueError("only answers carry delivery measures or a recording")
        text = text.replace("\x00", "\ufffd")  # PostgreSQL text cannot hold NUL; store the same on every engine
        snapshot = rubric_snapshot(rubrics)

        def work(session: Session) -> int:
            _active_session(session, session_id, lock=True, owner=self.owner)
            parent = _parent_turn(session, session_id, kind, parent_turn_id)
            seq = _next_seq(session, session_id)
            if after_seq is not None and seq != after_seq + 1:
                raise ConflictError(f"session {session_id} moved on: its last turn is number {seq - 1}, "
                                    f"not {after_seq}")
            stamp = now()
            row = TurnRow(
                session_id=session_id, seq=seq, role=role, kind=kind, text=text,
                question_id=question.id if question else parent and parent.question_id,
                topic=question.topic if question else parent and parent.topic,
                question_snapshot=question.model_dump(mode="json") if question else None,
                rubric_snapshot=snapshot, parent_turn_id=parent_turn_id, created_at=stamp,
                answered_at=stamp if kind == "answer" else None, duration_s=duration_s, meta=dict(meta or {}) or None,
                delivery=None if delivery is None else delivery.model_dump(mode="json"),
            )
            session.add(row)
            session.flush()
            if recording is not None:
                session.add(RecordingRow(turn_id=row.id, mime=recording.mime, data=recording.data))
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
            _session_row(session, turn.session_id, owner=self.owner)  # someone else's turn does not exist here
            if turn.kind != "answer":
                raise ValueError(f"turn {turn_id} is a {turn.kind}; only answers are graded")
            row = session.scalar(select(GradeRow).where(GradeRow.turn_id == turn_id))
            if row is not None and not replace:
                raise ConflictError(f"turn {turn_id} is already graded")
            row = row or GradeRow(turn_id=turn_id)
            for name, value in _grade_columns(grade).items():
                setattr(row, name, value)
            row.created_at = now()
            session.add(row)
            session.flush()
            return row.id

        return self._write(work)

    # -- reads

    def session_detail(self, session_id: int) -> SessionDetail:
        """Everything about one session: settings, plan, and every turn with its grade."""
        with self._reading() as session:
            row = _session_row(session, session_id, owner=self.owner)
            profile = session.get_one(ProfileRow, row.profile_id).name
            turns = session.execute(
                select(TurnRow, GradeRow).outerjoin(GradeRow, GradeRow.turn_id == TurnRow.id)
                .where(TurnRow.session_id == session_id).order_by(TurnRow.seq)
            ).all()
            recorded = set(session.scalars(select(RecordingRow.turn_id)
                                           .join(TurnRow, TurnRow.id == RecordingRow.turn_id)
                                           .where(TurnRow.session_id == session_id)))
        return SessionDetail(
            id=row.id, profile=profile, status=row.status, settings=SessionSettings.from_stored(row.settings),
            interviewer=row.interviewer, judge=row.judge, plan=row.plan, position=row.position,
            started_at=row.started_at, finished_at=row.finished_at,
            turns=[_turn_record(t, g, t.id in recorded) for t, g in turns],
        )

    def list_sessions(self, profile: str | None = None, since: datetime | None = None, topic: str | None = None,
                      min_score: float | None = None, max_score: float | None = None,
                      limit: int | None = None) -> list[SessionSummary]:
        """Session summaries, newest first. Score bounds apply to the session score (mean of question scores)."""
        wanted = ListFilter(self.owner, profile_identity(clean_profile_name(profile)) if profile is not None else None,
                             since, topic, min_score, max_score, limit)
        with self._reading() as session:
            rows = session.execute(summary_query(wanted)).all()
            topics = topics_by_session(session, [r.id for r in rows])
        return [
            SessionSummary(id=r.id, profile=r.profile, status=r.status, started_at=r.started_at,
                           finished_at=r.finished_at, answered=r.answered or 0,
                           average_score=None if r.average is None else round(float(r.average), 4),
                           topics=topics.get(r.id, []))
            for r in rows
        ]

    def history(self, profile: str, scored_only: bool = True) -> list[HistoryEntry]:
        """Every graded answer of ``profile``, oldest first, for progress charts."""
        identity = profile_identity(clean_profile_name(profile))
        parent = aliased(TurnRow)
        query = (
            select(TurnRow.session_id, TurnRow.id, TurnRow.created_at, TurnRow.question_id, TurnRow.topic,
                   parent.kind.label("parent_kind"), GradeRow.status, GradeRow.overall, GradeRow.grade,
                   TurnRow.delivery)
            .join(GradeRow, GradeRow.turn_id == TurnRow.id)
            .join(SessionRow, SessionRow.id == TurnRow.session_id)
            .join(ProfileRow, ProfileRow.id == SessionRow.profile_id)
            .outerjoin(parent, parent.id == TurnRow.parent_turn_id)
            .where(*self._mine(identity), TurnRow.kind == "answer")
            .order_by(TurnRow.created_at, TurnRow.id)
        )
        if scored_only:
            query = query.where(GradeRow.status == "scored")
        query = query.add_columns(question_turn().label("question_turn_id"))
        with self._reading() as session:
            rows = session.execute(query).all()
        return [
            HistoryEntry(session_id=r.session_id, turn_id=r.id, answered_at=r.created_at, question_id=r.question_id,
                         topic=r.topic, follow_up=r.parent_kind == "follow_up", question_turn_id=r.question_turn_id,
                         status=r.status, overall=r.overall,
                         criteria={c["key"]: c["level"] for c in r.grade.get("criteria", [])},
                         delivery=None if r.delivery is None else Delivery.model_validate(r.delivery))
            for r in rows
        ]

    def recording(self, turn_id: int) -> Recording | None:
        """The kept recording of an answer, if the candidate chose to keep it."""
        with self._reading() as session:
            turn = session.get(TurnRow, turn_id)
            if turn is None:
                raise NotFoundError(f"no turn {turn_id}")
            _session_row(session, turn.session_id, owner=self.owner)
            row = session.scalar(select(RecordingRow).where(RecordingRow.turn_id == turn_id))
        return None if row is None else Recording(data=row.data, mime=row.mime)

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


def _session_row(session: Session, session_id: int, lock: bool = False, *, owner: str) -> SessionRow:
    """The session, if it belongs to ``owner``; another owner's session is reported as missing, not forbidden."""
    query = (select(SessionRow).join(ProfileRow, ProfileRow.id == SessionRow.profile_id)
             .where(SessionRow.id == session_id, ProfileRow.owner == owner))
    # FOR UPDATE serialises concurrent turn writers on PostgreSQL; SQLite's BEGIN IMMEDIATE already does.
    row = session.scalar(query.with_for_update(of=SessionRow) if lock else query)
    if row is None:
        raise NotFoundError(f"no session {session_id}")
    return row


def _active_session(session: Session, session_id: int, lock: bool = False, *, owner: str) -> SessionRow:
    row = _session_row(session, session_id, lock, owner=owner)
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

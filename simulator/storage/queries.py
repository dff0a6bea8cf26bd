"""The longer read queries of the store: session summaries with their scores and topics, and the main question an
answer belongs to. Kept apart from ``store`` so each module stays one job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, select
from sqlalchemy.orm import Session, aliased

from simulator.storage.tables import GradeRow, ProfileRow, SessionRow, TurnRow


@dataclass(frozen=True)
class ListFilter:
    owner: str
    profile: str | None
    since: datetime | None
    topic: str | None
    min_score: float | None
    max_score: float | None
    limit: int | None


def question_turn() -> ColumnElement[int]:
    """The main question an answer (``TurnRow``) belongs to, as in ``simulator.reports.scoring``: the last question
    asked before it in its session (its follow-ups and their answers come before the next question); an answer
    before any question stands for itself."""
    asked = aliased(TurnRow)
    latest = (select(asked.id).where(asked.session_id == TurnRow.session_id, asked.kind == "question",
                                     asked.seq < TurnRow.seq)
              .order_by(asked.seq.desc()).limit(1).correlate(TurnRow).scalar_subquery())
    return func.coalesce(latest, TurnRow.id)


def summary_query(wanted: ListFilter) -> Select[Any]:
    answered = (select(TurnRow.session_id, func.count().label("n")).where(TurnRow.kind == "answer")
                .group_by(TurnRow.session_id).subquery())
    # The session score of simulator.reports.scoring: the mean over questions of each question's mean answer score.
    scored = (select(TurnRow.session_id, question_turn().label("question"), GradeRow.overall)
              .join(GradeRow, GradeRow.turn_id == TurnRow.id).where(GradeRow.status == "scored").subquery())
    by_question = (select(scored.c.session_id, func.avg(scored.c.overall).label("score"))
                   .group_by(scored.c.session_id, scored.c.question).subquery())
    scores = (select(by_question.c.session_id, func.avg(by_question.c.score).label("average"))
              .group_by(by_question.c.session_id).subquery())
    query = (
        select(SessionRow.id, ProfileRow.name.label("profile"), SessionRow.status, SessionRow.started_at,
               SessionRow.finished_at, answered.c.n.label("answered"), scores.c.average)
        .join(ProfileRow, ProfileRow.id == SessionRow.profile_id)
        .outerjoin(answered, answered.c.session_id == SessionRow.id)
        .outerjoin(scores, scores.c.session_id == SessionRow.id)
        .order_by(SessionRow.started_at.desc(), SessionRow.id.desc())
    )
    query = query.where(ProfileRow.owner == wanted.owner)
    if wanted.profile is not None:
        query = query.where(ProfileRow.identity == wanted.profile)
    if wanted.since is not None:
        query = query.where(SessionRow.started_at >= wanted.since)
    if wanted.topic is not None:
        query = query.where(exists().where(TurnRow.session_id == SessionRow.id, TurnRow.topic == wanted.topic))
    if wanted.min_score is not None:
        query = query.where(scores.c.average >= wanted.min_score)
    if wanted.max_score is not None:
        query = query.where(scores.c.average <= wanted.max_score)
    return query.limit(wanted.limit) if wanted.limit is not None else query


def topics_by_session(session: Session, session_ids: list[int]) -> dict[int, list[str]]:
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

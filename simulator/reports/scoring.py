"""How scores are combined, in one place, so every screen and export shows the same numbers.

The rule:

* a **question's score** is the mean of its scored answers: the answer to the main question and the answers to
  its follow-ups;
* a **session's score** is the mean of its questions' scores, so a question probed three times weighs no more
  than one answered once;
* topic averages and the Progress timeline are built from question scores too. Criterion levels are the one
  exception: every scored answer is a reading of the criteria it was graded on, so each one counts.

Unscored answers are left out everywhere; a question with no scored answer has no score. Scores are shown with
one decimal (:func:`shown`). :func:`score_band` names the four bands the app colours scores by.

``Store.list_sessions`` computes the same session score in SQL (it filters and sorts on it); its tests check
that both agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from statistics import fmean
from typing import Literal

from simulator.storage.records import HistoryEntry, SessionDetail

Band = Literal["Weak", "Partial", "Solid", "Strong"]
BANDS: tuple[tuple[float, Band], ...] = ((4.0, "Weak"), (6.0, "Partial"), (8.0, "Solid"))
"""Upper bounds (exclusive) of the lower bands; 8 and above is Strong."""
DIGITS = 4
"""Stored averages are rounded to this many decimals (shown with one)."""


@dataclass(frozen=True)
class QuestionResult:
    """One asked question and its score under the rule above."""

    session_id: int
    """Session it was asked in."""
    question_turn_id: int
    """The main question's turn (an answer with no question turn stands for itself)."""
    question_id: str | None
    """Bank question; None for an ad-hoc one."""
    topic: str | None
    """Its topic; None for an ad-hoc question."""
    answered_at: datetime
    """When its first scored answer was given (UTC)."""
    score: float
    """Mean of its scored answers, 0 to 10."""
    answers: int
    """How many scored answers the score averages (1 + scored follow-up answers)."""


def mean(scores: Iterable[float]) -> float | None:
    """The mean, rounded to :data:`DIGITS` decimals; None for no scores."""
    found = list(scores)
    return round(fmean(found), DIGITS) if found else None


def shown(score: float | None, missing: str = "—") -> str:
    """A score as displayed everywhere: one decimal."""
    return missing if score is None else f"{score:.1f}"


def score_band(score: float) -> Band:
    """Weak below 4, Partial below 6, Solid below 8, Strong from 8, read from the score as shown (one decimal), so
    a 7.96 shown as "8.0" is Strong."""
    shown_score = round(score, 1)
    return next((band for limit, band in BANDS if shown_score < limit), "Strong")


# ---------------------------------------------------------------- one session


def question_turns(detail: SessionDetail) -> dict[int, int]:
    """For each answer, the id of the main question it belongs to: the last question asked before it (the
    interview asks a question's follow-ups before the next question), as ``Store.list_sessions`` does in SQL. An
    answer before any question stands for itself."""
    owners: dict[int, int] = {}
    current: int | None = None
    for record in detail.turns:
        if record.kind == "question":
            current = record.id
        elif record.kind == "answer":
            owners[record.id] = record.id if current is None else current
    return owners


def question_scores(detail: SessionDetail) -> dict[int, float]:
    """Each question's score in this session, by main question turn id, in the order asked."""
    owners = question_turns(detail)
    answers: dict[int, list[float]] = {}
    for answer in detail.answers:
        grade = answer.grade
        if grade is not None and grade.status == "scored" and grade.overall is not None:
            answers.setdefault(owners[answer.id], []).append(grade.overall)
    return {key: round(fmean(scores), DIGITS) for key, scores in answers.items()}


def session_score(detail: SessionDetail) -> float | None:
    """The session's score: the mean of its question scores; None when nothing is scored."""
    return mean(question_scores(detail).values())


# ---------------------------------------------------------------- a profile's history


def question_results(history: Iterable[HistoryEntry]) -> list[QuestionResult]:
    """Every asked question with at least one scored answer, oldest first (by its first scored answer)."""
    groups: dict[tuple[int, int], list[HistoryEntry]] = {}
    for entry in sorted(history, key=lambda e: (e.answered_at, e.turn_id)):
        if entry.status == "scored" and entry.overall is not None:
            groups.setdefault((entry.session_id, _question_key(entry)), []).append(entry)
    return [_result(key, entries) for key, entries in groups.items()]


def _question_key(entry: HistoryEntry) -> int:
    return entry.question_turn_id if entry.question_turn_id is not None else entry.turn_id


def _result(key: tuple[int, int], entries: list[HistoryEntry]) -> QuestionResult:
    first = entries[0]
    return QuestionResult(session_id=key[0], question_turn_id=key[1], question_id=first.question_id,
                          topic=first.topic, answered_at=first.answered_at,
                          score=round(fmean(e.overall for e in entries if e.overall is not None), DIGITS),
                          answers=len(entries))

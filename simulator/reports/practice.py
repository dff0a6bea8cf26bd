"""A spaced-repetition practice plan: which bank questions to answer again today, scheduled with FSRS.

Each bank question is a card. Every time it was asked, its question score (:mod:`simulator.reports.scoring`: the
mean of the main answer and its follow-ups) is replayed, oldest first, as one FSRS review, rated:

========  ===========
score     FSRS rating
========  ===========
below 4   Again
4 to 5.9  Hard
6 to 7.9  Good
8 to 10   Easy
========  ===========

The scheduler is deterministic: no fuzzing, and no learning steps (an interview is not a flashcard deck
reviewed minutes apart, so every interval is whole days). From a first answer that gives 1 day for Again or Hard,
2 for Good and 8 for Easy; later reviews stretch or shrink the interval from the card's memory state.

A question is **due today** when its due time falls before the end of the current UTC day. Questions never
answered (or never scored) are not due: new material is what the interview plans are for.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from fsrs import Card, Rating, Scheduler

from simulator.reports.scoring import QuestionResult, question_results
from simulator.storage.records import HistoryEntry

RATINGS: tuple[tuple[float, Rating], ...] = ((4.0, Rating.Again), (6.0, Rating.Hard), (8.0, Rating.Good))
"""Upper bounds (exclusive) of the scores given each rating; 8 and above is Easy."""
SCHEDULER = Scheduler(enable_fuzzing=False, learning_steps=(), relearning_steps=())


@dataclass(frozen=True)
class DueQuestion:
    question_id: str
    """Bank question."""
    topic: str | None
    """Its topic when last asked."""
    last_score: float
    """Its latest question score, 0 to 10."""
    last_answered_at: datetime
    """When it was last answered (UTC)."""
    due_at: datetime
    """When FSRS schedules it again (UTC)."""
    times_answered: int
    """Sessions in which it was scored."""


def rating_for(score: float) -> Rating:
    """The FSRS rating a question score stands for (see the module docstring), read from the score as shown (one
    decimal), like its band."""
    shown = round(score, 1)
    return next((rating for limit, rating in RATINGS if shown < limit), Rating.Easy)


def schedule(history: Iterable[HistoryEntry]) -> list[DueQuestion]:
    """Every scored bank question with the time it is due again, soonest first (ties by question id)."""
    by_question: dict[str, list[QuestionResult]] = {}
    for result in question_results(history):
        if result.question_id is not None:
            by_question.setdefault(result.question_id, []).append(result)
    planned = [_replay(question_id, results) for question_id, results in by_question.items()]
    return sorted(planned, key=lambda q: (q.due_at, q.question_id))


def due_today(history: Iterable[HistoryEntry], now: datetime, known: Collection[str] | None = None,
              ) -> list[DueQuestion]:
    """The questions due by the end of ``now``'s UTC day, most overdue first; only ids in ``known`` when given
    (a question removed from the bank cannot be asked again)."""
    end_of_day = datetime.combine(_utc(now).date() + timedelta(days=1), time.min, tzinfo=UTC)
    return [q for q in schedule(history) if q.due_at < end_of_day and (known is None or q.question_id in known)]


def _replay(question_id: str, results: list[QuestionResult]) -> DueQuestion:
    first = _utc(results[0].answered_at)
    card = Card(card_id=1, due=first)  # a fixed id: Card() would otherwise read the clock
    for result in results:
        card, _ = SCHEDULER.review_card(card, rating_for(result.score), _utc(result.answered_at))
    last = results[-1]
    return DueQuestion(question_id=question_id, topic=last.topic, last_score=last.score,
                       last_answered_at=_utc(last.answered_at), due_at=card.due, times_answered=len(results))


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC (a naive time is taken to be UTC already); FSRS accepts nothing else."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

"""Session plans: which bank questions an interview asks, in what order.

Three modes (``SessionSettings.mode``):

* ``mixed``: topics interleaved, questions the candidate has never answered first, order shuffled
  by a seed so two sessions differ but a test is repeatable.
* ``weakest-first``: topics ordered by the candidate's average latest score, lowest first; topics
  never attempted come after every attempted topic scoring below :data:`LOW_SCORE`, before the rest.
* ``retry-low``: questions whose latest score is below :data:`LOW_SCORE`, lowest first; when there are
  fewer than asked for, the plan is topped up in weakest-first order (and says so in ``notes``).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import fmean

from simulator.content.schemas import Question
from simulator.interview.policy import LOW_SCORE
from simulator.storage.records import QuestionScore, SessionSettings


@dataclass(frozen=True)
class QuestionPlan:
    question_ids: list[str]
    """Bank question ids in asking order."""
    notes: list[str] = field(default_factory=list)
    """Human notes on how the plan was made (e.g. too few questions matched)."""


class PlanError(ValueError):
    """No question matches the session settings."""


def make_plan(questions: Mapping[str, Question], settings: SessionSettings,
              scores: Mapping[str, QuestionScore] | None = None, seed: int | None = None) -> QuestionPlan:
    """Choose ``settings.questions`` questions from ``questions`` for ``settings.mode``."""
    scores = scores or {}
    if settings.question_ids:
        return _fixed_plan(questions, settings.question_ids)
    pool = [q for q in questions.values() if _matches(q, settings)]
    if not pool:
        known = sorted({q.topic for q in questions.values()})
        raise PlanError(f"{_nothing_matches(settings)} (topics in the bank: {', '.join(known)})")
    rng = random.Random(seed)
    notes: list[str] = []
    if settings.mode == "retry-low":
        ordered = _retry_low(pool, scores, rng)
    elif settings.mode == "weakest-first":
        ordered = _weakest_first(pool, scores, rng)
    else:
        ordered = _mixed(pool, scores, rng)
    chosen = ordered[: settings.questions]
    if settings.mode == "retry-low":
        notes += _retry_notes(sum(_is_low(scores.get(q.id)) for q in chosen), len(chosen))
    if len(chosen) < settings.questions:
        notes.append(f"only {len(chosen)} question(s) match these settings, fewer than the "
                     f"{settings.questions} asked for")
    return QuestionPlan([q.id for q in chosen], notes)


def _fixed_plan(questions: Mapping[str, Question], wanted: list[str]) -> QuestionPlan:
    """The questions asked for by id, in order; ids no longer in the bank are left out with a note."""
    found = [qid for qid in dict.fromkeys(wanted) if qid in questions]
    if not found:
        raise PlanError(f"none of the chosen questions is in the bank any more ({', '.join(wanted)})")
    missing = [qid for qid in wanted if qid not in questions]
    return QuestionPlan(found, [f"no longer in the bank, so skipped: {', '.join(missing)}"] if missing else [])


def topic_averages(scores: Mapping[str, QuestionScore]) -> dict[str, float]:
    """Average latest score per topic, from the candidate's scored main answers."""
    by_topic: dict[str, list[float]] = defaultdict(list)
    for score in scores.values():
        if score.topic:
            by_topic[score.topic].append(score.latest)
    return {topic: fmean(values) for topic, values in by_topic.items()}


def _matches(question: Question, settings: SessionSettings) -> bool:
    return ((not settings.topics or question.topic in settings.topics)
            and (not settings.difficulty or question.difficulty in settings.difficulty))


def _nothing_matches(settings: SessionSettings) -> str:
    wanted = [f"topics {', '.join(settings.topics)}" if settings.topics else "",
              f"difficulty {', '.join(settings.difficulty)}" if settings.difficulty else ""]
    return f"no question in the bank matches {' and '.join(w for w in wanted if w)}"


def _mixed(pool: Sequence[Question], scores: Mapping[str, QuestionScore], rng: random.Random) -> list[Question]:
    """Round-robin over shuffled topics; within a topic, unanswered questions first, then the oldest answered."""
    by_topic: dict[str, list[Question]] = defaultdict(list)
    for question in sorted(pool, key=lambda q: q.id):
        by_topic[question.topic].append(question)
    queues = []
    for topic in sorted(by_topic):
        items = by_topic[topic]
        rng.shuffle(items)
        items.sort(key=lambda q: _freshness(q, scores))
        queues.append(items)
    rng.shuffle(queues)
    queues.sort(key=lambda items: _freshness(items[0], scores)[0])
    return _interleave(queues)


def _freshness(question: Question, scores: Mapping[str, QuestionScore]) -> tuple[int, float]:
    score = scores.get(question.id)
    return (0, 0.0) if score is None else (1, score.last_answered_at.timestamp())


def _weakest_first(pool: Sequence[Question], scores: Mapping[str, QuestionScore],
                   rng: random.Random) -> list[Question]:
    averages = topic_averages(scores)
    by_topic: dict[str, list[Question]] = defaultdict(list)
    for question in sorted(pool, key=lambda q: q.id):
        by_topic[question.topic].append(question)
    topics = sorted(by_topic)
    rng.shuffle(topics)
    topics.sort(key=lambda t: _topic_rank(averages.get(t)))
    queues = []
    for topic in topics:
        items = by_topic[topic]
        rng.shuffle(items)
        # In a weak topic, re-ask what went worst, but unanswered questions teach more than repeats of good ones.
        items.sort(key=lambda q: _question_rank(scores.get(q.id)))
        queues.append(items)
    return _interleave(queues)


def _topic_rank(average: float | None) -> tuple[int, float]:
    if average is None:
        return (1, 0.0)
    return (0, average) if average < LOW_SCORE else (2, average)


def _question_rank(score: QuestionScore | None) -> tuple[int, float]:
    if score is None:
        return (1, 0.0)
    return (0, score.latest) if score.latest < LOW_SCORE else (2, score.latest)


def _is_low(score: QuestionScore | None) -> bool:
    return score is not None and score.latest < LOW_SCORE


def _retry_low(pool: Sequence[Question], scores: Mapping[str, QuestionScore], rng: random.Random) -> list[Question]:
    low = sorted((q for q in pool if _is_low(scores.get(q.id))), key=lambda q: (scores[q.id].latest, q.id))
    return low + [q for q in _weakest_first(pool, scores, rng) if q not in low]


def _retry_notes(low: int, total: int) -> list[str]:
    if low == 0:
        return [f"no earlier answer scored below {LOW_SCORE:g}; asking the weakest topics instead"]
    if low < total:
        return [f"{low} question(s) scored below {LOW_SCORE:g}; the rest of the plan is weakest-first"]
    return []


def _interleave(queues: list[list[Question]]) -> list[Question]:
    ordered: list[Question] = []
    depth = 0
    while any(depth < len(q) for q in queues):
        ordered += [q[depth] for q in queues if depth < len(q)]
        depth += 1
    return ordered

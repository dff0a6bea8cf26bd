"""A candidate's progress, computed from ``Store.history``: scores over time, averages and weakest areas.

Pure functions over :class:`~simulator.store.HistoryEntry` lists; the Progress page turns the results into
DataFrames and charts. What counts where:

* The score timeline and topic averages use **main answers only**. A follow-up answer is graded on the one
  criterion it probes, so its overall score is not comparable with the score of a whole answer.
* Criterion averages count **every** scored answer, follow-ups included: a follow-up's level is a genuine
  reading of the criterion it probes.
* Answers to ad-hoc questions (no bank question, no topic) appear on the timeline but in no topic average.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from statistics import fmean
from typing import Literal

from simulator.content.schemas import Criterion, Rubric
from simulator.grading.spec import REFERENCE_RUBRIC
from simulator.interview.policy import LOW_SCORE
from simulator.storage.records import HistoryEntry, PlanMode

MIN_ANSWERS = 2
"""A topic or criterion needs at least this many scored answers before it can be called weak."""
WEAKEST_PER_KIND = 3
"""How many weakest topics, and how many weakest criteria, are reported."""
TARGET_LEVEL = 3
"""The criterion level the advice quotes as the next goal ("what a good answer does")."""


@dataclass(frozen=True)
class ScorePoint:
    answered_at: datetime
    """When the answer was given (UTC)."""
    overall: float
    """Overall score, 0 to 10."""
    topic: str | None
    """Topic of the question; None for an ad-hoc question."""
    question_id: str | None
    """Bank question answered; None for an ad-hoc question."""
    session_id: int
    """Session the answer belongs to."""


@dataclass(frozen=True)
class TopicAverage:
    topic: str
    """Bank topic."""
    average: float
    """Mean overall score of the scored main answers in this topic, 0 to 10."""
    count: int
    """Number of those answers."""


@dataclass(frozen=True)
class CriterionAverage:
    key: str
    """``rubric.criterion``."""
    title: str
    """Criterion title from its rubric, or the key when the rubric is unknown."""
    rubric: str
    """Rubric title, or its id when unknown."""
    average_level: float
    """Mean level, 0 to 4."""
    count: int
    """Number of scored answers graded on this criterion."""


@dataclass(frozen=True)
class WeakArea:
    kind: Literal["topic", "criterion"]
    """Whether this is a weak topic or a weak criterion."""
    key: str
    """Topic, or ``rubric.criterion``."""
    label: str
    """Human name: the topic, or the criterion title."""
    average: float
    """Average score (0 to 10) for a topic, average level (0 to 4) for a criterion."""
    out_of: int
    """Top of the ``average`` scale: 10 or 4."""
    count: int
    """Scored answers behind the average."""
    practise_topic: str | None
    """Topic to practise next; None when only ad-hoc answers touched a criterion."""
    mode: PlanMode
    """Plan mode to choose on the Interview page."""
    advice: str
    """One or two sentences saying what to practise and how."""


@dataclass(frozen=True)
class ProgressReport:
    timeline: list[ScorePoint] = field(default_factory=list)
    """Scored main answers, oldest first."""
    topics: list[TopicAverage] = field(default_factory=list)
    """Per-topic averages, lowest first."""
    criteria: list[CriterionAverage] = field(default_factory=list)
    """Per-criterion averages, lowest first."""
    weakest: list[WeakArea] = field(default_factory=list)
    """Weakest topics, then weakest criteria, each lowest first."""

    @property
    def empty(self) -> bool:
        return not self.timeline and not self.criteria


def progress_report(history: Iterable[HistoryEntry], rubrics: Mapping[str, Rubric] | None = None,
                    min_answers: int = MIN_ANSWERS, limit: int = WEAKEST_PER_KIND) -> ProgressReport:
    """Everything the Progress page shows, from a profile's history (``Store.history``)."""
    entries = _scored(history)
    return ProgressReport(
        timeline=score_timeline(entries),
        topics=topic_averages(entries),
        criteria=criterion_averages(entries, rubrics),
        weakest=weakest_areas(entries, rubrics, min_answers, limit),
    )


def score_timeline(history: Iterable[HistoryEntry]) -> list[ScorePoint]:
    """One point per scored main answer, oldest first."""
    main = sorted(_main_answers(history), key=lambda e: (e.answered_at, e.turn_id))
    return [ScorePoint(answered_at=e.answered_at, overall=e.overall, topic=e.topic, question_id=e.question_id,
                       session_id=e.session_id) for e in main if e.overall is not None]


def topic_averages(history: Iterable[HistoryEntry]) -> list[TopicAverage]:
    """Mean overall score per topic over scored main answers, lowest first (ties by name)."""
    by_topic: dict[str, list[float]] = defaultdict(list)
    for entry in _main_answers(history):
        if entry.topic is not None and entry.overall is not None:
            by_topic[entry.topic].append(entry.overall)
    averages = [TopicAverage(topic, round(fmean(scores), 4), len(scores)) for topic, scores in by_topic.items()]
    return sorted(averages, key=lambda a: (a.average, a.topic))


def criterion_averages(history: Iterable[HistoryEntry],
                       rubrics: Mapping[str, Rubric] | None = None) -> list[CriterionAverage]:
    """Mean level per criterion over every scored answer, lowest first (ties by title)."""
    levels: dict[str, list[int]] = defaultdict(list)
    for entry in _scored(history):
        for key, level in entry.criteria.items():
            levels[key].append(level)
    names = _CriterionNames(rubrics)
    averages = [CriterionAverage(key, names.title(key), names.rubric(key), round(fmean(found), 4), len(found))
                for key, found in levels.items()]
    return sorted(averages, key=lambda a: (a.average_level, a.title))


def weakest_areas(history: Iterable[HistoryEntry], rubrics: Mapping[str, Rubric] | None = None,
                  min_answers: int = MIN_ANSWERS, limit: int = WEAKEST_PER_KIND) -> list[WeakArea]:
    """The lowest topics and criteria with at least ``min_answers`` scored answers, with advice for each."""
    entries = _scored(history)
    low_questions = _low_questions_by_topic(entries)
    topics = [a for a in topic_averages(entries) if a.count >= min_answers][:limit]
    criteria = [a for a in criterion_averages(entries, rubrics) if a.count >= min_answers][:limit]
    names = _CriterionNames(rubrics)
    return ([_weak_topic(a, low_questions) for a in topics]
            + [_weak_criterion(a, _weakest_topic_for(a.key, entries), low_questions, names) for a in criteria])


# ---------------------------------------------------------------- advice


def _weak_topic(average: TopicAverage, low_questions: Mapping[str, set[str]]) -> WeakArea:
    mode = _mode_for(average.topic, low_questions)
    summary = f"{average.topic} averages {average.average:.1f}/10 over {average.count} answers."
    return WeakArea(kind="topic", key=average.topic, label=average.topic, average=average.average, out_of=10,
                    count=average.count, practise_topic=average.topic, mode=mode,
                    advice=f"{summary} {_how_to_practise(average.topic, mode, low_questions)}")


def _weak_criterion(average: CriterionAverage, topic: str | None, low_questions: Mapping[str, set[str]],
                    names: _CriterionNames) -> WeakArea:
    mode = _mode_for(topic, low_questions)
    advice = f"“{average.title}” averages level {average.average_level:.1f}/4 over {average.count} answers."
    if topic is not None:
        # Kept short: the topic's own entry, if any, carries the full instructions.
        advice += f" It is weakest in {topic}: practise those questions with plan mode {mode}."
    goal = names.descriptor(average.key, TARGET_LEVEL)
    if goal is not None and average.average_level < TARGET_LEVEL:
        advice += f" A level-{TARGET_LEVEL} answer: {goal}"
    return WeakArea(kind="criterion", key=average.key, label=average.title, average=average.average_level,
                    out_of=4, count=average.count, practise_topic=topic, mode=mode, advice=advice)


def _how_to_practise(topic: str, mode: PlanMode, low_questions: Mapping[str, set[str]]) -> str:
    if mode == "retry-low":
        count = len(low_questions[topic])
        return (f"Start an interview on {topic} with plan mode retry-low to answer again the {count} "
                f"question{'s' if count != 1 else ''} whose latest score is below {LOW_SCORE:g}.")
    # The plan ranks topics by each question's latest score, this page by every answer: name the topic
    # explicitly rather than promise that weakest-first will start with it.
    return (f"Choose {topic} under Topics when you start an interview, or use plan mode weakest-first, which "
            "starts with the topics whose latest scores are lowest.")


def _mode_for(topic: str | None, low_questions: Mapping[str, set[str]]) -> PlanMode:
    """retry-low when the topic has questions to answer again, else weakest-first for fresh questions."""
    return "retry-low" if topic is not None and low_questions.get(topic) else "weakest-first"


def _low_questions_by_topic(entries: Sequence[HistoryEntry]) -> dict[str, set[str]]:
    """Bank questions whose latest main-answer score is below LOW_SCORE, by topic: what retry-low re-asks."""
    latest: dict[str, HistoryEntry] = {}
    for entry in sorted(_main_answers(entries), key=lambda e: (e.answered_at, e.turn_id)):
        if entry.question_id is not None:
            latest[entry.question_id] = entry
    low: dict[str, set[str]] = defaultdict(set)
    for question_id, entry in latest.items():
        if entry.topic is not None and entry.overall is not None and entry.overall < LOW_SCORE:
            low[entry.topic].add(question_id)
    return low


def _weakest_topic_for(criterion_key: str, entries: Sequence[HistoryEntry]) -> str | None:
    """The topic where ``criterion_key`` has its lowest average level (ties by name)."""
    levels: dict[str, list[int]] = defaultdict(list)
    for entry in entries:
        if entry.topic is not None and criterion_key in entry.criteria:
            levels[entry.topic].append(entry.criteria[criterion_key])
    return min(levels, key=lambda topic: (fmean(levels[topic]), topic), default=None)


# ---------------------------------------------------------------- helpers


def _scored(history: Iterable[HistoryEntry]) -> list[HistoryEntry]:
    return [e for e in history if e.status == "scored" and e.overall is not None]


def _main_answers(history: Iterable[HistoryEntry]) -> list[HistoryEntry]:
    return [e for e in _scored(history) if not e.follow_up]


class _CriterionNames:
    """Resolves ``rubric.criterion`` keys to titles; ad-hoc answers use the built-in reference rubric."""

    def __init__(self, rubrics: Mapping[str, Rubric] | None):
        self._rubrics = {REFERENCE_RUBRIC.id: REFERENCE_RUBRIC, **(rubrics or {})}

    def title(self, key: str) -> str:
        _, criterion = self._find(key)
        return criterion.title if criterion is not None else key

    def rubric(self, key: str) -> str:
        rubric, _ = self._find(key)
        return rubric.title if rubric is not None else key.partition(".")[0]

    def descriptor(self, key: str, level: int) -> str | None:
        _, criterion = self._find(key)
        return criterion.levels.get(level) if criterion is not None else None

    def _find(self, key: str) -> tuple[Rubric | None, Criterion | None]:
        rubric_id, _, criterion_id = key.partition(".")
        rubric = self._rubrics.get(rubric_id)
        if rubric is None:
            return None, None
        return rubric, next((c for c in rubric.criteria if c.id == criterion_id), None)

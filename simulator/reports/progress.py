"""A candidate's progress, computed from ``Store.history``: scores over time, averages and weakest areas.

Pure functions over :class:`~simulator.storage.records.HistoryEntry` lists; the Progress page turns the results
into DataFrames and charts. What counts where follows :mod:`simulator.reports.scoring`:

* The score timeline and topic averages use **question scores**: each asked question once, scored as the mean of
  its main answer and its follow-up answers (the same figure Review and the scorecard average).
* Criterion averages count **every** scored answer, follow-ups included: a follow-up's level is a genuine
  reading of the criterion it probes.
* Ad-hoc questions (no bank question, no topic) appear on the timeline but in no topic average.
* The delivery trend covers spoken answers only (typed ones have no delivery), whatever their grade: how an
  answer was spoken never feeds into its score.
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
from simulator.reports.scoring import QuestionResult, question_results
from simulator.speech.delivery import FAST_WPM, FILLERS_PER_100_WORDS, SLOW_WPM, Delivery
from simulator.storage.records import HistoryEntry, PlanMode

MIN_ANSWERS = 2
"""A topic needs this many scored questions, a criterion this many scored answers, before it can be called weak."""
WEAKEST_PER_KIND = 3
"""How many weakest topics, and how many weakest criteria, are reported."""
TARGET_LEVEL = 3
"""The criterion level the advice quotes as the next goal ("what a good answer does")."""
TREND_WINDOW = 5
"""The delivery trend compares the first this many spoken answers with the last this many."""
MIN_TREND_ANSWERS = 4
"""Spoken answers with a measured pace needed before first and last are compared (then two on each side)."""
STEADY_WPM = 5.0
"""A change in mean pace smaller than this (words per minute) is reported as steady."""
STEADY_FILLERS = 0.5
"""A change in filler words smaller than this (per 100 words) is reported as steady."""


@dataclass(frozen=True)
class ScorePoint:
    answered_at: datetime
    """When the question was first answered (UTC)."""
    overall: float
    """The question's score, 0 to 10: the mean of its main answer and follow-up answers."""
    topic: str | None
    """Topic of the question; None for an ad-hoc question."""
    question_id: str | None
    """Bank question answered; None for an ad-hoc question."""
    session_id: int
    """Session the question was asked in."""
    answers: int
    """Scored answers behind the score (the main answer and follow-ups)."""


@dataclass(frozen=True)
class TopicAverage:
    topic: str
    """Bank topic."""
    average: float
    """Mean question score of the scored questions in this topic, 0 to 10."""
    count: int
    """Number of those questions (a question asked in two sessions counts twice)."""


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
    """Scored questions (topic) or answers (criterion) behind the average."""
    practise_topic: str | None
    """Topic to practise next; None when only ad-hoc answers touched a criterion."""
    mode: PlanMode
    """Plan mode to choose on the Interview page."""
    advice: str
    """One or two sentences saying what to practise and how."""


@dataclass(frozen=True)
class DeliveryPoint:
    answered_at: datetime
    """When the spoken answer was given (UTC)."""
    session_id: int
    """Session it was given in."""
    question_id: str | None
    """Bank question answered; None for an ad-hoc question."""
    wpm: float | None
    """Pace in words per minute; None when there was too little speech to measure it."""
    fillers_per_100_words: float | None
    """Filler words per 100 words spoken (the rate the delivery advice uses); None when no words were heard."""
    fillers: int
    """Filler words heard."""
    long_pauses: int | None
    """Silences of 2 s or more between words; None without word timings."""


@dataclass(frozen=True)
class DeliveryTrend:
    points: list[DeliveryPoint] = field(default_factory=list)
    """Spoken answers, oldest first."""
    window: int = 0
    """How many measured answers each of the first and recent figures averages; 0 until there are enough."""
    first_wpm: float | None = None
    """Mean pace of the first ``window`` spoken answers with a measured pace."""
    recent_wpm: float | None = None
    """Mean pace of the last ``window`` of them."""
    first_fillers: float | None = None
    """Mean filler words per 100 words over those first answers."""
    recent_fillers: float | None = None
    """Mean filler words per 100 words over those last answers."""
    summary: str = ""
    """One or two sentences on the trend; empty without spoken answers."""
    comfortable_wpm: tuple[float, float] = (SLOW_WPM, FAST_WPM)
    """The pace most listeners find easy to follow, lowest and highest, in words per minute."""
    filler_limit: float = FILLERS_PER_100_WORDS
    """Filler words per 100 words above which the delivery advice says so."""


@dataclass(frozen=True)
class ProgressReport:
    timeline: list[ScorePoint] = field(default_factory=list)
    """Scored questions, oldest first."""
    topics: list[TopicAverage] = field(default_factory=list)
    """Per-topic averages, lowest first."""
    criteria: list[CriterionAverage] = field(default_factory=list)
    """Per-criterion averages, lowest first."""
    weakest: list[WeakArea] = field(default_factory=list)
    """Weakest topics, then weakest criteria, each lowest first."""
    delivery: DeliveryTrend = field(default_factory=DeliveryTrend)
    """Pace and filler words of the spoken answers over time."""

    @property
    def empty(self) -> bool:
        return not self.timeline and not self.criteria


def progress_report(history: Iterable[HistoryEntry], rubrics: Mapping[str, Rubric] | None = None,
                    min_answers: int = MIN_ANSWERS, limit: int = WEAKEST_PER_KIND) -> ProgressReport:
    """Everything the Progress page shows, from a profile's history (``Store.history``)."""
    history = list(history)
    entries = _scored(history)
    return ProgressReport(
        timeline=score_timeline(entries),
        topics=topic_averages(entries),
        criteria=criterion_averages(entries, rubrics),
        weakest=weakest_areas(entries, rubrics, min_answers, limit),
        delivery=delivery_trend(history),
    )


def score_timeline(history: Iterable[HistoryEntry]) -> list[ScorePoint]:
    """One point per scored question, oldest first."""
    return [ScorePoint(answered_at=r.answered_at, overall=r.score, topic=r.topic, question_id=r.question_id,
                       session_id=r.session_id, answers=r.answers) for r in question_results(history)]


def topic_averages(history: Iterable[HistoryEntry]) -> list[TopicAverage]:
    """Mean question score per topic, lowest first (ties by name)."""
    by_topic: dict[str, list[float]] = defaultdict(list)
    for result in question_results(history):
        if result.topic is not None:
            by_topic[result.topic].append(result.score)
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
    """The lowest topics (at least ``min_answers`` scored questions) and criteria (at least ``min_answers`` scored
    answers), with advice for each."""
    entries = _scored(history)
    low_questions = _low_questions_by_topic(question_results(entries))
    topics = [a for a in topic_averages(entries) if a.count >= min_answers][:limit]
    criteria = [a for a in criterion_averages(entries, rubrics) if a.count >= min_answers][:limit]
    names = _CriterionNames(rubrics)
    return ([_weak_topic(a, low_questions) for a in topics]
            + [_weak_criterion(a, _weakest_topic_for(a.key, entries), low_questions, names) for a in criteria])


# ---------------------------------------------------------------- delivery of spoken answers


def delivery_trend(history: Iterable[HistoryEntry], window: int = TREND_WINDOW) -> DeliveryTrend:
    """Pace and filler words of every spoken answer, oldest first, and how the last ``window`` compare with the
    first ``window`` (fewer on each side while there are under twice as many, none under MIN_TREND_ANSWERS)."""
    in_order = sorted(history, key=lambda e: (e.answered_at, e.turn_id))
    points = [_delivery_point(e, e.delivery) for e in in_order if e.delivery is not None]
    measured = [p for p in points if p.wpm is not None]
    size = min(window, len(measured) // 2) if len(measured) >= MIN_TREND_ANSWERS else 0
    if not size:
        return DeliveryTrend(points=points, summary=_early_summary(points, measured))
    first, recent = measured[:size], measured[-size:]
    pace = (_mean_wpm(first), _mean_wpm(recent))
    fillers = (_mean_fillers(first), _mean_fillers(recent))
    return DeliveryTrend(points=points, window=size, first_wpm=pace[0], recent_wpm=pace[1],
                         first_fillers=fillers[0], recent_fillers=fillers[1],
                         summary=_trend_summary(len(points), size, pace, fillers))


def _delivery_point(entry: HistoryEntry, delivery: Delivery) -> DeliveryPoint:
    return DeliveryPoint(answered_at=entry.answered_at, session_id=entry.session_id, question_id=entry.question_id,
                         wpm=delivery.wpm, fillers=delivery.filler_count,
                         fillers_per_100_words=round(delivery.fillers_per_100_words, 2) if delivery.words else None,
                         long_pauses=len(delivery.long_pauses) if delivery.timed else None)


def _mean_wpm(points: Sequence[DeliveryPoint]) -> float:
    return round(fmean(p.wpm for p in points if p.wpm is not None), 1)


def _mean_fillers(points: Sequence[DeliveryPoint]) -> float:
    return round(fmean(p.fillers_per_100_words or 0.0 for p in points), 2)


def _early_summary(points: Sequence[DeliveryPoint], measured: Sequence[DeliveryPoint]) -> str:
    if not points:
        return ""
    answers = _count(len(points), "spoken answer")
    if not measured:
        return f"{answers}, each too short to measure pace."
    more = MIN_TREND_ANSWERS - len(measured)
    return (f"{answers}: {_mean_wpm(measured):.0f} wpm and {_mean_fillers(measured):.1f} filler words per 100 words "
            f"on average. Answer {_count(more, 'more question')} by voice to see a trend.")


def _trend_summary(answers: int, window: int, pace: tuple[float, float], fillers: tuple[float, float]) -> str:
    """``pace`` and ``fillers`` are (first, recent) means."""
    (first, recent), (first_fillers, recent_fillers) = pace, fillers
    if abs(recent - first) < STEADY_WPM:
        moved = f"your pace held steady at about {recent:.0f} wpm"
    else:
        moved = f"your pace moved from {first:.0f} to {recent:.0f} wpm"
    if abs(recent_fillers - first_fillers) < STEADY_FILLERS:
        filler_words = f"filler words held at about {recent_fillers:.1f} per 100 words"
    else:
        filler_words = f"filler words went from {first_fillers:.1f} to {recent_fillers:.1f} per 100 words"
    return (f"{_count(answers, 'spoken answer')}. Comparing your first {window} with your last {window}: "
            f"{moved}, {_pace_band(recent)}; {filler_words}.")


def _pace_band(wpm: float) -> str:
    where = "below" if wpm < SLOW_WPM else "above" if wpm > FAST_WPM else "inside"
    return f"{where} the comfortable {SLOW_WPM}–{FAST_WPM} wpm"


# ---------------------------------------------------------------- advice


def _weak_topic(average: TopicAverage, low_questions: Mapping[str, set[str]]) -> WeakArea:
    mode = _mode_for(average.topic, low_questions)
    summary = f"{average.topic} averages {average.average:.1f}/10 over {_count(average.count, 'question')}."
    return WeakArea(kind="topic", key=average.topic, label=average.topic, average=average.average, out_of=10,
                    count=average.count, practise_topic=average.topic, mode=mode,
                    advice=f"{summary} {_how_to_practise(average.topic, mode, low_questions)}")


def _weak_criterion(average: CriterionAverage, topic: str | None, low_questions: Mapping[str, set[str]],
                    names: _CriterionNames) -> WeakArea:
    mode = _mode_for(topic, low_questions)
    advice = f"“{average.title}” averages level {average.average_level:.1f}/4 over {_count(average.count, 'answer')}."
    if topic is not None:
        # Kept short: the topic's own entry, if any, carries the full instructions.
        advice += f" It is weakest in {topic}: {_short_step(topic, mode)}"
    goal = names.descriptor(average.key, TARGET_LEVEL)
    if goal is not None and average.average_level < TARGET_LEVEL:
        advice += f" A level-{TARGET_LEVEL} answer: {goal}"
    return WeakArea(kind="criterion", key=average.key, label=average.title, average=average.average_level,
                    out_of=4, count=average.count, practise_topic=topic, mode=mode, advice=advice)


def _how_to_practise(topic: str, mode: PlanMode, low_questions: Mapping[str, set[str]]) -> str:
    if mode == "retry-low":
        count = len(low_questions[topic])
        return (f"Retry the {_count(count, topic + ' question')} you scored below {LOW_SCORE:g}: on the Interview "
                f"page, pick {topic} under Topics and the plan that retries low-scored questions.")
    # The plan ranks topics by each question's latest score, this page by every question: name the topic
    # explicitly rather than promise that the weakest-topics plan will start with it.
    return (f"Answer more {topic} questions: on the Interview page, pick {topic} under Topics, or the plan that "
            "starts with your weakest topics.")


def _short_step(topic: str, mode: PlanMode) -> str:
    if mode == "retry-low":
        return f"retry the {topic} questions you scored below {LOW_SCORE:g}."
    return f"answer more {topic} questions."


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _mode_for(topic: str | None, low_questions: Mapping[str, set[str]]) -> PlanMode:
    """retry-low when the topic has questions to answer again, else weakest-first for fresh questions."""
    return "retry-low" if topic is not None and low_questions.get(topic) else "weakest-first"


def _low_questions_by_topic(results: Sequence[QuestionResult]) -> dict[str, set[str]]:
    """Bank questions whose latest question score is below LOW_SCORE, by topic: the ones to retry."""
    latest = {r.question_id: r for r in results if r.question_id is not None}  # oldest first, so the last wins
    low: dict[str, set[str]] = defaultdict(set)
    for question_id, result in latest.items():
        if result.topic is not None and result.score < LOW_SCORE:
            low[result.topic].add(question_id)
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

"""The end-of-interview debrief: every answer (follow-ups too) with its score, strengths and gaps in plain words,
the weakest criterion, and the questions that practise it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from simulator.content.bank import resolve_criterion
from simulator.content.schemas import Question, Rubric
from simulator.reports import export
from simulator.reports.scoring import score_band
from simulator.storage.records import SessionDetail

QUICK_DRILL = ("fundamentals-what-each-changes", "cost-which-is-cheaper", "hallucination-which-reduces-better")
"""The three questions of "Quick drill: RAG or fine-tuning?": what each changes, cost, hallucination."""

verdict = score_band
"""The band every page shows (``scoring.score_band``): Strong from 8, Solid from 6, Partial from 4, else Weak."""


@dataclass(frozen=True)
class AnswerRow:
    """One answer as the debrief lists it."""

    asked: str
    """The question or follow-up, as asked."""
    follow_up: bool
    score: float | None
    """None when the answer was not scored (e.g. the judge failed)."""


@dataclass(frozen=True)
class Debrief:
    rows: list[AnswerRow]
    average: float | None
    strengths: list[str] = field(default_factory=list)
    """Criteria the answers handled well, as plain sentences."""
    gaps: list[str] = field(default_factory=list)
    """Criteria to work on, as plain sentences."""
    weakest: tuple[str, str] | None = None
    """(criterion key, title) with the lowest average level, when anything was scored."""


def debrief(detail: SessionDetail) -> Debrief:
    rows = [_row(detail, answer) for answer in detail.answers]
    levels = _criterion_levels(detail)
    ranked = sorted(levels.items(), key=lambda item: (item[1][1], item[0]))
    strengths = [f"{title}: consistently at level {level:.1f} of 4." for _, (title, level) in reversed(ranked)
                 if level >= 3][:2]
    gaps = [f"{title}: averaged {level:.1f} of 4; this is where points were lost." for _, (title, level) in ranked
            if level < 2.5][:2]
    weakest = (ranked[0][0], ranked[0][1][0]) if ranked else None
    return Debrief(rows, export.average_score(detail), strengths, gaps, weakest)


def _row(detail: SessionDetail, answer) -> AnswerRow:
    asked = next((t for t in detail.turns if t.id == answer.parent_turn_id), None)
    grade = answer.grade
    score = grade.overall if grade is not None and grade.status == "scored" else None
    question = asked.question() if asked is not None and asked.kind == "question" else None
    text = question.prompt if question is not None else asked.text if asked else ""  # the prompt, not its lead-in
    return AnswerRow(asked=text, follow_up=bool(asked and asked.kind == "follow_up"), score=score)


def _criterion_levels(detail: SessionDetail) -> dict[str, tuple[str, float]]:
    """Mean level per criterion over every scored answer: key -> (title, mean level)."""
    seen: dict[str, list[int]] = defaultdict(list)
    titles: dict[str, str] = {}
    for answer in detail.answers:
        if answer.grade is None or answer.grade.status != "scored":
            continue
        for criterion in answer.grade.criteria:
            seen[criterion.key].append(criterion.level)
            titles[criterion.key] = criterion.title
    return {key: (titles[key], sum(levels) / len(levels)) for key, levels in seen.items()}


def questions_for_criterion(questions: Mapping[str, Question], rubrics: Mapping[str, Rubric], key: str,
                            count: int = 3, avoid: frozenset[str] = frozenset()) -> list[str]:
    """Questions whose key points lean most on criterion ``key`` (``rubric.criterion``), fresh ones first."""
    scored = []
    for question in questions.values():
        share = sum(_criterion_of(point.criterion, question, rubrics) == key for point in question.key_points)
        if share:
            scored.append((question.id in avoid, -share, question.id))
    return [qid for _, _, qid in sorted(scored)[:count]]


def quick_drill(questions: Mapping[str, Question]) -> list[str]:
    """The quick drill's questions that the bank still has; easy ones fill any gap."""
    chosen = [qid for qid in QUICK_DRILL if qid in questions]
    easy = [q.id for q in questions.values() if q.difficulty == "easy" and q.id not in chosen]
    return (chosen + easy)[:3]


def _criterion_of(ref: str, question: Question, rubrics: Mapping[str, Rubric]) -> str | None:
    """A key point's criterion as ``rubric.criterion`` (the key grades use), None if it no longer resolves."""
    try:
        rubric, criterion = resolve_criterion(ref, question.rubrics, dict(rubrics))
    except ValueError:
        return None
    return f"{rubric}.{criterion}"

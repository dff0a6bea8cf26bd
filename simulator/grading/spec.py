"""What a judge receives: a grading spec, frozen from the question and rubrics when the question was asked."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from simulator.content import bank
from simulator.content.schemas import Criterion, Misconception, Question, Rubric
from simulator.text import split_sentences


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class SpecCriterion(_Model):
    rubric_id: str
    """Rubric the criterion belongs to."""
    criterion: Criterion
    """The criterion itself, with its level descriptors."""

    @property
    def key(self) -> str:
        return f"{self.rubric_id}.{self.criterion.id}"


class SpecPoint(_Model):
    text: str
    """The claim a complete answer makes."""
    criterion_key: str
    """``rubric.criterion`` this point evidences."""


class SpecMisconception(_Model):
    misconception: Misconception
    """The wrong claim and its correction."""
    criterion_key: str | None
    """``rubric.criterion`` capped when asserted, or None to cap the overall score."""


class GradingSpec(_Model):
    """Everything a judge needs about one question, frozen at the time it was asked."""

    question_id: str | None
    """Bank id, or None for an ad-hoc question."""
    question: str
    """The question text as asked."""
    reference_answer: str
    """A strong answer (the bank's model answer or the caller's reference)."""
    criteria: list[SpecCriterion]
    """Criteria the answer is graded on (only those with key points)."""
    key_points: list[SpecPoint]
    """Claims a complete answer makes."""
    misconceptions: list[SpecMisconception] = []
    """Wrong claims that cap a criterion when asserted."""
    references: list[str] = []
    """Knowledge sections (``doc#section``) the bank links to the question."""

    def criterion(self, key: str) -> SpecCriterion:
        return next(c for c in self.criteria if c.key == key)

    def points_for(self, key: str) -> list[SpecPoint]:
        return [p for p in self.key_points if p.criterion_key == key]


def spec_from_question(question: Question, rubrics: dict[str, Rubric]) -> GradingSpec:
    """Spec for a bank question: its key points, the criteria they touch, all misconceptions."""
    points = [
        SpecPoint(text=p.text, criterion_key=_key(p.criterion, question, rubrics)) for p in question.key_points
    ]
    used = {p.criterion_key for p in points}
    criteria = [
        SpecCriterion(rubric_id=r, criterion=c)
        for r in question.rubrics
        for c in rubrics[r].criteria
        if f"{r}.{c.id}" in used
    ]
    return GradingSpec(
        question_id=question.id,
        question=question.prompt,
        reference_answer=question.model_answer,
        criteria=criteria,
        key_points=points,
        misconceptions=_misconceptions(question, rubrics, used),
        references=list(question.references),
    )


def _key(ref: str, question: Question, rubrics: dict[str, Rubric]) -> str:
    rubric_id, criterion_id = bank.resolve_criterion(ref, question.rubrics, rubrics)
    return f"{rubric_id}.{criterion_id}"


def _misconceptions(question: Question, rubrics: dict[str, Rubric], used: set[str]) -> list[SpecMisconception]:
    found = [
        SpecMisconception(misconception=m, criterion_key=_capped_key(m.criterion and f"{r}.{m.criterion}", used))
        for r in question.rubrics
        for m in rubrics[r].misconceptions
    ]
    found += [
        SpecMisconception(
            misconception=m,
            criterion_key=_capped_key(_key(m.criterion, question, rubrics) if m.criterion else None, used),
        )
        for m in question.misconceptions
    ]
    return found


def _capped_key(key: str | None, used: set[str]) -> str | None:
    """A misconception about a criterion this question does not assess caps the overall score instead."""
    return key if key in used else None


REFERENCE_RUBRIC = Rubric(
    id="reference-answer",
    title="Agreement with the reference answer",
    description="Used for ad-hoc questions: how much of the reference answer's content the answer gives.",
    criteria=[Criterion(
        id="coverage", title="Covers the reference", weight=1.0,
        description="Makes the claims of the reference answer, in any wording.",
        levels={0: "Makes none of the reference's points, or contradicts them.",
                1: "Touches a reference point only vaguely.",
                2: "Makes part of the reference's content.",
                3: "Makes most of the reference's content.",
                4: "Makes all of the reference's content precisely."},
    )],
)

Similarity = Callable[[list[str], list[str]], "list[list[float]]"]
"""Pairwise similarity of two text lists (rows: first list); used to place derived key points."""


def adhoc_spec(question: str, reference_answer: str, rubric_ids: list[str], rubrics: dict[str, Rubric],
               similarity: Similarity | None = None) -> GradingSpec:
    """Spec for a question outside the bank: key points come from the reference answer's sentences.

    With rubric ids, each derived point goes to the most similar criterion of those rubrics, and
    the rubrics' misconceptions apply; without them, the single reference-coverage criterion is used.
    """
    points = split_sentences(reference_answer, max_words=40) or [reference_answer.strip() or question]
    chosen = [rubrics[r] for r in rubric_ids] or [REFERENCE_RUBRIC]
    candidates = [SpecCriterion(rubric_id=r.id, criterion=c) for r in chosen for c in r.criteria]
    if len(candidates) == 1 or similarity is None:
        keys = [candidates[0].key] * len(points)
    else:
        scores = similarity(points, [f"{c.criterion.title}. {c.criterion.description}" for c in candidates])
        keys = [candidates[max(range(len(candidates)), key=row.__getitem__)].key for row in scores]
    used = set(keys)
    return GradingSpec(
        question_id=None, question=question, reference_answer=reference_answer,
        criteria=[c for c in candidates if c.key in used],
        key_points=[SpecPoint(text=t, criterion_key=k) for t, k in zip(points, keys, strict=True)],
        misconceptions=[
            SpecMisconception(misconception=m, criterion_key=_capped_key(m.criterion and f"{r.id}.{m.criterion}", used))
            for r in chosen for m in r.misconceptions
        ],
    )

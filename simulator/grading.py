"""What a judge receives (a grading spec) and what it returns (a grade). Shared by every judge."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from simulator import bank
from simulator.schemas import Criterion, Misconception, Question, Rubric

OFFLINE_JUDGE = "offline-evidence"
LLM_JUDGE = "llm"


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


class Citation(_Model):
    passage_id: str
    """Chunk id in the knowledge index."""
    document: str
    """Knowledge document id."""
    section: str
    """Section id inside the document."""
    heading: str
    """Section heading, for display."""
    excerpt: str
    """The passage text (possibly shortened)."""
    score: float = 0.0
    """Retrieval score of the passage."""

    @property
    def reference(self) -> str:
        return f"{self.document}#{self.section}"


class PointEvidence(_Model):
    key_point: str
    """The key point."""
    criterion_key: str
    """``rubric.criterion`` it belongs to."""
    covered: bool
    """Whether the answer makes this point."""
    strength: float = Field(ge=0, le=1)
    """How strongly the answer makes it (0 to 1)."""
    answer_quote: str | None = None
    """The answer sentence that earned the credit."""
    citation: Citation | None = None
    """Knowledge passage that supports the point."""


class MisconceptionHit(_Model):
    id: str
    """Misconception id."""
    claim: str
    """The wrong claim."""
    correction: str
    """What is true instead."""
    criterion_key: str | None
    """Criterion that was capped (None: overall)."""
    answer_quote: str
    """The sentence of the answer that asserted it."""


class CriterionGrade(_Model):
    key: str
    """``rubric.criterion``."""
    title: str
    """Criterion title."""
    weight: float
    """Weight in the overall score."""
    level: int = Field(ge=0, le=4)
    """Level 0 to 4."""
    descriptor: str
    """The rubric's descriptor for that level."""
    justification: str
    """Why this level: evidence quoted from the answer."""
    capped_by: str | None = None
    """Misconception id that capped the level, if any."""


class Grade(_Model):
    status: Literal["scored", "unscored"]
    """``unscored`` when the judge could not produce a trustworthy grade."""
    reason: str | None = None
    """Why the grade is unscored (or a note on a scored one)."""
    judge: str
    """Which judge produced it: ``offline-evidence`` or ``llm``."""
    model: str | None = None
    """Embedding model (offline) or LLM model name."""
    overall: float | None = Field(default=None, ge=0, le=10)
    """Weighted score 0 to 10; None when unscored."""
    criteria: list[CriterionGrade] = []
    """Per-criterion levels."""
    points: list[PointEvidence] = []
    """Every key point, covered or missed, with evidence."""
    misconceptions: list[MisconceptionHit] = []
    """Misconceptions the answer asserted."""
    citations: list[Citation] = []
    """Knowledge passages the grade relied on."""
    feedback: str = ""
    """Short written feedback for the candidate."""
    flags: list[str] = []
    """Notes such as ``injection-ignored`` or ``keyword-list``."""
    latency_ms: float = 0.0
    """Time taken to grade."""
    prompt_tokens: int | None = None
    """LLM prompt tokens (LLM judge only)."""
    completion_tokens: int | None = None
    """LLM completion tokens (LLM judge only)."""

    @property
    def covered(self) -> list[PointEvidence]:
        return [p for p in self.points if p.covered]

    @property
    def missed(self) -> list[PointEvidence]:
        return [p for p in self.points if not p.covered]

    def weakest_criterion(self) -> CriterionGrade | None:
        return min(self.criteria, key=lambda c: (c.level, -c.weight), default=None)

    def scaled(self, max_score: float) -> float | None:
        return None if self.overall is None else round(self.overall / 10 * max_score, 4)


GradeFn = Callable[[GradingSpec, str], Grade]
"""A judge: grades one answer against one spec. Built by a factory (offline or LLM)."""


def unscored(judge: str, reason: str, model: str | None = None, latency_ms: float = 0.0) -> Grade:
    return Grade(status="unscored", reason=reason, judge=judge, model=model, latency_ms=latency_ms)


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
    from simulator.text import split_sentences

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

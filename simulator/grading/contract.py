"""What a judge returns (a grade, with its evidence) and what a judge is (a function from spec and answer to grade).

Shared by every judge and by storage, which keeps grades exactly as judges made them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from simulator.grading.spec import GradingSpec
from simulator.search.passage import Citation

OFFLINE_JUDGE = "offline-evidence"
LLM_JUDGE = "llm"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


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
    contradicted: bool = False
    """The answer says the opposite, or says it of the other approach; such a point earns nothing."""
    contradiction_quote: str | None = None
    """The answer sentence that contradicts the point."""
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
    second_opinion: Grade | None = None
    """When the two judges disagreed by 3 points or more even after a re-check: the other judge's grade (this
    grade is the lower of the two)."""

    @property
    def covered(self) -> list[PointEvidence]:
        return [p for p in self.points if p.covered]

    @property
    def missed(self) -> list[PointEvidence]:
        return [p for p in self.points if not p.covered]

    def weakest_criterion(self) -> CriterionGrade | None:
        return min(self.criteria, key=weakness, default=None)

    def scaled(self, max_score: float) -> float | None:
        return None if self.overall is None else round(self.overall / 10 * max_score, 4)


GradeFn = Callable[[GradingSpec, str], Grade]
"""A judge: grades one answer against one spec. Built by a factory (offline or LLM)."""


def unscored(judge: str, reason: str, model: str | None = None, latency_ms: float = 0.0) -> Grade:
    return Grade(status="unscored", reason=reason, judge=judge, model=model, latency_ms=latency_ms)


Retrieve = Callable[[str, int], list[Citation]]
"""Knowledge search: ``retrieve(query, k)`` gives the ``k`` best passages (e.g. ``KnowledgeIndex.search``)."""


def weakness(criterion: CriterionGrade) -> tuple[int, float]:
    """Sort key from weakest to strongest: lowest level first, the heavier criterion first on a tie."""
    return (criterion.level, -criterion.weight)

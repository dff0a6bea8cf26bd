"""Pydantic models for the simulator's content: questions, rubrics and knowledge documents.

Models here check what one object can check on its own (required fields, ranges, unique ids
inside one object). Cross-file references (a question's rubric, criterion or knowledge section)
are checked by :mod:`simulator.content.bank`, which sees everything at once.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$", max_length=80)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Difficulty = Literal["easy", "medium", "hard"]
LEVELS = (0, 1, 2, 3, 4)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Criterion(_Strict):
    id: Slug
    """Identifier, unique inside its rubric."""
    title: Text
    """Short name shown on grade cards."""
    description: Text
    """What the criterion rewards."""
    weight: float = Field(gt=0)
    """Relative weight in the overall score; must be positive."""
    levels: dict[int, Text]
    """Descriptor for each level 0 to 4."""

    @field_validator("levels")
    @classmethod
    def _all_levels(cls, levels: dict[int, str]) -> dict[int, str]:
        if sorted(levels) != list(LEVELS):
            raise ValueError(f"needs exactly the levels 0, 1, 2, 3, 4 (got {sorted(levels)})")
        return levels


class Misconception(_Strict):
    id: Slug
    """Identifier, unique inside its rubric or question."""
    claim: Text
    """The wrong idea, written as a candidate would assert it."""
    correction: Text
    """What is true instead; shown to the candidate when the claim is detected."""
    criterion: str | None = None
    """Criterion whose level is capped when the claim is asserted (None: the overall score is capped)."""
    cap: int = Field(default=1, ge=0, le=4)
    """Highest level the capped criterion can reach when the claim is asserted."""
    phrasings: list[Text] = []
    """Other ways a candidate might assert the same claim (they help detection)."""


class Rubric(_Strict):
    id: Slug
    """Identifier used by questions (e.g. ``behavior-vs-knowledge``)."""
    title: Text
    """Human title."""
    description: Text
    """What the rubric judges and when it applies."""
    criteria: list[Criterion] = Field(min_length=1)
    """Weighted criteria, each graded 0 to 4."""
    misconceptions: list[Misconception] = []
    """Claims a good answer must not assert."""

    @model_validator(mode="after")
    def _consistent(self) -> Rubric:
        _require_unique("criteria", [c.id for c in self.criteria])
        _require_unique("misconceptions", [m.id for m in self.misconceptions])
        known = {c.id for c in self.criteria}
        for m in self.misconceptions:
            if m.criterion is not None and m.criterion not in known:
                raise ValueError(f"misconception {m.id!r} names unknown criterion {m.criterion!r}")
        return self

    def criterion(self, criterion_id: str) -> Criterion:
        return next(c for c in self.criteria if c.id == criterion_id)


class KeyPoint(_Strict):
    text: Text
    """One claim a complete answer makes."""
    criterion: Text
    """Criterion it evidences: ``criterion-id`` or ``rubric-id.criterion-id``."""


class FollowUp(_Strict):
    prompt: Text
    """The follow-up question as the interviewer asks it."""
    criterion: Text
    """Criterion the follow-up probes: ``criterion-id`` or ``rubric-id.criterion-id``."""
    expects: list[Text] = []
    """What a strong answer to the follow-up says, one claim each (its intent). The answer is graded on these
    and on the probed criterion's key points for the question."""


class Question(_Strict):
    id: Slug
    """Stable identifier, unique across the whole bank."""
    prompt: Text
    """The question as the interviewer asks it."""
    topic: Slug
    """Topic used for filtering and progress."""
    difficulty: Difficulty
    """easy, medium or hard."""
    rubrics: list[Slug] = Field(min_length=1)
    """Ids of the rubrics the answer is graded against."""
    model_answer: Text
    """A strong answer, shown after grading."""
    key_points: list[KeyPoint] = Field(min_length=3)
    """Claims a complete answer makes, each tied to a criterion."""
    misconceptions: list[Misconception] = []
    """Question-specific wrong claims (the rubrics' own apply too)."""
    follow_ups: list[FollowUp] = Field(min_length=2)
    """Follow-up questions, each aimed at a criterion."""
    references: list[Text] = Field(min_length=1)
    """Knowledge sections that support the answer, as ``document-id#section-id``."""
    tags: list[Slug] = []
    """Free labels (e.g. ``scenario``)."""

    @model_validator(mode="after")
    def _unique_inside(self) -> Question:
        _require_unique("rubrics", self.rubrics)
        _require_unique("misconceptions", [m.id for m in self.misconceptions])
        return self


class QuestionFile(_Strict):
    questions: list[dict] = Field(min_length=1)
    """Question entries; each is validated on its own so one bad entry spares the rest."""


class KnowledgeSection(_Strict):
    id: str
    """Slug of the heading, unique inside the document."""
    heading: str
    """Heading text."""
    level: int
    """Heading depth (1 for ``#``)."""
    text: str
    """Body text under the heading, up to the next heading."""
    line: int
    """1-based line of the heading in the file."""


class KnowledgeDoc(_Strict):
    id: str
    """File stem; the part before ``#`` in a reference."""
    title: str
    """First heading of the document."""
    path: str
    """Where the file was read from."""
    sections: list[KnowledgeSection] = Field(min_length=1)
    """Sections in file order."""

    def section(self, section_id: str) -> KnowledgeSection | None:
        return next((s for s in self.sections if s.id == section_id), None)


def _require_unique(field: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"duplicate id {item!r} in {field}")
        seen.add(item)

"""Pydantic models for the simulator's content: questions, rubrics and knowledge documents.

Models here check what one object can check on its own (required fields, ranges, unique ids
inside one object, and the size limits defined below). Cross-file references (a question's rubric,
criterion or knowledge section) are checked by :mod:`simulator.content.bank`, which sees everything at once.
"""

from __future__ import annotations

from collections.abc import Sized
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

# ---------------------------------------------------------------- limits
# Content also comes from users (the custom folders, uploads), and the simulator embeds every key point,
# expected claim and misconception when it starts: a question with thousands of them costs minutes at each
# fresh start. The limits below sit far above the largest bundled content (6 questions per file, 6 key
# points, 3 follow-ups, 5 expected claims, 4 misconceptions, texts under 1,100 characters), so real
# content never meets them. They apply to content files (see LIMITS_CONTEXT), not to snapshots of
# questions already asked, so a session stored before a limit existed still opens.

MAX_FILE_BYTES = 1_000_000
"""Any content file or upload; a bigger one is refused before it is read."""
MAX_YAML_ITEMS = 200
"""Entries in any one YAML list or mapping. Reading stops at the first longer one, so a file with thousands of
entries is refused in a moment instead of being parsed whole (pure-Python YAML reads about 1 MB a second)."""
MAX_QUESTIONS_PER_FILE = 50
"""One file is checked, reported and saved as a unit; 50 questions keep its report readable."""
MAX_KEY_POINTS = 40
"""Each key point is embedded at start-up and compared with every answer to its question."""
MAX_FOLLOW_UPS = 20
"""An interview asks two or three; more than 20 is a list nobody will see."""
MAX_EXPECTED_CLAIMS = 20
"""Claims a follow-up answer is graded on (``FollowUp.expects``); each is embedded like a key point."""
MAX_MISCONCEPTIONS = 20
"""Per question or rubric; each claim and phrasing is embedded and checked against every answer."""
MAX_PHRASINGS = 20
"""Other wordings of one misconception; embedded too."""
MAX_SHORT_LIST = 20
"""A question's rubrics, references and tags, and a rubric's criteria."""
MAX_NAME_CHARS = 200
"""Titles and references (``rubric.criterion``, ``document#section``)."""
MAX_CLAIM_CHARS = 600
"""One claim or short question: key point, expected claim, follow-up, misconception, phrasing (the longest
bundled one is 136 characters; embedding a long passage as one claim blurs what it matches)."""
MAX_PROSE_CHARS = 4_000
"""A prompt, description, correction or level descriptor."""
MAX_MODEL_ANSWER_CHARS = 10_000
"""The model answer shown after grading (the longest bundled one is about 1,000 characters)."""

LIMITS_CONTEXT: dict[str, Any] = {"content_limits": True}
"""Validation context that turns the limits on: ``Question.model_validate(data, context=LIMITS_CONTEXT)``."""
LIST_LIMITS = {
    "questions": MAX_QUESTIONS_PER_FILE, "key_points": MAX_KEY_POINTS, "follow_ups": MAX_FOLLOW_UPS,
    "expects": MAX_EXPECTED_CLAIMS, "misconceptions": MAX_MISCONCEPTIONS, "phrasings": MAX_PHRASINGS,
    "rubrics": MAX_SHORT_LIST, "references": MAX_SHORT_LIST, "tags": MAX_SHORT_LIST, "criteria": MAX_SHORT_LIST,
}
"""The limit of each list field, by its YAML key."""


def _at_most(limit: int, unit: str) -> AfterValidator:
    """Refuse a list or text longer than ``limit`` when content is read with :data:`LIMITS_CONTEXT`."""

    def check(value: Sized, info: ValidationInfo) -> Sized:
        if info.context and info.context.get("content_limits") and len(value) > limit:
            raise ValueError(f"has {len(value):,} {unit}; the limit is {limit:,}")
        return value

    return AfterValidator(check)


_TEXT = StringConstraints(strip_whitespace=True, min_length=1)
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$", max_length=80)]
Name = Annotated[str, _TEXT, _at_most(MAX_NAME_CHARS, "characters")]
Claim = Annotated[str, _TEXT, _at_most(MAX_CLAIM_CHARS, "characters")]
Prose = Annotated[str, _TEXT, _at_most(MAX_PROSE_CHARS, "characters")]
Difficulty = Literal["easy", "medium", "hard"]
LEVELS = (0, 1, 2, 3, 4)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Criterion(_Strict):
    id: Slug
    """Identifier, unique inside its rubric."""
    title: Name
    """Short name shown on grade cards."""
    description: Prose
    """What the criterion rewards."""
    weight: float = Field(gt=0)
    """Relative weight in the overall score; must be positive."""
    levels: dict[int, Prose]
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
    claim: Claim
    """The wrong idea, written as a candidate would assert it."""
    correction: Prose
    """What is true instead; shown to the candidate when the claim is detected."""
    criterion: Name | None = None
    """Criterion whose level is capped when the claim is asserted (None: the overall score is capped)."""
    cap: int = Field(default=1, ge=0, le=4)
    """Highest level the capped criterion can reach when the claim is asserted."""
    phrasings: Annotated[list[Claim], _at_most(MAX_PHRASINGS, "phrasings")] = []
    """Other ways a candidate might assert the same claim (they help detection)."""


class Rubric(_Strict):
    id: Slug
    """Identifier used by questions (e.g. ``behavior-vs-knowledge``)."""
    title: Name
    """Human title."""
    description: Prose
    """What the rubric judges and when it applies."""
    criteria: Annotated[list[Criterion], _at_most(MAX_SHORT_LIST, "criteria")] = Field(min_length=1)
    """Weighted criteria, each graded 0 to 4."""
    misconceptions: Annotated[list[Misconception], _at_most(MAX_MISCONCEPTIONS, "misconceptions")] = []
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
    text: Claim
    """One claim a complete answer makes."""
    criterion: Name
    """Criterion it evidences: ``criterion-id`` or ``rubric-id.criterion-id``."""


class FollowUp(_Strict):
    prompt: Claim
    """The follow-up question as the interviewer asks it."""
    criterion: Name
    """Criterion the follow-up probes: ``criterion-id`` or ``rubric-id.criterion-id``."""
    expects: Annotated[list[Claim], _at_most(MAX_EXPECTED_CLAIMS, "expected claims")] = []
    """What a strong answer to the follow-up says, one claim each (its intent). The answer is graded on these
    and on the probed criterion's key points for the question."""


class Question(_Strict):
    id: Slug
    """Stable identifier, unique across the whole bank."""
    prompt: Prose
    """The question as the interviewer asks it."""
    topic: Slug
    """Topic used for filtering and progress."""
    difficulty: Difficulty
    """easy, medium or hard."""
    rubrics: Annotated[list[Slug], _at_most(MAX_SHORT_LIST, "rubrics")] = Field(min_length=1)
    """Ids of the rubrics the answer is graded against."""
    model_answer: Annotated[str, _TEXT, _at_most(MAX_MODEL_ANSWER_CHARS, "characters")]
    """A strong answer, shown after grading."""
    key_points: Annotated[list[KeyPoint], _at_most(MAX_KEY_POINTS, "key points")] = Field(min_length=3)
    """Claims a complete answer makes, each tied to a criterion."""
    misconceptions: Annotated[list[Misconception], _at_most(MAX_MISCONCEPTIONS, "misconceptions")] = []
    """Question-specific wrong claims (the rubrics' own apply too)."""
    follow_ups: Annotated[list[FollowUp], _at_most(MAX_FOLLOW_UPS, "follow-ups")] = Field(min_length=2)
    """Follow-up questions, each aimed at a criterion."""
    references: Annotated[list[Name], _at_most(MAX_SHORT_LIST, "references")] = Field(min_length=1)
    """Knowledge sections that support the answer, as ``document-id#section-id``."""
    tags: Annotated[list[Slug], _at_most(MAX_SHORT_LIST, "tags")] = []
    """Free labels (e.g. ``scenario``)."""

    @model_validator(mode="after")
    def _unique_inside(self) -> Question:
        _require_unique("rubrics", self.rubrics)
        _require_unique("misconceptions", [m.id for m in self.misconceptions])
        return self


class QuestionFile(_Strict):
    questions: Annotated[list[dict], _at_most(MAX_QUESTIONS_PER_FILE, "questions")] = Field(min_length=1)
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

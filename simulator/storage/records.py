"""What the store returns and takes: session settings and read-only views of profiles, sessions, turns, history.

Plain pydantic models with no database types, so callers never touch ORM rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from simulator.config import AgentKind
from simulator.content.schemas import Difficulty, Question, Rubric
from simulator.grading.contract import Grade
from simulator.speech.delivery import Delivery

Role = Literal["interviewer", "candidate"]
TurnKind = Literal["question", "follow_up", "answer", "note"]
SessionStatus = Literal["active", "finished", "abandoned"]
PlanMode = Literal["mixed", "weakest-first", "retry-low"]

ROLES: tuple[str, ...] = ("interviewer", "candidate")
TURN_KINDS: tuple[str, ...] = ("question", "follow_up", "answer", "note")
STATUSES: tuple[str, ...] = ("active", "finished", "abandoned")


class UserInfo(BaseModel):
    """A signed-in user as coaches see them."""

    owner: str
    """The key their data is stored under (issuer and OIDC subject)."""
    email: str
    name: str
    last_seen_at: datetime


class NotFoundError(ValueError):
    """A profile, session or turn id that is not in the database."""


class ConflictError(ValueError):
    """Another writer got there first: the session's last turn is not the one the caller saw, or the
    answer is already graded. Re-read the session to see what happened."""


class SessionSettings(BaseModel):
    """How an interview session was set up. Deliberately has no API key or endpoint secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    questions: int = Field(default=5, ge=1, le=50)
    """Number of main questions in the plan."""
    topics: list[str] = []
    """Topics to draw questions from; empty means every topic."""
    difficulty: list[Difficulty] = []
    """Difficulties to draw from; empty means any."""
    mode: PlanMode = "mixed"
    """Plan selection: mixed, weakest topics first, or retry of questions scored low."""
    follow_ups: int = Field(default=1, ge=0, le=5)
    """Most follow-up questions asked after one main question."""
    time_limit_s: int | None = Field(default=None, gt=0)
    """Soft time limit per answer in seconds; None for no limit."""
    interviewer: AgentKind = "offline"
    """Which interviewer asks the questions."""
    judge: AgentKind = "offline"
    """Which judge grades the answers."""
    question_ids: list[str] = Field(default=[], max_length=50)
    """Exactly these questions, in this order ("Practise this", a quick drill); empty lets ``mode`` choose."""

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> SessionSettings:
        """Settings read back from the database; fields that no longer exist are ignored."""
        return cls.model_validate({k: v for k, v in data.items() if k in cls.model_fields})


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class Recording(_View):
    """A spoken answer's audio as recorded."""

    data: bytes = Field(repr=False)
    """The file's bytes (WAV from the browser, or whatever was uploaded)."""
    mime: str = "audio/wav"
    """Its media type, e.g. ``audio/wav`` or ``audio/webm``."""


class ProfileInfo(_View):
    id: int
    """Database id."""
    name: str
    """Unique display name."""
    created_at: datetime
    """When the profile was created (UTC)."""


class TurnRecord(_View):
    id: int
    """Database id."""
    session_id: int
    """Session the turn belongs to."""
    seq: int
    """Position in the session's conversation, from 1, without gaps."""
    role: Role
    """Who spoke."""
    kind: TurnKind
    """question, follow_up, answer or note."""
    text: str
    """What was said."""
    question_id: str | None
    """Bank question the turn is about (inherited from the parent turn when not given)."""
    topic: str | None
    """Topic of that question."""
    question_snapshot: dict[str, Any] | None
    """The question exactly as asked (``Question.model_dump``), or None."""
    rubric_snapshot: dict[str, Any] | None
    """The rubrics as asked, by rubric id, or None."""
    parent_turn_id: int | None
    """For an answer: the question or follow-up it answers."""
    created_at: datetime
    """When the turn was stored (UTC)."""
    answered_at: datetime | None
    """For an answer: when it was submitted (UTC)."""
    duration_s: float | None
    """For an answer: seconds the candidate took."""
    meta: dict[str, Any]
    """Free notes, e.g. that the LLM interviewer fell back to offline phrasing."""
    delivery: Delivery | None = None
    """For a spoken answer: how it was spoken (pace, fillers, pauses); None for a typed one."""
    has_recording: bool = False
    """Whether the answer's audio was kept (only when the candidate asked)."""
    grade: Grade | None
    """The grade attached to an answer, once graded."""
    graded_at: datetime | None
    """When the grade was attached (UTC)."""

    def question(self) -> Question | None:
        """The question as it was asked, rebuilt from the snapshot."""
        return None if self.question_snapshot is None else Question.model_validate(self.question_snapshot)

    def rubrics(self) -> dict[str, Rubric]:
        """The rubrics as they were when asked, rebuilt from the snapshot."""
        return {k: Rubric.model_validate(v) for k, v in (self.rubric_snapshot or {}).items()}


class SessionSummary(_View):
    id: int
    """Session id."""
    profile: str
    """Profile name."""
    status: SessionStatus
    """active, finished or abandoned."""
    started_at: datetime
    """When the session started (UTC)."""
    finished_at: datetime | None
    """When it was finished or abandoned (UTC)."""
    answered: int
    """Number of answer turns."""
    average_score: float | None
    """The session's score (0 to 10): the mean of its question scores, each the mean of the question's scored
    answers (see ``simulator.reports.scoring``); None when nothing is scored."""
    topics: list[str]
    """Topics of the questions asked, sorted."""


class SessionDetail(_View):
    id: int
    """Session id."""
    profile: str
    """Profile name."""
    status: SessionStatus
    """active, finished or abandoned."""
    settings: SessionSettings
    """How the session was set up."""
    interviewer: str
    """Interviewer used (e.g. ``offline`` or ``llm:model-name``)."""
    judge: str
    """Judge used."""
    plan: list[str]
    """Question ids in the order they are asked."""
    position: int
    """Index in ``plan`` of the next question to ask."""
    started_at: datetime
    """When the session started (UTC)."""
    finished_at: datetime | None
    """When it was finished or abandoned (UTC)."""
    turns: list[TurnRecord]
    """The conversation in order, with grades attached to answers."""

    @property
    def answers(self) -> list[TurnRecord]:
        return [t for t in self.turns if t.kind == "answer"]

    @property
    def pending_grades(self) -> list[TurnRecord]:
        """Answers stored but not graded yet (e.g. the process stopped while grading)."""
        return [t for t in self.answers if t.grade is None]


class HistoryEntry(_View):
    session_id: int
    """Session of the answer."""
    turn_id: int
    """The answer turn."""
    answered_at: datetime
    """When the answer was given (UTC)."""
    question_id: str | None
    """Bank question answered, None for ad-hoc questions."""
    topic: str | None
    """Topic of that question."""
    follow_up: bool
    """Whether the answer replied to a follow-up rather than a main question."""
    question_turn_id: int | None = None
    """The main question turn the answer belongs to: the last question asked before it in its session (a follow-up
    answer belongs to the question it followed up); None only in entries built by hand."""
    status: Literal["scored", "unscored"]
    """Grade status."""
    overall: float | None
    """Overall score 0 to 10; None when unscored."""
    criteria: dict[str, int]
    """Level 0 to 4 per ``rubric.criterion``."""
    delivery: Delivery | None = None
    """How the answer was spoken, for a spoken answer."""


class QuestionScore(_View):
    question_id: str
    """Bank question id."""
    topic: str | None
    """Its topic when last asked."""
    attempts: int
    """Scored answers to it as a main question."""
    latest: float
    """Most recent overall score."""
    best: float
    """Best overall score."""
    last_answered_at: datetime
    """When it was last answered (UTC)."""

"""The interview runner: steps a session through asked → answered → graded → follow-up or next → finished.

:meth:`InterviewRunner.advance` is the one step both front ends (the Streamlit page and the terminal) call; they
only render what it reports. Everything the runner knows about a session is in the database, so any process can
pick a session up
where another stopped: the stage is derived from the stored turns (:func:`stage_of`), every turn is
committed before the next step starts, and an answer stored but not graded (a crash while grading) is
simply graded on resume. Questions and rubrics are graded from the snapshot taken when they were asked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from simulator.content.schemas import Question, Rubric
from simulator.grading.contract import OFFLINE_JUDGE, Grade, GradeFn, unscored
from simulator.grading.spec import GradingSpec, SpecPoint, spec_from_question
from simulator.injection import has_visible_text
from simulator.interview.interviewer import FollowUpChoice, Interviewer, Previous, Speech, choose_follow_up
from simulator.interview.plan import QuestionPlan, make_plan
from simulator.interview.policy import MAX_ANSWER_CHARS, STRONG_ANSWER
from simulator.speech.delivery import Delivery
from simulator.storage.records import ConflictError, Recording, SessionDetail, SessionSettings, TurnRecord
from simulator.storage.store import Store


class Stage(StrEnum):
    READY = "ready"
    """Nothing is waiting: the interviewer speaks next (first question, follow-up or next question)."""
    ASKED = "asked"
    """A question or follow-up waits for the candidate's answer."""
    ANSWERED = "answered"
    """An answer is stored but not graded yet."""
    GRADED = "graded"
    """The last answer is graded; the interviewer speaks next."""
    FINISHED = "finished"
    ABANDONED = "abandoned"


class InterviewError(ValueError):
    """An action that does not fit the session's stage (e.g. answering when nothing was asked)."""


def stage_of(detail: SessionDetail) -> Stage:
    if detail.status == "finished":
        return Stage.FINISHED
    if detail.status == "abandoned":
        return Stage.ABANDONED
    spoken = [t for t in detail.turns if t.kind != "note"]
    if not spoken:
        return Stage.READY
    last = spoken[-1]
    if last.kind in ("question", "follow_up"):
        return Stage.ASKED
    return Stage.GRADED if last.grade is not None else Stage.ANSWERED


def awaiting_turn(detail: SessionDetail) -> TurnRecord | None:
    """The question or follow-up the candidate is expected to answer now, if any."""
    return _last_spoken(detail) if stage_of(detail) == Stage.ASKED else None


@dataclass(frozen=True)
class AnswerReceipt:
    turn_id: int
    """The stored answer turn."""
    notices: list[str]
    """Things the candidate should be told (answer cut at the limit, over the time limit)."""


@dataclass
class PendingTurn:
    """What the interviewer is about to say. Stream it with :meth:`stream` (stored when the stream ends)
    or call :meth:`commit` directly; either way the turn is stored once."""

    kind: Literal["question", "follow_up"]
    question: Question
    speech: Speech
    _store: Any = field(repr=False)
    turn_id: int | None = None

    def stream(self) -> Iterator[str]:
        yield from self.speech
        self.commit()

    def commit(self) -> int:
        if self.turn_id is None:
            self.turn_id = self._store(self.speech.text, dict(self.speech.meta))
        return self.turn_id

    @property
    def text(self) -> str:
        return self.speech.text


@dataclass
class Step:
    """What one call of :meth:`InterviewRunner.advance` did, for a front end to show."""

    kind: Literal["speak", "await", "graded", "ended"]
    """``speak``: the interviewer has a turn to deliver (``pending``); ``await``: a question waits for the
    candidate (``waiting``); ``graded``: answers were graded (``grades``; ``receipt`` when this call stored the
    answer); ``ended``: the session is finished or abandoned."""
    pending: PendingTurn | None = None
    waiting: TurnRecord | None = None
    receipt: AnswerReceipt | None = None
    grades: list[Grade] = field(default_factory=list)


class InterviewRunner:
    """Runs interviews against a :class:`Store` with one interviewer and one judge.

    ``fallback_judge`` (the offline judge) grades an answer whenever ``judge`` returns an unscored grade,
    e.g. an LLM endpoint that is down; the stored grade then says which judge produced it and why.
    """

    def __init__(self, store: Store, questions: Mapping[str, Question], rubrics: Mapping[str, Rubric],
                 judge: GradeFn, interviewer: Interviewer, judge_name: str,
                 fallback_judge: GradeFn | None = None):
        self.store = store
        self.questions = questions
        self.rubrics = rubrics
        self.judge = judge
        self.fallback_judge = fallback_judge
        self.interviewer = interviewer
        self.judge_name = judge_name

    # -- lifecycle

    def plan(self, profile: str, settings: SessionSettings, seed: int | None = None) -> QuestionPlan:
        return make_plan(self.questions, settings, self.store.question_scores(profile), seed)

    def start(self, profile: str, settings: SessionSettings, seed: int | None = None) -> int:
        """Plan and open a session; returns its id. Raises ``PlanError`` when nothing matches."""
        plan = self.plan(profile, settings, seed)
        session_id = self.store.create_session(profile, settings, self.interviewer.name, self.judge_name,
                                               plan.question_ids)
        for note in plan.notes:
            self.store.add_turn(session_id, "interviewer", "note", f"Plan: {note}.")
        return session_id

    def detail(self, session_id: int) -> SessionDetail:
        return self.store.session_detail(session_id)

    def stage(self, session_id: int) -> Stage:
        return stage_of(self.detail(session_id))

    def abandon(self, session_id: int) -> None:
        self.store.abandon_session(session_id)

    def finish(self, session_id: int) -> None:
        """End the session now, keeping every answer so far."""
        self.store.finish_session(session_id)

    # -- the one step both front ends drive

    def advance(self, session_id: int, answer: str | None = None, duration_s: float | None = None,
                delivery: Delivery | None = None, recording: Recording | None = None) -> Step:
        """Do the next thing the session needs and report it.

        An ungraded answer (left by a crash) is graded first. When a question waits, ``answer`` is stored and
        graded; without one the step just reports the waiting question. Otherwise the interviewer's next turn is
        returned uncommitted (stream it or commit it); when the plan is done the session is finished. A spoken
        answer's ``delivery`` (and ``recording``, when kept) is stored with it and never reaches the judge.
        """
        detail = self.detail(session_id)
        stage = stage_of(detail)
        if stage in (Stage.FINISHED, Stage.ABANDONED):
            return Step("ended")
        if stage == Stage.ANSWERED:
            return Step("graded", grades=self.grade_pending(session_id))
        if stage == Stage.ASKED:
            if answer is None:
                return Step("await", waiting=awaiting_turn(detail))
            receipt = self.answer(session_id, answer, duration_s, delivery, recording)
            return Step("graded", receipt=receipt, grades=self.grade_pending(session_id))
        pending = self.next_turn(session_id)
        return Step("ended") if pending is None else Step("speak", pending=pending)

    # -- the interviewer's turn

    def next_turn(self, session_id: int) -> PendingTurn | None:
        """What the interviewer says next, or None when the plan is done (the session is then finished).

        Only valid when nothing is waiting (stage ready or graded); an ungraded answer must be graded first.
        """
        detail = self.detail(session_id)
        stage = stage_of(detail)
        if stage == Stage.ASKED:
            raise InterviewError("the candidate has not answered the current question yet")
        if stage == Stage.ANSWERED:
            raise InterviewError("the last answer is not graded yet")
        if stage in (Stage.FINISHED, Stage.ABANDONED):
            return None
        follow_up = self._follow_up(detail)
        if follow_up is not None:
            return follow_up
        return self._next_question(detail)

    def _follow_up(self, detail: SessionDetail) -> PendingTurn | None:
        main = _current_main(detail)
        if main is None or main.question_snapshot is None:
            return None
        asked = [t for t in detail.turns if t.kind == "follow_up" and t.parent_turn_id == main.id]
        if len(asked) >= detail.settings.follow_ups:
            return None
        question, rubrics = main.question(), main.rubrics()
        assert question is not None
        grade = _combined_grade(detail, main)
        choice = choose_follow_up(question, rubrics, grade, [t.meta.get("follow_up", "") for t in asked])
        if choice is None:
            return None
        last_answer = detail.answers[-1].text if detail.answers else ""
        speech = self.interviewer.follow_up(question, choice, last_answer)
        meta = _follow_up_meta(choice)
        last_seq = detail.turns[-1].seq

        def store(text: str, speech_meta: dict[str, Any]) -> int:
            return self._store_spoken(detail.id, last_seq, "follow_up", text, question, rubrics,
                                      {**speech_meta, **meta}, parent_turn_id=main.id)

        return PendingTurn("follow_up", question, speech, store)

    def _next_question(self, detail: SessionDetail) -> PendingTurn | None:
        asked = sum(1 for t in detail.turns if t.kind == "question")
        last_seq = detail.turns[-1].seq if detail.turns else 0
        for position in range(asked, len(detail.plan)):
            question = self.questions.get(detail.plan[position])
            if question is not None:
                break
            # The YAML changed since the plan was made; say so in the transcript and skip it.
            note_id = self.store.add_turn(detail.id, "interviewer", "note",
                                          f"Skipped {detail.plan[position]!r}: it is no longer in the question bank.")
            last_seq = next(t.seq for t in self.detail(detail.id).turns if t.id == note_id)
        else:
            self.store.advance(detail.id, len(detail.plan))
            self.store.finish_session(detail.id)
            return None
        rubrics = {r: self.rubrics[r] for r in question.rubrics}
        speech = self.interviewer.ask(question, position, len(detail.plan), _previous(detail))

        def store(text: str, speech_meta: dict[str, Any]) -> int:
            turn_id = self._store_spoken(detail.id, last_seq, "question", text, question, rubrics,
                                         {**speech_meta, "plan_position": position})
            self.store.advance(detail.id, position + 1)
            return turn_id

        return PendingTurn("question", question, speech, store)

    def _store_spoken(self, session_id: int, expected_last_seq: int, kind: Literal["question", "follow_up"],
                      text: str, question: Question, rubrics: Mapping[str, Rubric], meta: dict[str, Any],
                      parent_turn_id: int | None = None) -> int:
        try:
            return self.store.add_turn(session_id, "interviewer", kind, text, question=question, rubrics=rubrics,
                                       parent_turn_id=parent_turn_id, meta=meta, after_seq=expected_last_seq)
        except ConflictError:
            # Another run (a double-clicked button, a rerun, a second tab) already spoke: keep that turn,
            # not a duplicate. The check and the write are one transaction, so racing runs cannot both store.
            waiting = awaiting_turn(self.detail(session_id))
            if waiting is not None:
                return waiting.id
            raise InterviewError("the session moved on while the interviewer was speaking") from None

    # -- the candidate's turn

    def answer(self, session_id: int, text: str, duration_s: float | None = None, delivery: Delivery | None = None,
               recording: Recording | None = None) -> AnswerReceipt:
        """Store the candidate's answer to the waiting question (committed before any grading)."""
        detail = self.detail(session_id)
        waiting = awaiting_turn(detail)
        if waiting is None:
            raise InterviewError(f"session {session_id} is not waiting for an answer (stage {stage_of(detail)})")
        seen_seq = detail.turns[-1].seq
        if not text or not has_visible_text(text):
            raise InterviewError("the answer is empty (nothing visible once blank and invisible characters are "
                                 "removed); write something, even 'I don't know', to go on")
        # A lone surrogate (possible from some clipboards) cannot be stored as UTF-8; keep the rest of the answer.
        text = text.encode("utf-8", "replace").decode("utf-8")
        meta: dict[str, Any] = {}
        notices: list[str] = []
        if len(text) > MAX_ANSWER_CHARS:
            meta["truncated_from_chars"] = len(text)
            notices.append(f"Your answer had {len(text):,} characters; only the first {MAX_ANSWER_CHARS:,} "
                           "are kept.")
            text = text[:MAX_ANSWER_CHARS]
        limit = detail.settings.time_limit_s
        if limit is not None and duration_s is not None and duration_s > limit:
            meta["over_time_limit_s"] = limit
            notices.append(f"You took {duration_s:.0f} s; the soft limit is {limit} s.")
        try:
            turn_id = self.store.add_turn(session_id, "candidate", "answer", text, parent_turn_id=waiting.id,
                                          meta=meta, duration_s=None if duration_s is None else round(duration_s, 3),
                                          after_seq=seen_seq, delivery=delivery, recording=recording)
        except ConflictError:
            # A second submit (another tab, a double click) stored its answer first: one answer per question.
            raise InterviewError(f"session {session_id} changed while the answer was being saved (already "
                                 f"answered?): stage {self.stage(session_id)}") from None
        return AnswerReceipt(turn_id, notices)

    def grade_pending(self, session_id: int) -> list[Grade]:
        """Grade every stored answer that has no grade yet (normally one; more after a crash)."""
        detail = self.detail(session_id)
        by_id = {t.id: t for t in detail.turns}
        grades = []
        for answer in detail.pending_grades:
            parent = by_id.get(answer.parent_turn_id or -1)
            grade = self._grade(parent, answer.text)
            try:
                self.store.attach_grade(answer.id, grade)
            except ConflictError:
                # Another run graded it while this one was grading: the first grade stored is the grade.
                stored = next(t.grade for t in self.detail(session_id).turns if t.id == answer.id)
                assert stored is not None
                grade = stored
            grades.append(grade)
        return grades

    def _grade(self, asked: TurnRecord | None, answer: str) -> Grade:
        spec = spec_for_turn(asked) if asked is not None else None
        if spec is None:
            return unscored(self.judge_name, "the question this answer replies to has no snapshot to grade against")
        started = time.perf_counter()
        grade = _safe_grade(self.judge, spec, answer, self.judge_name)
        if grade.status == "scored" or self.fallback_judge is None:
            return grade
        backup = _safe_grade(self.fallback_judge, spec, answer, OFFLINE_JUDGE)
        if backup.status != "scored":
            return grade
        return backup.model_copy(update={
            "reason": f"{grade.judge} judge failed ({grade.reason}); graded by the offline judge instead",
            "flags": [*backup.flags, "judge-fallback"],
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        })


def spec_for_turn(asked: TurnRecord) -> GradingSpec | None:
    """The grading spec for an answer to ``asked``, built from the snapshot stored with that turn.

    A follow-up is graded on the criterion it probes: that criterion's key points for the question plus what
    the follow-up expects a strong answer to say (its ``expects``), and the misconceptions that cap the
    criterion or the overall score.
    """
    question = asked.question()
    if question is None:
        return None
    spec = spec_from_question(question, asked.rubrics())
    key = asked.meta.get("criterion") if asked.kind == "follow_up" else None
    if not key or key not in {c.key for c in spec.criteria}:
        return spec
    prompt = asked.meta.get("follow_up")
    expects = next((f.expects for f in question.follow_ups if f.prompt.strip() == (prompt or "").strip()), [])
    return spec.model_copy(update={
        "question": prompt or asked.text,
        "criteria": [c for c in spec.criteria if c.key == key],
        "key_points": spec.points_for(key) + [SpecPoint(text=text, criterion_key=key) for text in expects],
        "misconceptions": [m for m in spec.misconceptions if m.criterion_key in (key, None)],
    })


def _safe_grade(judge: GradeFn, spec: GradingSpec, answer: str, judge_name: str) -> Grade:
    try:
        return judge(spec, answer)
    except Exception as exc:  # a judge bug must not lose the answer: it becomes an unscored grade
        return unscored(judge_name, f"the judge crashed: {type(exc).__name__}: {exc}")


def _last_spoken(detail: SessionDetail) -> TurnRecord | None:
    return next((t for t in reversed(detail.turns) if t.kind != "note"), None)


def _current_main(detail: SessionDetail) -> TurnRecord | None:
    return next((t for t in reversed(detail.turns) if t.kind == "question"), None)


def _combined_grade(detail: SessionDetail, main: TurnRecord) -> Grade | None:
    """The main answer's grade, with each criterion raised to what later follow-up answers showed."""
    answers = [t for t in detail.answers if t.grade is not None]
    main_answer = next((a for a in answers if a.parent_turn_id == main.id), None)
    if main_answer is None or main_answer.grade is None:
        return None
    follow_up_ids = {t.id for t in detail.turns if t.kind == "follow_up" and t.parent_turn_id == main.id}
    later = [a.grade for a in answers if a.parent_turn_id in follow_up_ids and a.grade and a.grade.status == "scored"]
    if not later:
        return main_answer.grade
    best = {c.key: c.level for g in later for c in g.criteria}
    covered = {p.key_point for g in later for p in g.points if p.covered}
    grade = main_answer.grade
    return grade.model_copy(update={
        "criteria": [c.model_copy(update={"level": max(c.level, best.get(c.key, 0))}) for c in grade.criteria],
        "points": [p.model_copy(update={"covered": p.covered or p.key_point in covered}) for p in grade.points],
    })


def _previous(detail: SessionDetail) -> Previous | None:
    """The main question asked last and whether its answer scored well, for the interviewer's next lead-in."""
    main = _current_main(detail)
    question = main.question() if main is not None else None
    if main is None or question is None:
        return None
    grade = _combined_grade(detail, main)
    if grade is None or grade.status != "scored" or grade.overall is None:
        return Previous(topic=question.topic, strong=None)
    return Previous(topic=question.topic, strong=grade.overall >= STRONG_ANSWER)


def _follow_up_meta(choice: FollowUpChoice) -> dict[str, Any]:
    return {"criterion": choice.criterion_key, "criterion_title": choice.criterion_title,
            "follow_up": choice.follow_up.prompt, "level": choice.level, "missed": choice.missed}


"""Interview page: set-up form, then the chat (question, answer, grade card, follow-up...), then a scorecard.

The open session's id lives in the URL (``?session=ID``), so a page refresh resumes it; everything else
is read back from the database on each run.
"""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from pages import components
from simulator import resources
from simulator.engine import InterviewEngine, InterviewError, Stage, awaiting_turn, stage_of
from simulator.export import average_score, inert_markdown
from simulator.plan import PlanError
from simulator.store import NotFoundError, SessionDetail, SessionSettings

SESSION_PARAM = "session"


def current_session_id() -> int | None:
    raw = st.query_params.get(SESSION_PARAM)
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


def open_session(session_id: int | None) -> None:
    if session_id is None:
        st.query_params.pop(SESSION_PARAM, None)
    else:
        st.query_params[SESSION_PARAM] = str(session_id)


# ---------------------------------------------------------------- set-up


def setup_form() -> None:
    st.caption("Practise the question every AI engineer gets: RAG or fine-tuning? Answer in your own words; "
               "every answer is graded against rubrics and the knowledge notes, with the evidence shown.")
    profile = st.text_input("Profile", value=st.session_state.get("profile", "candidate"), max_chars=60,
                            help="Your name or handle; progress and weak-topic plans are kept per profile.")
    st.session_state["profile"] = profile
    offer_resume(profile)
    bundle = resources.content()
    preferences, _ = resources.app_settings()
    llm_ready = resources.llm_config() is not None
    with st.form("setup"):
        left, right = st.columns(2)
        topics = left.multiselect("Topics", bundle.topics(), placeholder="All topics")
        difficulty = left.multiselect("Difficulty", ["easy", "medium", "hard"], placeholder="Any difficulty")
        mode = left.selectbox("Plan", ["mixed", "weakest-first", "retry-low"], format_func=PLAN_LABELS.get)
        questions = right.slider("Questions", 1, 10, 3)
        follow_ups = right.number_input("Follow-ups per question", 0, 3, 1)
        limit = right.number_input("Soft time limit per answer (seconds, 0 for none)", 0, 3600, 0, step=30)
        interviewer = left.radio("Interviewer", ["offline", "llm"], horizontal=True, format_func=ROLE_LABELS.get,
                                 index=["offline", "llm"].index(preferences.default_interviewer))
        judge = right.radio("Judge", ["offline", "llm"], horizontal=True, format_func=ROLE_LABELS.get,
                            index=["offline", "llm"].index(preferences.default_judge))
        if not llm_ready:
            st.caption("No LLM endpoint is configured (see Settings), so the offline interviewer and judge are "
                       "used; they need nothing but this machine.")
        started = st.form_submit_button("Start interview", type="primary")
    if started:
        start(profile, SessionSettings(
            questions=questions, topics=topics, difficulty=difficulty, mode=mode, follow_ups=int(follow_ups),
            time_limit_s=int(limit) or None, interviewer=interviewer if llm_ready else "offline",
            judge=judge if llm_ready else "offline",
        ))


PLAN_LABELS = {"mixed": "Mixed topics", "weakest-first": "Weakest topics first",
               "retry-low": "Retry questions I scored low on"}
ROLE_LABELS = {"offline": "Offline", "llm": "LLM"}


def offer_resume(profile: str) -> None:
    try:
        waiting = resources.store().open_session_for(profile) if profile.strip() else None
    except ValueError:
        return
    if waiting is None:
        return
    with st.container(border=True):
        st.write(f"You have an open interview (#{waiting.id}, started {waiting.started_at:%Y-%m-%d %H:%M} UTC, "
                 f"{len(waiting.answers)} answer(s) so far).")
        resume, drop = st.columns(2)
        if resume.button("Resume it", type="primary", key="resume-open"):
            open_session(waiting.id)
            st.rerun()
        if drop.button("Abandon it", key="abandon-open"):
            resources.store().abandon_session(waiting.id)
            st.rerun()


def start(profile: str, settings: SessionSettings) -> None:
    try:
        session_id = resources.engine(settings.interviewer, settings.judge).start(profile, settings)
    except (PlanError, RuntimeError, ValueError) as exc:
        st.error(str(exc))
        return
    open_session(session_id)
    st.rerun()


# ---------------------------------------------------------------- the interview


def engine_for(detail: SessionDetail) -> InterviewEngine:
    try:
        return resources.engine(detail.settings.interviewer, detail.settings.judge, seed=detail.id)
    except RuntimeError as exc:
        st.warning(f"{exc}. Continuing with the offline interviewer and judge.")
        return resources.engine("offline", "offline", seed=detail.id)


def run_session(session_id: int) -> None:
    try:
        detail = resources.store().session_detail(session_id)
    except NotFoundError:
        st.error(f"There is no interview #{session_id}.")
        open_session(None)
        return
    if detail.status != "active":
        scorecard(detail)
        return
    engine = engine_for(detail)
    header(detail)
    components.transcript(detail)
    step(engine, detail)


def header(detail: SessionDetail) -> None:
    asked = sum(t.kind == "question" for t in detail.turns)
    st.progress(min(asked, len(detail.plan)) / len(detail.plan),
                text=f"Question {max(asked, 1)} of {len(detail.plan)} · profile {inert_markdown(detail.profile)} · "
                     f"interviewer {detail.interviewer} · judge {detail.judge}")
    with st.sidebar:
        st.caption(f"Interview #{detail.id}")
        if st.button("Finish now", help="End the interview here and see the scorecard"):
            resources.store().finish_session(detail.id)
            st.rerun()
        if st.button("Abandon interview"):
            resources.store().abandon_session(detail.id)
            st.rerun()


def step(engine: InterviewEngine, detail: SessionDetail) -> None:
    """One run of the live chat. Everything new is drawn in this same run (no rerun), so no stale element
    from the previous run can flash in its place."""
    answer = st.chat_input("Your answer (Shift+Enter for a new line)")
    if stage_of(detail) == Stage.ANSWERED:  # a grade lost to a crash or closed tab: grade, then redraw
        with st.spinner("Grading your earlier answer…"):
            engine.grade_pending(detail.id)
        st.rerun()
    if answer and stage_of(detail) == Stage.ASKED:
        take_answer(engine, detail, answer)
        detail = engine.detail(detail.id)
    if stage_of(detail) in (Stage.READY, Stage.GRADED):
        speak(engine, detail)
        detail = engine.detail(detail.id)
    waiting = awaiting_turn(detail)
    if waiting is not None:
        timer(waiting.created_at, detail.settings.time_limit_s)


def speak(engine: InterviewEngine, detail: SessionDetail) -> None:
    pending = engine.next_turn(detail.id)
    if pending is None:
        st.rerun()  # the plan is done: show the scorecard
    with st.chat_message("assistant", avatar=components.AVATARS["interviewer"]):
        if pending.kind == "follow_up":
            st.caption("Follow-up")
        if detail.settings.interviewer == "llm":
            st.write_stream(pending.stream())
        else:
            pending.commit()
            components.inert(pending.text)


def take_answer(engine: InterviewEngine, detail: SessionDetail, answer: str) -> None:
    waiting = awaiting_turn(detail)
    assert waiting is not None
    with st.chat_message("user", avatar=components.AVATARS["candidate"]):
        components.inert(answer)
        try:
            receipt = engine.answer(detail.id, answer, duration_s=seconds_since(waiting.created_at))
        except InterviewError as exc:
            st.error(str(exc))
            return
        for notice in receipt.notices:
            st.info(notice)
        with st.spinner("Grading your answer…"):
            grades = engine.grade_pending(detail.id)
        for grade in grades:
            components.grade_card(grade, key=str(receipt.turn_id))
        question = waiting.question() if waiting.kind == "question" else None
        if question is not None:
            with st.expander("Model answer", icon=":material/lightbulb:"):
                st.markdown(inert_markdown(question.model_answer))


def seconds_since(moment: datetime) -> float:
    return max(0.0, (datetime.now(UTC) - moment).total_seconds())


@st.fragment(run_every=1)
def timer(asked_at: datetime, limit: int | None) -> None:
    elapsed = int(seconds_since(asked_at))
    text = f":material/timer: {elapsed // 60}:{elapsed % 60:02d}"
    if limit:
        text += f" of a soft {limit // 60}:{limit % 60:02d}" + (" · over time" if elapsed > limit else "")
    st.caption(text)


# ---------------------------------------------------------------- the end


def scorecard(detail: SessionDetail) -> None:
    average = average_score(detail)
    if detail.status == "abandoned":
        st.warning(f"Interview #{detail.id} was abandoned. Its answers are kept in Review.")
    else:
        st.success(f"Interview #{detail.id} finished.")
    st.metric("Average score", "not scored" if average is None else f"{average:.1f} / 10")
    rows = question_rows(detail)
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch")
    low = [r for r in rows if r["score"] is not None and r["score"] < 6]
    st.page_link("pages/review.py", label="Open this interview in Review (downloads, model answers)",
                 icon=":material/history:", query_params={SESSION_PARAM: str(detail.id)})
    again, fresh = st.columns(2)
    if again.button("Retry weak questions", type="primary", disabled=not low,
                    help="A new interview with the questions you scored below 6 on, lowest first"):
        retry = detail.settings.model_copy(update={"mode": "retry-low", "topics": [], "difficulty": [],
                                                   "questions": max(1, len(low))})
        start(detail.profile, retry)
    if fresh.button("New interview"):
        open_session(None)
        st.rerun()
    with st.expander("Transcript"):
        components.transcript(detail)


def question_rows(detail: SessionDetail) -> list[dict]:
    rows = []
    answers_to = {a.parent_turn_id: a for a in detail.answers}
    for turn in detail.turns:
        if turn.kind != "question":
            continue
        answer = answers_to.get(turn.id)
        grade = answer.grade if answer else None
        question = turn.question()
        follow_ups = sum(t.kind == "follow_up" and t.parent_turn_id == turn.id for t in detail.turns)
        rows.append({"question": question.prompt if question else turn.text,
                     "topic": question.topic if question else "",
                     "score": grade.overall if grade and grade.status == "scored" else None,
                     "judge": grade.judge if grade else "", "follow-ups": follow_ups})
    return rows


st.title("Interview")
session = current_session_id()
if session is None:
    setup_form()
else:
    run_session(session)

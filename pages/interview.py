"""Interview page: set-up form, then the chat (question, answer, grade card, follow-up...), then a scorecard.

The open session's id lives in the URL (``?session=ID``), so a page refresh resumes it; everything else
is read back from the database on each run.
"""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from app import services, widgets
from app.services import (
    LOW_SCORE,
    InterviewError,
    InterviewRunner,
    NotFoundError,
    PlanError,
    SessionDetail,
    SessionSettings,
    Step,
    awaiting_turn,
)

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
                            help="Your name or handle; progress and weak-topic plans are kept per profile.",
                            key="setup_profile")
    st.session_state["profile"] = profile
    offer_resume(profile)
    bundle = services.content()
    preferences, _ = services.saved_settings()
    llm_ready = services.llm_ready()
    with st.form("setup"):
        left, right = st.columns(2)
        topics = left.multiselect("Topics", bundle.topics(), placeholder="All topics", key="setup_topics")
        difficulty = left.multiselect("Difficulty", ["easy", "medium", "hard"], placeholder="Any difficulty",
                                      key="setup_difficulty")
        mode = left.selectbox("Plan", ["mixed", "weakest-first", "retry-low"], format_func=PLAN_LABELS.get,
                              key="setup_plan")
        questions = right.slider("Questions", 1, 10, 3, key="setup_questions")
        follow_ups = right.number_input("Follow-ups per question", 0, 3, 1, key="setup_follow_ups")
        limit = right.number_input("Soft time limit per answer (seconds, 0 for none)", 0, 3600, 0, step=30,
                                   key="setup_time_limit")
        interviewer = left.radio("Interviewer", ["offline", "llm"], horizontal=True, format_func=ROLE_LABELS.get,
                                 index=["offline", "llm"].index(preferences.default_interviewer),
                                 key="setup_interviewer")
        judge = right.radio("Judge", ["offline", "llm"], horizontal=True, format_func=ROLE_LABELS.get,
                            index=["offline", "llm"].index(preferences.default_judge), key="setup_judge")
        if not llm_ready:
            st.caption("No LLM endpoint is configured (see Settings), so the offline interviewer and judge are "
                       "used; they need nothing but this machine.")
        started = st.form_submit_button("Start interview", type="primary", key="setup_start")
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
    waiting = services.open_session_for(profile)
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
            services.abandon(waiting.id)
            st.rerun()


def start(profile: str, settings: SessionSettings) -> None:
    try:
        session_id = services.start_interview(profile, settings)
    except (PlanError, ValueError) as exc:
        st.error(str(exc))
        return
    open_session(session_id)
    st.rerun()


# ---------------------------------------------------------------- the interview


def run_session(session_id: int) -> None:
    try:
        detail = services.session(session_id)
    except NotFoundError:
        st.error(f"There is no interview #{session_id} among yours.")
        open_session(None)
        return
    if detail.status != "active":
        scorecard(detail)
        return
    header(detail)
    widgets.transcript(detail)
    chat(detail)


def header(detail: SessionDetail) -> None:
    asked = sum(t.kind == "question" for t in detail.turns)
    st.progress(min(asked, len(detail.plan)) / len(detail.plan),
                text=f"Question {max(asked, 1)} of {len(detail.plan)}")
    with st.sidebar:  # names typed by people stay out of the Markdown caption and progress label
        st.caption(f"Interview #{detail.id}")
        widgets.literal_caption(f"Profile: {detail.profile}\nInterviewer: {detail.interviewer}\n"
                                f"Judge: {detail.judge}")
        if st.button("Finish now", help="End the interview here and see the scorecard", key="finish_now"):
            services.finish(detail.id)
            st.rerun()
        if st.button("Abandon interview", key="abandon_interview"):
            services.abandon(detail.id)
            st.rerun()


def chat(detail: SessionDetail) -> None:
    """One run of the live chat: advance the session until it waits for the candidate, drawing each step in this
    same run (no rerun), so no stale element from the previous run can flash in its place."""
    runner, notice = services.session_runner(detail)
    if notice:
        st.warning(notice)
    restore_failed_answer()
    answer = st.chat_input("Your answer (Shift+Enter for a new line)", key="answer")
    waiting = awaiting_turn(detail)
    typed = answer if answer and waiting is not None else None
    while True:
        if typed is not None:
            show_answer(runner, detail, typed, seconds_since(waiting.created_at))
            typed = None
            continue
        step = services.advance(runner, detail.id)
        if step.kind == "graded":  # a grade lost to a crash or closed tab: graded now, then redrawn in place
            st.rerun()
        if step.kind == "ended":
            st.rerun()  # the plan is done: show the scorecard
        if step.kind == "await":
            timer(step.waiting.created_at, detail.settings.time_limit_s)
            return
        speak(step, detail)


def speak(step: Step, detail: SessionDetail) -> None:
    pending = step.pending
    with st.chat_message("assistant", avatar=widgets.AVATARS["interviewer"]):
        if pending.kind == "follow_up":
            st.caption("Follow-up")
        if detail.settings.interviewer == "llm":
            widgets.literal_stream(pending.stream())
        else:
            pending.commit()
            widgets.literal(pending.text)


def show_answer(runner: InterviewRunner, detail: SessionDetail, answer: str, duration_s: float) -> None:
    waiting = awaiting_turn(detail)
    with st.chat_message("user", avatar=widgets.AVATARS["candidate"]):
        widgets.inert(answer)
        try:
            with st.spinner("Grading your answer…"):
                step = services.advance(runner, detail.id, answer, duration_s)
        except InterviewError as exc:
            st.error(str(exc))
            return
        except services.StorageUnavailable as exc:
            # nothing was stored: put the answer back in the box and say why, after the rerun that refills it
            st.session_state[FAILED_SAVE] = (answer, str(exc))
            st.rerun()
        for notice in step.receipt.notices if step.receipt else []:
            st.info(notice)
        for grade in step.grades:
            widgets.grade_card(grade, key=str(step.receipt.turn_id if step.receipt else detail.id))
        question = waiting.question() if waiting is not None and waiting.kind == "question" else None
        if question is not None:
            widgets.model_answer(question.model_answer)


FAILED_SAVE = "failed_save"


def restore_failed_answer() -> None:
    """After a failed save: the typed answer back in the input (set before the input is drawn) and the reason."""
    failed = st.session_state.pop(FAILED_SAVE, None)
    if failed is None:
        return
    answer, reason = failed
    st.session_state["answer"] = answer
    st.error(f"Your answer was not saved. {reason} It is back in the box below: send it again when this is "
             "fixed.", icon=":material/error:")


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
    average = services.average_score(detail)
    if detail.status == "abandoned":
        st.warning(f"Interview #{detail.id} was abandoned. Its answers are kept in Review.")
    else:
        st.success(f"Interview #{detail.id} finished.")
    st.metric("Average score", "not scored" if average is None else f"{average:.1f} / 10")
    rows = question_rows(detail)
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch")
    low = [r for r in rows if r["score"] is not None and r["score"] < LOW_SCORE]
    st.page_link("pages/review.py", label="Open this interview in Review (downloads, model answers)",
                 icon=":material/history:", query_params={SESSION_PARAM: str(detail.id)})
    again, fresh = st.columns(2)
    if again.button("Retry weak questions", type="primary", disabled=not low, key="retry_weak",
                    help="A new interview with the questions you scored below 6 on, lowest first"):
        retry = detail.settings.model_copy(update={"mode": "retry-low", "topics": [], "difficulty": [],
                                                   "questions": max(1, len(low))})
        start(detail.profile, retry)
    if fresh.button("New interview", key="new_interview"):
        open_session(None)
        st.rerun()
    with st.expander("Transcript"):
        widgets.transcript(detail)


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
if services.viewer().read_only:
    st.info("You are looking at a candidate's data as a coach: their interviews are in Review and their progress "
            "in Progress. Switch back to yourself in the sidebar to practise.", icon=":material/visibility:")
elif session is None:
    setup_form()
else:
    run_session(session)

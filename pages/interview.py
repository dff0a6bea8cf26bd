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


INTRO = (
    "**How it works.** You answer interview questions on RAG versus fine-tuning in your own words; the interviewer "
    "may follow up on the weakest part of an answer.  \n"
    "**How long.** A quick drill is 3 questions, about 10 minutes; a full interview 15 to 30.  \n"
    "**What a score means.** Each answer gets 0 to 10 against a rubric, with the evidence shown: 8 or more is "
    "strong, 6 solid, 4 partial, below 4 weak."
)


def setup_form() -> None:
    st.markdown(INTRO)
    profile = st.text_input("Profile", value=st.session_state.get("profile", "candidate"), max_chars=60,
                            help="Your name or handle; progress and practice plans are kept per profile.",
                            key="setup_profile")
    st.session_state["profile"] = profile
    offer_resume(profile)
    offer_due_practice(profile)
    if st.button("Quick drill: RAG or fine-tuning? (3 questions)", type="primary", icon=":material/bolt:",
                 key="quick_drill", width="stretch"):
        start(profile, services.quick_drill_settings())
    with st.expander("Full set-up: topics, difficulty, length, interviewer and judge", icon=":material/tune:"):
        full_setup(profile)


def full_setup(profile: str) -> None:
    bundle = services.content()
    preferences, _ = services.saved_settings()
    llm_ready = services.llm_ready()
    with st.form("setup", border=False):
        topics = st.multiselect("Topics", bundle.topics(), placeholder="All topics", key="setup_topics")
        difficulty = st.multiselect("Difficulty", ["easy", "medium", "hard"], placeholder="Any difficulty",
                                    key="setup_difficulty")
        mode = st.selectbox("Plan", ["mixed", "weakest-first", "retry-low"], format_func=PLAN_LABELS.get,
                            key="setup_plan")
        questions = st.slider("Questions", 1, 10, 3, key="setup_questions")
        follow_ups = st.number_input("Follow-ups per question", 0, 3, 1, key="setup_follow_ups")
        limit = st.number_input("Soft time limit per answer (seconds, 0 for none)", 0, 3600, 0, step=30,
                                key="setup_time_limit")
        interviewer = st.radio("Interviewer", ["offline", "llm"], horizontal=True, format_func=ROLE_LABELS.get,
                               index=_role_index(preferences.default_interviewer, llm_ready),
                               disabled=not llm_ready, key="setup_interviewer")
        judge = st.radio("Judge", ["offline", "llm"], horizontal=True, format_func=ROLE_LABELS.get,
                         index=_role_index(preferences.default_judge, llm_ready), disabled=not llm_ready,
                         key="setup_judge")
        if not llm_ready:
            st.caption("The LLM options need an endpoint: set one on the Settings page. Until then the offline "
                       "interviewer and judge run here, with nothing but this machine.")
        started = st.form_submit_button("Start interview", type="primary", key="setup_start")
    if not llm_ready:
        st.page_link("pages/settings.py", label="Set up an LLM endpoint", icon=":material/settings:")
    if started:
        start(profile, SessionSettings(
            questions=questions, topics=topics, difficulty=difficulty, mode=mode, follow_ups=int(follow_ups),
            time_limit_s=int(limit) or None, interviewer=interviewer if llm_ready else "offline",
            judge=judge if llm_ready else "offline",
        ))


def _role_index(preferred: str, llm_ready: bool) -> int:
    return 1 if preferred == "llm" and llm_ready else 0


def offer_due_practice(profile: str) -> None:
    """The practice plan's questions due today, one click away (the Progress page has the full list)."""
    due = services.practice_due(profile)
    if not due:
        return
    with st.container(border=True):
        st.markdown(f"**Due today:** {len(due)} question(s) from your practice plan (spaced repetition of your "
                    "latest scores; the list is on the Progress page).")
        if st.button("Practise what is due", icon=":material/event_repeat:", key="practise_due"):
            practice = services.practice_settings(profile)
            if practice is not None:
                start(profile, practice)


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
    progress_line = st.empty()
    show_progress(progress_line, detail, sum(t.kind == "question" for t in detail.turns))
    sidebar_controls(detail)
    widgets.transcript(detail)
    chat(detail, progress_line)


def show_progress(slot, detail: SessionDetail, asked: int) -> None:
    """The progress line; redrawn when this run asks the next question, so it names the question on screen."""
    total = len(detail.plan)
    slot.progress(min(asked, total) / total, text=f"Question {min(max(asked, 1), total)} of {total}")


def sidebar_controls(detail: SessionDetail) -> None:
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


def chat(detail: SessionDetail, progress_line) -> None:
    """One run of the live chat: advance the session until it waits for the candidate, drawing each step in this
    same run (no rerun), so no stale element from the previous run can flash in its place."""
    runner, notice = services.session_runner(detail)
    if notice:
        st.warning(notice)
    restore_failed_answer()
    answer = st.chat_input("Your answer (Shift+Enter for a new line)", key="answer")
    waiting = awaiting_turn(detail)
    spoken = widgets.take_spoken_answer(waiting)
    typed = spoken.text if spoken is not None else answer if answer and waiting is not None else None
    answered_now = typed is not None
    asked = sum(t.kind == "question" for t in detail.turns)
    while True:
        if typed is not None:
            show_answer(runner, detail, typed, seconds_since(waiting.created_at), spoken)
            typed = None
            continue
        step = services.advance(runner, detail.id)
        if step.kind == "graded":  # a grade lost to a crash or closed tab: graded now, then redrawn in place
            st.rerun()
        if step.kind == "ended":
            finished(answered_now)
            return
        if step.kind == "await":
            timer(step.waiting.created_at, detail.settings.time_limit_s)
            widgets.voice_panel(step.waiting)
            return
        if step.pending.kind == "question":
            asked += 1
            show_progress(progress_line, detail, asked)
        speak(step, detail)


def finished(answered_now: bool) -> None:
    """The plan is done. The last grade card stays on screen until the candidate moves on to the debrief."""
    if not answered_now:
        st.rerun()
    st.success("That was the last question.", icon=":material/flag:")
    if st.button("See your debrief", type="primary", icon=":material/summarize:", key="see_debrief"):
        st.rerun()


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
        if widgets.reading_aloud():
            widgets.read_aloud(pending.text, key=str(pending.turn_id))


def show_answer(runner: InterviewRunner, detail: SessionDetail, answer: str, duration_s: float,
                spoken: services.SpokenAnswer | None = None) -> None:
    waiting = awaiting_turn(detail)
    with st.chat_message("user", avatar=widgets.AVATARS["candidate"]):
        widgets.inert(answer)
        try:
            with st.spinner("Grading your answer…"):
                step = services.advance(runner, detail.id, answer, duration_s, spoken)
        except InterviewError as exc:
            st.error(str(exc))
            return
        except services.StorageUnavailable as exc:
            # nothing was stored: put the answer back (a spoken one stays in the voice panel) and say why
            st.session_state[FAILED_SAVE] = (None if spoken else answer, str(exc))
            st.rerun()
        if waiting is not None:
            widgets.forget_recording(waiting.id)
        for notice in step.receipt.notices if step.receipt else []:
            st.info(notice)
        question = waiting.question() if waiting is not None and waiting.kind == "question" else None
        model = question.model_answer if question is not None else None
        for grade in step.grades:
            widgets.grade_card(grade, key=str(step.receipt.turn_id if step.receipt else detail.id), answer=answer,
                               model_answer=model)
        if spoken is not None:
            widgets.delivery_card(spoken.delivery, key=str(step.receipt.turn_id if step.receipt else detail.id))


FAILED_SAVE = "failed_save"


def restore_failed_answer() -> None:
    """After a failed save: the typed answer back in the input (set before the input is drawn) and the reason."""
    failed = st.session_state.pop(FAILED_SAVE, None)
    if failed is None:
        return
    answer, reason = failed
    if answer is None:
        st.error(f"Your spoken answer was not saved. {reason} Its transcript is still in the voice panel below: "
                 "send it again when this is fixed.", icon=":material/error:")
        return
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
    """The debrief: the overall verdict, every answer (follow-ups too), strengths and gaps, and what to do next."""
    summary = services.debrief(detail)
    if detail.status == "abandoned":
        st.warning(f"Interview #{detail.id} was abandoned. Its answers are kept in Review.")
    st.subheader("Debrief")
    if summary.average is None:
        st.metric("Interview score", "not scored")
    else:
        st.metric("Interview score", f"{summary.average:.1f} / 10 · {services.verdict(summary.average)}",
                  help=AVERAGE_HELP)
    next_steps(detail, summary)
    strengths_and_gaps(summary)
    st.markdown("**Every answer**")
    number = 0
    for row in summary.rows:
        number += not row.follow_up
        answer_row(number, row)
    st.page_link("pages/review.py", label="Open this interview in Review (downloads, model answers)",
                 icon=":material/history:", query_params={SESSION_PARAM: str(detail.id)})
    with st.expander("Transcript"):
        widgets.transcript(detail)


AVERAGE_HELP = ("A question's score is the average of its answers (the main answer and its follow-ups); the "
                "interview's score is the average of its questions' scores. Review and Progress use the same rule.")


def next_steps(detail: SessionDetail, summary) -> None:
    low = [score for score in services.question_scores(detail).values() if score < LOW_SCORE]
    with st.container(horizontal=True):
        if summary.weakest is not None:
            key, title = summary.weakest
            if st.button(f"Practise my weakest criterion: {title}", type="primary", icon=":material/target:",
                         key="practise_weakest"):
                practice = services.practice_settings_for(detail, key)
                if practice is None:
                    st.info("No other question in the bank leans on that criterion yet.")
                else:
                    start(detail.profile, practice)
        if st.button("Retry weak questions", disabled=not low, key="retry_weak",
                     help="A new interview with the questions you scored below 6 on, lowest first"):
            retry = detail.settings.model_copy(update={"mode": "retry-low", "topics": [], "difficulty": [],
                                                       "question_ids": [], "questions": max(1, len(low))})
            start(detail.profile, retry)
        if st.button("New interview", key="new_interview", icon=":material/add:"):
            open_session(None)
            st.rerun()


def strengths_and_gaps(summary) -> None:
    good, work = st.columns(2)
    with good:
        st.markdown("**Strengths**")
        for line in summary.strengths or ["Nothing stood out yet: every criterion is below level 3."]:
            st.markdown(f"- {line}")
    with work:
        st.markdown("**Gaps to work on**")
        for line in summary.gaps or ["No criterion averaged below 2.5: keep practising the harder questions."]:
            st.markdown(f"- {line}")


def answer_row(n: int, row) -> None:
    """One answer as a compact card: readable on a phone, where a wide table would show only its first column."""
    with st.container(border=True):
        label = f"Follow-up to question {n}" if row.follow_up else f"Question {n}"
        score = "not scored" if row.score is None else f"{row.score:.1f} / 10 · {services.verdict(row.score)}"
        st.markdown(f"**{label}** · {score}")
        widgets.literal(row.asked)


st.title("Interview")
session = current_session_id()
if services.viewer().read_only:
    st.info("You are looking at a candidate's data as a coach: their interviews are in Review and their progress "
            "in Progress. Switch back to yourself in the sidebar to practise.", icon=":material/visibility:")
elif session is None:
    setup_form()
else:
    run_session(session)

"""Progress page: a profile's scores over time, averages by topic and by criterion, and what to practise next."""

from __future__ import annotations

import dataclasses
from statistics import fmean

import altair as alt
import pandas as pd
import streamlit as st

from app import services, widgets
from app.services import (
    CriterionAverage,
    ProgressReport,
    Question,
    ScorePoint,
    TopicAverage,
    WeakArea,
)

# Bare strings in a page script would be rendered by Streamlit's magic, so constants are explained in comments.
RECENT = 5  # answers covered by the "recent average" metric
TOOLTIP_CHARS = 90
INTERVIEW_PROFILE_KEY = "profile"  # where the Interview page keeps the profile typed there
BAR_HEIGHT = 26


def main() -> None:
    st.title("Progress")
    profile = _choose_profile()
    if profile is None:
        _nothing_yet("No profiles yet. Your progress appears here once you have answered a few questions.")
        return
    report = services.progress_report(profile)
    if report.empty:
        _nothing_yet("This profile has no scored answers yet. Answer a few questions and come back.")
        return
    _headline(report)
    _score_over_time(report.timeline, services.content().questions)
    topics, criteria = st.columns(2)
    with topics:
        _topic_chart(report.topics)
    with criteria:
        _criterion_chart(report.criteria)
    _weakest(report.weakest)


def _choose_profile() -> str | None:
    names = services.profile_names()
    if not names:
        return None
    return st.selectbox("Profile", names, index=names.index(_likely_profile(names)), key="progress_profile")


def _likely_profile(names: list[str]) -> str:
    """The profile typed on the Interview page this browser session, else whoever practised last."""
    typed = st.session_state.get(INTERVIEW_PROFILE_KEY)
    if typed in names:
        return typed
    newest = services.list_sessions(limit=1)
    return newest[0].profile if newest and newest[0].profile in names else names[0]


def _nothing_yet(message: str) -> None:
    st.info(message, icon=":material/monitoring:")
    st.page_link("pages/interview.py", label="Start an interview", icon=":material/record_voice_over:")


def _headline(report: ProgressReport) -> None:
    scores = [p.overall for p in report.timeline]
    answered, average, recent = st.columns(3)
    answered.metric("Scored answers", len(scores), help="Main questions only; follow-up answers are not counted.")
    if not scores:
        return
    overall = fmean(scores)
    average.metric("Average score", f"{overall:.1f} / 10")
    latest = fmean(scores[-RECENT:])
    recent.metric(f"Last {min(RECENT, len(scores))} answers", f"{latest:.1f} / 10", delta=f"{latest - overall:+.1f}",
                  help="Compared with your average over every answer.")


def _score_over_time(timeline: list[ScorePoint], questions: dict[str, Question]) -> None:
    st.subheader("Score over time")
    if not timeline:
        st.caption("Only follow-up or ad-hoc answers so far: the timeline shows answers to main questions.")
        return
    frame = pd.DataFrame([dataclasses.asdict(p) for p in timeline])
    frame["answered_at"] = frame["answered_at"].dt.tz_convert("UTC").dt.tz_localize(None)
    frame["topic"] = frame["topic"].fillna("ad-hoc")
    frame["question"] = [_question_label(q, questions) for q in frame["question_id"]]
    base = alt.Chart(frame).encode(
        x=alt.X("answered_at:T", title="Answered (UTC)"),
        y=alt.Y("overall:Q", title="Score", scale=alt.Scale(domain=[0, 10])),
    )
    points = base.mark_point(filled=True, size=80).encode(
        color=alt.Color("topic:N", title="Topic"),
        tooltip=[
            alt.Tooltip("question:N", title="Question"),
            alt.Tooltip("answered_at:T", title="Answered (UTC)", format="%Y-%m-%d %H:%M"),
            alt.Tooltip("overall:Q", title="Score", format=".1f"),
            alt.Tooltip("topic:N", title="Topic"),
            alt.Tooltip("session_id:Q", title="Session"),
        ],
    )
    st.altair_chart(base.mark_line(color="#9aa0a6") + points, width="stretch")


def _question_label(question_id: str | None, questions: dict[str, Question]) -> str:
    if question_id is None:
        return "Ad-hoc question"
    question = questions.get(question_id)
    if question is None:
        return question_id
    prompt = " ".join(question.prompt.split())
    return prompt if len(prompt) <= TOOLTIP_CHARS else prompt[: TOOLTIP_CHARS - 1] + "…"


def _topic_chart(topics: list[TopicAverage]) -> None:
    st.subheader("Average by topic")
    if not topics:
        st.caption("No bank topic answered yet.")
        return
    frame = pd.DataFrame([dataclasses.asdict(t) for t in topics])
    chart = alt.Chart(frame).mark_bar().encode(
        x=alt.X("average:Q", title="Average score (0-10)", scale=alt.Scale(domain=[0, 10])),
        y=alt.Y("topic:N", title=None, sort="x"),
        tooltip=[alt.Tooltip("topic:N", title="Topic"), alt.Tooltip("average:Q", title="Average", format=".1f"),
                 alt.Tooltip("count:Q", title="Answers")],
    ).properties(height=BAR_HEIGHT * len(frame) + 40)
    st.altair_chart(chart, width="stretch")


def _criterion_chart(criteria: list[CriterionAverage]) -> None:
    st.subheader("Average level by criterion")
    frame = pd.DataFrame([dataclasses.asdict(c) for c in criteria])
    frame["criterion"] = _distinct_titles(criteria)
    chart = alt.Chart(frame).mark_bar().encode(
        x=alt.X("average_level:Q", title="Average level (0-4)", scale=alt.Scale(domain=[0, 4])),
        y=alt.Y("criterion:N", title=None, sort="x"),
        tooltip=[alt.Tooltip("criterion:N", title="Criterion"), alt.Tooltip("rubric:N", title="Rubric"),
                 alt.Tooltip("average_level:Q", title="Average level", format=".2f"),
                 alt.Tooltip("count:Q", title="Answers")],
    ).properties(height=BAR_HEIGHT * len(frame) + 40)
    st.altair_chart(chart, width="stretch")


def _distinct_titles(criteria: list[CriterionAverage]) -> list[str]:
    """Criterion titles, with the rubric added where two rubrics use the same title (one bar each)."""
    titles = [c.title for c in criteria]
    return [f"{c.title} ({c.rubric})" if titles.count(c.title) > 1 else c.title for c in criteria]


def _weakest(areas: list[WeakArea]) -> None:
    st.subheader("Weakest areas")
    if not areas:
        st.caption(f"Nothing to point at yet: a topic or criterion needs at least "
                   f"{services.MIN_ANSWERS_FOR_COMPARISON} scored answers before it is compared with the others.")
        return
    for area in areas:
        with st.container(border=True):
            kind = "Topic" if area.kind == "topic" else "Criterion"
            st.markdown(f"**{kind}: {area.label}**")  # a topic slug or a bundled rubric's criterion title
            widgets.literal(area.advice)  # quotes rubric text, whose prices ($500-$50k) Markdown could read as maths
    st.page_link("pages/interview.py", label="Practise on the Interview page", icon=":material/record_voice_over:")


main()

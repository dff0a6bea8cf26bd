"""Review page: find a past interview, read its scored transcript (one folded section per question) and download
it as Markdown or JSON.

``?session=ID`` in the URL opens that session directly (the Interview page links here that way).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import pandas as pd
import streamlit as st

from app import services, widgets
from app.services import NotFoundError, SessionDetail, SessionSummary, TurnRecord

ALL = "All"
SESSION_PARAM = "session"
CHOSEN_KEY = "review_session"


def main() -> None:
    st.title("Review")
    if not services.list_sessions(limit=1):
        _no_interviews_yet()
        return
    sessions = services.list_sessions(**_filters())
    if not sessions:
        st.info("No interview matches these filters. Widen them to see more.", icon=":material/filter_alt_off:")
        return
    st.dataframe(_table(sessions), hide_index=True, column_config=_COLUMNS)
    chosen = _choose(sessions)
    try:
        detail = services.session(chosen)
    except NotFoundError:
        st.error(f"Session {chosen} no longer exists.")
        return
    _session(detail)


def _no_interviews_yet() -> None:
    st.info("No interviews yet. Finish one on the Interview page and its scored transcript will appear here.",
            icon=":material/history:")
    st.page_link("pages/interview.py", label="Start an interview", icon=":material/record_voice_over:")


def _filters() -> dict[str, Any]:
    """The list filters, as keyword arguments for ``services.list_sessions``."""
    profile_col, since_col, topic_col, score_col = st.columns(4)
    profiles = services.profile_names()
    profile = profile_col.selectbox("Profile", [ALL, *profiles], key="review_profile")
    since = since_col.date_input("Started on or after (UTC)", value=None, key="review_since")
    topic = topic_col.selectbox("Topic", [ALL, *services.content().topics()], key="review_topic")
    min_score = score_col.slider("Lowest average score", 0.0, 10.0, 0.0, step=0.5, format="%.1f",
                                 key="review_min_score",
                                 help="Sessions with no scored answer are hidden once this is above 0.")
    return {
        "profile": None if profile == ALL else profile,
        "since": _start_of(since),
        "topic": None if topic == ALL else topic,
        # At 0 the filter is off, so sessions without any score stay listed.
        "min_score": min_score or None,
    }


def _start_of(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time.min, tzinfo=UTC)


_COLUMNS = {
    "Session": st.column_config.NumberColumn(format="%d", width="small"),
    "Started (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm", width="medium"),
    "Average": st.column_config.NumberColumn(format="%.1f / 10", width="small",
                                             help="Mean of the question scores; a question's score is the mean "
                                                  "of its answer and its follow-up answers."),
}


def _table(sessions: list[SessionSummary]) -> pd.DataFrame:
    return pd.DataFrame([{
        "Session": s.id,
        "Profile": s.profile,
        "Status": s.status,
        "Started (UTC)": s.started_at.replace(tzinfo=None),
        "Answers": s.answered,
        "Average": s.average_score,
        "Topics": ", ".join(s.topics),
    } for s in sessions])


def _choose(sessions: list[SessionSummary]) -> int:
    """The session to show: the user's pick, else the one in ``?session=``, else the newest; kept in the URL."""
    ids = [s.id for s in sessions]
    if st.session_state.get(CHOSEN_KEY) not in ids:
        requested = _requested_session()
        st.session_state[CHOSEN_KEY] = requested if requested in ids else ids[0]
        if requested is not None and requested not in ids:
            st.caption(f"Session {requested} is not among these results; showing the newest one.")
    labels = {s.id: _label(s) for s in sessions}
    chosen = st.selectbox("Session to review", ids, format_func=labels.__getitem__, key=CHOSEN_KEY)
    st.query_params[SESSION_PARAM] = str(chosen)
    return chosen


def _requested_session() -> int | None:
    value = st.query_params.get(SESSION_PARAM)
    return int(value) if value is not None and value.isdigit() else None


def _label(summary: SessionSummary) -> str:
    average = "not scored" if summary.average_score is None else f"{summary.average_score:.1f}/10"
    return (f"#{summary.id} · {summary.profile} · {summary.started_at:%Y-%m-%d %H:%M} · "
            f"{summary.answered} answer{'' if summary.answered == 1 else 's'} · {average}")


def _session(detail: SessionDetail) -> None:
    st.subheader(f"Session {detail.id}")
    widgets.literal_caption(f"Started {detail.started_at:%Y-%m-%d %H:%M} UTC · profile: {detail.profile} · "
                            f"interviewer: {detail.interviewer} · judge: {detail.judge}")
    average = services.average_score(detail)
    status, questions, answers, score = st.columns(4)  # the start time is too wide for a metric in a quarter
    status.metric("Status", detail.status)
    questions.metric("Questions", sum(t.kind == "question" for t in detail.turns))
    answers.metric("Answers", len(detail.answers))
    score.metric("Average score", "—" if average is None else f"{average:.1f} / 10",
                 help="Mean of the question scores; a question's score is the mean of its answer and its "
                      "follow-up answers.")
    _downloads(detail)
    _transcript(detail)


def _downloads(detail: SessionDetail) -> None:
    markdown, json_file = st.columns(2)
    markdown.download_button("Download Markdown", services.session_markdown(detail),
                             file_name=f"interview-{detail.id}.md", mime="text/markdown", on_click="ignore",
                             icon=":material/description:", key="review_download_md")
    json_file.download_button("Download JSON", services.session_json_text(detail),
                              file_name=f"interview-{detail.id}.json", mime="application/json", on_click="ignore",
                              icon=":material/data_object:", key="review_download_json")


# ---------------------------------------------------------------- transcript, one folded section per question


def _transcript(detail: SessionDetail) -> None:
    """Notes before the first question, then each question with its answers and follow-ups in an expander (the
    first one open); each grade card keeps its details folded under the score."""
    scores = services.question_scores(detail)
    by_id = {t.id: t for t in detail.turns}
    for number, (asked, turns) in enumerate(_by_question(detail.turns)):
        if asked is None:
            for record in turns:
                widgets.turn(record)
            continue
        with st.expander(_section_label(number, asked, scores.get(asked.id)), expanded=number == 1,
                         icon=":material/forum:"):
            for record in turns:
                widgets.turn(record, by_id.get(record.parent_turn_id or -1))


def _by_question(turns: list[TurnRecord]) -> list[tuple[TurnRecord | None, list[TurnRecord]]]:
    """The turns cut at each main question: (question, its turns up to the next question); turns before the first
    question come first, under None (always, so questions are numbered from 1)."""
    sections: list[tuple[TurnRecord | None, list[TurnRecord]]] = [(None, [])]
    for record in turns:
        if record.kind == "question":
            sections.append((record, []))
        sections[-1][1].append(record)
    return sections


def _section_label(number: int, asked: TurnRecord, score: float | None) -> str:
    """Our own words only (an expander label is Markdown): number, topic slug and score."""
    topic = f" · {asked.topic}" if asked.topic else ""
    if score is None:
        return f"Question {number}{topic} · not scored"
    return f"Question {number}{topic} · {score:.1f} / 10 · {services.score_band(score)}"


main()

"""Review page: find a past interview, read its scored transcript and download it as Markdown or JSON.

``?session=ID`` in the URL opens that session directly (the Interview page links here that way).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import pandas as pd
import streamlit as st

from app import services, widgets
from app.services import NotFoundError, SessionDetail, SessionSummary

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
    min_score = score_col.slider("Lowest average score", 0.0, 10.0, 0.0, step=0.5, key="review_min_score",
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
    "Session": st.column_config.NumberColumn(format="%d"),
    "Started (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
    "Average": st.column_config.NumberColumn(format="%.1f / 10"),
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
    widgets.literal_caption(f"Profile: {detail.profile} · interviewer: {detail.interviewer} · judge: {detail.judge}")
    average = services.average_score(detail)
    status, started, answers, score = st.columns(4)
    status.metric("Status", detail.status)
    started.metric("Started (UTC)", f"{detail.started_at:%Y-%m-%d %H:%M}")
    answers.metric("Answers", len(detail.answers))
    score.metric("Average score", "—" if average is None else f"{average:.1f} / 10")
    _downloads(detail)
    widgets.transcript(detail)


def _downloads(detail: SessionDetail) -> None:
    markdown, json_file = st.columns(2)
    markdown.download_button("Download Markdown", services.session_markdown(detail),
                             file_name=f"interview-{detail.id}.md", mime="text/markdown", on_click="ignore",
                             icon=":material/description:", key="review_download_md")
    json_file.download_button("Download JSON", services.session_json_text(detail),
                              file_name=f"interview-{detail.id}.json", mime="application/json", on_click="ignore",
                              icon=":material/data_object:", key="review_download_json")


main()

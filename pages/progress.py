"""Progress page: a profile's question scores over time, averages by topic and by criterion, the questions due for
practice today, how spoken answers were delivered, and what to practise next."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from statistics import fmean

import altair as alt
import pandas as pd
import streamlit as st

from app import services, widgets
from app.services import (
    CriterionAverage,
    DeliveryPoint,
    DeliveryTrend,
    DueQuestion,
    ProgressReport,
    Question,
    ScorePoint,
    TopicAverage,
    WeakArea,
)

# Bare strings in a page script would be rendered by Streamlit's magic, so constants are explained in comments.
RECENT = 5  # questions covered by the "recent average" metric
TOOLTIP_CHARS = 90
INTERVIEW_PROFILE_KEY = "profile"  # where the Interview page keeps the profile typed there
BAR_HEIGHT = 30
MIN_BAR = 0.08  # a score of 0 still gets a sliver of bar (its label says 0.0)
DUE_SHOWN = 10  # due questions listed; the rest are counted
DAY_TICKS = 8  # about this many date ticks on the time axis
# One colour per score band, the same in every chart and badge: Weak < 4 ≤ Partial < 6 ≤ Solid < 8 ≤ Strong.
BAND_BADGES = {"Weak": "red", "Partial": "orange", "Solid": "blue", "Strong": "green"}
BAND_COLOURS = {"Weak": "#ff4b4b", "Partial": "#ffa421", "Solid": "#1c83e1", "Strong": "#21c354"}
BAND_SCALE = alt.Scale(domain=list(BAND_COLOURS), range=list(BAND_COLOURS.values()))
LEVEL_TO_SCORE = 2.5  # criterion levels (0-4) take the band of the same share of the 0-10 score scale
FULL_LABELS = alt.Axis(labelLimit=0, labelOverlap=False)  # every category label, never cut short or hidden
COMFORT_COLOUR = "#21c354"  # the comfortable pace band
FILLER_COLOUR = "#ffa421"  # the filler rate above which the delivery advice speaks up
POINT_COLOUR = "#1c83e1"
DAILY_COLOUR = "#9aa0a6"
PACE_HEIGHT = 220
FILLER_HEIGHT = 150
HEADROOM = 1.15  # space above the highest dot


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
    questions = services.content().questions
    _headline(report)
    _due_today(profile, services.practice_due(profile), questions)
    _score_over_time(report.timeline, questions)
    _topic_chart(report.topics)
    _criterion_chart(report.criteria)
    _delivery(report.delivery, questions)
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


# ---------------------------------------------------------------- headline


def _headline(report: ProgressReport) -> None:
    scores = [p.overall for p in report.timeline]
    answered, average, recent = st.columns(3)
    answered.metric("Questions scored", len(scores),
                    help="Each question asked counts once: its score is the mean of your answer and the answers "
                         "to its follow-ups.")
    if not scores:
        return
    overall = fmean(scores)
    average.metric("Average score", f"{overall:.1f} / 10")
    latest = fmean(scores[-RECENT:])
    change = round(latest - overall, 1)
    recent.metric(f"Last {min(RECENT, len(scores))} questions", f"{latest:.1f} / 10",
                  delta=f"{change:+.1f}" if change else None,
                  help="Compared with your average over every question.")


# ---------------------------------------------------------------- due today


def _due_today(profile: str, due: list[DueQuestion], questions: dict[str, Question]) -> None:
    st.subheader("Due today")
    if not due:
        st.caption("Nothing to practise again today. A question comes back on the day your practice plan "
                   "schedules it: soon after a low score, much later after a strong one.")
        return
    st.caption("Questions you have answered before that your practice plan brings back today, most overdue "
               "first. The lower the last score, the sooner a question returns.")
    for item in due[:DUE_SHOWN]:
        _due_card(item, questions.get(item.question_id))
    if len(due) > DUE_SHOWN:
        st.caption(f"And {len(due) - DUE_SHOWN} more.")
    if st.button(f"Practise {min(len(due), services.PRACTICE_LIMIT)} due questions now", type="primary",
                 icon=":material/replay:", key="practise_due"):
        _start_practice(profile)


def _due_card(item: DueQuestion, question: Question | None) -> None:
    band = services.score_band(item.last_score)
    with st.container(border=True):
        widgets.literal(question.prompt if question is not None else item.question_id)
        # our words and a topic slug only: Markdown here is safe
        st.markdown(f":{BAND_BADGES[band]}-badge[Last score {item.last_score:.1f} / 10 · {band}] "
                    f":gray[{item.topic or 'no topic'} · answered {_day(item.last_answered_at)} · "
                    f"due since {_day(item.due_at)}]")


def _day(moment: datetime) -> str:
    return f"{moment:%b %d}" if moment.year == datetime.now(UTC).year else f"{moment:%b %d, %Y}"


def _start_practice(profile: str) -> None:
    session_id = services.start_practice(profile)
    if session_id is None:
        st.info("Nothing is due any more.", icon=":material/check_circle:")
        return
    st.session_state[INTERVIEW_PROFILE_KEY] = profile
    st.switch_page("pages/interview.py", query_params={"session": str(session_id)})


# ---------------------------------------------------------------- charts


def _score_over_time(timeline: list[ScorePoint], questions: dict[str, Question]) -> None:
    st.subheader("Score over time")
    frame = pd.DataFrame([dataclasses.asdict(p) for p in timeline])
    frame["answered_at"] = _naive_utc(frame["answered_at"])
    frame["topic"] = frame["topic"].fillna("ad-hoc")
    frame["question"] = [_question_label(q, questions) for q in frame["question_id"]]
    frame["band"] = [services.score_band(score) for score in frame["overall"]]
    day = _day_axis(frame)
    score = alt.Y("overall:Q", title="Question score", scale=alt.Scale(domain=[0, 10]))
    daily = alt.Chart(frame).mark_line(color="#9aa0a6", point=False).encode(
        x=day, y=alt.Y("mean(overall):Q", title="Question score", scale=alt.Scale(domain=[0, 10])))
    points = alt.Chart(frame).mark_point(filled=True, size=80).encode(
        x=day, y=score, color=alt.Color("band:N", title="Band", scale=BAND_SCALE), tooltip=_timeline_tooltip())
    st.altair_chart(daily + points, width="stretch")
    st.caption("Each dot is one question; the line joins your average score per day.")


def _timeline_tooltip() -> list[alt.Tooltip]:
    return [
        alt.Tooltip("question:N", title="Question"),
        alt.Tooltip("answered_at:T", title="Answered (UTC)", format="%Y-%m-%d %H:%M"),
        alt.Tooltip("overall:Q", title="Score", format=".1f"),
        alt.Tooltip("band:N", title="Band"),
        alt.Tooltip("answers:Q", title="Answers (with follow-ups)"),
        alt.Tooltip("topic:N", title="Topic"),
        alt.Tooltip("session_id:Q", title="Session"),
    ]


def _naive_utc(moments: pd.Series) -> pd.Series:
    return moments.dt.tz_convert("UTC").dt.tz_localize(None)


def _day_axis(frame: pd.DataFrame) -> alt.X:
    """Days of ``frame["answered_at"]``, one tick a day over a short span, a spare day at each end."""
    first, last = frame["answered_at"].min().date(), frame["answered_at"].max().date()
    return alt.X("yearmonthdate(answered_at):T", title="Day (UTC)", scale=alt.Scale(domain=_days_around(first, last)),
                 axis=alt.Axis(format="%b %d", tickCount={"interval": "day", "step": _day_step(first, last)}))


def _days_around(first: date, last: date) -> list[alt.DateTime]:
    """The answered days with one more on each side, so a single day sits in the middle of the axis."""
    return [_vega_day(first - timedelta(days=1)), _vega_day(last + timedelta(days=1))]


def _vega_day(day: date) -> alt.DateTime:
    return alt.DateTime(year=day.year, month=day.month, date=day.day)


def _day_step(first: date, last: date) -> int:
    """Days between ticks: one a day over a short span, about DAY_TICKS ticks over a long one."""
    return max(1, ((last - first).days + 2) // DAY_TICKS)


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
    frame["band"] = [services.score_band(a) for a in frame["average"]]
    frame["label"] = [f"{a:.1f}" for a in frame["average"]]
    frame["bar"] = frame["average"].clip(lower=MIN_BAR)
    tooltip = [alt.Tooltip("topic:N", title="Topic"), alt.Tooltip("average:Q", title="Average", format=".1f"),
               alt.Tooltip("band:N", title="Band"), alt.Tooltip("count:Q", title="Questions")]
    st.altair_chart(_bars(frame, "topic", alt.X("bar:Q", title="Average question score (0-10)",
                                                scale=alt.Scale(domain=[0, 10])), tooltip), width="stretch")


def _criterion_chart(criteria: list[CriterionAverage]) -> None:
    st.subheader("Average level by criterion")
    frame = pd.DataFrame([dataclasses.asdict(c) for c in criteria])
    frame["criterion"] = _distinct_titles(criteria)
    frame["band"] = [services.score_band(level * LEVEL_TO_SCORE) for level in frame["average_level"]]
    frame["label"] = [f"{level:.1f}" for level in frame["average_level"]]
    frame["bar"] = frame["average_level"].clip(lower=MIN_BAR * 4 / 10)
    tooltip = [alt.Tooltip("criterion:N", title="Criterion"), alt.Tooltip("rubric:N", title="Rubric"),
               alt.Tooltip("average_level:Q", title="Average level", format=".1f"),
               alt.Tooltip("band:N", title="Band"), alt.Tooltip("count:Q", title="Answers")]
    st.altair_chart(_bars(frame, "criterion", alt.X("bar:Q", title="Average level (0-4)",
                                                    scale=alt.Scale(domain=[0, 4])), tooltip), width="stretch")


def _bars(frame: pd.DataFrame, category: str, x: alt.X, tooltip: list[alt.Tooltip]) -> alt.LayerChart:
    """Horizontal bars, lowest first, every label in full, coloured by band, each with its value written at
    its end (so a zero still shows as 0.0)."""
    y = alt.Y(f"{category}:N", title=None, sort=list(frame[category]), axis=FULL_LABELS)
    bars = alt.Chart(frame).mark_bar().encode(
        x=x, y=y, color=alt.Color("band:N", title="Band", scale=BAND_SCALE), tooltip=tooltip)
    values = alt.Chart(frame).mark_text(align="left", dx=4).encode(x=x, y=y, text="label:N")
    return (bars + values).properties(height=BAR_HEIGHT * len(frame) + 50)


def _distinct_titles(criteria: list[CriterionAverage]) -> list[str]:
    """Criterion titles, with the rubric added where two rubrics use the same title (one bar each)."""
    titles = [c.title for c in criteria]
    return [f"{c.title} ({c.rubric})" if titles.count(c.title) > 1 else c.title for c in criteria]


# ---------------------------------------------------------------- delivery of spoken answers


def _delivery(trend: DeliveryTrend, questions: dict[str, Question]) -> None:
    st.subheader("Delivery (spoken answers)")
    if not trend.points:
        st.caption("Answer by voice on the Interview page to see how your pace and filler words change here.")
        return
    st.markdown(trend.summary)  # our words and numbers only
    frame = _delivery_frame(trend.points, questions)
    st.altair_chart(alt.vconcat(_pace_chart(frame, trend), _filler_chart(frame, trend)), width="stretch")
    low, high = trend.comfortable_wpm
    st.caption(f"Each dot is one spoken answer; the grey lines join your averages per day. The green band is the "
               f"comfortable pace of {low:.0f} to {high:.0f} words per minute; above the dashed line, "
               f"{trend.filler_limit:g} filler words per 100, the advice after an answer mentions them. "
               "How you speak never changes a score.")


def _delivery_frame(points: list[DeliveryPoint], questions: dict[str, Question]) -> pd.DataFrame:
    frame = pd.DataFrame([dataclasses.asdict(p) for p in points])
    frame["answered_at"] = _naive_utc(frame["answered_at"])
    frame["question"] = [_question_label(q, questions) for q in frame["question_id"]]
    measures = ["wpm", "fillers_per_100_words", "long_pauses"]
    frame[measures] = frame[measures].astype("float64")  # None (not measured) becomes NaN, which Vega skips
    return frame


def _pace_chart(frame: pd.DataFrame, trend: DeliveryTrend) -> alt.LayerChart:
    low, high = trend.comfortable_wpm
    scale = alt.Scale(domain=[0, max(high, frame["wpm"].fillna(0).max()) * HEADROOM])
    title = "Pace (words per minute)"
    band = alt.Chart(pd.DataFrame({"low": [low], "high": [high]})).mark_rect(
        color=COMFORT_COLOUR, opacity=0.15).encode(y=alt.Y("low:Q", title=title, scale=scale), y2="high:Q")
    return alt.layer(band, *_daily_and_dots(frame, "wpm", title, scale)).properties(height=PACE_HEIGHT)


def _filler_chart(frame: pd.DataFrame, trend: DeliveryTrend) -> alt.LayerChart:
    highest = frame["fillers_per_100_words"].fillna(0).max()
    scale = alt.Scale(domain=[0, max(trend.filler_limit * 2, highest * HEADROOM)])
    title = "Filler words per 100 words"
    limit = alt.Chart(pd.DataFrame({"limit": [trend.filler_limit]})).mark_rule(
        color=FILLER_COLOUR, strokeDash=[4, 4]).encode(y=alt.Y("limit:Q", title=title, scale=scale))
    return alt.layer(limit, *_daily_and_dots(frame, "fillers_per_100_words", title, scale)).properties(
        height=FILLER_HEIGHT)


def _daily_and_dots(frame: pd.DataFrame, field: str, title: str, scale: alt.Scale) -> list[alt.Chart]:
    """One dot per answer and a grey line through the daily means of ``field``."""
    day = _day_axis(frame)
    daily = alt.Chart(frame).mark_line(color=DAILY_COLOUR).encode(
        x=day, y=alt.Y(f"mean({field}):Q", title=title, scale=scale))
    dots = alt.Chart(frame).mark_point(filled=True, size=70, color=POINT_COLOUR).encode(
        x=day, y=alt.Y(f"{field}:Q", title=title, scale=scale), tooltip=_delivery_tooltip())
    return [daily, dots]


def _delivery_tooltip() -> list[alt.Tooltip]:
    return [
        alt.Tooltip("question:N", title="Question"),
        alt.Tooltip("answered_at:T", title="Answered (UTC)", format="%Y-%m-%d %H:%M"),
        alt.Tooltip("wpm:Q", title="Pace (wpm)", format=".0f"),
        alt.Tooltip("fillers:Q", title="Filler words"),
        alt.Tooltip("fillers_per_100_words:Q", title="Per 100 words", format=".1f"),
        alt.Tooltip("long_pauses:Q", title="Long pauses"),
        alt.Tooltip("session_id:Q", title="Session"),
    ]


# ---------------------------------------------------------------- advice


def _weakest(areas: list[WeakArea]) -> None:
    st.subheader("Weakest areas")
    if not areas:
        st.caption(f"Nothing to point at yet: a topic needs at least {services.MIN_ANSWERS_FOR_COMPARISON} scored "
                   f"questions, a criterion {services.MIN_ANSWERS_FOR_COMPARISON} scored answers, before it is "
                   "compared with the others.")
        return
    for area in areas:
        with st.container(border=True):
            kind = "Topic" if area.kind == "topic" else "Criterion"
            st.markdown(f"**{kind}: {area.label}**")  # a topic slug or a bundled rubric's criterion title
            widgets.literal(area.advice)  # quotes rubric text, whose prices ($500-$50k) Markdown could read as maths
    st.page_link("pages/interview.py", label="Practise on the Interview page", icon=":material/record_voice_over:")


main()

"""The Review and Progress pages in AppTest, over a database filled by the real interview runner (grading with
the deterministic fake judge: the pages show whatever grades are stored)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import select, update
from streamlit.runtime.memory_media_file_storage import _calculate_file_id
from streamlit.testing.v1 import AppTest

from simulator.reports import export, scoring
from simulator.speech.delivery import Delivery, Pause
from simulator.storage.records import Recording, SessionDetail, SessionSettings
from simulator.storage.store import Store
from simulator.storage.tables import TurnRow
from tests.fakes import fake_runner, scored

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "rag-architecture"
ANSWERS = (
    "Chunk the documents, embed them, retrieve with hybrid BM25 and dense search, re-rank, then put the passages "
    "in the prompt with citations. <script>alert(1)</script>",
    "I am not sure; maybe it depends on the **data**.",
)


def open_page(page: str, session: int | None = None) -> AppTest:
    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    if session is not None:
        app.query_params["session"] = str(session)
    return app.switch_page(page).run()


def interview(bundle, db_url: str, profile: str, answers: tuple[str, ...] = ANSWERS,
              question_ids: list[str] | None = None, spoken: tuple[Delivery | None, ...] = (),
              recording: Recording | None = None) -> SessionDetail:
    """A finished interview: one graded answer per main question (``question_ids`` when given), no follow-ups.
    The first answers are spoken with the ``spoken`` deliveries (None: typed), keeping ``recording`` if given."""
    with Store(db_url) as store:
        runner = fake_runner(store, bundle.questions, bundle.rubrics, seed=1)
        settings = SessionSettings(questions=len(answers), follow_ups=0, topics=[TOPIC],
                                   question_ids=question_ids or [])
        session_id = runner.start(profile, settings, seed=1)
        for n, answer in enumerate(answers):
            delivery = spoken[n] if n < len(spoken) else None
            runner.next_turn(session_id).commit()
            runner.answer(session_id, answer, duration_s=20.0, delivery=delivery,
                          recording=recording if delivery is not None else None)
            runner.grade_pending(session_id)
        assert runner.next_turn(session_id) is None
        return store.session_detail(session_id)


@pytest.fixture
def finished(app_env, bundle) -> SessionDetail:
    detail = interview(bundle, app_env["db_url"], "ana")
    assert detail.status == "finished" and all(a.grade and a.grade.status == "scored" for a in detail.answers)
    return detail


def markdown_texts(app: AppTest) -> list[str]:
    return [m.value for m in app.markdown]


def plain_texts(app: AppTest) -> list[str]:
    return [t.value for t in app.text]


def test_review_lists_the_session_and_shows_its_scored_transcript(finished):
    app = open_page("pages/review.py")
    assert not app.exception

    table = app.dataframe[0].value
    assert table["Session"].tolist() == [finished.id]
    assert table["Profile"].tolist() == ["ana"] and table["Status"].tolist() == ["finished"]
    assert app.selectbox(key="review_session").value == finished.id
    assert app.query_params["session"] == str(finished.id)

    shown = plain_texts(app)
    for turn in finished.turns:
        if turn.kind in ("question", "answer"):
            assert turn.text in shown, turn.text
    assert not any("<script>" in text for text in markdown_texts(app)), "candidate text is never Markdown"
    scores = [m.value for m in app.metric if m.label == "Score"]
    assert scores == [f"{a.grade.overall:.1f} / 10" for a in finished.answers]
    assert [m.value for m in app.markdown].count("**Model answer**") == len(finished.answers), "in each card"


def test_review_folds_the_transcript_one_question_at_a_time(finished):
    app = open_page("pages/review.py")
    labels = [f"Question {n} · {TOPIC} · {scoring.shown(a.grade.overall)} / 10 · {scoring.score_band(a.grade.overall)}"
              for n, a in enumerate(finished.answers, start=1)]
    sections = [e for e in app.expander if e.label.startswith("Question ")]
    assert [(e.label, e.proto.expanded) for e in sections] == [(labels[0], True), (labels[1], False)], \
        "one section per question, only the first open"
    assert ANSWERS[1] in [t.value for t in sections[1].text], "the second answer sits in the second section"
    assert ANSWERS[0] not in [t.value for t in sections[1].text]
    details = [e for e in app.expander if e.label.startswith("Details")]
    assert len(details) == len(finished.answers) and not any(e.proto.expanded for e in details), "grades folded"


def test_review_list_shows_the_whole_start_time_and_one_decimal(finished):
    app = open_page("pages/review.py")
    columns = json.loads(app.dataframe[0].proto.columns)
    assert columns["Started (UTC)"]["type_config"]["format"] == "YYYY-MM-DD HH:mm"
    assert columns["Started (UTC)"]["width"] == "medium", "wide enough for the date and time"
    assert columns["Average"]["type_config"]["format"] == "%.1f / 10"
    average = export.average_score(finished)
    assert [m.value for m in app.metric if m.label == "Average score"] == [f"{average:.1f} / 10"]


def test_review_offers_markdown_and_json_downloads(finished):
    app = open_page("pages/review.py")
    buttons = {b.label: b.proto.url for b in app.download_button}
    assert set(buttons) == {"Download Markdown", "Download JSON"}
    # AppTest keeps no file bytes, but the media URL embeds a hash of the bytes, the type and the file name.
    markdown = export.session_markdown(finished).encode()
    json_text = export.session_json_text(finished).encode()
    assert _calculate_file_id(markdown, "text/markdown", f"interview-{finished.id}.md") in buttons["Download Markdown"]
    assert _calculate_file_id(json_text, "application/json", f"interview-{finished.id}.json") in buttons["Download JSON"]


def test_review_opens_the_session_named_in_the_url_and_filters_the_list(app_env, bundle, finished):
    other = interview(bundle, app_env["db_url"], "bo", answers=ANSWERS[:1])
    newest_first = open_page("pages/review.py")
    assert newest_first.dataframe[0].value["Session"].tolist() == [other.id, finished.id]
    assert newest_first.selectbox(key="review_session").value == other.id

    linked = open_page("pages/review.py", session=finished.id)
    assert not linked.exception
    assert linked.selectbox(key="review_session").value == finished.id
    assert finished.answers[1].text in plain_texts(linked)

    linked.selectbox(key="review_profile").set_value("bo").run()
    assert linked.dataframe[0].value["Session"].tolist() == [other.id]
    assert linked.selectbox(key="review_session").value == other.id, "a filtered-out session is not kept"
    assert linked.query_params["session"] == str(other.id)


def test_progress_charts_the_scores_and_names_the_weakest_areas(finished):
    app = open_page("pages/progress.py")
    assert not app.exception
    assert app.selectbox(key="progress_profile").value == "ana"

    charts = app.get("vega_lite_chart")
    assert len(charts) == 3, "score over time, topic averages, criterion averages"
    specs = [json.loads(chart.proto.spec) for chart in charts]
    assert specs[0]["layer"][0]["mark"]["type"] == "line" and specs[0]["layer"][1]["mark"]["type"] == "point"
    assert all([layer["mark"]["type"] for layer in spec["layer"]] == ["bar", "text"] for spec in specs[1:])

    subheaders = [h.value for h in app.subheader]
    assert "Weakest areas" in subheaders and "Due today" in subheaders
    average = sum(a.grade.overall for a in finished.answers) / len(finished.answers)
    shown = markdown_texts(app)
    assert f"**Topic: {TOPIC}**" in shown
    [advice] = [text for text in plain_texts(app) if text.startswith(f"{TOPIC} averages")]
    assert advice.startswith(f"{TOPIC} averages {average:.1f}/10 over 2 questions.")
    assert app.metric[0].value == "2"


@pytest.mark.parametrize("page", ["pages/review.py", "pages/progress.py"])
def test_pages_explain_what_to_do_on_an_empty_database(app_env, page):
    app = open_page(page)
    assert not app.exception
    assert app.info and app.info[0].value.startswith("No ")
    assert not app.get("vega_lite_chart") and not app.dataframe


def test_progress_starts_on_the_likely_profile_and_explains_one_without_scores(app_env, finished):
    with Store(app_env["db_url"]) as store:
        store.get_or_create_profile("aaron")  # listed first, but has never practised
    app = open_page("pages/progress.py")
    assert app.selectbox(key="progress_profile").value == "ana", "whoever practised last"

    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    app.session_state["profile"] = "aaron"  # as typed on the Interview page
    app.switch_page("pages/progress.py").run()
    assert not app.exception
    assert app.selectbox(key="progress_profile").value == "aaron"
    assert app.info[0].value.startswith("This profile has no scored answers yet")
    assert not app.get("vega_lite_chart")


# ---------------------------------------------------------------- practice plan and readable charts (issue 16)


def first_questions(bundle, topic: str, count: int = 1) -> list[str]:
    return [q.id for q in bundle.questions.values() if q.topic == topic][:count]


def age(db_url: str, session_id: int, days: int) -> None:
    """Move a session's turns ``days`` back in time, as if it had been held then."""
    with Store(db_url) as store, store.engine.begin() as conn:
        rows = conn.execute(select(TurnRow.id, TurnRow.created_at).where(TurnRow.session_id == session_id)).all()
        for turn_id, created in rows:
            conn.execute(update(TurnRow).where(TurnRow.id == turn_id).values(created_at=created - timedelta(days=days)))


@pytest.fixture
def practised(app_env, bundle) -> dict[str, str]:
    """Profile "cy": ten days ago a rag question scored 2 and a cost question 0; three days ago a fundamentals
    question 9, an evaluation question 6 and a second rag question 6. Returns the question ids by name."""
    rag_one, rag_two = first_questions(bundle, "rag-architecture", 2)
    ids = {"rag_one": rag_one, "cost": first_questions(bundle, "cost-latency")[0], "rag_two": rag_two,
           "fundamentals": first_questions(bundle, "fundamentals")[0],
           "evaluation": first_questions(bundle, "evaluation")[0]}
    old = interview(bundle, app_env["db_url"], "cy", (scored(2), scored(0)), [ids["rag_one"], ids["cost"]])
    age(app_env["db_url"], old.id, 10)
    recent = interview(bundle, app_env["db_url"], "cy", (scored(9), scored(6), scored(6)),
                       [ids["fundamentals"], ids["evaluation"], ids["rag_two"]])
    age(app_env["db_url"], recent.id, 3)
    return ids


def chart_rows(chart) -> list[dict]:
    return [row for dataset in chart.proto.datasets
            for row in pa.ipc.open_stream(dataset.data.data).read_pandas().to_dict("records")]


def open_progress(profile: str) -> AppTest:
    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    app.session_state["profile"] = profile
    app.switch_page("pages/progress.py").run()
    assert not app.exception, [e.value for e in app.exception]
    return app


DUE = ("rag_one", "cost", "evaluation", "rag_two")  # most overdue first; the 9 is not due for days


def test_progress_lists_the_questions_due_today_most_overdue_first(practised, bundle):
    app = open_progress("cy")
    prompts = {name: bundle.questions[qid].prompt for name, qid in practised.items()}
    shown = plain_texts(app)
    assert [name for name in DUE if prompts[name] in shown] == list(DUE)
    assert [shown.index(prompts[name]) for name in DUE] == sorted(shown.index(prompts[name]) for name in DUE)
    assert prompts["fundamentals"] not in shown, "a 9 three days ago is not due yet"
    badges = [text.partition("] ")[0] + "]" for text in markdown_texts(app) if "-badge[" in text]
    assert badges == [":red-badge[Last score 2.0 / 10 · Weak]", ":red-badge[Last score 0.0 / 10 · Weak]",
                      ":blue-badge[Last score 6.0 / 10 · Solid]", ":blue-badge[Last score 6.0 / 10 · Solid]"]
    assert sum("due since" in text for text in markdown_texts(app)) == len(DUE)
    assert app.button(key="practise_due").label == "Practise 4 due questions now"


def test_practising_the_due_questions_opens_an_interview_of_them(practised, app_env):
    app = open_progress("cy")
    app.button(key="practise_due").click().run()
    assert not app.exception, [e.value for e in app.exception]
    with Store(app_env["db_url"]) as store:
        detail = store.session_detail(int(app.query_params["session"]))
    assert detail.profile == "cy" and detail.status == "active"
    assert detail.plan == detail.settings.question_ids == [practised[name] for name in DUE]


def test_progress_charts_label_every_topic_show_zero_and_use_dates(practised):
    app = open_progress("cy")
    timeline, topics, criteria = app.get("vega_lite_chart")

    x = json.loads(timeline.proto.spec)["layer"][1]["encoding"]["x"]
    assert (x["type"], x["timeUnit"], x["axis"]["format"]) == ("temporal", "yearmonthdate", "%b %d")

    y = json.loads(topics.proto.spec)["layer"][0]["encoding"]["y"]
    assert y["axis"] == {"labelLimit": 0, "labelOverlap": False}, "no topic label cut short or dropped"
    rows = {row["topic"]: row for row in chart_rows(topics)}
    assert y["sort"] == ["cost-latency", "rag-architecture", "evaluation", "fundamentals"] == list(rows)
    assert (rows["cost-latency"]["average"], rows["cost-latency"]["label"]) == (0.0, "0.0")
    assert rows["cost-latency"]["bar"] > 0, "a zero still has a visible bar, labelled 0.0"
    assert (rows["rag-architecture"]["average"], rows["rag-architecture"]["band"]) == (4.0, "Partial")
    criterion_axis = json.loads(criteria.proto.spec)["layer"][0]["encoding"]["y"]["axis"]
    assert criterion_axis == {"labelLimit": 0, "labelOverlap": False}

    scales = [json.loads(chart.proto.spec)["layer"][layer]["encoding"]["color"]["scale"]
              for chart, layer in ((timeline, 1), (topics, 0), (criteria, 0))]
    assert scales[0] == scales[1] == scales[2] and scales[0]["domain"] == ["Weak", "Partial", "Solid", "Strong"]


def test_progress_headline_has_no_delta_without_change_and_the_advice_is_plain(practised):
    app = open_progress("cy")
    metrics = {m.label: m for m in app.metric}
    assert metrics["Questions scored"].value == "5" and metrics["Average score"].value == "4.6 / 10"
    assert metrics["Last 5 questions"].value == "4.6 / 10"
    assert metrics["Last 5 questions"].proto.delta == "", "no +0.0 with a green arrow"
    advice = [text for text in plain_texts(app) if " averages " in text]
    assert advice and not [text for text in advice for word in ("plan mode", "retry-low", "weakest-first")
                           if word in text]
    assert any("Retry the 1 rag-architecture question you scored below 6" in text for text in advice)


# ---------------------------------------------------------------- spoken answers


def delivery(wpm: float, fillers: int = 2) -> Delivery:
    """A spoken answer of 100 words at ``wpm``, with ``fillers`` ums and one long pause."""
    speaking = 100 / wpm * 60
    return Delivery(audio_s=speaking + 2, speaking_s=speaking, words=100, wpm=wpm, fillers={"um": fillers},
                    long_pauses=[Pause(at_s=12.0, length_s=2.6)], engine="offline:tiny.en",
                    notes=["Slow down and let each point land before the next."] if wpm > 180 else [])


def test_progress_charts_the_delivery_of_spoken_answers(app_env, bundle):
    old = interview(bundle, app_env["db_url"], "di", spoken=(delivery(200, 6), delivery(190, 6)))
    age(app_env["db_url"], old.id, 3)
    interview(bundle, app_env["db_url"], "di", spoken=(delivery(150), delivery(150)))
    interview(bundle, app_env["db_url"], "di")  # typed answers: not part of the trend

    app = open_progress("di")
    assert "Delivery (spoken answers)" in [h.value for h in app.subheader]
    assert ("4 spoken answers. Comparing your first 2 with your last 2: your pace moved from 195 to 150 wpm, inside "
            "the comfortable 90–180 wpm; filler words went from 6.0 to 2.0 per 100 words.") in markdown_texts(app)
    charts = app.get("vega_lite_chart")
    assert len(charts) == 4, "score over time, topics, criteria, delivery"
    spec = json.loads(charts[3].proto.spec)
    pace, fillers = spec["vconcat"]
    assert [layer["mark"]["type"] for layer in pace["layer"]] == ["rect", "line", "point"]
    assert [layer["mark"]["type"] for layer in fillers["layer"]] == ["rule", "line", "point"]
    assert pace["layer"][2]["encoding"]["y"]["title"] == "Pace (words per minute)"
    assert fillers["layer"][2]["encoding"]["y"]["title"] == "Filler words per 100 words"
    rows = chart_rows(charts[3])
    assert {"low": 90, "high": 180} in rows, "the comfortable band"
    assert {"limit": 4.0} in rows, "the filler line"
    answers = [row for row in rows if "wpm" in row]
    assert sorted(row["wpm"] for row in answers) == [150, 150, 190, 200]
    assert sorted(row["fillers_per_100_words"] for row in answers) == [2, 2, 6, 6]


def test_progress_without_spoken_answers_points_to_answering_by_voice(finished):
    app = open_progress("ana")
    assert "Delivery (spoken answers)" in [h.value for h in app.subheader]
    assert [c.value for c in app.caption if "by voice on the Interview page" in c.value] == [
        "Answer by voice on the Interview page to see how your pace and filler words change here."]
    assert len(app.get("vega_lite_chart")) == 3, "no delivery chart"


def test_review_shows_the_delivery_card_of_a_spoken_answer(app_env, bundle):
    audio = Recording(data=b"RIFF....WAVEfmt ", mime="audio/wav")
    detail = interview(bundle, app_env["db_url"], "ana", spoken=(delivery(200),), recording=audio)
    assert [a.has_recording for a in detail.answers] == [True, False]
    app = open_page("pages/review.py", session=detail.id)
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric if m.label in ("Pace", "Filler words", "Long pauses")}
    assert metrics == {"Pace": "200 wpm", "Filler words": "2", "Long pauses": "1"}
    assert [m.label for m in app.metric].count("Pace") == 1, "only the spoken answer has a delivery card"
    assert "- Slow down and let each point land before the next." in markdown_texts(app)
    assert len(app.get("audio")) == 1, "the kept recording can be played back"

"""The Review and Progress pages in AppTest, over a database filled by the real interview runner (grading with
the deterministic fake judge: the pages show whatever grades are stored)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.runtime.memory_media_file_storage import _calculate_file_id
from streamlit.testing.v1 import AppTest

from simulator.reports import export
from simulator.storage.records import SessionDetail, SessionSettings
from simulator.storage.store import Store
from tests.fakes import fake_runner

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


def interview(bundle, db_url: str, profile: str, answers: tuple[str, ...] = ANSWERS) -> SessionDetail:
    """A finished interview: one graded answer per main question, no follow-ups."""
    with Store(db_url) as store:
        runner = fake_runner(store, bundle.questions, bundle.rubrics, seed=1)
        settings = SessionSettings(questions=len(answers), follow_ups=0, topics=[TOPIC])
        session_id = runner.start(profile, settings, seed=1)
        for answer in answers:
            runner.next_turn(session_id).commit()
            runner.answer(session_id, answer, duration_s=20.0)
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
    assert [e.label for e in app.expander].count("Model answer") == len(finished.answers)


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
    assert all(spec["mark"]["type"] == "bar" for spec in specs[1:])

    subheaders = [h.value for h in app.subheader]
    assert "Weakest areas" in subheaders
    average = sum(a.grade.overall for a in finished.answers) / len(finished.answers)
    shown = markdown_texts(app)
    assert f"**Topic: {TOPIC}**" in shown
    [advice] = [text for text in plain_texts(app) if text.startswith(f"{TOPIC} averages")]
    assert advice.startswith(f"{TOPIC} averages {average:.1f}/10 over 2 answers.") and "plan mode" in advice
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

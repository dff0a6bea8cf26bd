"""The Interview page through AppTest (the real script, real model, real SQLite; no browser)."""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from simulator.storage.store import Store

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
ANSWER = ("No. Retrieval grounds answers in passages, but the model can still ignore the context, retrieval can "
          "miss the right passage, and sources can conflict, so citations and faithfulness checks still matter.")


def app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=120)


def texts(at: AppTest) -> str:
    """Everything the page says: Markdown elements and alerts, plain text, and the escaped HTML of literal captions."""
    parts = [e.value for e in (*at.markdown, *at.caption, *at.info, *at.success, *at.error, *at.warning, *at.text)]
    parts += [html.unescape(re.sub(r"<[^>]*>", "", e.proto.body)) for e in at.get("html")]
    return "\n".join(str(p) for p in parts)


def start_interview(at: AppTest, profile: str = "tester", questions: int = 1) -> AppTest:
    at.text_input(key="setup_profile").set_value(profile)
    at.slider(key="setup_questions").set_value(questions)
    at.button(key="setup_start").click()
    return at.run()


def submit_answer(at: AppTest, text: str) -> AppTest:
    at.chat_input(key="answer").set_value(text)
    return at.run()


def test_setup_form_renders_after_loading(app_env):
    at = app().run()
    assert not at.exception
    assert at.title[0].value == "Interview"
    assert at.button(key="setup_start").label == "Start interview"
    assert at.text_input(key="setup_profile").value == "candidate"
    assert at.radio(key="setup_interviewer").value == "offline" and at.radio(key="setup_judge").value == "offline"


def test_interview_is_started_answered_graded_and_stored(app_env):
    at = start_interview(app().run())
    assert not at.exception, at.exception
    session_id = int(at.query_params["session"][0])
    assert at.chat_message and at.chat_input, "the first question is asked and an answer box is shown"
    submit_answer(at, ANSWER)
    assert not at.exception, at.exception
    assert any(m.label == "Score" for m in at.metric), "a grade card is shown"
    assert "Judge: offline-evidence" in texts(at)
    with Store(app_env["db_url"]) as store:
        detail = store.session_detail(session_id)
    assert detail.answers[0].text == ANSWER
    assert detail.answers[0].grade.status == "scored"
    assert detail.answers[0].duration_s is not None


def test_refresh_resumes_the_open_session(app_env):
    at = start_interview(app().run())
    session_id = at.query_params["session"][0]
    question = at.chat_message[0].text[0].value
    fresh = app()
    fresh.query_params["session"] = session_id
    fresh.run()
    assert not fresh.exception
    assert fresh.chat_message[0].text[0].value == question
    assert fresh.chat_input, "still waiting for the answer"


def test_finished_interview_shows_scorecard_and_retry(app_env):
    at = start_interview(app().run(), profile="finisher")
    submit_answer(at, "I am not sure.")
    while not [b for b in at.button if b.key == "see_debrief"] and not at.exception:
        submit_answer(at, "I do not know.")
    assert not at.exception, at.exception
    # the last grade stays on screen until the candidate moves on
    assert any("That was the last question" in s.value for s in at.success)
    assert at.chat_message[-1].text[0].value == "I do not know."
    at.button(key="see_debrief").click().run()
    assert any(m.label == "Interview score" for m in at.metric)
    assert [b for b in at.button if b.key == "practise_weakest"]
    assert any("Gaps to work on" in m.value for m in at.markdown)
    retry = at.button(key="retry_weak")
    assert retry.label == "Retry weak questions" and not retry.disabled
    retry.click().run()
    assert not at.exception
    with Store(app_env["db_url"]) as store:
        newest = store.list_sessions(profile="finisher")[0]
        detail = store.session_detail(newest.id)
    assert detail.settings.mode == "retry-low" and detail.status == "active"


def test_answer_html_is_rendered_inert(app_env):
    at = start_interview(app().run(), profile="html")
    typed = "<img src=x onerror=alert(1)> **bold** [link](http://e.x)"
    submit_answer(at, typed)
    assert not at.exception
    assert at.chat_message[1].text[0].value == typed, "shown as typed, in a plain-text element"
    markdown = (*at.markdown, *at.caption, *at.info, *at.success, *at.error, *at.warning)
    assert not any("<img" in e.value or "**bold" in e.value for e in markdown), "no Markdown element carries it"


def test_reruns_reuse_the_loaded_model_index_and_judge(app_env):
    from app import services

    at = app().run()
    loaded = services.simulator()
    judge, index, embedder = loaded.offline_judge, loaded.index, loaded.embedder
    started = time.perf_counter()
    at.run()
    assert not at.exception
    again = services.simulator()
    assert again is loaded and again.offline_judge is judge and again.index is index and again.embedder is embedder
    print(f"rerun of the set-up page: {(time.perf_counter() - started) * 1000:.0f} ms")


def test_llm_interviewer_streams_and_a_failed_llm_judge_falls_back(app_env, fake_llm, monkeypatch):
    from tests import fake_llm_server as fake

    monkeypatch.setenv("SIMULATOR_LLM_BASE_URL", fake_llm.base_url)
    monkeypatch.setenv("SIMULATOR_LLM_MODEL", "fake-model")
    at = app().run()
    at.text_input(key="setup_profile").set_value("llm-user")
    at.radio(key="setup_interviewer").set_value("llm")
    at.radio(key="setup_judge").set_value("llm")
    fake_llm.script(fake.stream("Tell me, ", "when does retrieval beat training?"))
    at.button(key="setup_start").click().run()
    assert not at.exception, at.exception
    assert at.chat_message[0].text[0].value == "Tell me, when does retrieval beat training?"
    fake_llm.script(*[fake.error(500, "judge is down")] * 6)
    submit_answer(at, ANSWER)
    assert not at.exception, at.exception
    shown = texts(at)
    assert "Judge: offline-evidence" in shown and "fallback" in shown
    with Store(app_env["db_url"]) as store:
        detail = store.session_detail(int(at.query_params["session"][0]))
    assert detail.interviewer == "llm:fake-model" and detail.judge == "llm:fake-model"
    assert "judge-fallback" in detail.answers[0].grade.flags


def test_first_screen_explains_and_offers_a_quick_drill(app_env):
    at = app().run()
    assert not at.exception
    intro = at.markdown[0].value
    assert "How it works" in intro and "How long" in intro and "What a score means" in intro
    assert at.radio(key="setup_interviewer").disabled and at.radio(key="setup_judge").disabled  # no endpoint
    assert any("Settings" in c.value for c in at.caption)

    at.button(key="quick_drill").click().run()
    assert not at.exception and at.chat_input
    with Store(app_env["db_url"]) as store:
        [summary] = store.list_sessions()
        detail = store.session_detail(summary.id)
    assert len(detail.plan) == 3 and "cost-which-is-cheaper" in detail.plan
    assert detail.settings.follow_ups == 1


def test_the_progress_line_names_the_question_on_screen(app_env):
    at = start_interview(app().run(), profile="counter", questions=2)
    progress = lambda: at.get("progress")[0].proto.text  # noqa: E731
    assert progress() == "Question 1 of 2"
    for _ in range(4):  # the first question, then its follow-up(s): the next main question comes in the same run
        submit_answer(at, "Retrieval keeps facts fresh; fine-tuning shapes behaviour and style.")
        with Store(app_env["db_url"]) as store:
            [summary] = store.list_sessions()
            asked = [t for t in store.session_detail(summary.id).turns if t.kind == "question"]
        assert progress() == f"Question {len(asked)} of 2"
        if len(asked) == 2:
            break
    assert len(asked) == 2

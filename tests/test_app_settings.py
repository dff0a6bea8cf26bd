"""The Settings page (AppTest runs the real app script, no browser): saving, validation, key handling, test button."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from simulator.config import SETTINGS_FILE
from tests.fake_llm_server import FakeLLMServer, error

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-test-0123456789abcdefSECRET"


@pytest.fixture
def settings_file(app_env):
    """The settings file of the shared app data folder, removed after the test so other app tests see defaults."""
    path = Path(app_env["data_dir"]) / SETTINGS_FILE
    path.unlink(missing_ok=True)
    yield path
    path.unlink(missing_ok=True)


def open_settings() -> AppTest:
    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120).switch_page("pages/settings.py").run()
    assert not app.exception
    return app


def fill(app: AppTest, url: str, model: str, key: str = "") -> None:
    app.text_input(key="settings_base_url").input(url)
    app.text_input(key="settings_model").input(model)
    app.text_input(key="settings_api_key").input(key)


def page_text(app: AppTest) -> str:
    """All the text the page renders (messages, labels, captions): where a leaked key would show."""
    return "\n".join(str(node.proto) for node in app._tree if getattr(node, "proto", None) is not None)


def click(app: AppTest, label: str) -> AppTest:
    next(b for b in app.button if b.label == label).click().run()
    assert not app.exception
    return app


def test_page_renders_with_the_offline_note_and_no_key(settings_file):
    app = open_settings()
    assert app.title[0].value == "Settings"
    assert "offline judge" in app.info[0].value
    assert app.text_input(key="settings_base_url").value == ""
    assert any("Key in use: **none" in m.value for m in app.markdown)
    assert any("not configured" in c.value for c in app.caption)


def test_save_for_everyone_is_off_unless_the_operator_allows_it(settings_file):
    app = open_settings()
    button = next(b for b in app.button if b.label == "Save for everyone")
    assert button.disabled and "SIMULATOR_ALLOW_SHARED_SETTINGS=1" in button.help


def test_use_in_this_session_changes_only_this_session_and_saves_nothing(settings_file):
    app = open_settings()
    fill(app, "http://localhost:11434/v1/", "llama3.1", KEY)
    app.radio(key="settings_judge").set_value("llm")
    click(app, "Use in this session")

    assert "this browser session only" in app.success[0].value
    assert not settings_file.exists()
    assert any("this browser session only" in c.value and "llama3.1" in c.value for c in app.caption)
    assert app.session_state["llm_api_key"] == KEY and KEY not in page_text(app)
    other_visitor = open_settings()
    assert any("not configured" in c.value for c in other_visitor.caption)
    assert other_visitor.text_input(key="settings_base_url").value == ""

    click(app, "Back to the default endpoint")
    assert any("not configured" in c.value for c in app.caption)


def test_save_writes_endpoint_and_defaults_but_never_the_key(settings_file, monkeypatch):
    monkeypatch.setenv("SIMULATOR_ALLOW_SHARED_SETTINGS", "1")
    app = open_settings()
    fill(app, "http://localhost:11434/v1/", "llama3.1", KEY)
    app.number_input(key="settings_timeout").set_value(90.0)
    app.radio(key="settings_judge").set_value("llm")
    click(app, "Save for everyone")

    assert app.success and "everyone's default" in app.success[0].value
    raw = settings_file.read_text(encoding="utf-8")
    assert KEY not in raw and "api_key" not in raw
    assert json.loads(raw) == {"llm_base_url": "http://localhost:11434/v1", "llm_model": "llama3.1",
                               "llm_timeout_s": 90.0, "default_interviewer": "offline", "default_judge": "llm"}
    assert app.session_state["llm_api_key"] == KEY
    assert app.text_input(key="settings_api_key").value == ""
    assert KEY not in page_text(app)
    assert any("typed in this browser session" in m.value for m in app.markdown)
    assert any("llama3.1" in c.value for c in app.caption)

    click(app, "Forget the typed key")
    assert "llm_api_key" not in app.session_state
    assert any("Key in use: **none" in m.value for m in app.markdown)

    reopened = open_settings()
    assert reopened.text_input(key="settings_base_url").value == "http://localhost:11434/v1"
    assert reopened.radio(key="settings_judge").value == "llm"


def test_bad_url_shows_an_error_keeps_the_input_and_saves_nothing(settings_file):
    app = open_settings()
    fill(app, "localhost:11434/v1", "llama3.1")
    click(app, "Use in this session")

    assert "Base URL: must start with http:// or https://" in app.error[0].value
    assert not settings_file.exists()
    assert app.text_input(key="settings_base_url").value == "localhost:11434/v1"
    assert app.text_input(key="settings_model").value == "llama3.1"


def test_url_with_credentials_and_llm_default_without_endpoint_are_refused(settings_file):
    app = open_settings()
    fill(app, "https://user:pw@example.com/v1", "m")
    click(app, "Use in this session")
    assert "must not contain a user name or password" in app.error[0].value

    fill(app, "", "")
    app.radio(key="settings_interviewer").set_value("llm")
    click(app, "Use in this session")
    assert "An LLM default needs an endpoint" in app.error[0].value
    assert not settings_file.exists()


def test_example_fills_the_form(settings_file):
    app = open_settings()
    app.selectbox(key="settings_example").select("Ollama").run()
    assert app.text_input(key="settings_base_url").value == "http://localhost:11434/v1"
    assert app.text_input(key="settings_model").value == "llama3.1"


def test_connection_success_uses_the_typed_key(settings_file, fake_llm):
    fake_llm.script("ok")
    app = open_settings()
    fill(app, fake_llm.base_url, "fake-model", KEY)
    click(app, "Test connection")

    assert not app.error
    assert "Connected to fake-model" in app.success[0].value
    assert fake_llm.headers[-1]["authorization"] == f"Bearer {KEY}"
    assert not settings_file.exists()  # testing does not save


@pytest.mark.parametrize("status", [401, 500])
def test_connection_failure_is_reported_without_the_key(settings_file, fake_llm, status):
    fake_llm.script(error(status, f"Incorrect API key provided: {KEY}"))
    app = open_settings()
    fill(app, fake_llm.base_url, "fake-model", KEY)
    click(app, "Test connection")

    message = app.error[0].value
    assert message.startswith("Connection failed") and f"HTTP {status}" in message
    assert KEY not in page_text(app)
    assert len(fake_llm.requests) == 1  # a single attempt, no retries while the user waits


@pytest.mark.parametrize("url", ["https://api.example.com/v1?api_key=sk-live-123",
                                 "https://api.example.com/v1#key=sk-live-123"])
def test_a_key_in_the_base_url_is_refused_and_never_saved_or_shown(settings_file, url):
    app = open_settings()
    fill(app, url, "gpt-4o-mini")
    click(app, "Use in this session")

    assert "Base URL: must not carry a key" in app.error[0].value
    assert not settings_file.exists()
    assert all("sk-live-123" not in element.value for element in (*app.markdown, *app.caption, *app.error))


# ---------------------------------------------------------------- the operator's key stays with its endpoint


def bearer(server) -> str | None:
    return server.headers[-1].get("authorization") or server.headers[-1].get("Authorization")


@pytest.fixture
def operator_llm(fake_llm, monkeypatch):
    """The operator's endpoint and key, set in the environment as `make run` would see them."""
    monkeypatch.setenv("SIMULATOR_LLM_BASE_URL", fake_llm.base_url)
    monkeypatch.setenv("SIMULATOR_LLM_MODEL", "operator-model")
    monkeypatch.setenv("SIMULATOR_LLM_API_KEY", KEY)
    return fake_llm


def test_a_visitors_endpoint_never_receives_the_operators_key(settings_file, operator_llm):
    with FakeLLMServer() as visitor:
        visitor.script("ok")
        app = open_settings()
        fill(app, visitor.base_url, "their-model")
        click(app, "Test connection")
        assert "Connected" in app.success[0].value
        assert KEY not in str(visitor.headers[-1]) and bearer(visitor) != f"Bearer {KEY}"

        click(app, "Use in this session")  # even once in use, the visitor's server gets no key
        assert any("Key in use: **none: the operator's key is only sent to the endpoint configured beside it"
                   in m.value for m in app.markdown)

    operator_llm.script("ok")
    fresh = open_settings()
    click(fresh, "Test connection")
    assert bearer(operator_llm) == f"Bearer {KEY}"
    assert any("the operator's key" in m.value for m in fresh.markdown)


def test_a_key_typed_in_the_session_goes_to_the_endpoint_typed_with_it(settings_file, operator_llm):
    with FakeLLMServer() as visitor:
        visitor.script("ok")
        app = open_settings()
        fill(app, visitor.base_url, "their-model", "sk-visitor-own-key-000")
        click(app, "Test connection")
        assert bearer(visitor) == "Bearer sk-visitor-own-key-000"
        assert not operator_llm.requests


def test_keys_and_endpoints_from_st_secrets_follow_the_same_rule(settings_file, fake_llm):
    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120).switch_page("pages/settings.py")
    app.secrets["SIMULATOR_LLM_BASE_URL"] = fake_llm.base_url
    app.secrets["SIMULATOR_LLM_MODEL"] = "secret-model"
    app.secrets["SIMULATOR_LLM_API_KEY"] = KEY
    app.run()
    fake_llm.script("ok", "ok")
    click(app, "Test connection")
    assert bearer(fake_llm) == f"Bearer {KEY}"

    with FakeLLMServer() as visitor:
        visitor.script("ok")
        fill(app, visitor.base_url, "their-model")
        click(app, "Test connection")
        assert KEY not in str(visitor.headers[-1])
    assert KEY not in page_text(app)


def test_the_voice_engines_on_offer_are_listed(settings_file, monkeypatch):
    app = open_settings()
    assert "Offline: tiny.en" in page_text(app) and "Offline: base" in page_text(app)
    assert "Endpoint:" not in page_text(app), "no endpoint is configured"
    monkeypatch.setenv("SIMULATOR_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("SIMULATOR_TRANSCRIBER_LLM_MODEL", "my-whisper")
    assert "Endpoint: my-whisper" in page_text(open_settings())

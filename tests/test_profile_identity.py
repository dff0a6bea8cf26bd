"""Profile names identify people only after normalising: look-alike spellings of one name are one profile, names
and answers that show nothing are refused, and old databases with look-alike profiles are merged, losing nothing."""

from __future__ import annotations

import pytest
from alembic import command
from streamlit.testing.v1 import AppTest

from simulator.storage.db import alembic_config, make_engine
from simulator.storage.records import SessionSettings
from simulator.storage.store import Store
from simulator.storage.validation import profile_identity
from tests.content_fixtures import write_content
from tests.fakes import fake_runner
from tests.test_app import APP
from tests.test_store import _load

LOOK_ALIKES = [
    "alice",
    "Alice",
    "ALICE ",
    "\u0430lice",  # Cyrillic а
    "ａｌｉｃｅ",  # fullwidth
    "al\u200dice",  # a zero-width joiner inside
    "ali\u200bce",  # a zero-width space inside
    "alice\u2800",  # a trailing braille blank
    "\U0001d44e\U0001d459\U0001d456\U0001d450\U0001d452",  # mathematical italic letters
]


@pytest.mark.parametrize("spelling", LOOK_ALIKES)
def test_look_alike_spellings_share_one_identity(spelling):
    assert profile_identity(spelling) == "alice"


@pytest.mark.parametrize("different", ["alicia", "al ice", "bob", "alice2"])
def test_different_names_stay_different(different):
    assert profile_identity(different) != "alice"


def test_look_alike_names_open_one_profile_with_every_session(db_url):
    with Store(db_url) as store:
        ids = {store.get_or_create_profile(name).id for name in LOOK_ALIKES}
        assert len(ids) == 1
        assert [p.name for p in store.list_profiles()] == ["alice"]  # shown as first written
        first = store.create_session("\u0430lice", SessionSettings(), "offline", "offline", ["q"])
        second = store.create_session("ａｌｉｃｅ", SessionSettings(), "offline", "offline", ["q"])
        assert {s.id for s in store.list_sessions(profile="ALICE")} == {first, second}
        assert store.open_session_for("al\u200dice").id == second


@pytest.mark.parametrize("blank", ["\u2800", "\u200b\u200b", "\u3164", " \u200d ", "\ufeff\u2060"])
def test_names_that_show_nothing_are_refused(db_url, blank):
    with Store(db_url) as store, pytest.raises(ValueError, match=r"empty|no visible characters"):
        store.get_or_create_profile(blank)


@pytest.mark.parametrize("blank", ["\u200b\u200b\u200b", "\u2800 \u2800", "\u3000\ufeff", "\n\u2060\t"])
def test_answers_that_show_nothing_are_refused_and_not_stored(tmp_path, blank):
    from simulator.interview.runner import InterviewError

    content = _load(write_content(tmp_path / "content"))
    with Store(f"sqlite:///{tmp_path / 'db.sqlite'}") as store:
        runner = fake_runner(store, content.questions, content.rubrics)
        session_id = runner.start("alice", SessionSettings(questions=1, follow_ups=0))
        runner.next_turn(session_id).commit()
        with pytest.raises(InterviewError, match="empty"):
            runner.answer(session_id, blank)
        assert store.session_detail(session_id).answers == []


def test_upgrading_merges_look_alike_profiles_without_losing_sessions(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")
        for row_id, name in [(1, "alice"), (2, "\u0430lice"), (3, "ＢＯＢ"), (4, "Bob")]:
            connection.exec_driver_sql("INSERT INTO profiles (id, name, created_at) VALUES (?, ?, '2026-01-01')",
                                       (row_id, name))
            connection.exec_driver_sql(
                "INSERT INTO sessions (profile_id, status, settings, interviewer, judge, plan, position, started_at)"
                " VALUES (?, 'finished', '{}', 'offline', 'offline', '[]', 0, '2026-01-01')", (row_id,))
    engine.dispose()

    with Store(url) as store:
        assert [p.name for p in store.list_profiles()] == ["alice", "ＢＯＢ"]
        assert len(store.list_sessions(profile="alice")) == 2
        assert len(store.list_sessions(profile="bob")) == 2
        assert len(store.list_sessions()) == 4


def test_the_app_refuses_a_blank_profile_and_keeps_look_alikes_together(app_env):
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.text_input(key="setup_profile").set_value("\u2800\u200b")
    at.button(key="setup_start").click().run()
    assert not at.exception
    assert any("no visible characters" in e.value or "empty" in e.value for e in at.error)

    with Store(app_env["db_url"]) as store:
        store.create_session("alice", SessionSettings(), "offline", "offline", ["q"])
    at.text_input(key="setup_profile").set_value("\u0430lice").run()
    assert any("You have an open interview" in m.value for m in at.markdown)

"""An unusable database says so in one sentence (CLI exit 2, an error box in the app) and loses nothing typed.

Every failure here is real: a file of random bytes, a database cut in half, a schema stamped by a newer
release, a read-only open, a disk that fills up (SQLite's page cap gives the very error a full disk gives).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.pool import Pool
from streamlit.testing.v1 import AppTest

from simulator.storage.db import StorageUnavailable
from simulator.storage.records import SessionSettings
from simulator.storage.store import Store
from tests.test_app import APP, start_interview

ROOT = Path(__file__).resolve().parent.parent


def filled_database(path: Path, sessions: int = 30) -> Path:
    with Store(f"sqlite:///{path}") as store:
        for n in range(sessions):
            session_id = store.create_session(f"person {n}", SessionSettings(), "offline", "offline", ["q"])
            store.add_turn(session_id, "candidate", "note", "some words " * 200)
        with store.engine.connect() as connection:  # fold the write-ahead log into the file
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def cli(db_url: str, tmp_path: Path, *args: str, data_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SIMULATOR_DB_URL": db_url, "SIMULATOR_DATA_DIR": str(data_dir or tmp_path / "data"),
           "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "simulator", *(args or ("sessions", "list"))], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def assert_one_clear_sentence(run: subprocess.CompletedProcess[str], words: str) -> None:
    assert run.returncode == 2, run.stderr[-1500:]
    assert "Traceback" not in run.stderr and "Traceback" not in run.stdout
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: The database") and words in lines[0], run.stderr


def test_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "random.db"
    path.write_bytes(os.urandom(8192))
    with pytest.raises(StorageUnavailable, match="damaged or cut short"):
        Store(f"sqlite:///{path}")
    assert_one_clear_sentence(cli(f"sqlite:///{path}", tmp_path), "damaged or cut short")


def test_a_database_cut_in_half(tmp_path):
    path = filled_database(tmp_path / "cut.db")
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(size // 2)
    run = cli(f"sqlite:///{path}", tmp_path)
    assert_one_clear_sentence(run, "damaged or cut short")


def test_a_database_from_a_newer_release(tmp_path):
    path = filled_database(tmp_path / "future.db", sessions=1)
    with Store(f"sqlite:///{path}") as store, store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    with pytest.raises(StorageUnavailable, match="newer version of Interview Simulator"):
        Store(f"sqlite:///{path}")
    assert_one_clear_sentence(cli(f"sqlite:///{path}", tmp_path), "newer version")


def test_a_read_only_database_can_be_read_and_refuses_writes_clearly(tmp_path, warm_data_dir):
    path = filled_database(tmp_path / "readonly.db", sessions=1)
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    with Store(read_only) as store:
        assert len(store.list_sessions()) == 1  # history stays readable
        with pytest.raises(StorageUnavailable, match="read-only"):
            store.create_session("bob", SessionSettings(), "offline", "offline", ["q"])
    answers = tmp_path / "answers.txt"
    answers.write_text("Retrieval keeps facts fresh.\n", encoding="utf-8")
    run = cli(read_only, tmp_path, "interview", "--answers", str(answers), "--questions", "1", "--follow-ups", "0",
              data_dir=warm_data_dir)
    assert_one_clear_sentence(run, "read-only")


def test_a_database_server_that_is_down(tmp_path):
    pytest.importorskip("psycopg")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe closes
    url = f"postgresql+psycopg://someone:hunter2@127.0.0.1:{port}/simulator?connect_timeout=3"
    run = cli(url, tmp_path)
    assert_one_clear_sentence(run, "cannot be reached")
    assert "hunter2" not in run.stderr  # the password in the URL is never echoed


def test_a_url_that_is_not_a_database_url(tmp_path):
    run = cli("not a url at all", tmp_path)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "SIMULATOR_DB_URL is not a usable database URL" in run.stderr


@pytest.fixture
def full_disk() -> Iterator[dict[str, bool]]:
    """Once ``state["full"]`` is set, every SQLite connection handed out may not grow its file any more:
    SQLite then fails exactly as on a full disk ("database or disk is full")."""
    state = {"full": False}

    def cap(dbapi_connection, _record, _proxy) -> None:
        if "sqlite" not in type(dbapi_connection).__module__:
            return
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0] if state["full"] else 2**30
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")  # the pragma lasts as long as the connection

    event.listen(Pool, "checkout", cap)
    yield state
    event.remove(Pool, "checkout", cap)


def test_a_full_disk_refuses_the_write_with_a_sentence(tmp_path, full_disk):
    with Store(f"sqlite:///{tmp_path / 'full.db'}") as store:
        session_id = store.create_session("alice", SessionSettings(), "offline", "offline", ["q"])
        full_disk["full"] = True
        with pytest.raises(StorageUnavailable, match="the disk is full"):
            store.add_turn(session_id, "candidate", "note", "x" * 200_000)
        full_disk["full"] = False
        assert [t.text for t in store.session_detail(session_id).turns] == []  # nothing half-written


def test_a_full_disk_during_an_interview_keeps_the_typed_answer(app_env, full_disk):
    at = start_interview(AppTest.from_file(APP, default_timeout=120).run())
    assert at.chat_input, "the first question waits for an answer"
    answer = "Retrieval keeps facts current; fine-tuning shapes behaviour. " * 400  # needs new pages to store
    full_disk["full"] = True
    at.chat_input(key="answer").set_value(answer).run()

    assert not at.exception
    [error] = at.error
    assert "Your answer was not saved" in error.value and "the disk is full" in error.value
    assert at.chat_input(key="answer").proto.value == answer, "the answer is back in the box"
    assert "Traceback" not in str(at)

    full_disk["full"] = False
    at.chat_input(key="answer").set_value(answer).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with Store(app_env["db_url"]) as store:
        [summary] = store.list_sessions()
        assert [t.text for t in store.session_detail(summary.id).answers] == [answer]


def test_the_app_shows_a_broken_database_as_one_error_box(app_env, monkeypatch, tmp_path):
    path = tmp_path / "random.db"
    path.write_bytes(os.urandom(8192))
    monkeypatch.setenv("SIMULATOR_DB_URL", f"sqlite:///{path}")
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    [error] = at.error
    assert error.value.startswith("The database file") and "damaged or cut short" in error.value


def test_a_bad_setting_is_an_error_box_in_the_app(app_env, monkeypatch):
    monkeypatch.setenv("SIMULATOR_LLM_DEADLINE_S", "soon")
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert "SIMULATOR_LLM_DEADLINE_S='soon' is not a number of seconds" in at.error[0].value

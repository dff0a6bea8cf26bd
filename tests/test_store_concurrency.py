"""Persistence under load: threads and processes writing at once, and a writer killed mid-session. Each test runs
on a SQLite file and on PostgreSQL (``db_url``, tests/postgres.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

from simulator.config import PROJECT_ROOT
from simulator.storage.records import SessionDetail, SessionSettings
from simulator.storage.store import Store
from tests.postgres import is_sqlite, sql
from tests.test_store import make_grade

_T = TypeVar("_T")


@pytest.fixture
def store(db_url: str):
    with Store(db_url) as opened:
        yield opened


def _in_twenty_threads(task: Callable[[int, threading.Barrier], _T]) -> list[_T]:
    """Run ``task(n, start)`` for n in 0..19 at once; a failing thread releases the others and its error is raised."""
    start = threading.Barrier(20, timeout=30)

    def guarded(n: int) -> _T:
        try:
            return task(n, start)
        except BaseException:
            start.abort()
            raise

    with ThreadPoolExecutor(20) as pool:
        futures = [pool.submit(guarded, n) for n in range(20)]
    errors = [f.exception() for f in futures if f.exception() is not None]
    real = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
    if errors:
        raise (real or errors)[0]
    return [f.result() for f in futures]


def _write_turns(store: Store, session_id: int, writer: int, start: threading.Barrier, count: int = 25) -> list[int]:
    start.wait()
    written, asked = [], None
    for i in range(count):
        if i % 2 == 0:
            asked = store.add_turn(session_id, "interviewer", "question", f"w{writer}-{i}")
            written.append(asked)
        else:
            answer = store.add_turn(session_id, "candidate", "answer", f"w{writer}-{i}", parent_turn_id=asked)
            store.attach_grade(answer, make_grade(overall=float(writer % 10)))
            written.append(answer)
    return written


def _assert_complete(detail: SessionDetail, written: list[int], count: int) -> None:
    assert len(detail.turns) == count
    assert [t.seq for t in detail.turns] == list(range(1, count + 1))
    assert sorted(t.id for t in detail.turns) == sorted(written)
    assert len({t.text for t in detail.turns}) == count
    assert all(t.grade is not None for t in detail.answers)


def test_twenty_threads_writing_one_session_lose_nothing(store: Store) -> None:
    session_id = store.create_session("racer", SessionSettings(), "offline", "offline", [])
    results = _in_twenty_threads(lambda n, start: _write_turns(store, session_id, n, start))
    detail = store.session_detail(session_id)
    _assert_complete(detail, [t for ids in results for t in ids], 500)
    assert len(detail.answers) == 240
    for writer in range(20):  # each writer's turns keep their order
        mine = [int(t.text.split("-")[1]) for t in detail.turns if t.text.startswith(f"w{writer}-")]
        assert mine == list(range(25))


def test_twenty_stores_on_twenty_sessions_of_a_new_file_lose_nothing(db_url: str) -> None:
    def run(writer: int, start: threading.Barrier) -> tuple[int, list[int]]:
        with Store(db_url) as own:  # one engine per thread, like separate processes; all create and migrate at once
            session_id = own.create_session(f"racer-{writer}", SessionSettings(), "offline", "offline", [])
            return session_id, _write_turns(own, session_id, writer, start)

    results = _in_twenty_threads(run)
    with Store(db_url) as store:
        assert len({session_id for session_id, _ in results}) == 20
        for session_id, written in results:
            _assert_complete(store.session_detail(session_id), written, 25)
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM turns").scalar() == 500
            assert conn.exec_driver_sql("SELECT count(*) FROM grades").scalar() == 240


CHILD_NOTES = """
import sys
from simulator.storage.store import Store

store = Store(sys.argv[1])
for i in range(25):
    store.add_turn(int(sys.argv[2]), "candidate", "note", f"{sys.argv[3]}-{i}")
"""


def test_four_processes_writing_one_session_lose_nothing(db_url: str) -> None:
    with Store(db_url) as store:  # across processes only the database's own locks keep order
        session_id = store.create_session("racer", SessionSettings(), "offline", "offline", [])
    children = [subprocess.Popen([sys.executable, "-c", CHILD_NOTES, db_url, str(session_id), f"p{n}"],
                                 cwd=PROJECT_ROOT) for n in range(4)]
    assert [child.wait(timeout=60) for child in children] == [0, 0, 0, 0]
    with Store(db_url) as store:
        turns = store.session_detail(session_id).turns
    assert [t.seq for t in turns] == list(range(1, 101))
    assert sorted(t.text for t in turns) == sorted(f"p{n}-{i}" for n in range(4) for i in range(25))


CHILD_WRITER = """
import sys
from simulator.grading.contract import unscored
from simulator.storage.store import Store

store = Store(sys.argv[1])
session_id = int(sys.argv[2])
for i in range(100_000):
    asked = store.add_turn(session_id, "interviewer", "question", f"q{i}")
    print(asked, flush=True)
    answer = store.add_turn(session_id, "candidate", "answer", f"a{i}", parent_turn_id=asked, duration_s=1.0)
    print(answer, flush=True)
    store.attach_grade(answer, unscored("offline-evidence", "placeholder"))
"""


def test_a_killed_writer_leaves_every_committed_turn_and_a_resumable_session(db_url: str) -> None:
    with Store(db_url) as store:
        session_id = store.create_session("crash", SessionSettings(questions=3), "offline", "offline", ["q-one"])
    child = subprocess.Popen([sys.executable, "-c", CHILD_WRITER, db_url, str(session_id)],
                             cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    committed = [int(child.stdout.readline()) for _ in range(60)]
    os.kill(child.pid, signal.SIGKILL)
    committed += [int(line) for line in child.stdout.read().split()]
    assert child.wait(timeout=10) == -signal.SIGKILL

    if is_sqlite(db_url):  # PostgreSQL checks its constraints itself, and has no file to check
        assert sql(db_url, "PRAGMA integrity_check") == [("ok",)]
        assert sql(db_url, "PRAGMA foreign_key_check") == []
    with Store(db_url) as store:
        resumed = store.open_session_for("crash")
        assert resumed is not None and resumed.id == session_id and resumed.status == "active"
        stored = [t.id for t in resumed.turns]
        assert set(committed) <= set(stored) and len(stored) - len(committed) <= 1
        assert [t.seq for t in resumed.turns] == list(range(1, len(stored) + 1))
        assert len(resumed.pending_grades) <= 1
        next_turn = store.add_turn(session_id, "interviewer", "question", "Where were we?")
        assert store.session_detail(session_id).turns[-1].id == next_turn

"""Where SQLite and PostgreSQL differ, the store evens it out: text with NUL characters, labels longer than their
column, the transaction isolation it relies on, and transactions PostgreSQL rolls back as deadlock victims."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from sqlalchemy import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from simulator.storage.db import retryable
from simulator.storage.records import SessionSettings
from simulator.storage.store import Store
from tests.postgres import sql


def test_a_nul_character_is_stored_as_a_replacement_character_on_every_engine(db_url: str) -> None:
    with Store(db_url) as store:
        session_id = store.create_session("ann", SessionSettings(), "offline", "offline", [])
        asked = store.add_turn(session_id, "interviewer", "question", "Why?")
        store.add_turn(session_id, "candidate", "answer", "pasted\x00text", parent_turn_id=asked,
                       meta={"note": "nul\x00in json"})
        answer = store.session_detail(session_id).answers[0]
    assert (answer.text, answer.meta) == ("pasted\ufffdtext", {"note": "nul\x00in json"})


def test_interviewer_and_judge_labels_longer_than_their_column_are_cut(db_url: str) -> None:
    long_model = "llm:" + "m" * 300
    with Store(db_url) as store:
        session_id = store.create_session("ann", SessionSettings(), long_model, long_model, [])
        detail = store.session_detail(session_id)
    assert detail.interviewer == detail.judge == long_model[:200]


@pytest.mark.postgres
def test_postgres_writers_read_committed_whatever_the_server_default(postgres_url: str) -> None:
    name = make_url(postgres_url).database
    sql(postgres_url, f'ALTER DATABASE "{name}" SET default_transaction_isolation = \'serializable\'')
    assert sql(postgres_url, "SHOW transaction_isolation") == [("serializable",)]
    with Store(postgres_url) as store:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW transaction_isolation").scalar() == "read committed"
        session_id = store.create_session("ann", SessionSettings(), "offline", "offline", [])
        threads = [threading.Thread(target=lambda n=n: [store.add_turn(session_id, "interviewer", "note", f"{n}-{i}")
                                                        for i in range(10)]) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [t.seq for t in store.session_detail(session_id).turns] == list(range(1, 81))


def _wait_for_a_lock_wait(url: str) -> None:
    deadline = time.monotonic() + 10
    while sql(url, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                   "AND datname = current_database()") != [(1,)]:
        assert time.monotonic() < deadline, "the store's transaction never waited for the lock"
        time.sleep(0.01)


@pytest.mark.postgres
def test_a_deadlock_victim_is_written_again(postgres_url: str) -> None:
    """Another client locks the parent turn, then the session row the store holds: PostgreSQL breaks the cycle by
    rolling back the store's transaction (the other client waits longer before checking), which must retry."""
    with Store(postgres_url) as store:
        session_id = store.create_session("ann", SessionSettings(), "offline", "offline", [])
        asked = store.add_turn(session_id, "interviewer", "question", "Why?")
        deadlocks_before = sql(postgres_url, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        other = psycopg.connect("postgresql" + postgres_url.removeprefix("postgresql+psycopg"))
        try:
            other.execute("SET deadlock_timeout = '10s'")
            other.execute("SELECT 1 FROM turns WHERE id = %s FOR UPDATE", (asked,))
            with ThreadPoolExecutor(1) as pool:
                answered = pool.submit(store.add_turn, session_id, "candidate", "answer", "Because.",
                                       parent_turn_id=asked)
                _wait_for_a_lock_wait(postgres_url)  # the store holds the session row and waits for the turn
                other.execute("SELECT 1 FROM sessions WHERE id = %s FOR UPDATE", (session_id,))
                other.commit()
                answer_id = answered.result(timeout=30)
        finally:
            other.close()
        turns = store.session_detail(session_id).turns
    assert sql(postgres_url, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()") \
        > deadlocks_before
    assert [(t.seq, t.kind, t.id) for t in turns] == [(1, "question", asked), (2, "answer", answer_id)]


@pytest.mark.parametrize(("error", "expected"), [
    (IntegrityError("INSERT", None, psycopg.errors.UniqueViolation("taken")), True),
    (OperationalError("SELECT", None, psycopg.errors.DeadlockDetected("deadlock")), True),
    (OperationalError("SELECT", None, psycopg.errors.SerializationFailure("conflict")), True),
    (OperationalError("SELECT", None, psycopg.errors.QueryCanceled("timeout")), False),
    (ValueError("a rule was broken"), False),
])
def test_only_lost_races_are_retried_even_when_wrapped(error: Exception, expected: bool) -> None:
    assert retryable(error) is expected
    try:
        raise RuntimeError("the database cannot be used") from error
    except RuntimeError as wrapped:
        assert retryable(wrapped) is expected

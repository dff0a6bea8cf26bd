"""Hardening: many interviews at once on one database, racing runs of one session, and kills mid-grade.

Everything goes through the real :class:`InterviewRunner` (offline interviewer, the deterministic fake judge of
tests/fakes.py: grading is not what is tested here) or the real :class:`Store`; rows are counted with SQL, not
through the code under test. Each test runs on a SQLite file and on PostgreSQL (``db_url``, tests/postgres.py).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from simulator.config import PROJECT_ROOT
from simulator.grading.contract import Grade
from simulator.grading.spec import spec_from_question
from simulator.interview.runner import InterviewError, Stage
from simulator.storage.records import SessionSettings
from simulator.storage.store import Store
from tests.fakes import FAKE_JUDGE, fake_judge, fake_runner
from tests.postgres import is_sqlite, sql

_T = TypeVar("_T")
SESSIONS = 20


def at_once(count: int, task: Callable[[int], _T]) -> list[_T]:
    """Run ``task(n)`` for n in 0..count-1 in threads released together; the first real error is raised."""
    start = threading.Barrier(count, timeout=60)

    def guarded(n: int) -> _T:
        try:
            start.wait()
            return task(n)
        except BaseException:
            start.abort()
            raise

    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(guarded, n) for n in range(count)]
    errors = [f.exception() for f in futures if f.exception() is not None]
    real = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
    if errors:
        raise (real or errors)[0]
    return [f.result() for f in futures]


def assert_consistent(url: str) -> None:
    if is_sqlite(url):  # PostgreSQL enforces foreign keys itself and has no file to check
        assert sql(url, "PRAGMA integrity_check") == [("ok",)]
        assert sql(url, "PRAGMA foreign_key_check") == []
    gaps = sql(url, "SELECT session_id FROM turns GROUP BY session_id HAVING count(*) != max(seq) OR min(seq) != 1")
    assert gaps == [], "every session's turns are numbered 1..n with no gap or duplicate"
    assert sql(url, "SELECT count(*) FROM grades g JOIN turns t ON t.id = g.turn_id WHERE t.kind != 'answer'") \
        == [(0,)]
    assert sql(url, "SELECT count(*) - count(DISTINCT turn_id) FROM grades") == [(0,)]


def kinds_by_session(url: str) -> dict[int, str]:
    """Each session's turn kinds in seq order, comma-separated."""
    kinds: dict[int, list[str]] = {}
    for session_id, kind in sql(url, "SELECT session_id, kind FROM turns ORDER BY session_id, seq"):
        kinds.setdefault(session_id, []).append(kind)
    return {session_id: ",".join(listed) for session_id, listed in kinds.items()}


def stored_grade(value: Any) -> Grade:
    """A grade column as read by the driver: JSON text from SQLite, already decoded by psycopg."""
    return Grade.model_validate_json(value) if isinstance(value, str) else Grade.model_validate(value)


def weak_answer(session: int, n: int) -> str:
    return f"[session {session} answer {n}] I am not sure; maybe it depends on the data."


def test_twenty_simultaneous_interviews_through_the_engine_lose_and_duplicate_nothing(bundle, db_url):
    url = db_url
    shared = Store(url)
    judge = fake_judge()  # one judge for every thread, as the app shares one

    def interview(n: int) -> int:
        store = shared if n % 2 else Store(url)  # half share one Store, half open their own runner
        runner = fake_runner(store, bundle.questions, bundle.rubrics, seed=n, judge=judge)
        session_id = runner.start(f"candidate-{n}", SessionSettings(questions=2, follow_ups=1), seed=n)
        answered = 0
        while (pending := runner.next_turn(session_id)) is not None:
            pending.commit()
            runner.answer(session_id, weak_answer(n, answered), duration_s=1.0 + n)
            [grade] = runner.grade_pending(session_id)
            assert grade.status == "scored"
            answered += 1
        if store is not shared:
            store.close()
        return session_id

    try:
        session_ids = at_once(SESSIONS, interview)
    finally:
        shared.close()

    assert len(set(session_ids)) == SESSIONS
    assert_consistent(url)
    assert sql(url, "SELECT count(*) FROM sessions WHERE status = 'finished'") == [(SESSIONS,)]
    assert sql(url, "SELECT count(*) FROM profiles") == [(SESSIONS,)]
    per_session = kinds_by_session(url)
    assert set(per_session) == set(session_ids)
    assert set(per_session.values()) == {"question,answer,follow_up,answer,question,answer,follow_up,answer"}
    assert sql(url, "SELECT count(*) FROM turns") == [(8 * SESSIONS,)]
    assert sql(url, "SELECT count(*) FROM grades") == [(4 * SESSIONS,)]
    assert len(judge.calls) == 4 * SESSIONS, "every answer was graded once"
    for n, session_id in enumerate(session_ids):
        rows = sql(url, "SELECT t.text, t.duration_s, g.status FROM turns t JOIN grades g ON g.turn_id = t.id "
                         "WHERE t.session_id = ? ORDER BY t.seq", session_id)
        assert rows == [(weak_answer(n, i), 1.0 + n, "scored") for i in range(4)], "no answer crossed sessions"


def test_racing_runs_of_one_session_store_each_turn_answer_and_grade_once(bundle, db_url):
    """Two tabs, a double click, a rerun: racing runs of the same step must not duplicate anything."""
    url = db_url
    racers = 8
    stores = [Store(url) for _ in range(racers)]
    try:
        runners = [fake_runner(store, bundle.questions, bundle.rubrics, seed=1) for store in stores]
        session_id = runners[0].start("racer", SessionSettings(questions=2, follow_ups=0), seed=1)
        for question in range(2):
            pendings = [runner.next_turn(session_id) for runner in runners]
            turn_ids = at_once(racers, lambda n, pendings=pendings: pendings[n].commit())
            assert len(set(turn_ids)) == 1, "every racer gets the one stored question"

            def answer(n: int) -> str:
                try:
                    runners[n].answer(session_id, f"answer from racer {n}")
                    return "stored"
                except InterviewError as exc:
                    return str(exc)

            outcomes = at_once(racers, answer)
            assert outcomes.count("stored") == 1, outcomes
            assert all("not waiting for an answer" in o or "already answered" in o for o in outcomes if o != "stored")
            grades = at_once(racers, lambda n: runners[n].grade_pending(session_id))
            stored = runners[0].detail(session_id).answers[question].grade
            assert all(g == [] or g == [stored] for g in grades) and [stored] in grades
            assert runners[0].stage(session_id) == Stage.GRADED
        assert all(runner.next_turn(session_id) is None for runner in runners)
    finally:
        for store in stores:
            store.close()
    assert_consistent(url)
    assert sql(url, "SELECT kind FROM turns ORDER BY seq") == [("question",), ("answer",)] * 2
    assert sql(url, "SELECT count(*) FROM grades") == [(2,)]


CHILD_GRADER = """
import sys
from simulator.content import bank
from simulator.grading.contract import Grade
from simulator.storage.store import Store

store = Store(sys.argv[1])
session_id, grade = int(sys.argv[2]), Grade.model_validate_json(open(sys.argv[3], encoding="utf-8").read())
bundle = bank.load_bundle()
question = bundle.questions[sys.argv[4]]
for i in range(1_000_000):
    asked = store.add_turn(session_id, "interviewer", "question", question.prompt, question=question,
                           rubrics=bundle.rubrics_for(question))
    answer = store.add_turn(session_id, "candidate", "answer", f"{sys.argv[5]}-{i}", parent_turn_id=asked)
    print("grading", answer, flush=True)
    store.attach_grade(answer, grade)
    print("graded", answer, flush=True)
"""
QUESTION_ID = "finetune-lora-vs-full"


def test_processes_killed_while_writing_big_grades_leave_a_consistent_resumable_database(bundle, db_url, tmp_path):
    url = db_url
    with Store(url) as store:
        session_id = store.create_session("killed", SessionSettings(questions=3), "offline", FAKE_JUDGE,
                                          [QUESTION_ID])
    judge = fake_judge()
    question = bundle.questions[QUESTION_ID]
    graded_once = judge(spec_from_question(question, bundle.rubrics), "LoRA trains adapters.")
    big = graded_once.model_copy(update={"feedback": "Write more about adapters. " * 40_000})  # ~1 MB: slow to write
    grade_file = tmp_path / "grade.json"
    grade_file.write_text(big.model_dump_json(), encoding="utf-8")
    rng = random.Random(4)
    graded: set[int] = set()
    started: set[int] = set()

    for round_ in range(3):
        child = subprocess.Popen([sys.executable, "-c", CHILD_GRADER, url, str(session_id), str(grade_file),
                                  QUESTION_ID, f"round{round_}"],
                                 cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        lines: list[str] = []
        kill_at = rng.randint(2, 5)
        try:
            while sum(line.startswith("grading") for line in lines) < kill_at:
                line = child.stdout.readline()
                assert line, "the writer died on its own"
                lines.append(line)
            threading.Event().wait(rng.uniform(0.0, 0.01))  # land inside the ~1 MB grade write
            os.kill(child.pid, signal.SIGKILL)
            lines += child.stdout.read().splitlines()
        finally:
            if child.poll() is None:
                child.kill()
            child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL
        started |= {int(line.split()[1]) for line in lines if line.startswith("grading")}
        graded |= {int(line.split()[1]) for line in lines if line.startswith("graded")}

        assert_consistent(url)
        rows = sql(url, "SELECT turn_id, grade FROM grades")
        stored = {turn_id for turn_id, _ in rows}
        assert graded <= stored <= started, "every acknowledged grade is there; no grade appears from nowhere"
        assert all(stored_grade(blob) == big for _, blob in rows), "no grade is half written"
        ungraded = sql(url, "SELECT count(*) FROM turns t LEFT JOIN grades g ON g.turn_id = t.id "
                             "WHERE t.kind = 'answer' AND g.id IS NULL")
        assert ungraded[0][0] <= round_ + 1, "at most the answer in flight per kill is left ungraded"

    assert started - graded, "at least one kill landed inside a grade write"

    # A new process picks the session up: the answers left ungraded are graded, nothing else changes.
    with Store(url) as store:
        runner = fake_runner(store, bundle.questions, bundle.rubrics, judge=judge)
        before = {t.id: t.grade for t in store.session_detail(session_id).answers if t.grade is not None}
        regraded = runner.grade_pending(session_id)
        detail = store.session_detail(session_id)
    assert all(g.status == "scored" for g in regraded)
    assert detail.pending_grades == [] and len(detail.answers) == len(before) + len(regraded)
    assert {t.id: t.grade for t in detail.answers if t.id in before} == before
    assert_consistent(url)

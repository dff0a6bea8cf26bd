"""Twenty interviews at once from two OS processes on one database (a SQLite file, then PostgreSQL).

Each process (tests/interview_worker.py) runs ten scripted interviews in threads through the real runner and store;
both start on one signal. The rows are then read with plain driver connections and checked against what each
process was told was stored: every acknowledged turn is there exactly once, nothing else is, and every session's
turns are numbered 1..n without a gap.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from simulator.config import PROJECT_ROOT
from tests.interview_worker import answer_text
from tests.postgres import sql

PROCESSES, PER_PROCESS = 2, 10
INTERVIEWS = PROCESSES * PER_PROCESS
KINDS = ["question", "answer", "follow_up", "answer"] * 2


def run_workers(url: str) -> list[dict[str, Any]]:
    """Start the workers, release them together once all are ready, and collect their reports."""
    workers = [subprocess.Popen([sys.executable, "-m", "tests.interview_worker", url, str(p * PER_PROCESS),
                                 str(PER_PROCESS)], cwd=PROJECT_ROOT, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True) for p in range(PROCESSES)]
    try:
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline() == "ready\n", "a worker failed to start"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outputs = [worker.communicate(timeout=120)[0] for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert [worker.returncode for worker in workers] == [0] * PROCESSES
    return [json.loads(line) for output in outputs for line in output.splitlines()]


def stored_turns(url: str) -> dict[int, list[tuple[Any, ...]]]:
    """Each session's turns as (seq, id, kind, text, number of grades), in seq order."""
    rows = sql(url, "SELECT t.session_id, t.seq, t.id, t.kind, t.text, count(g.id) FROM turns t "
                    "LEFT JOIN grades g ON g.turn_id = t.id GROUP BY t.session_id, t.seq, t.id, t.kind, t.text "
                    "ORDER BY t.session_id, t.seq")
    turns: dict[int, list[tuple[Any, ...]]] = {}
    for session_id, *turn in rows:
        turns.setdefault(session_id, []).append(tuple(turn))
    return turns


def test_twenty_interviews_in_two_processes_store_every_turn_exactly_once(db_url: str) -> None:
    reports = run_workers(db_url)
    assert sorted(r["interview"] for r in reports) == list(range(INTERVIEWS))
    assert len({r["session"] for r in reports}) == INTERVIEWS

    stored = stored_turns(db_url)
    assert set(stored) == {r["session"] for r in reports}, "no session appears from nowhere"
    for report in reports:
        turns = stored[report["session"]]
        assert [seq for seq, *_ in turns] == list(range(1, len(KINDS) + 1)), "seq is 1..n: no gap, no repeat"
        assert [turn_id for _, turn_id, *_ in turns] == report["turns"], "exactly the acknowledged turns, in order"
        assert [kind for _, _, kind, *_ in turns] == KINDS
        answers = [(text, grades) for _, _, kind, text, grades in turns if kind == "answer"]
        assert answers == [(answer_text(report["interview"], i), 1) for i in range(4)], "each answer graded once"
    assert sql(db_url, "SELECT count(*) FROM sessions WHERE status = 'finished'") == [(INTERVIEWS,)]
    assert sql(db_url, "SELECT count(*), count(DISTINCT turn_id) FROM grades") == [(4 * INTERVIEWS, 4 * INTERVIEWS)]

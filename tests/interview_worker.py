"""A worker process for tests/test_store_processes.py: several scripted interviews at once on one database.

``python -m tests.interview_worker URL FIRST COUNT`` loads the bundled questions, opens one :class:`Store` (shared
by its threads, as the app shares one), prints ``ready`` and waits for a line on stdin, so that every worker starts
at the same moment. It then runs interviews FIRST .. FIRST+COUNT-1 in threads with the offline interviewer and the
fake judge of tests/fakes.py (no model, no index), and prints one JSON line per interview: its number, its session
id and the id of every turn the store acknowledged, in order.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from simulator.content import bank
from simulator.storage.records import SessionSettings
from simulator.storage.store import Store
from tests.fakes import fake_runner

SETTINGS = SessionSettings(questions=2, follow_ups=1)  # question, answer, follow-up, answer; twice


def answer_text(interview: int, answer: int) -> str:
    return f"[interview {interview} answer {answer}] I am not sure; maybe it depends on the data."


def run_interview(store: Store, bundle: bank.Bundle, n: int) -> dict[str, Any]:
    runner = fake_runner(store, bundle.questions, bundle.rubrics, seed=n)
    session_id = runner.start(f"candidate-{n}", SETTINGS, seed=n)
    turns: list[int] = []
    while (pending := runner.next_turn(session_id)) is not None:
        turns.append(pending.commit())
        turns.append(runner.answer(session_id, answer_text(n, len(turns) // 2), duration_s=1.0).turn_id)
        runner.grade_pending(session_id)
    return {"interview": n, "session": session_id, "turns": turns}


def main(url: str, first: int, count: int) -> None:
    bundle = bank.load_bundle()
    with Store(url) as store:
        print("ready", flush=True)
        sys.stdin.readline()
        with ThreadPoolExecutor(count) as pool:
            futures = [pool.submit(run_interview, store, bundle, n) for n in range(first, first + count)]
            for future in futures:
                print(json.dumps(future.result()), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))

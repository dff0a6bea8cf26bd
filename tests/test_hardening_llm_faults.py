"""Hardening: every way an LLM endpoint fails, seen through the real interview runner.

The LLM interviewer and the LLM judge talk to the scripted server over a real socket. For each fault the
call is retried a bounded number of times with doubling backoff (only when the fault is transient), then
the offline interviewer or the offline judge takes over for that turn alone, labelled as such, and the
candidate's answer and the session stay intact.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass

import pytest

from simulator.config import LLMConfig
from simulator.grading.llm_judge import llm_judge
from simulator.grading.spec import GradingSpec
from simulator.interview.interviewer import LLMInterviewer, OfflineInterviewer
from simulator.interview.runner import InterviewRunner, spec_for_turn
from simulator.llm import LLMError, OpenAICompatibleModel
from simulator.storage.records import SessionSettings
from simulator.storage.store import Store
from tests import fake_llm_server as fake

TIMEOUT_S = 0.3
MAX_RETRIES = 2
ATTEMPTS = MAX_RETRIES + 1
BASE_DELAY_S = 0.01
BACKOFF = [BASE_DELAY_S, 2 * BASE_DELAY_S]
"""The sleeps between the three attempts of a transient failure: the delay doubles."""
JUDGE_ATTEMPTS = 2
INTERVIEWER_SEED = 1

FIRST_ANSWER = ("I would keep the facts in retrieval, because documents change and re-indexing is cheap, and "
                "fine-tune only for tone and format.")
SECOND_ANSWER = "Honestly I am not sure; it depends on the budget."


@dataclass(frozen=True)
class Fault:
    interviewer: tuple[fake.Reply, ...]
    """What the server answers to one interviewer turn (every attempt)."""
    judge: tuple[fake.Reply, ...]
    """What the server answers to one grading (every attempt, every re-ask)."""
    interviewer_reason: str
    """Expected in the turn's ``fallback_reason``."""
    judge_reason: str
    """Expected in the fallback grade's reason."""
    transient: bool
    """Retried with backoff (connection errors, timeouts, 429, 5xx)."""


def _times(reply: fake.Reply, n: int) -> tuple[fake.Reply, ...]:
    return (reply,) * n


FAULTS = {
    "endpoint-down": Fault((), (), f"cannot connect (after {ATTEMPTS} attempts)",
                           f"cannot connect (after {ATTEMPTS} attempts)", True),
    "slow-past-timeout": Fault(
        _times(fake.delayed(3.0), ATTEMPTS), _times(fake.delayed(3.0), ATTEMPTS),
        f"timed out after {TIMEOUT_S:g} s (after {ATTEMPTS} attempts)",
        f"timed out after {TIMEOUT_S:g} s (after {ATTEMPTS} attempts)", True),
    "http-429": Fault(
        _times(fake.error(429, "rate limited, slow down"), ATTEMPTS),
        _times(fake.error(429, "rate limited, slow down"), ATTEMPTS),
        f"HTTP 429: rate limited, slow down (after {ATTEMPTS} attempts)",
        f"HTTP 429: rate limited, slow down (after {ATTEMPTS} attempts)", True),
    "http-500": Fault(
        _times(fake.error(500, "backend exploded"), ATTEMPTS), _times(fake.error(500, "backend exploded"), ATTEMPTS),
        f"HTTP 500: backend exploded (after {ATTEMPTS} attempts)",
        f"HTTP 500: backend exploded (after {ATTEMPTS} attempts)", True),
    "http-401-not-retried": Fault(
        (fake.error(401, "invalid credentials"),), (fake.error(401, "invalid credentials"),),
        "HTTP 401: invalid credentials", "HTTP 401: invalid credentials", False),
    "broken-json-body": Fault(
        (fake.stream("Let me ask ", "you about", broken_after=1),),  # the server dies mid-stream
        (fake.raw('{"id": "chatcmpl-1", "choices": [{"message": '),),
        "not valid JSON", "the server's response is not valid JSON", False),
    "broken-json-content": Fault(
        (fake.stream("never sent", broken_after=0),),
        _times(fake.text('{"criteria": [{"criterion": '), JUDGE_ATTEMPTS),
        "not valid JSON", f"gave no usable grade in {JUDGE_ATTEMPTS} attempts: the reply is not valid JSON", False),
    "wrong-schema": Fault(
        (fake.raw('data: {"choices": "not a list"}\n\ndata: [DONE]\n\n'),),
        _times(fake.text('{"score": 10, "verdict": "excellent"}'), JUDGE_ATTEMPTS),
        "not a chat completion", "schema mismatch at criteria", False),
    "wrong-shape-body": Fault(
        (fake.raw("data: [1, 2, 3]\n\ndata: [DONE]\n\n"),), (fake.raw('{"choices": [{"message": null}]}'),),
        "not a chat completion", "not a chat completion", False),
    "empty-content": Fault(
        (fake.text(""),), _times(fake.text(""), JUDGE_ATTEMPTS),
        "the model returned no text",
        f"gave no usable grade in {JUDGE_ATTEMPTS} attempts: the reply is not valid JSON", False),
}


@pytest.fixture
def store(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'faults.db'}") as opened:
        yield opened


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens here any more: connection refused


def llm_engine(runtime, store: Store, base_url: str, sleeps: list[float]) -> InterviewRunner:
    config = LLMConfig(base_url=base_url, model="fake-model", timeout_s=TIMEOUT_S, max_retries=MAX_RETRIES,
                       retry_base_delay_s=BASE_DELAY_S)

    def sleep(seconds: float) -> None:  # a real sleep that also records the backoff
        sleeps.append(seconds)
        time.sleep(seconds)

    interviewer = LLMInterviewer(OpenAICompatibleModel(config, sleep=sleep), "fake-model",
                                 fallback=OfflineInterviewer(seed=INTERVIEWER_SEED))
    judge = llm_judge(OpenAICompatibleModel(config, sleep=sleep), runtime.index.search, hints=runtime.offline_judge,
                      max_attempts=JUDGE_ATTEMPTS)
    return InterviewRunner(store, runtime.bundle.questions, runtime.bundle.rubrics, judge, interviewer,
                           "llm:fake-model", fallback_judge=runtime.offline_judge)


def valid_reply(spec: GradingSpec, level: int = 2) -> str:
    criteria = [{"criterion": c.key, "level": level, "justification": "Scripted verdict.", "quotes": [],
                 "passage_ids": []} for c in spec.criteria]
    return json.dumps({"criteria": criteria, "covered_points": [], "misconceptions": []})


def table_counts(store: Store, session_id: int) -> dict[str, int]:
    with store.engine.connect() as conn:
        kinds = dict(conn.exec_driver_sql(
            "SELECT kind, count(*) FROM turns WHERE session_id = ? GROUP BY kind", (session_id,)).all())
        grades = conn.exec_driver_sql(
            "SELECT count(*) FROM grades JOIN turns ON turns.id = grades.turn_id WHERE turns.session_id = ?",
            (session_id,)).scalar()
        seqs = [s for (s,) in conn.exec_driver_sql(
            "SELECT seq FROM turns WHERE session_id = ? ORDER BY seq", (session_id,)).all()]
    assert seqs == list(range(1, len(seqs) + 1)), "turn numbers have no gaps or duplicates"
    return {**kinds, "grades": grades}


@pytest.mark.parametrize("fault_name", list(FAULTS))
def test_each_llm_fault_is_retried_then_handed_to_the_offline_role_for_that_turn_only(
        runtime, store, fake_llm, fault_name):
    fault = FAULTS[fault_name]
    down = fault_name == "endpoint-down"
    sleeps: list[float] = []
    runner = llm_engine(runtime, store, closed_port_url() if down else fake_llm.base_url, sleeps)
    session_id = runner.start("fault-tester", SessionSettings(questions=2, follow_ups=0), seed=7)

    # The interviewer's endpoint fails while asking question 1: the offline phrasing is streamed and stored.
    fake_llm.script(*fault.interviewer)
    pending = runner.next_turn(session_id)
    streamed = "".join(pending.stream())
    offline_text = OfflineInterviewer(seed=INTERVIEWER_SEED).ask_text(pending.question, 0, 2)
    asked = runner.detail(session_id).turns[-1]
    assert asked.kind == "question" and asked.text == offline_text and streamed.endswith(offline_text)
    assert asked.meta["interviewer"] == "offline-fallback"
    assert fault.interviewer_reason in asked.meta["fallback_reason"]
    assert len(fake_llm.requests) == len(fault.interviewer) and fake_llm.pending == 0, "retries are bounded"
    assert sleeps == (BACKOFF if fault.transient else []), "transient faults back off, doubling; others do not"

    # The judge's endpoint fails on answer 1: the offline judge grades it, and the grade says so.
    sleeps.clear()
    sent = len(fake_llm.requests)
    runner.answer(session_id, FIRST_ANSWER, duration_s=12.0)
    fake_llm.script(*fault.judge)
    [grade] = runner.grade_pending(session_id)
    assert grade.status == "scored" and grade.judge == "offline-evidence" and "judge-fallback" in grade.flags
    assert grade.reason.startswith("llm judge failed (") and fault.judge_reason in grade.reason
    assert grade.reason.endswith("graded by the offline judge instead") and "crashed" not in grade.reason
    assert grade.overall == runtime.offline_judge(spec_for_turn(asked), FIRST_ANSWER).overall
    assert len(fake_llm.requests) - sent == len(fault.judge) and fake_llm.pending == 0
    assert sleeps == (BACKOFF if fault.transient else [])
    assert runner.detail(session_id).answers[0].grade == grade

    # Question 2: the endpoint works again (except when it is still down), so the LLM roles are back.
    if not down:
        fake_llm.script(fake.stream("Next, ", "let's talk about ", "costs."))
    second = runner.next_turn(session_id)
    second.commit()
    runner.answer(session_id, SECOND_ANSWER)
    asked_second = runner.detail(session_id).turns[-2]
    if not down:
        fake_llm.script(valid_reply(spec_for_turn(asked_second)))
    [second_grade] = runner.grade_pending(session_id)
    if down:
        assert asked_second.meta["interviewer"] == "offline-fallback"
        assert second_grade.judge == "offline-evidence" and "judge-fallback" in second_grade.flags
    else:
        assert (asked_second.text, asked_second.meta["interviewer"]) == ("Next, let's talk about costs.",
                                                                         "llm:fake-model")
        # the scripted level 2 comes with no quote, so it is evidence of nothing: lowered to 0
        assert (second_grade.judge, second_grade.status, second_grade.overall) == ("llm", "scored", 0.0)
        assert "evidence-lowered" in second_grade.flags
        assert "judge-fallback" not in second_grade.flags and second_grade.reason is None

    assert runner.next_turn(session_id) is None
    detail = runner.detail(session_id)
    assert detail.status == "finished"
    assert [(a.text, a.duration_s) for a in detail.answers] == [(FIRST_ANSWER, 12.0), (SECOND_ANSWER, None)]
    assert table_counts(store, session_id) == {"question": 2, "answer": 2, "grades": 2}


def test_follow_up_phrasing_and_its_grading_fall_back_per_turn(runtime, store, fake_llm):
    sleeps: list[float] = []
    runner = llm_engine(runtime, store, fake_llm.base_url, sleeps)
    session_id = runner.start("follow-up-faults", SessionSettings(questions=1, follow_ups=1), seed=3)
    fake_llm.script(fake.stream("Tell me: ", "RAG or fine-tuning?"))
    runner.next_turn(session_id).commit()
    runner.answer(session_id, SECOND_ANSWER)
    asked = runner.detail(session_id).turns[-2]
    fake_llm.script(valid_reply(spec_for_turn(asked), level=0))  # a weak grade, so a follow-up is asked
    [grade] = runner.grade_pending(session_id)
    assert grade.judge == "llm" and grade.overall == 0.0

    fake_llm.script(*_times(fake.error(502, "bad gateway"), ATTEMPTS))
    follow_up = runner.next_turn(session_id)
    assert follow_up.kind == "follow_up"
    follow_up.commit()
    stored = runner.detail(session_id).turns[-1]
    assert stored.meta["interviewer"] == "offline-fallback"
    assert f"HTTP 502: bad gateway (after {ATTEMPTS} attempts)" in stored.meta["fallback_reason"]
    assert stored.meta["follow_up"] in stored.text, "the bank's follow-up, phrased offline"
    assert stored.meta["criterion"] and stored.parent_turn_id == asked.id

    runner.answer(session_id, FIRST_ANSWER)
    fake_llm.script(fake.raw('"not an object"'))
    [follow_grade] = runner.grade_pending(session_id)
    assert follow_grade.judge == "offline-evidence" and "judge-fallback" in follow_grade.flags
    assert "not a chat completion" in follow_grade.reason
    assert [c.key for c in follow_grade.criteria] == [stored.meta["criterion"]], "graded on the probed criterion"
    assert runner.next_turn(session_id) is None
    assert [a.text for a in runner.detail(session_id).answers] == [SECOND_ANSWER, FIRST_ANSWER]
    assert table_counts(store, session_id) == {"question": 1, "follow_up": 1, "answer": 2, "grades": 2}


MALFORMED_BODIES = {
    "a list": "[]",
    "a string": '"just a string"',
    "null": "null",
    "choices not a list": '{"choices": "x"}',
    "choice without message": '{"choices": [{}]}',
    "null message": '{"choices": [{"message": null}]}',
    "content not text": '{"choices": [{"message": {"role": "assistant", "content": 5}}]}',
}
MALFORMED_STREAMS = {
    "chunk is a list": "data: [1, 2]\n\ndata: [DONE]\n\n",
    "chunk is a string": 'data: "str"\n\ndata: [DONE]\n\n',
    "choices not a list": 'data: {"choices": "x"}\n\ndata: [DONE]\n\n',
    "delta content not text": 'data: {"choices": [{"index": 0, "delta": {"content": 7}}]}\n\ndata: [DONE]\n\n',
}


def test_malformed_replies_are_llm_errors_never_crashes(fake_llm):
    model = OpenAICompatibleModel(LLMConfig(base_url=fake_llm.base_url, model="fake-model", timeout_s=2,
                                            max_retries=MAX_RETRIES, retry_base_delay_s=BASE_DELAY_S))
    messages = [{"role": "user", "content": "hello"}]
    for name, body in MALFORMED_BODIES.items():
        fake_llm.script(fake.raw(body))
        with pytest.raises(LLMError, match="not a chat completion") as caught:
            model.complete(messages, json_schema={"type": "object"})
        assert "attempts" not in caught.value.reason, f"{name}: a malformed reply is not retried"
    for name, body in MALFORMED_STREAMS.items():
        fake_llm.script(fake.raw(body))
        with pytest.raises(LLMError, match="not a chat completion"):
            list(model.stream(messages))
        assert fake_llm.pending == 0, name
    assert len(fake_llm.requests) == len(MALFORMED_BODIES) + len(MALFORMED_STREAMS)
    # Usage the server reports in the wrong shape is ignored, not fatal.
    fake_llm.script(fake.raw('{"choices": [{"message": {"role": "assistant", "content": "ok"}}], "usage": "lots"}'))
    reply = model.complete(messages)
    assert (reply.text, reply.prompt_tokens, reply.completion_tokens) == ("ok", None, None)


def test_a_dripping_judge_endpoint_is_cut_at_the_deadline_and_the_offline_judge_takes_the_turn(
        runtime, store, fake_llm):
    config = LLMConfig(base_url=fake_llm.base_url, model="fake-model", timeout_s=2.0, deadline_s=2.0,
                       max_retries=1, retry_base_delay_s=0.0)
    judge = llm_judge(OpenAICompatibleModel(config), runtime.index.search, hints=runtime.offline_judge,
                      max_attempts=JUDGE_ATTEMPTS)
    runner = InterviewRunner(store, runtime.bundle.questions, runtime.bundle.rubrics, judge,
                             OfflineInterviewer(seed=INTERVIEWER_SEED), "llm:fake-model",
                             fallback_judge=runtime.offline_judge)
    session_id = runner.start("drip-tester", SessionSettings(questions=1, follow_ups=0), seed=7)
    runner.next_turn(session_id).commit()
    runner.answer(session_id, FIRST_ANSWER, duration_s=5.0)
    fake_llm.script(fake.dripping(0.25), fake.dripping(0.25))
    started = time.monotonic()
    [grade] = runner.grade_pending(session_id)
    assert time.monotonic() - started < 6.0, "one deadline for the call, retries included"
    assert grade.status == "scored" and grade.judge == "offline-evidence" and "judge-fallback" in grade.flags
    assert "2 s deadline" in grade.reason

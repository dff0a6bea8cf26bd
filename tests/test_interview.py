"""The interview runner end to end on real SQLite files, with the offline interviewer and a deterministic fake
judge (tests/fakes.py; the real judges have their own tests). Then the command line: in this process, except
where a process is killed."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from simulator.config import LLMConfig
from simulator.grading.contract import Grade
from simulator.interview.interviewer import LLMInterviewer, OfflineInterviewer
from simulator.interview.policy import STRONG_ANSWER
from simulator.interview.runner import MAX_ANSWER_CHARS, InterviewError, InterviewRunner, Stage
from simulator.llm import OpenAICompatibleModel
from simulator.reports import export
from simulator.storage.records import SessionSettings
from simulator.storage.store import Store
from tests import fake_llm_server as fake
from tests.fakes import FAKE_JUDGE, fake_judge, fake_runner, scored, strong_answer

ROOT = Path(__file__).resolve().parent.parent
WEAK = "I am not sure; maybe it depends."
STRONG_LORA = (
    "Full fine-tuning updates every weight and typically needs a multi-GPU node such as eight A100s. LoRA freezes "
    "the base weights and trains small low-rank adapter matrices, well under one percent of the parameters, so it "
    "fits on a single A100 and reaches roughly 95 percent of full fine-tuning quality. Because the base weights stay "
    "frozen, LoRA also reduces catastrophic forgetting on a small dataset. Adapters are only megabytes, so one base "
    "model can serve several task adapters. I default to LoRA."
)


@pytest.fixture
def store(tmp_path) -> Store:
    with Store(f"sqlite:///{tmp_path / 'interviews.db'}") as opened:
        yield opened


def engine_for(bundle, store: Store) -> InterviewRunner:
    return fake_runner(store, bundle.questions, bundle.rubrics, seed=1)


def settings(**changes) -> SessionSettings:
    return SessionSettings(**{"questions": 2, "follow_ups": 1, **changes})


def answer_and_grade(runner: InterviewRunner, session_id: int, text: str) -> Grade:
    runner.answer(session_id, text, duration_s=3.0)
    return runner.grade_pending(session_id)[0]


def test_states_follow_ups_and_finish(bundle, store):
    runner = engine_for(bundle, store)
    session_id = runner.start("ana", settings(questions=2, follow_ups=1), seed=3)
    assert runner.stage(session_id) == Stage.READY
    first = runner.next_turn(session_id)
    assert first.kind == "question" and first.question.prompt.strip() in first.text
    first.commit()
    assert runner.stage(session_id) == Stage.ASKED
    runner.answer(session_id, WEAK, duration_s=4.2)
    assert runner.stage(session_id) == Stage.ANSWERED
    with pytest.raises(InterviewError, match="not graded"):
        runner.next_turn(session_id)
    [grade] = runner.grade_pending(session_id)
    assert grade.status == "scored" and grade.overall == 0 and not grade.covered
    assert runner.stage(session_id) == Stage.GRADED

    follow_up = runner.next_turn(session_id)
    assert follow_up.kind == "follow_up"
    follow_up.commit()
    answer_and_grade(runner, session_id, WEAK)
    second = runner.next_turn(session_id)
    assert second.kind == "question", "follow_ups=1 allows one follow-up per question"
    second.commit()
    answer_and_grade(runner, session_id, WEAK)
    runner.next_turn(session_id).commit()  # its follow-up
    answer_and_grade(runner, session_id, WEAK)
    assert runner.next_turn(session_id) is None
    detail = runner.detail(session_id)
    assert detail.status == "finished" and runner.stage(session_id) == Stage.FINISHED
    assert [t.kind for t in detail.turns] == ["question", "answer", "follow_up", "answer"] * 2
    assert detail.position == 2
    assert all(a.duration_s == 3.0 or a.duration_s == 4.2 for a in detail.answers)
    follow = detail.turns[2]
    assert follow.meta["criterion"] and follow.meta["follow_up"] in follow.text
    # A follow-up answer is graded on the criterion it probes.
    assert [c.key for c in detail.turns[3].grade.criteria] == [follow.meta["criterion"]]


def test_strong_answer_moves_on_without_a_follow_up(bundle, store):
    runner = engine_for(bundle, store)
    lora = "finetune-lora-vs-full"
    assert lora in bundle.questions
    # Pin the plan to one known question: a session may be created with any plan.
    session_id = store.create_session("bo", settings(questions=1), "offline", runner.judge_name, [lora])
    runner.next_turn(session_id).commit()
    grade = answer_and_grade(runner, session_id, strong_answer(bundle.questions[lora]))
    assert grade.overall == 10 and not grade.missed, grade.feedback
    assert runner.next_turn(session_id) is None
    assert runner.detail(session_id).status == "finished"


def test_a_follow_up_is_asked_below_the_strong_answer_line_only(bundle, store):
    runner = engine_for(bundle, store)
    for score, probed in ((STRONG_ANSWER, False), (STRONG_ANSWER - 0.1, True)):
        session_id = store.create_session(f"line-{score}", settings(questions=1), "offline", runner.judge_name,
                                          ["finetune-lora-vs-full"])
        runner.next_turn(session_id).commit()
        assert answer_and_grade(runner, session_id, f"LoRA, mostly. {scored(score)}").overall == score
        pending = runner.next_turn(session_id)
        assert (pending is not None and pending.kind == "follow_up") == probed, score


def test_follow_ups_setting_bounds_the_follow_ups(bundle, store):
    runner = engine_for(bundle, store)
    for allowed in (0, 2):
        session_id = runner.start(f"p{allowed}", settings(questions=1, follow_ups=allowed), seed=4)
        kinds = []
        while (pending := runner.next_turn(session_id)) is not None:
            pending.commit()
            kinds.append(pending.kind)
            answer_and_grade(runner, session_id, WEAK)
        assert kinds == ["question"] + ["follow_up"] * allowed
        asked = [t.meta.get("follow_up") for t in runner.detail(session_id).turns if t.kind == "follow_up"]
        assert len(set(asked)) == len(asked), "a follow-up is never repeated"


def test_bad_answers_are_refused_or_noted(bundle, store):
    runner = engine_for(bundle, store)
    session_id = runner.start("cy", settings(questions=1, time_limit_s=30), seed=1)
    with pytest.raises(InterviewError, match="not waiting for an answer"):
        runner.answer(session_id, "too early")
    runner.next_turn(session_id).commit()
    for empty in ("", "   \n\t"):
        with pytest.raises(InterviewError, match="empty"):
            runner.answer(session_id, empty)
    receipt = runner.answer(session_id, "x" * (MAX_ANSWER_CHARS + 5), duration_s=95)
    assert any("100,000" in n for n in receipt.notices) and any("soft limit is 30 s" in n for n in receipt.notices)
    stored = runner.detail(session_id).answers[0]
    assert len(stored.text) == MAX_ANSWER_CHARS
    assert stored.meta == {"truncated_from_chars": MAX_ANSWER_CHARS + 5, "over_time_limit_s": 30}


def test_history_is_graded_from_the_snapshot_and_removed_questions_are_skipped(bundle, store):
    runner = engine_for(bundle, store)
    plan = ["finetune-lora-vs-full", "gone-from-the-bank", "cost-which-is-cheaper"]
    present = [q for q in plan if q in bundle.questions]
    assert len(present) == 2, "test expects these bank ids to exist"
    session_id = store.create_session("di", settings(questions=3, follow_ups=0), "offline", runner.judge_name, plan)
    runner.next_turn(session_id).commit()
    runner.answer(session_id, STRONG_LORA)
    # The bank changes between asking and grading: grading must use the question as asked.
    edited = dict(bundle.questions)
    original = edited.pop("finetune-lora-vs-full")
    changed_engine = fake_runner(store, edited, bundle.rubrics)
    [grade] = changed_engine.grade_pending(session_id)
    assert {p.key_point for p in grade.points} == {p.text for p in original.key_points}
    next_question = changed_engine.next_turn(session_id)
    assert next_question.question.id == "cost-which-is-cheaper"
    next_question.commit()
    notes = [t.text for t in runner.detail(session_id).turns if t.kind == "note"]
    assert notes == ["Skipped 'gone-from-the-bank': it is no longer in the question bank."]


def test_a_crash_while_grading_is_graded_on_resume(bundle, db_url):
    url = db_url  # a SQLite file, then PostgreSQL (tests/postgres.py)
    with Store(url) as first_process:
        runner = engine_for(bundle, first_process)
        session_id = runner.start("ed", settings(questions=1), seed=2)
        runner.next_turn(session_id).commit()
        runner.answer(session_id, WEAK)
    # A new process opens the database: the answer is there, waiting for its grade.
    with Store(url) as second_process:
        runner = engine_for(bundle, second_process)
        assert runner.stage(session_id) == Stage.ANSWERED
        assert [a.text for a in runner.detail(session_id).pending_grades] == [WEAK]
        [grade] = runner.grade_pending(session_id)
        assert grade.status == "scored"
        assert runner.stage(session_id) == Stage.GRADED


def test_a_pending_turn_is_stored_once_even_when_committed_twice(bundle, store):
    runner = engine_for(bundle, store)
    session_id = runner.start("fa", settings(questions=2), seed=1)
    first, again = runner.next_turn(session_id), runner.next_turn(session_id)
    assert first.commit() == first.commit()
    assert again.commit() == first.turn_id, "a rerun's duplicate question is not stored twice"
    assert len(runner.detail(session_id).turns) == 1


def test_abandoned_session_accepts_nothing_more(bundle, store):
    runner = engine_for(bundle, store)
    session_id = runner.start("gu", settings(questions=2), seed=1)
    runner.next_turn(session_id).commit()
    runner.abandon(session_id)
    assert runner.stage(session_id) == Stage.ABANDONED
    assert runner.next_turn(session_id) is None
    with pytest.raises(InterviewError):
        runner.answer(session_id, "late answer")


def test_llm_interviewer_and_judge_failures_fall_back_per_turn(bundle, store, fake_llm):
    config = LLMConfig(base_url=fake_llm.base_url, model="fake-model", timeout_s=2, max_retries=0)
    interviewer = LLMInterviewer(OpenAICompatibleModel(config), "fake-model", fallback=OfflineInterviewer(seed=1))
    from simulator.grading.llm_judge import llm_judge

    judge = llm_judge(OpenAICompatibleModel(config), lambda query, k: [], max_attempts=1)
    backup = fake_judge()  # in the offline judge's place (Simulator.runner's wiring of it: test_app, llm faults)
    runner = InterviewRunner(store, bundle.questions, bundle.rubrics, judge, interviewer,
                             "llm:fake-model", fallback_judge=backup)
    session_id = runner.start("hu", settings(questions=2, follow_ups=0), seed=1)

    fake_llm.script(fake.stream("Let's begin: ", "why LoRA?"))
    runner.next_turn(session_id).commit()
    fake_llm.script(fake.error(500, "judge backend down"))
    runner.answer(session_id, WEAK)
    [grade] = runner.grade_pending(session_id)
    assert grade.status == "scored" and grade.judge == FAKE_JUDGE and [a for _, a in backup.calls] == [WEAK]
    assert "judge-fallback" in grade.flags and "judge backend down" in grade.reason

    fake_llm.script(fake.error(503, "interviewer backend down"))
    runner.next_turn(session_id).commit()
    turns = runner.detail(session_id).turns
    assert turns[0].text == "Let's begin: why LoRA?" and turns[0].meta == {"interviewer": "llm:fake-model",
                                                                            "plan_position": 0}
    assert turns[2].meta["interviewer"] == "offline-fallback" and "503" in turns[2].meta["fallback_reason"]
    assert turns[2].question().prompt.strip() in turns[2].text
    assert [a.text for a in runner.detail(session_id).answers] == [WEAK], "the answer is intact"


# ---------------------------------------------------------------- command line


@pytest.fixture
def cli_env(tmp_path, warm_data_dir) -> dict[str, str]:
    """The session's warm data folder (index and bank vectors are loaded, not embedded) and this test's database."""
    return {"SIMULATOR_DATA_DIR": str(warm_data_dir), "SIMULATOR_DB_URL": f"sqlite:///{tmp_path / 'cli.db'}"}


def test_scripted_three_question_interview_with_follow_ups_is_exported(tmp_path, cli_env, run_cli):
    script = tmp_path / "answers.txt"
    script.write_text("\n---\n".join([WEAK, "Retrieval keeps facts current.", STRONG_LORA, WEAK, WEAK, WEAK, WEAK])
                      + "\n")
    run = run_cli("interview", "--profile", "scripted", "--questions", "3", "--answers", script, "--seed", "11",
                  env=cli_env)
    assert run.returncode == 0, run.stderr
    session_id = int(run.stdout.strip().splitlines()[-1].removeprefix("session "))
    assert run.stdout.count("Interviewer:") >= 4 and "Score " in run.stdout

    with Store(cli_env["SIMULATOR_DB_URL"]) as store:
        detail = store.session_detail(session_id)
    assert detail.status == "finished" and detail.judge == "offline-evidence"
    assert sum(t.kind == "question" for t in detail.turns) == 3
    assert any(t.kind == "follow_up" for t in detail.turns)
    assert all(a.grade is not None and a.grade.status == "scored" for a in detail.answers)

    markdown = run_cli("sessions", "export", session_id, "--format", "md")
    assert markdown.returncode == 0
    for n in (1, 2, 3):
        assert f"## Question {n} " in markdown.stdout
    assert "### Follow-up\n" in markdown.stdout and "**Score: " in markdown.stdout
    assert "| Criterion | Level | Why |" in markdown.stdout and "Model answer" in markdown.stdout

    out = tmp_path / "session.json"
    exported = run_cli("sessions", "export", session_id, "--format", "json", "--output", out)
    assert exported.returncode == 0
    restored = export.session_from_json(json.loads(out.read_text()))
    assert restored == detail
    assert export.session_markdown(restored) == markdown.stdout, "the JSON export re-renders the same transcript"

    listing = run_cli("sessions", "list", "--profile", "scripted")
    assert f"{session_id:>5}  scripted" in listing.stdout and "finished" in listing.stdout
    shown = run_cli("sessions", "show", session_id)
    assert shown.returncode == 0 and WEAK in shown.stdout
    missing = run_cli("sessions", "show", "999")
    assert missing.returncode == 1 and "no session 999" in missing.stderr


def _lines(stream) -> queue.Queue:
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    return lines


def _read_until(lines: queue.Queue, prefix: str, timeout: float = 120) -> list[str]:
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        if line.startswith(prefix):
            return seen
    raise AssertionError(f"no line starting with {prefix!r} in {''.join(seen)!r}")


def test_killed_interview_keeps_every_answer_and_resumes_where_it_stopped(tmp_path, cli_env, run_cli):
    # The kill needs a real process; the resume is an ordinary command reading what that process left behind.
    command = [sys.executable, "-m", "simulator", "interview", "--profile", "killed", "--questions", "2",
               "--follow-ups", "1", "--seed", "5"]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
           **cli_env}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines = _lines(process.stdout)
        header = _read_until(lines, "Session ")
        session_id = int(header[-1].split()[1])
        _read_until(lines, "Interviewer:")
        process.stdin.write(f"{WEAK}\n\n")
        process.stdin.flush()
        _read_until(lines, "Interviewer:")  # graded, and the follow-up is stored and shown
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL

    with Store(cli_env["SIMULATOR_DB_URL"]) as store:
        detail = store.session_detail(session_id)
    assert detail.status == "active"
    assert [t.kind for t in detail.turns] == ["question", "answer", "follow_up"]
    assert detail.answers[0].text == WEAK and detail.answers[0].grade is not None
    assert detail.answers[0].duration_s is not None

    script = tmp_path / "rest.txt"
    script.write_text("\n---\n".join(["follow-up answer", "second answer", "second follow-up answer"]))
    resumed = run_cli("interview", "--resume", session_id, "--answers", script, env=cli_env)
    assert resumed.returncode == 0, resumed.stderr
    assert "(resuming) Interviewer:" in resumed.stdout
    with Store(cli_env["SIMULATOR_DB_URL"]) as store:
        after = store.session_detail(session_id)
    assert after.status == "finished"
    assert [a.text for a in after.answers] == [WEAK, "follow-up answer", "second answer", "second follow-up answer"]
    assert after.turns[:3] == detail.turns[:3], "what was stored before the kill is unchanged"


def test_out_of_answers_leaves_the_session_open(tmp_path, cli_env, run_cli):
    script = tmp_path / "one.txt"
    script.write_text(WEAK)
    run = run_cli("interview", "--questions", "2", "--answers", script, "--seed", "1", env=cli_env)
    assert run.returncode == 0
    assert "stays open: resume with --resume" in run.stdout
    empty = tmp_path / "empty.txt"
    empty.write_text("\n---\n  \n")
    refused = run_cli("interview", "--answers", empty)
    assert refused.returncode == 1 and "no answers found" in refused.stderr


def test_markdown_export_renders_candidate_text_inert(bundle, store):
    runner = engine_for(bundle, store)
    session_id = runner.start("ivy", settings(questions=1, follow_ups=0), seed=1)
    runner.next_turn(session_id).commit()
    hostile = "<script>alert(1)</script>\n# Heading\n![x](http://evil.example/p.png) [link](http://e.x)\n- item"
    runner.answer(session_id, hostile)
    runner.grade_pending(session_id)
    markdown = export.session_markdown(runner.detail(session_id))
    assert f"\n```text\n{hostile}\n```\n" in markdown, "the answer is a fenced code block, kept as typed"
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark", {"html": True}).render(markdown)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered
    assert not any(tag in rendered for tag in ("<script", "<h1>Heading", "<img", "<a ", "<li>item"))


def test_terminal_output_drops_control_characters_and_odd_text_is_kept(bundle, store):
    runner = engine_for(bundle, store)
    session_id = runner.start("\u200bzoe\u202e", settings(questions=1, follow_ups=0), seed=1)
    assert runner.detail(session_id).profile == "zoe", "invisible format characters are not part of a name"
    runner.next_turn(session_id).commit()
    runner.answer(session_id, "RAG \x1b[31mred\x1b[0m answer \ud800 kept")
    runner.grade_pending(session_id)
    detail = runner.detail(session_id)
    assert detail.answers[0].text.startswith("RAG \x1b[31mred"), "stored exactly (except the lone surrogate)"
    shown = export.transcript_text(detail)
    assert "\x1b" not in shown and "red\N{REPLACEMENT CHARACTER}[0m answer ? kept" in shown


def test_a_plan_of_chosen_questions_keeps_their_order_and_skips_removed_ones(bundle):
    from simulator.interview.plan import PlanError, make_plan

    ids = list(bundle.questions)[:3]
    plan = make_plan(bundle.questions, SessionSettings(questions=1, question_ids=[ids[2], "gone", ids[0]]))
    assert plan.question_ids == [ids[2], ids[0]] and "gone" in plan.notes[0]
    with pytest.raises(PlanError, match="none of the chosen questions"):
        make_plan(bundle.questions, SessionSettings(question_ids=["gone"]))

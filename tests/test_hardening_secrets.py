"""Hardening: the API key never leaves the HTTP Authorization header.

A distinctive key (not shaped like ``sk-...``, so only real scrubbing can hide it) is configured through the
environment; an interview with the LLM interviewer and judge runs against the scripted server, which fails
with bodies that echo the key (401, 429, 500, one long enough that a naive cut would keep half the key).
The key, or any 8-character piece of it, must then appear nowhere: not in the SQLite files (main, -wal,
-shm), the Markdown and JSON exports, grade reasons, LLMError messages, logs captured at DEBUG (SQLAlchemy,
openai, httpx included), nor the stdout and stderr of the command-line interview.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.config import LLMRoles, SavedSettings, llm_roles
from simulator.llm import LLMError, OpenAICompatibleModel
from simulator.reports import export
from simulator.storage.records import SessionSettings
from simulator.storage.store import Store
from tests import fake_llm_server as fake

ROOT = Path(__file__).resolve().parent.parent
KEY = "hunter2-SIMKEY-7f3a9c2e5b1d4680"
PIECES = {KEY[i : i + 8] for i in range(len(KEY) - 7)}


def assert_no_key(where: str, blob: str | bytes) -> None:
    text = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
    leaked = sorted(piece for piece in PIECES if piece in text)
    assert not leaked, f"the API key leaked into {where}: {leaked[:3]}"


def echoing_failures() -> list[fake.Reply]:
    """Error replies whose bodies carry the key, in ways a careless error path would copy."""
    straddling = "x" * 280 + f" rejected key {KEY} (see docs)"  # the key spans the 300-character cut
    return [
        fake.error(401, f"Incorrect API key provided: {KEY}. Find your key in your account settings."),
        fake.error(500, straddling),
        fake.error(500, straddling),
        fake.error(429, f"quota for key={KEY} exceeded; Authorization: Bearer {KEY}"),
        fake.error(429, f"quota for key={KEY} exceeded; Authorization: Bearer {KEY}"),
    ]


def test_key_is_in_no_file_export_reason_error_or_log(runtime, fake_llm, tmp_path, caplog, capsys):
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # the SQL statements with their parameters
    caplog.set_level(logging.DEBUG)  # every other logger (openai, httpx...); last, as it also sets the handler level
    env = {"SIMULATOR_LLM_BASE_URL": fake_llm.base_url, "SIMULATOR_LLM_MODEL": "fake-model",
           "SIMULATOR_LLM_API_KEY": KEY}
    config = llm_roles(env, SavedSettings()).judge.model_copy(update={"timeout_s": 2.0, "max_retries": 1,
                                                                      "retry_base_delay_s": 0.01})
    assert config.api_key is not None and config.api_key.get_secret_value() == KEY
    for shown in (repr(config), str(config), config.model_dump_json(), str(config.model_dump())):
        assert_no_key("the configuration's printable forms", shown)

    db = tmp_path / "secrets.db"
    store = Store(f"sqlite:///{db}")
    runner = runtime.runner(store, interviewer="llm", judge="llm", seed=1,
                            llm=LLMRoles(interviewer=config, judge=config))
    session_id = runner.start("secret-keeper", SessionSettings(questions=2, follow_ups=0), seed=1)
    failures = echoing_failures()
    fake_llm.script(failures[0])  # the interviewer is refused: 401, not retried
    runner.next_turn(session_id).commit()
    runner.answer(session_id, "Retrieval for facts, fine-tuning for tone.")
    fake_llm.script(*failures[1:3])  # the judge gets 500 twice
    runner.grade_pending(session_id)
    fake_llm.script(fake.stream("Next: ", "what does it cost?"))
    runner.next_turn(session_id).commit()
    runner.answer(session_id, "It depends on traffic.")
    fake_llm.script(*failures[3:5])  # the judge gets 429 twice
    runner.grade_pending(session_id)
    assert runner.next_turn(session_id) is None and fake_llm.pending == 0

    detail = runner.detail(session_id)
    fallbacks = [t.meta.get("fallback_reason", "") for t in detail.turns]
    reasons = [a.grade.reason or "" for a in detail.answers if a.grade]
    assert "HTTP 401" in fallbacks[0] and [r.count("llm judge failed") for r in reasons] == [1, 1]
    assert "HTTP 500" in reasons[0] and "HTTP 429" in reasons[1]
    assert all({k.lower(): v for k, v in h.items()}["authorization"] == f"Bearer {KEY}" for h in fake_llm.headers), \
        "the key was really in use"

    files = {p.name: p.read_bytes() for p in tmp_path.glob("secrets.db*")}
    assert "secrets.db-wal" in files, "read while the write-ahead log still holds the recent writes"
    store.close()
    files["secrets.db (after checkpoint)"] = db.read_bytes()
    for name, data in files.items():
        assert_no_key(name, data)
    assert_no_key("the Markdown export", export.session_markdown(detail))
    assert_no_key("the JSON export", export.session_json_text(detail))
    assert_no_key("the terminal transcript", export.transcript_text(detail))
    assert_no_key("grade reasons", "\n".join(reasons))
    assert_no_key("interviewer fallback reasons", "\n".join(fallbacks))

    model = OpenAICompatibleModel(config)
    errors: list[LLMError] = []
    for reply in echoing_failures():
        fake_llm.script(*[reply] * (config.max_retries + 1))
        with pytest.raises(LLMError) as caught:
            model.complete([{"role": "user", "content": "hi"}])
        errors.append(caught.value)
        fake_llm._queue.clear()  # drop the spare reply a non-retried 401 leaves behind
    fake_llm.script(echoing_failures()[0])
    with pytest.raises(LLMError) as caught:
        list(model.stream([{"role": "user", "content": "hi"}]))
    errors.append(caught.value)
    for error in errors:
        for shown in (str(error), repr(error), error.reason, *map(str, error.args)):
            assert_no_key("an LLMError", shown)
    cut = errors[1].reason
    assert "rejected key" in cut and "sk-" not in cut, "the key was scrubbed before the message was shortened"

    records = "\n".join(logging.Formatter("%(name)s %(message)s").format(r) for r in caplog.records)
    assert any(r.name.startswith("sqlalchemy") for r in caplog.records), "SQL statements were logged"
    assert any(r.name.startswith("openai") for r in caplog.records), "the SDK's debug log was captured"
    assert_no_key("the captured logs", records)
    captured = capsys.readouterr()
    assert_no_key("stdout", captured.out)
    assert_no_key("stderr", captured.err)


def test_command_line_llm_interview_never_prints_or_stores_the_key(warm_data_dir, fake_llm, tmp_path):
    # A real process: OPENAI_LOG is read when the SDK is imported, and everything the process prints is checked.
    db = tmp_path / "cli.db"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
           "SIMULATOR_DATA_DIR": str(warm_data_dir), "SIMULATOR_DB_URL": f"sqlite:///{db}",
           "SIMULATOR_LLM_BASE_URL": fake_llm.base_url, "SIMULATOR_LLM_MODEL": "fake-model",
           "SIMULATOR_LLM_API_KEY": KEY, "OPENAI_LOG": "debug"}  # the SDK's own debug log goes to stderr
    answers = tmp_path / "answers.txt"
    answers.write_text("Retrieval keeps facts fresh.\n---\nFine-tuning shapes tone.\n", encoding="utf-8")
    failures = echoing_failures()
    fake_llm.script(
        failures[0],  # question 1: the interviewer gets 401 (not retried)
        *[failures[1]] * 3,  # answer 1: the judge gets 500 three times (two retries by default)
        fake.stream("And ", "the cost?"),  # question 2: the interviewer works
        *[failures[3]] * 3,  # answer 2: the judge gets 429 three times
    )
    run = subprocess.run([sys.executable, "-m", "simulator", "interview", "--interviewer", "llm", "--judge", "llm",
                          "--answers", str(answers), "--questions", "2", "--follow-ups", "0", "--seed", "3"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "LLM interviewer unavailable" in run.stdout and "HTTP 401" in run.stdout
    assert run.stdout.count("llm judge failed") == 2 and "Interviewer: And the cost?" in run.stdout
    assert "openai" in run.stderr.lower(), "the SDK's debug log was on"
    assert fake_llm.pending == 0 and len(fake_llm.requests) == 8
    assert_no_key("the command's stdout", run.stdout)
    assert_no_key("the command's stderr", run.stderr)
    for path in tmp_path.glob("cli.db*"):
        assert_no_key(path.name, path.read_bytes())
    with Store(f"sqlite:///{db}") as store:
        [summary] = store.list_sessions()
        detail = store.session_detail(summary.id)
    assert_no_key("the Markdown export", export.session_markdown(detail))
    assert_no_key("the JSON export", export.session_json_text(detail))

"""`python -m simulator index|grade|eval` end to end, in this process (real model, real files; the LLM is a
scripted server). Nothing here depends on a process boundary, so no subprocess: see ``run_cli`` in conftest."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import fake_llm_server as fake

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "answers.jsonl"


@pytest.fixture
def run(run_cli, warm_data_dir) -> Callable:
    """``run(*args, data_dir=..., extra_env=...)``: the command with its data folder (default: the session's warm
    one, whose index and bank vectors are loaded rather than embedded)."""

    def command(*args: str | Path, data_dir: Path | None = None, extra_env: dict | None = None):
        return run_cli(*args, env={"SIMULATOR_DATA_DIR": str(data_dir or warm_data_dir), **(extra_env or {})})

    return command


def write_rows(path: Path, rows: list, bad_line: str | None = None) -> Path:
    lines = [json.dumps(r) for r in rows] + ([bad_line] if bad_line else [])
    path.write_text("\n".join(lines) + "\n")
    return path


ADHOC = {"question": "Why does a tightened guitar string sound different?", "reference_answer": "The pitch is higher.",
         "answer": "It plays a higher pitch.", "max_score": 1, "student": "s-17"}


def test_grade_adds_predictions_and_passes_fields_through(tmp_path, run):
    rows = [ADHOC,
            {**ADHOC, "answer": "It is made of steel.", "student": "s-18"},
            {"question_id": "cost-which-is-cheaper", "question": "ignored for bank ids", "answer": "RAG is cheaper.",
             "max_score": 5},
            {**ADHOC, "rubric": "behavior-vs-knowledge"}]
    source = write_rows(tmp_path / "in.jsonl", rows, bad_line='{"question": "no answer field", "max_score": 1}')
    result = run("grade", str(source), "--output", str(tmp_path / "out.jsonl"))
    assert result.returncode == 1  # one bad row
    assert f"{source}:5: answer: Field required" in result.stderr
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(out) == 4
    assert [r["student"] for r in out[:2]] == ["s-17", "s-18"]
    assert all(r["judge"] == "offline-evidence" and r["grade"]["status"] == "scored" for r in out)
    assert 0 <= out[1]["predicted_score"] < out[0]["predicted_score"] <= 1
    assert out[2]["predicted_score"] <= 5 and out[2]["grade"]["criteria"][0]["criterion"].startswith("cost-and-latency.")
    assert any(c["criterion"].startswith("behavior-vs-knowledge.") for c in out[3]["grade"]["criteria"])


def test_grade_reports_unknown_rubric_per_row(tmp_path, run):
    source = write_rows(tmp_path / "in.jsonl", [{**ADHOC, "rubric": ["no-such-rubric"]}])
    result = run("grade", str(source))
    assert result.returncode == 1 and f"{source}:1: rubric: unknown rubric 'no-such-rubric'" in result.stderr


def test_eval_last_line_is_the_agreement_json(run):
    result = run("eval", str(GOLDEN))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"n", "pearson", "spearman", "rmse", "mae", "qwk"} <= set(summary)
    # 0.78, not 0.80: the concise-answer floor (issue 12) lifts short right answers (human ~4.8) next to partial
    # ones (human ~5.1, judge ~3.7), which costs rank order among those near-ties; the judge is 0.784 here.
    assert summary["n"] >= 60 and summary["spearman"] >= 0.78
    assert "partial" in result.stdout  # the per-kind breakdown


def test_index_command_reports_reuse(tmp_path, run):
    first = run("index", data_dir=tmp_path)
    second = run("index", data_dir=tmp_path)
    assert "0 reused" in first.stdout and " 0 embedded" in second.stdout, first.stdout + second.stdout


def test_llm_judge_without_configuration_says_how_to_configure(tmp_path, run):
    result = run("grade", str(write_rows(tmp_path / "in.jsonl", [ADHOC])), "--judge", "llm", data_dir=tmp_path)
    assert result.returncode == 1 and "SIMULATOR_LLM_BASE_URL" in result.stderr


def test_llm_judge_through_the_cli_against_a_scripted_server(tmp_path, fake_llm, run, caplog):
    reply = {"criteria": [{"criterion": "reference-answer.coverage", "level": 4, "justification": "Says higher pitch.",
                           "quotes": ["It plays a higher pitch"], "passage_ids": []}],
             "covered_points": [1], "misconceptions": []}
    fake_llm.script(fake.text(json.dumps(reply)))
    env = {"SIMULATOR_LLM_BASE_URL": fake_llm.base_url, "SIMULATOR_LLM_MODEL": "scripted-judge",
           "SIMULATOR_LLM_API_KEY": "sk-test-secret-123"}
    source = write_rows(tmp_path / "in.jsonl", [ADHOC])
    result = run("grade", str(source), "--judge", "llm", extra_env=env)
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert row["judge"] == "llm" and row["grade"]["model"] == "scripted-judge"
    assert row["predicted_score"] == 1.0
    assert "sk-test-secret-123" not in result.stdout + result.stderr + caplog.text
    assert "It plays a higher pitch." in json.dumps(fake_llm.requests[-1])

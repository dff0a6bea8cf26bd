"""`python -m tools.bench --smoke` end to end: the report's shape, not its timings (a benchmark is no timed test).

The smoke plan runs every phase of ``--quick`` (a cold start on an empty data folder and one on a warm one,
grading, the golden batch, re-indexing, retrieval over 1k and 10k chunks, transcription) with the fewest repetitions.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
JFK = ROOT.parent / "shared" / "fixtures" / "audio" / "jfk.flac"

pytestmark = pytest.mark.slow

REQUIRED = ("cold_start_s", "cold_start_first_run_s", "grade_p50_ms", "grade_p95_ms", "retrieval_p50_ms_1k",
            "retrieval_p50_ms_10k", "retrieval_p50_ms_100k", "batch_answers_per_s", "batch_to_encoder_ratio",
            "reindex_one_doc_s", "peak_rss_mb", "cold_start_peak_rss_mb", "adversarial_100kb_s",
            "ordinary_grade_delay_s", "speech_to_audio_ratio")


def test_smoke_bench_ends_with_a_json_report(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TMPDIR": str(tmp_path),
           "SIMULATOR_DATA_DIR": str(tmp_path / "data"), "SIMULATOR_DB_URL": f"sqlite:///{tmp_path / 'user.db'}"}
    result = subprocess.run([sys.executable, "-m", "tools.bench", "--smoke"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    assert report["plan"] == "smoke" and report["quick"] is True
    assert any(line.startswith("cold start to first question") for line in lines[:-1])  # the table came first
    assert set(REQUIRED) <= set(report)
    assert report["retrieval_p50_ms_100k"] is None  # like --quick, --smoke skips the 100k corpus
    for key in REQUIRED:
        if key == "speech_to_audio_ratio" and not JFK.is_file():
            assert report["speech_skipped"], "without its audio fixture the speech section says why it skipped"
        elif key not in ("retrieval_p50_ms_100k", "ordinary_grade_delay_s"):  # a delay can be ~0 or below
            assert isinstance(report[key], int | float) and math.isfinite(report[key]) and report[key] > 0, key
    assert report["grade_p95_ms"] >= report["grade_p50_ms"]
    assert 0 < report["reindex_embedded_chunks"] < report["reindex_total_chunks"]
    assert 100 < report["peak_rss_mb"] < 100_000  # megabytes, not KiB or bytes
    assert set(report["targets_met"]) <= set(REQUIRED)
    if JFK.is_file():
        assert report["speech_runs"] == 1 and report["speech_model_load_s"] > 0
        assert 0 <= report["speech_wer_jfk"] <= 0.15
        assert any(line.startswith("speech: transcription time / audio duration = ") for line in lines[:-1])
    assert not (tmp_path / "data").exists() and not (tmp_path / "user.db").exists()  # only its own temp folders

"""`python -m simulator transcribe` and spoken answers in `interview --answers`, in this process with the real
offline speech model (tiny.en) on the JFK fixture and on answers spoken by espeak-ng."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from simulator.speech.delivery import Delivery, Pause
from simulator.speech.transcribe import Transcript
from simulator.storage.store import Store
from tests import fake_llm_server as fake
from tests.speech_audio import JFK, JFK_TEXT, espeak, wer

RAG_ANSWER = ("I would choose retrieval augmented generation when the facts change often, because the index can be "
              "updated without any training. Fine-tuning changes how the model behaves and writes, not what it "
              "knows. So for a support assistant over fresh documents I would pick retrieval first.")
TYPED = "Fine-tuning with LoRA trains small adapters and keeps the base weights frozen."

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def jfk() -> Path:
    if not JFK.is_file():
        pytest.skip(f"audio fixture missing: {JFK}")
    return JFK


@pytest.fixture
def speak(tmp_path):
    """``speak(name, text)``: a WAV of ``text`` spoken by espeak-ng (skipped without it, failed on CI)."""

    def say(name: str, text: str) -> Path:
        espeak(text, tmp_path / name, "-s", "150")
        return tmp_path / name

    return say


@pytest.fixture(scope="module")
def speech_data(tmp_path_factory) -> Path:
    """One data folder for the module, so the speech model loads once (the transcriber is cached per folder)."""
    return tmp_path_factory.mktemp("speech-data")


@pytest.fixture
def transcribe(run_cli, speech_data):
    def command(*args: str | Path, env: dict[str, str] | None = None):
        return run_cli("transcribe", *args, env={"SIMULATOR_DATA_DIR": str(speech_data), **(env or {})})

    return command


@pytest.fixture
def cli_env(tmp_path, warm_data_dir) -> dict[str, str]:
    """The session's warm data folder (index and bank vectors are loaded, not embedded) and this test's database."""
    return {"SIMULATOR_DATA_DIR": str(warm_data_dir), "SIMULATOR_DB_URL": f"sqlite:///{tmp_path / 'cli.db'}"}


# ---------------------------------------------------------------- transcribe


def test_one_file_prints_just_its_transcript(transcribe, jfk):
    run = transcribe(jfk)
    assert run.returncode == 0, run.stderr
    [line] = run.stdout.strip().splitlines()
    assert not line.startswith("==")
    assert wer(JFK_TEXT, line) <= 0.15, line


def test_several_files_print_a_header_each(transcribe, jfk, speak):
    answer = speak("answer.wav", RAG_ANSWER)
    run = transcribe(jfk, answer, "--model", "tiny.en")
    assert run.returncode == 0, run.stderr
    blocks = run.stdout.strip().split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == [f"== {jfk} ==", f"== {answer} =="]
    assert wer(JFK_TEXT, blocks[0].splitlines()[1]) <= 0.15
    assert wer(RAG_ANSWER, blocks[1].splitlines()[1]) <= 0.3, blocks[1]


def test_delivery_measures_print_under_the_transcript(transcribe, jfk):
    run = transcribe(jfk, "--delivery")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert wer(JFK_TEXT, lines[0]) <= 0.15
    assert lines[1].startswith("  duration: 11.0 s, speaking ")
    assert re.fullmatch(r"  pace: \d+ wpm", lines[2])
    assert lines[3] == "  fillers: none" and lines[4] == "  long pauses: none"


def test_json_with_delivery_is_one_object_per_file(transcribe, jfk, speak):
    answer = speak("um.wav", "Um, I think, like, retrieval is cheaper to keep current than fine-tuning.")
    run = transcribe("--json", "--delivery", jfk, answer)
    assert run.returncode == 0, run.stderr
    first, second = (json.loads(line) for line in run.stdout.strip().splitlines())
    assert first["path"] == str(jfk) and wer(JFK_TEXT, first["text"]) <= 0.15
    assert first["engine"] == "offline:tiny.en" and 10.5 < first["audio_s"] < 11.5 and first["seconds"] > 0
    assert first["delivery"]["wpm"] > 60 and first["delivery"]["long_pauses"] == []
    assert second["path"] == str(answer) and "retrieval" in second["text"].lower()
    assert set(second["delivery"]) >= {"audio_s", "speaking_s", "wpm", "fillers", "long_pauses", "notes"}


def test_missing_and_non_audio_files_are_reported_and_the_others_still_print(transcribe, jfk, tmp_path):
    missing = tmp_path / "missing.flac"
    notes = tmp_path / "notes.txt"
    notes.write_text("RAG keeps facts current.\n")
    run = transcribe(missing, notes, jfk)
    assert run.returncode == 1
    assert f"error: {missing}: No such file or directory" in run.stderr
    assert f"error: {notes}: this is not a recording that can be read" in run.stderr
    assert f"== {jfk} ==" in run.stdout and "fellow Americans" in run.stdout


def test_endpoint_engine_without_an_endpoint_is_a_usage_error(transcribe, jfk):
    run = transcribe("--engine", "endpoint", jfk)
    assert run.returncode == 2 and "needs a transcription endpoint; none is configured" in run.stderr
    assert run.stdout == ""


def test_endpoint_engine_transcribes_with_the_configured_endpoint(transcribe, jfk, fake_llm):
    fake_llm.script(fake.transcription("Ask not what your country can do for you.",
                                       words=[("Ask", 0.5, 0.8), ("not", 0.8, 1.1), ("what", 3.5, 3.8)], duration=11))
    run = transcribe("--engine", "endpoint", "--json", jfk,
                     env={"SIMULATOR_TRANSCRIBER_LLM_BASE_URL": fake_llm.base_url})
    assert run.returncode == 0, run.stderr
    heard = json.loads(run.stdout)
    assert heard["text"] == "Ask not what your country can do for you." and heard["engine"] == "endpoint:whisper-1"
    assert heard["delivery"]["long_pauses"] == [{"at_s": 1.1, "length_s": 2.4}]
    assert fake_llm.transcriptions[0]["file_name"] == "jfk.flac"


def test_endpoint_failure_falls_back_to_the_offline_model_with_a_notice(transcribe, jfk, fake_llm):
    fake_llm.script(fake.error(401, "bad key"))
    run = transcribe("--engine", "endpoint", jfk, env={"SIMULATOR_TRANSCRIBER_LLM_BASE_URL": fake_llm.base_url})
    assert run.returncode == 0, run.stderr
    assert wer(JFK_TEXT, run.stdout) <= 0.15
    assert f"note: {jfk}: The transcription endpoint failed (" in run.stderr and "HTTP 401" in run.stderr
    assert "transcribed offline (offline:tiny.en) instead" in run.stderr


def test_transcripts_are_printed_without_terminal_escapes(transcribe, tmp_path, monkeypatch):
    def hostile(data: bytes, filename: str = "") -> Transcript:
        return Transcript(text="RAG \x1b[2J\x1b]0;owned\x07 wins", audio_s=2.0, engine="fake")

    monkeypatch.setattr("simulator.cli.speech.offline", lambda model, data_dir: hostile)
    clip = tmp_path / "clip\x1b[31m.wav"
    clip.write_bytes(b"RIFF")
    for args in ((clip,), (clip, clip, "--delivery"), (clip, "--json")):
        run = transcribe(*args)
        assert run.returncode == 0, run.stderr
        assert "\x1b" not in run.stdout and "\x07" not in run.stdout and "RAG" in run.stdout


def test_delivery_summary_line():
    delivery = Delivery(audio_s=30, speaking_s=28, words=62, wpm=132.4, fillers={"um": 1, "like": 1},
                        long_pauses=[Pause(at_s=9.5, length_s=2.4)])
    assert delivery.summary() == "30 s · 132 wpm · 2 fillers (um ×1, like ×1) · 1 long pause"
    quiet = Delivery(audio_s=5, speaking_s=5, words=3, wpm=None, timed=False)
    assert quiet.summary() == "5 s · pace not measured · 0 fillers · pauses not measured"


# ---------------------------------------------------------------- interview --answers


def _session_id(stdout: str) -> int:
    return int(stdout.splitlines()[0].split()[1])


def test_spoken_and_typed_answers_in_one_interview(run_cli, cli_env, speak, tmp_path):
    spoken = speak("a.wav", RAG_ANSWER)
    typed = tmp_path / "b.txt"
    typed.write_text(TYPED + "\n")
    run = run_cli("interview", "--questions", "2", "--follow-ups", "0", "--seed", "3", "--answers", spoken, typed,
                  env=cli_env)
    assert run.returncode == 0, run.stderr
    echoed = re.search(r"^You \(spoken, a\.wav, (\d+\.\d) s\): (.+)$", run.stdout, re.MULTILINE)
    assert echoed, run.stdout
    assert re.search(r"^  delivery: \d+ s · \d+ wpm · \d+ fillers?( \(.+\))? · \d+ long pauses?$", run.stdout,
                     re.MULTILINE), run.stdout
    assert run.stdout.index("Score ") < run.stdout.index("  delivery: "), "the delivery line follows the grade card"
    assert f"You: {TYPED}" in run.stdout

    with Store(cli_env["SIMULATOR_DB_URL"]) as store:
        detail = store.session_detail(_session_id(run.stdout))
    first, second = detail.answers
    assert first.text == echoed.group(2) and wer(RAG_ANSWER, first.text) <= 0.3
    assert first.delivery is not None and 100 < first.delivery.wpm < 220
    assert first.duration_s == pytest.approx(float(echoed.group(1)), abs=0.05)
    assert first.grade is not None and first.grade.status == "scored"
    assert second.text == TYPED and second.delivery is None
    assert detail.status == "finished"


def test_an_unreadable_recording_stops_the_interview_and_keeps_earlier_answers(run_cli, cli_env, tmp_path):
    typed = tmp_path / "first.txt"
    typed.write_text(TYPED)
    broken = tmp_path / "second.wav"
    broken.write_bytes(b"this is text, not a WAV file\n" * 20)
    run = run_cli("interview", "--questions", "2", "--follow-ups", "0", "--seed", "3", "--answers", typed, broken,
                  env=cli_env)
    assert run.returncode == 1
    assert f"error: {broken}: this is not a recording that can be read" in run.stderr
    with Store(cli_env["SIMULATOR_DB_URL"]) as store:
        detail = store.session_detail(_session_id(run.stdout))
    assert [a.text for a in detail.answers] == [TYPED] and detail.answers[0].grade is not None
    assert detail.status == "active", "the session stays open to resume"


def test_a_missing_recording_is_refused_before_the_interview_starts(run_cli, cli_env, tmp_path):
    typed = tmp_path / "first.txt"
    typed.write_text(TYPED)
    missing = tmp_path / "nowhere.webm"
    run = run_cli("interview", "--answers", typed, missing, env=cli_env)
    assert run.returncode == 1 and f"error: {missing}: No such file or directory" in run.stderr
    assert run.stdout == ""
    binary = tmp_path / "answer.aac"
    binary.write_bytes(b"\xff\xf1\x50\x80" * 100)
    run = run_cli("interview", "--answers", binary, env=cli_env)
    assert run.returncode == 1 and f"error: {binary}: not UTF-8 text, and recordings must end in .wav" in run.stderr

"""The benchmark's speech section: offline transcription speed against the length of the audio, model load time,
and accuracy (word error rate) on the JFK fixture. Called by :mod:`tools.bench`."""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from simulator.config import PROJECT_ROOT
from simulator.speech import models
from simulator.speech.transcribe import OfflineTranscriber, Transcript

JFK = PROJECT_ROOT.parent / "shared" / "fixtures" / "audio" / "jfk.flac"
JFK_TEXT = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
SPOKEN_ANSWER = (
    "I would start with retrieval augmented generation when the facts change often, because the index can be "
    "updated in minutes without any training run. Fine-tuning changes how the model behaves and writes, not what "
    "it knows, so I would use it for a fixed output format or a house style. Many teams end up with both.")
"""About twenty seconds when espeak-ng reads it at 150 words per minute."""
RATIO_GOAL = 0.2
TARGETS = {"speech_to_audio_ratio": RATIO_GOAL}
ROWS = (
    ("speech_to_audio_ratio", "speech: transcription time / audio duration", "x"),
    ("speech_model_load_s", "speech: model load", "s"),
    ("speech_first_call_s", "speech: first transcription after load", "s"),
    ("speech_wer_jfk", "speech: word error rate, jfk.flac", "ratio"),
    ("speech_wer_spoken", "speech: word error rate, espeak-ng answer", "ratio"),
)
KEYS = ("speech_model", "speech_audio_s", "speech_runs", *(key for key, _, _ in ROWS))


class Clip(BaseModel):
    """One recording to transcribe, with what it says."""

    model_config = ConfigDict(frozen=True)

    name: str
    data: bytes
    reference: str


def speech(work: Path, runs: int, model: str = models.TINY) -> dict[str, Any]:
    """Load the model, transcribe every clip once (timed apart), then ``runs`` more times (median reported)."""
    results: dict[str, Any] = dict.fromkeys(KEYS) | {"speech_skipped": None}
    if not JFK.is_file():
        return results | {"speech_skipped": f"audio fixture missing: {JFK}"}
    clips = [Clip(name="jfk", data=JFK.read_bytes(), reference=JFK_TEXT), *_spoken_clip(work)]
    _log(f"speech: {model} on {len(clips)} clip(s), 1 + {runs} run(s)")
    transcriber = OfflineTranscriber(model, work / "speech-data")
    started = time.perf_counter()
    transcriber.load()
    load_s = time.perf_counter() - started
    first = _transcribe_all(transcriber, clips)
    timed = [_transcribe_all(transcriber, clips) for _ in range(runs)]
    audio_s = sum(t.audio_s for t in first)
    median_s = statistics.median(sum(t.seconds for t in run) for run in timed)
    heard = {clip.name: t for clip, t in zip(clips, timed[-1], strict=True)}
    return results | {
        "speech_model": model, "speech_audio_s": round(audio_s, 2), "speech_runs": runs,
        "speech_to_audio_ratio": round(median_s / audio_s, 4), "speech_model_load_s": round(load_s, 3),
        "speech_first_call_s": round(sum(t.seconds for t in first), 3),
        "speech_wer_jfk": word_error_rate(JFK_TEXT, heard["jfk"].text),
        "speech_wer_spoken": word_error_rate(SPOKEN_ANSWER, heard["spoken"].text) if "spoken" in heard else None,
    }


def _spoken_clip(work: Path) -> list[Clip]:
    """The espeak-ng answer, or nothing (with a note) when espeak-ng is not installed."""
    if shutil.which("espeak-ng") is None:
        _log("speech: espeak-ng not installed, timing jfk.flac only")
        return []
    path = work / "spoken-answer.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), SPOKEN_ANSWER], check=True,
                   capture_output=True, timeout=120)
    return [Clip(name="spoken", data=path.read_bytes(), reference=SPOKEN_ANSWER)]


def _transcribe_all(transcriber: OfflineTranscriber, clips: list[Clip]) -> list[Transcript]:
    return [transcriber(clip.data, clip.name) for clip in clips]


def word_error_rate(reference: str, heard: str) -> float | None:
    """WER ignoring case and punctuation; None when ``jiwer`` is not installed."""
    try:
        import jiwer
    except ImportError:
        return None
    return round(float(jiwer.wer(_words(reference), _words(heard) or "-")), 4)


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", text.lower()).split())


def summary(results: dict[str, Any]) -> str:
    """The line the README quotes, or why the section was skipped."""
    if results.get("speech_skipped"):
        return f"speech: skipped ({results['speech_skipped']})"
    ratio = results.get("speech_to_audio_ratio")
    return (f"speech: transcription time / audio duration = {ratio:.2f} (goal <= {RATIO_GOAL:g}); "
            f"{results.get('speech_model')} model loads in {results.get('speech_model_load_s'):.2f} s; "
            f"WER on jfk.flac {results.get('speech_wer_jfk')}; {results.get('speech_audio_s')} s of audio, "
            f"median of {results.get('speech_runs')} run(s)")


def _log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)

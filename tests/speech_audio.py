"""Real recordings for the speech tests, made at test time: espeak-ng speech, PyAV re-encodings, stdlib WAVs."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import wave
from pathlib import Path

import jiwer
import numpy as np
import pytest

JFK = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "audio" / "jfk.flac"
JFK_TEXT = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


def espeak(text: str, out: Path, *options: str) -> bytes:
    """``text`` spoken by espeak-ng (US English) as WAV bytes; ``options`` e.g. ``-s 80`` or ``-m`` for SSML.

    Skips the test when espeak-ng is not installed, unless ``CI`` is set: there it must be, so the test fails.
    """
    binary = shutil.which("espeak-ng")
    if binary is None:
        message = "espeak-ng is not installed (apt-get install espeak-ng)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    subprocess.run([binary, "-v", "en-us", *options, "-w", str(out), text], check=True, capture_output=True,
                   timeout=60)
    return out.read_bytes()


def wav(pcm: bytes, rate: int = 16_000) -> bytes:
    """16-bit mono little-endian ``pcm`` as a WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def silence(seconds: float, rate: int = 16_000) -> bytes:
    """A WAV of digital silence."""
    return wav(b"\0\0" * round(seconds * rate), rate)


def with_leading_silence(recording: bytes, seconds: float) -> bytes:
    """``recording`` (a 16-bit mono WAV) with ``seconds`` of silence before it (espeak-ng ignores a leading break)."""
    with wave.open(io.BytesIO(recording)) as source:
        rate, frames = source.getframerate(), source.readframes(source.getnframes())
    return wav(b"\0\0" * round(seconds * rate) + frames, rate)


def encoder(*names: str) -> str:
    """The first of ``names`` that the installed PyAV can encode with; skips the test when none can."""
    import av

    for name in names:
        if name in av.codecs_available:
            try:
                av.Codec(name, "w")
            except (av.FFmpegError, ValueError):
                continue
            return name
    pytest.skip(f"this PyAV build has none of the encoders {names}")


def encode(recording: bytes, container: str, codec: str, rate: int | None = None) -> bytes:
    """``recording`` re-encoded with PyAV as mono ``codec`` in ``container`` (e.g. ``webm`` with ``libopus``)."""
    import av

    out = io.BytesIO()
    with av.open(io.BytesIO(recording)) as source, av.open(out, "w", format=container) as target:
        audio = source.streams.audio[0]
        stream = target.add_stream(codec, rate=rate or audio.rate, layout="mono")
        resampler = av.AudioResampler(format=stream.format, layout="mono", rate=rate or audio.rate)
        for frame in [*source.decode(audio), None]:
            for resampled in resampler.resample(frame):
                target.mux(stream.encode(resampled))
        target.mux(stream.encode(None))
    return out.getvalue()


def words_of(text: str) -> str:
    """``text`` lower-cased, SSML tags and punctuation removed (hyphens split words), for word error rates."""
    return " ".join(re.sub(r"[^\w\s']", " ", re.sub(r"<[^>]+>", " ", text).lower()).split())


def wer(reference: str, heard: str) -> float:
    """Word error rate of ``heard`` against ``reference``, ignoring case and punctuation."""
    return jiwer.wer(words_of(reference), words_of(heard))


def quiet_stretches(samples: np.ndarray, min_s: float, rate: int = 16_000, level: float = 0.01) -> list[tuple]:
    """``(start_s, length_s)`` of each run of 10 ms frames quieter than ``level`` lasting ``min_s`` or more."""
    frame = rate // 100
    loud = np.abs(samples[: len(samples) // frame * frame]).reshape(-1, frame).max(axis=1) >= level
    runs, start = [], None
    for index, is_loud in enumerate([*loud, True]):
        if not is_loud and start is None:
            start = index
        elif is_loud and start is not None:
            if (index - start) / 100 >= min_s:
                runs.append((start / 100, (index - start) / 100))
            start = None
    return runs

"""Speech to text. A transcriber is a function ``(audio bytes, file name) -> Transcript``; this module builds the
offline one (faster-whisper on this machine) and joins any two into "this one, else that one".

The model loads lazily, on the first recording, and once per process; transcriptions run one at a time (two cores
gain nothing from running them side by side). Audio is decoded by PyAV (FFmpeg), so WAV, FLAC, MP3, Ogg and the
WebM/Opus that browsers record all work.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from simulator.speech import models
from simulator.speech.delivery import Delivery, Word, analyse

SAMPLE_RATE = 16_000
MAX_AUDIO_BYTES = 50 * 1024 * 1024
"""Largest recording accepted (about 25 minutes of WAV at 16 kHz)."""
MAX_AUDIO_S = 600.0
"""Longest recording accepted, in seconds: an answer, not a lecture."""
MIN_AUDIO_S = 0.3
PROMPT = ("Um, uh, er, I mean, like, you know. RAG, fine-tuning, LoRA, QLoRA, retrieval, embeddings, BM25, "
          "reranker, vector database, hallucination.")
"""Context for the speech model: filler words written out (Whisper otherwise drops them, and delivery feedback counts
them) and the domain's terms, which it otherwise hears as ordinary words ("low rag" for LoRA)."""
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".webm", ".ogg", ".oga", ".opus", ".m4a", ".mp4")
"""File name endings read as recordings (the CLI's ``interview --answers`` and ``transcribe``)."""


class AudioError(ValueError):
    """The recording cannot be used (not audio, empty, too long); the message says which and why."""


class TranscriptionError(RuntimeError):
    """A transcriber failed (endpoint down, model missing); ``reason`` is safe to show (no secrets)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class Transcript(BaseModel):
    """What a speech model heard in one recording."""

    model_config = ConfigDict(frozen=True)

    text: str
    """The words, as one text."""
    words: list[Word] = []
    """Each word with its timing; empty when the engine gives none."""
    audio_s: float
    """Length of the recording, in seconds."""
    engine: str
    """Who transcribed it: ``offline:tiny.en``, ``offline:base`` or ``endpoint:<model>``."""
    seconds: float = 0.0
    """Time the transcription took (model loading excluded)."""
    notice: str | None = None
    """Something the candidate should know, e.g. that the endpoint failed and the offline model stepped in."""

    def delivery(self) -> Delivery:
        """Pace, fillers and pauses of this recording."""
        return analyse(self.text, self.words, self.audio_s, self.engine)


Transcriber = Callable[[bytes, str], Transcript]


def decode(data: bytes) -> Any:
    """The recording as 16 kHz mono float samples (a NumPy array); :class:`AudioError` when it is not usable."""
    if not data:
        raise AudioError("the recording is empty")
    if len(data) > MAX_AUDIO_BYTES:
        raise AudioError(f"the recording is {len(data) / 2**20:.0f} MB; the limit is {MAX_AUDIO_BYTES // 2**20} MB")
    from faster_whisper.audio import decode_audio

    try:
        samples = decode_audio(io.BytesIO(data), sampling_rate=SAMPLE_RATE)
    except Exception as exc:  # PyAV raises its own error types for every kind of broken or foreign file
        raise AudioError(f"this is not a recording that can be read ({type(exc).__name__}: {exc})") from None
    seconds = len(samples) / SAMPLE_RATE
    if seconds < MIN_AUDIO_S:
        raise AudioError("the recording has no sound in it (shorter than a third of a second)")
    if seconds > MAX_AUDIO_S:
        raise AudioError(f"the recording lasts {seconds:.0f} s; answers are limited to {MAX_AUDIO_S:.0f} s "
                         f"({MAX_AUDIO_S / 60:.0f} minutes)")
    return samples


class OfflineTranscriber:
    """faster-whisper on this machine's CPU, with a model from :mod:`simulator.speech.models`."""

    def __init__(self, model: str = models.TINY, data_dir: Path | None = None, beam_size: int = 5) -> None:
        self.model = model
        self.engine = f"offline:{Path(model).name if model not in models.MODELS else model}"
        self._data_dir = data_dir or Path("data")
        self._beam_size = beam_size
        self._whisper: Any = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._whisper is not None

    def load(self) -> None:
        """Load the model now (the first transcription does it otherwise)."""
        with self._load_lock:
            if self._whisper is not None:
                return
            try:
                folder = models.model_dir(self.model, self._data_dir)
                from faster_whisper import WhisperModel

                self._whisper = WhisperModel(str(folder), device="cpu", compute_type="int8", num_workers=1)
            except models.SpeechModelError as exc:
                raise TranscriptionError(str(exc)) from None
            except (OSError, RuntimeError, ValueError) as exc:
                raise TranscriptionError(f"the offline speech model {self.model!r} does not load: {exc}") from None

    def __call__(self, data: bytes, filename: str = "") -> Transcript:
        samples = decode(data)
        self.load()
        started = time.perf_counter()
        with self._run_lock:
            # Voice detection cuts silences out before decoding: without it Whisper stretches the word before a pause
            # across it (a 3 s pause measures 1.5 s) and invents words in silence.
            segments, _ = self._whisper.transcribe(
                samples, language="en", beam_size=self._beam_size, word_timestamps=True,
                initial_prompt=PROMPT, condition_on_previous_text=False, vad_filter=True)
            segments = list(segments)
        words = [Word(text=w.word.strip(), start=max(0.0, w.start), end=max(0.0, w.end))
                 for s in segments for w in (s.words or []) if w.word.strip()]
        text = " ".join(s.text.strip() for s in segments if s.text.strip())
        return Transcript(text=text, words=words, audio_s=round(len(samples) / SAMPLE_RATE, 3), engine=self.engine,
                          seconds=round(time.perf_counter() - started, 3))


@lru_cache(maxsize=4)
def offline(model: str = models.TINY, data_dir: Path | None = None) -> OfflineTranscriber:
    """The process-wide offline transcriber for ``model`` (not loaded until first used)."""
    return OfflineTranscriber(model, data_dir)


def with_fallback(primary: Transcriber, fallback: Transcriber) -> Transcriber:
    """``primary``, and when it fails, ``fallback``, with a notice saying so. Unusable audio is not retried."""

    def transcribe(data: bytes, filename: str = "") -> Transcript:
        try:
            return primary(data, filename)
        except TranscriptionError as exc:
            heard = fallback(data, filename)
            return heard.model_copy(update={"notice": f"The transcription endpoint failed ({exc.reason}); "
                                                      f"transcribed offline ({heard.engine}) instead."})

    return transcribe

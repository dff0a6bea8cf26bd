"""Transcription by an OpenAI-compatible endpoint's ``/audio/transcriptions`` (OpenAI's whisper-1, a vLLM or
speaches server...): the same :data:`~simulator.speech.transcribe.Transcriber` contract as the offline model.

Word timings are asked for (``verbose_json`` with word granularity); a server that refuses that format is asked
again for plain JSON, and the delivery feedback then says pauses could not be measured. Every failure is a
:class:`TranscriptionError` whose reason carries no secret, so the caller can fall back to the offline model.
"""

from __future__ import annotations

import time
from typing import Any

import httpx2
import openai

from simulator.config import LLMConfig
from simulator.llm import Deadline, DeadlineTransport, scrub_secrets
from simulator.speech.delivery import Word
from simulator.speech.transcribe import PROMPT, SAMPLE_RATE, Transcript, TranscriptionError, decode
from simulator.text import shorten

_REFUSED = (openai.BadRequestError, openai.UnprocessableEntityError)
_MIME = {".wav": "audio/wav", ".flac": "audio/flac", ".mp3": "audio/mpeg", ".webm": "audio/webm",
         ".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/ogg", ".m4a": "audio/mp4", ".mp4": "audio/mp4"}


class EndpointTranscriber:
    """Sends the recording to ``config.base_url`` + ``/audio/transcriptions`` with ``config.model``."""

    def __init__(self, config: LLMConfig) -> None:
        self.config = config
        self.engine = f"endpoint:{config.model}"
        self._secret = config.api_key.get_secret_value() if config.api_key else None
        self._deadline = Deadline()
        self._client = openai.OpenAI(
            base_url=config.base_url, api_key=self._secret or "not-needed", timeout=config.timeout_s,
            max_retries=config.max_retries,
            http_client=httpx2.Client(transport=DeadlineTransport(self._deadline), timeout=config.timeout_s))

    def __call__(self, data: bytes, filename: str = "answer.wav") -> Transcript:
        samples = decode(data)  # unusable audio is the candidate's to fix, not a reason to try another engine
        started = time.perf_counter()
        self._deadline.at = time.monotonic() + self.config.deadline_s
        try:
            reply = self._request(data, filename or "answer.wav", detailed=True)
        except _REFUSED:  # a server without word timings: the text alone still grades the answer
            reply = self._call(data, filename or "answer.wav", detailed=False)
        finally:
            self._deadline.at = None
        text = str(_field(reply, "text") or "").strip()
        words = _words(_field(reply, "words"))
        return Transcript(text=text, words=words, audio_s=round(len(samples) / SAMPLE_RATE, 3), engine=self.engine,
                          seconds=round(time.perf_counter() - started, 3))

    def _call(self, data: bytes, filename: str, detailed: bool) -> Any:
        try:
            return self._request(data, filename, detailed)
        except _REFUSED as exc:
            raise self._error(exc) from None

    def _request(self, data: bytes, filename: str, detailed: bool) -> Any:
        suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ".wav"
        options: dict[str, Any] = {"response_format": "verbose_json", "timestamp_granularities": ["word"]} \
            if detailed else {"response_format": "json"}
        try:
            return self._client.audio.transcriptions.create(
                model=self.config.model, file=(filename, data, _MIME.get(suffix, "application/octet-stream")),
                language="en", prompt=PROMPT, **options)
        except _REFUSED:
            raise
        except (openai.OpenAIError, httpx2.HTTPError, ValueError) as exc:
            raise self._error(exc) from None

    def _error(self, exc: Exception) -> TranscriptionError:
        where = f"{self.config.model} at {self.config.base_url.split('?')[0]}"
        if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
            detail = f"no reply within {self.config.timeout_s:g} s (or the {self.config.deadline_s:g} s deadline)"
        elif isinstance(exc, openai.APIConnectionError):
            detail = "cannot connect"
        elif isinstance(exc, openai.APIStatusError):
            detail = f"HTTP {exc.status_code}"
        else:
            detail = f"{type(exc).__name__}: {exc}"
        return TranscriptionError(shorten(scrub_secrets(f"{where}: {detail}", self._secret), 300))


def _field(reply: Any, name: str) -> Any:
    if isinstance(reply, dict):
        return reply.get(name)
    return getattr(reply, name, None)


def _words(raw: Any) -> list[Word]:
    """Word timings from the reply; any malformed entry drops them all (pauses are then not measured)."""
    try:
        words = [Word(text=str(_field(w, "word")).strip(), start=float(_field(w, "start")),
                      end=float(_field(w, "end"))) for w in raw or []]
    except (TypeError, ValueError):
        return []
    return [w for w in words if w.text]

"""The narrow contract between the simulator and a chat model, plus its OpenAI-compatible implementation.

Callers (the LLM judge, the interviewer) depend only on :class:`ChatModel`: send chat messages, get a
:class:`Completion` (optionally constrained to a JSON schema) or a stream of text deltas.

Any server speaking the OpenAI chat-completions API is just configuration (:class:`simulator.config.LLMConfig`):

* OpenAI: ``base_url="https://api.openai.com/v1"``, ``model="gpt-4o-mini"``, ``api_key=...``
* Ollama: ``base_url="http://localhost:11434/v1"``, ``model="llama3.1"`` (no key needed)
* vLLM: ``base_url="http://localhost:8000/v1"``, ``model=<the served model name>``
* LM Studio: ``base_url="http://localhost:1234/v1"``, ``model=<the loaded model id>``

Every failure surfaces as :class:`LLMError`, whose ``reason`` is safe to show and store: the API key is
scrubbed from it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx2
import openai

from simulator.config import LLMConfig
from simulator.text import shorten

Message = Mapping[str, str]
"""One chat message: ``{"role": "system" | "user" | "assistant", "content": "..."}``."""

_T = TypeVar("_T")
_FORMAT_MODES = ("json_schema", "json_object", "none")
_MAX_BACKOFF_S = 8.0
_MAX_REASON_CHARS = 300


class _MalformedReply(Exception):
    """A 200 reply that is not shaped like a chat completion (or chunk), e.g. ``choices`` missing or not a list."""


class Deadline(threading.local):
    """The wall-clock moment (``time.monotonic``) by which the current call on this thread must end."""

    at: float | None = None


class _DeadlineStream(httpx2.SyncByteStream):
    """A response body that stops with a read timeout once the call's deadline has passed, however slowly (or
    steadily) the server drips bytes: a per-read timeout alone never fires against one byte every few seconds."""

    def __init__(self, inner: httpx2.SyncByteStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            if time.monotonic() > self._deadline:
                raise httpx2.ReadTimeout("the call's total deadline passed while reading the reply")
            yield chunk

    def close(self) -> None:
        self._inner.close()


class DeadlineTransport(httpx2.BaseTransport):
    """Wraps the HTTP transport so every response body honours the deadline of the call that asked for it."""

    def __init__(self, deadline: Deadline) -> None:
        self._inner = httpx2.HTTPTransport()
        self._deadline = deadline

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        at = self._deadline.at
        response = self._inner.handle_request(request)
        if at is None:
            return response
        if time.monotonic() > at:
            response.close()
            raise httpx2.ReadTimeout("the call's total deadline passed before the reply began", request=request)
        assert isinstance(response.stream, httpx2.SyncByteStream)
        return httpx2.Response(response.status_code, headers=response.headers, request=request,
                               stream=_DeadlineStream(response.stream, at), extensions=response.extensions)

    def close(self) -> None:
        self._inner.close()


# The SDK wraps request errors, but a malformed 200 body or a stream cut mid-way surfaces unwrapped.
_FAILURES = (openai.OpenAIError, httpx2.HTTPError, json.JSONDecodeError, _MalformedReply)


@dataclass(frozen=True)
class Completion:
    text: str
    """The reply text (empty when the model returned no content)."""
    model: str
    """Model name the server reported."""
    prompt_tokens: int | None
    """Prompt tokens, when the server reports usage."""
    completion_tokens: int | None
    """Completion tokens, when the server reports usage."""
    latency_ms: float
    """Wall time including retries and format fallbacks."""


class ChatModel(Protocol):
    """What the simulator needs from a language model."""

    name: str

    def complete(
        self, messages: Sequence[Message], *, json_schema: dict | None = None, schema_name: str = "reply"
    ) -> Completion:
        """One reply; with ``json_schema`` the endpoint is asked for JSON matching it (best effort)."""
        ...

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        """The reply as text deltas, as they arrive."""
        ...


class LLMError(Exception):
    """A model call failed. ``reason`` is safe to show and store (secrets scrubbed)."""

    def __init__(self, reason: str, *, status_code: int | None = None, secret: str | None = None) -> None:
        self.reason = scrub_secrets(reason, secret)
        self.status_code = status_code
        super().__init__(self.reason)


_SECRET_PATTERNS = (
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"), "[redacted]"),
    (re.compile(r"(?i)\bbearer\s+\S+"), "Bearer [redacted]"),
    (re.compile(r"://[^/\s@]+@"), "://[redacted]@"),
)


def scrub_secrets(text: str, secret: str | None = None) -> str:
    """Remove ``secret`` and anything that looks like a key or URL credentials from ``text``."""
    if secret:
        text = text.replace(secret, "[redacted]")
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class OpenAICompatibleModel:
    """:class:`ChatModel` over any OpenAI-compatible chat-completions endpoint.

    Retries (connection errors, timeouts, 429, 5xx) are ours, bounded by ``config.max_retries`` with
    exponential backoff; the SDK's own retries are off so the bound is exact. Each call (retries included) ends
    by ``config.deadline_s`` of wall-clock time: every read waits at most the time left, and a reply still
    arriving at the deadline is cut.
    """

    def __init__(self, config: LLMConfig, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.name = config.model
        self._sleep = sleep
        self._secret = config.api_key.get_secret_value() if config.api_key else None
        self._deadline = Deadline()
        self._client = openai.OpenAI(
            base_url=config.base_url,
            api_key=self._secret or "not-needed",
            timeout=config.timeout_s,
            max_retries=0,
            http_client=httpx2.Client(transport=DeadlineTransport(self._deadline), timeout=config.timeout_s),
        )
        self._format_index = 0
        self._format_lock = threading.Lock()

    @property
    def structured_output_mode(self) -> str:
        """How JSON replies are requested now: ``json_schema``, ``json_object`` or ``none`` (after fallbacks)."""
        return _FORMAT_MODES[self._format_index]

    def complete(
        self, messages: Sequence[Message], *, json_schema: dict | None = None, schema_name: str = "reply"
    ) -> Completion:
        started = time.perf_counter()
        self._deadline.at = time.monotonic() + self.config.deadline_s
        try:
            response = self._create_structured(messages, json_schema, schema_name)
            text = _reply_text(response)
        except _FAILURES as exc:
            raise self._error(exc) from None
        finally:
            self._deadline.at = None
        usage = getattr(response, "usage", None)
        return Completion(
            text=text,
            model=getattr(response, "model", None) or self.name,
            prompt_tokens=_token_count(usage, "prompt_tokens"),
            completion_tokens=_token_count(usage, "completion_tokens"),
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        self._deadline.at = time.monotonic() + self.config.deadline_s
        try:
            chunks = self._with_retries(lambda: self._create(messages, stream=True))
            for chunk in chunks:
                yield from _delta_texts(chunk)
        except _FAILURES as exc:
            raise self._error(exc) from None
        finally:
            self._deadline.at = None

    def _create_structured(self, messages: Sequence[Message], json_schema: dict | None, schema_name: str) -> Any:
        if json_schema is None:
            return self._with_retries(lambda: self._create(messages))
        while True:
            index = self._format_index
            response_format = _response_format(_FORMAT_MODES[index], json_schema, schema_name)
            try:
                return self._with_retries(lambda rf=response_format: self._create(messages, response_format=rf))
            except openai.APIStatusError as exc:
                if response_format is None or not _rejects_response_format(exc):
                    raise
                self._fall_back_from(index)

    def _fall_back_from(self, index: int) -> None:
        with self._format_lock:
            self._format_index = max(self._format_index, index + 1)

    def _create(self, messages: Sequence[Message], **options: Any) -> Any:
        if options.get("response_format") is None:
            options.pop("response_format", None)
        return self._client.chat.completions.create(
            model=self.config.model,
            messages=list(messages),  # type: ignore[arg-type]
            temperature=self.config.temperature,
            timeout=max(0.05, min(self.config.timeout_s, self._time_left())),
            **options,
        )

    def _time_left(self) -> float:
        at = self._deadline.at
        return float("inf") if at is None else at - time.monotonic()

    def _with_retries(self, call: Callable[[], _T]) -> _T:
        for attempt in range(self.config.max_retries + 1):
            try:
                return call()
            except openai.OpenAIError as exc:
                pause = min(self.config.retry_base_delay_s * 2**attempt, _MAX_BACKOFF_S)
                if attempt == self.config.max_retries or not _is_transient(exc) or self._time_left() <= pause:
                    raise
                self._sleep(pause)
        raise AssertionError("unreachable")

    def _error(self, exc: Exception) -> LLMError:
        where = f"{self.name} at {self.config.base_url.split('?')[0]}"
        attempts = "" if not _is_transient(exc) else f" (after {self.config.max_retries + 1} attempts)"
        if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException) and self._time_left() <= 0.5:
            reason = f"{where}: no complete reply within the {self.config.deadline_s:g} s deadline"
        elif isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
            reason = f"{where}: timed out after {self.config.timeout_s:g} s{attempts}"
        elif isinstance(exc, openai.APIConnectionError):
            reason = f"{where}: cannot connect{attempts}"
        elif isinstance(exc, openai.APIStatusError):
            reason = f"{where}: HTTP {exc.status_code}: {_status_message(exc, self._secret)}{attempts}"
        elif isinstance(exc, json.JSONDecodeError):
            reason = f"{where}: the server's response is not valid JSON"
        elif isinstance(exc, _MalformedReply):
            reason = f"{where}: the server's reply is not a chat completion ({exc})"
        else:
            # Scrub before shortening: a cut through the key would leave a prefix that no longer matches it.
            detail = shorten(scrub_secrets(str(exc), self._secret), _MAX_REASON_CHARS)
            reason = f"{where}: {type(exc).__name__}: {detail}"
        return LLMError(reason, status_code=getattr(exc, "status_code", None), secret=self._secret)


def check_connection(model: ChatModel) -> tuple[bool, str]:
    """One tiny completion, for the Settings page's "test connection" button: (ok, message to show)."""
    try:
        reply = model.complete([{"role": "user", "content": "Reply with the single word: ok"}])
    except LLMError as exc:
        return False, exc.reason
    return True, f"Connected to {model.name} in {reply.latency_ms:.0f} ms (reply: {shorten(reply.text, 40)!r})."


def _response_format(mode: str, json_schema: dict, schema_name: str) -> dict | None:
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": schema_name, "schema": json_schema, "strict": True}}
    if mode == "json_object":
        return {"type": "json_object"}
    return None  # the prompt itself asks for JSON


def _rejects_response_format(exc: openai.APIStatusError) -> bool:
    text = str(exc).lower()
    return exc.status_code in (400, 422) or any(
        word in text for word in ("response_format", "json_schema", "json_object")
    )


def _is_transient(exc: Exception) -> bool:
    if isinstance(exc, openai.APIConnectionError):  # includes timeouts
        return True
    return isinstance(exc, openai.APIStatusError) and (exc.status_code == 429 or exc.status_code >= 500)


def _status_message(exc: openai.APIStatusError, secret: str | None = None) -> str:
    body = exc.body
    message: Any = None
    if isinstance(body, dict):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, dict) else error
    # Scrub before shortening: a cut through the key would leave a prefix that no longer matches it.
    return shorten(scrub_secrets(str(message or exc.message), secret), _MAX_REASON_CHARS)


def _reply_text(response: Any) -> str:
    """The first choice's content; :class:`_MalformedReply` when the reply is not shaped like a completion."""
    try:
        choices = response.choices
        content = choices[0].message.content if choices else None
    except (AttributeError, TypeError, IndexError, KeyError) as exc:
        raise _MalformedReply(f"{type(exc).__name__}: {shorten(str(exc), 120)}") from None
    if content is not None and not isinstance(content, str):
        raise _MalformedReply(f"message content is {type(content).__name__}, not text")
    return content or ""


def _delta_texts(chunk: Any) -> list[str]:
    """The text deltas of one stream chunk; :class:`_MalformedReply` when it is not shaped like one."""
    try:
        contents = [choice.delta.content for choice in chunk.choices or () if choice.delta]
    except (AttributeError, TypeError) as exc:
        raise _MalformedReply(f"{type(exc).__name__}: {shorten(str(exc), 120)}") from None
    if any(c is not None and not isinstance(c, str) for c in contents):
        raise _MalformedReply("a stream delta's content is not text")
    return [c for c in contents if c]


def _token_count(usage: Any, name: str) -> int | None:
    count = getattr(usage, name, None)
    return count if isinstance(count, int) else None


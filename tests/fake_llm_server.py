"""A scripted OpenAI-compatible chat server on 127.0.0.1, so tests drive the real ``openai`` client over a socket.

Each POST to ``/v1/chat/completions`` takes the next scripted :class:`Reply` from the queue (an empty queue
answers 500, so an unexpected call fails loudly). Every request body is recorded in ``requests``.

A POST to ``/v1/audio/transcriptions`` (multipart form) takes its reply from the same queue: script it with
:func:`transcription` (a plain text reply is a transcription without word timings). Its form is recorded in
``transcriptions`` too.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted answer; build it with :func:`text`, :func:`error`, :func:`delayed`, :func:`stream`, :func:`raw`,
    :func:`transcription`."""

    content: str = ""
    """Assistant message content (may itself be broken JSON: that is the model misbehaving); a transcription's text."""
    status: int = 200
    """HTTP status; non-2xx sends ``body`` as the error body."""
    body: Any = None
    """Error body (dict or str) for non-2xx replies."""
    delay_s: float = 0.0
    """Wait this long before answering (longer than the client timeout triggers a timeout)."""
    chunks: tuple[str, ...] | None = None
    """Send as SSE chunks (``data: ...`` lines ending with ``data: [DONE]``)."""
    raw_body: str | None = None
    """Send this exact HTTP body (e.g. broken JSON at the HTTP level)."""
    broken_after: int | None = None
    """For a stream: after this many chunks send a malformed event instead of the rest (a server dying mid-reply)."""
    drip_s: float = 0.0
    """Send the body one byte at a time, this many seconds apart (a server that never quite stalls)."""
    prompt_tokens: int = 100
    completion_tokens: int = 20
    words: tuple[tuple[str, float, float], ...] = ()
    """A transcription's words as ``(word, start, end)`` in seconds."""
    duration: float | None = None
    """A transcription's audio length in seconds; None means the last word's end."""


def text(content: str, **options: Any) -> Reply:
    return Reply(content=content, **options)


def error(status: int, message: str = "scripted error", **options: Any) -> Reply:
    return Reply(status=status, body={"error": {"message": message, "type": "scripted", "code": None}}, **options)


def delayed(seconds: float, content: str = "late") -> Reply:
    return Reply(content=content, delay_s=seconds)


def dripping(seconds_per_byte: float, content: str = "slow") -> Reply:
    return Reply(content=content, drip_s=seconds_per_byte)


def stream(*chunks: str, broken_after: int | None = None) -> Reply:
    return Reply(chunks=chunks, broken_after=broken_after)


def raw(body: str, status: int = 200) -> Reply:
    return Reply(raw_body=body, status=status)


def transcription(content: str, words: Sequence[tuple[str, float, float]] = (), duration: float | None = None,
                  **options: Any) -> Reply:
    """A transcription reply: ``verbose_json`` (with ``words``) or, when the request asks for ``json``, the text."""
    return Reply(content=content, words=tuple((w, float(s), float(e)) for w, s, e in words), duration=duration,
                 **options)


@dataclass
class FakeLLMServer:
    model: str = "fake-model"
    rejected_formats: set[str] = field(default_factory=set)
    """``response_format`` types answered with a 400 (e.g. ``{"json_schema"}``, or ``{"verbose_json"}`` for
    transcriptions), without using a scripted reply."""
    requests: list[dict] = field(default_factory=list)
    """Every POSTed request body, in order (including rejected ones); a transcription's as in ``transcriptions``."""
    transcriptions: list[dict] = field(default_factory=list)
    """Every transcription request, in order: its text form fields by name (``timestamp_granularities[]`` as the
    list ``timestamp_granularities``) plus ``file_name``, ``file_bytes``, ``file_size`` and ``content_type``."""
    headers: list[dict[str, str]] = field(default_factory=list)
    """Headers of every POST, in order."""

    def __post_init__(self) -> None:
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-llm", daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def script(self, *replies: Reply | str) -> None:
        """Queue replies; a plain string is a normal completion with that content."""
        with self._lock:
            self._queue.extend(text(r) if isinstance(r, str) else r for r in replies)

    @property
    def pending(self) -> int:
        return len(self._queue)

    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _next(self, response_format: str | None) -> Reply:
        if response_format in self.rejected_formats:
            return error(400, f"response_format of type '{response_format}' is not supported by this server")
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return error(500, "fake server: no scripted reply left")

    def _wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)


def _handler_for(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest output clean

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                models = [{"id": server.model, "object": "model", "created": 0, "owned_by": "fake"}]
                self._send_json(200, {"object": "list", "data": models})
            else:
                self._send_json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            transcribing = self.path.split("?")[0].rstrip("/").endswith("/audio/transcriptions")
            data = self._read_body()
            body = _form(self.headers.get("Content-Type", ""), data) if transcribing else json.loads(data or b"{}")
            with server._lock:
                server.requests.append(body)
                server.headers.append(dict(self.headers.items()))
                if transcribing:
                    server.transcriptions.append(body)
            response_format = body.get("response_format") if transcribing \
                else (body.get("response_format") or {}).get("type")
            reply = server._next(response_format)
            if reply.delay_s:
                server._wait(reply.delay_s)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                self._answer(reply, body, transcribing)

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))
            data = b""
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers, up to the blank line
                pass
            return data

        def _answer(self, reply: Reply, body: dict, transcribing: bool = False) -> None:
            if reply.raw_body is not None:
                self._send(reply.status, reply.raw_body.encode(), "application/json")
            elif reply.status >= 400:
                self._send_json(reply.status, reply.body)
            elif transcribing:
                self._send_transcription(reply, body.get("response_format") or "json")
            elif reply.chunks is not None or body.get("stream"):
                self._send_stream(reply.chunks if reply.chunks is not None else (reply.content,), body,
                                  reply.broken_after)
            elif reply.drip_s:
                self._drip(json.dumps(_completion(reply, body.get("model") or server.model)).encode(), reply.drip_s)
            else:
                self._send_json(200, _completion(reply, body.get("model") or server.model))

        def _send_transcription(self, reply: Reply, response_format: str) -> None:
            if response_format == "text":
                self._send(200, reply.content.encode(), "text/plain; charset=utf-8")
                return
            payload = _transcript(reply) if response_format == "verbose_json" else {"text": reply.content}
            if reply.drip_s:
                self._drip(json.dumps(payload).encode(), reply.drip_s)
            else:
                self._send_json(200, payload)

        def _drip(self, data: bytes, pause_s: float) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            for n in range(len(data)):
                if server._stopping.is_set():
                    return
                self.wfile.write(data[n:n + 1])
                self.wfile.flush()
                server._wait(pause_s)

        def _send_json(self, status: int, payload: Any) -> None:
            data = payload if isinstance(payload, str) else json.dumps(payload)
            self._send(status, data.encode(), "application/json")

        def _send(self, status: int, data: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _send_stream(self, chunks: tuple[str, ...], body: dict, broken_after: int | None = None) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            model = body.get("model") or server.model
            for n, piece in enumerate(chunks):
                if n == broken_after:
                    self.wfile.write(b"data: {not json\n\n")
                    self.wfile.flush()
                    return
                self._event(_chunk(model, {"role": "assistant", "content": piece} if n == 0 else {"content": piece}))
            self._event(_chunk(model, {}, finish_reason="stop"))
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

        def _event(self, payload: dict) -> None:
            self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
            self.wfile.flush()

    return Handler


def _completion(reply: Reply, model: str) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.content}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        },
    }


def _transcript(reply: Reply) -> dict:
    """OpenAI's ``verbose_json`` transcription."""
    words = [{"word": w, "start": s, "end": e} for w, s, e in reply.words]
    duration = reply.duration if reply.duration is not None else (reply.words[-1][2] if reply.words else 0.0)
    return {"task": "transcribe", "language": "english", "duration": duration, "text": reply.content,
            "words": words, "segments": []}


def _form(content_type: str, data: bytes) -> dict:
    """A ``multipart/form-data`` body as a dict: text fields by name (``name[]`` fields as a list under ``name``),
    the file as ``file_name``, ``file_bytes``, ``file_size`` and ``content_type``."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + data)
    form: dict[str, Any] = {}
    for part in message.iter_parts() if message.is_multipart() else ():
        name = part.get_param("name", header="content-disposition") or ""
        payload = _payload(part)
        if part.get_filename() is not None:
            form.update(file_name=part.get_filename(), file_bytes=payload, file_size=len(payload),
                        content_type=part.get_content_type())
        elif name.endswith("[]"):
            form.setdefault(name[:-2], []).append(payload.decode())
        else:
            form[name] = payload.decode()
    return form


def _payload(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _chunk(model: str, delta: dict, finish_reason: str | None = None) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }

"""``transcribe``: recordings to text in the terminal, with their delivery measures; also the helpers the
``interview`` command uses for spoken answers."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from simulator.config import Settings
from simulator.reports import export
from simulator.speech import models
from simulator.speech.delivery import Delivery
from simulator.speech.transcribe import (
    AUDIO_SUFFIXES,
    AudioError,
    Transcriber,
    Transcript,
    TranscriptionError,
    offline,
    with_fallback,
)


class FileProblem(Exception):
    """A file given on the command line cannot be used; prints as ``<path>: <reason>``."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def add_commands(commands: argparse._SubParsersAction) -> None:
    transcribe = commands.add_parser(
        "transcribe", help="print what a recording says",
        description="Transcribe recordings (WAV, FLAC, MP3, WebM, Ogg...). One file prints its transcript; several "
        "print a '== path ==' header before each. Unreadable files are reported on stderr and the rest still run.",
    )
    transcribe.add_argument("files", nargs="+", type=Path, metavar="FILE", help="recording(s) to transcribe")
    transcribe.add_argument("--model", choices=models.MODELS,
                            help="offline speech model (default: the configured one, tiny.en unless set)")
    transcribe.add_argument("--engine", choices=["offline", "endpoint"], default="offline",
                            help="endpoint: the configured transcription endpoint, offline when it fails")
    transcribe.add_argument("--delivery", action="store_true",
                            help="also print pace, filler words and long pauses under each transcript")
    transcribe.add_argument("--json", action="store_true",
                            help="one JSON object per file: path, text, engine, audio_s, seconds, delivery")
    transcribe.set_defaults(func=cmd_transcribe)


# ---------------------------------------------------------------- shared with ``interview``


def is_audio(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_SUFFIXES


def offline_transcriber(settings: Settings, model: str | None = None) -> Transcriber:
    """The offline model ``model``, else the configured one (``SIMULATOR_SPEECH_MODEL``)."""
    return offline(model or settings.speech_model, settings.data_dir)


def transcribe_file(path: Path, transcriber: Transcriber) -> Transcript:
    """The recording at ``path`` transcribed; :class:`FileProblem` when it is missing or not usable audio."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FileProblem(path, exc.strerror or str(exc)) from None
    try:
        heard = transcriber(data, path.name)
    except AudioError as exc:
        raise FileProblem(path, str(exc)) from None
    except TranscriptionError as exc:
        raise FileProblem(path, exc.reason) from None
    if not heard.text.strip():
        raise FileProblem(path, "no words were recognised in the recording")
    return heard


def delivery_details(delivery: Delivery, indent: str = "  ") -> list[str]:
    """Every measure on its own line, then the advice."""
    fillers = ", ".join(f"{name} ×{n}" for name, n in delivery.fillers.items()) or "none"
    if not delivery.timed:
        pauses = "not measured (no word timings)"
    else:
        pauses = ", ".join(f"{p.length_s:.1f} s at {int(p.at_s) // 60}:{int(p.at_s) % 60:02d}"
                           for p in delivery.long_pauses) or "none"
    lines = [f"duration: {delivery.audio_s:.1f} s, speaking {delivery.speaking_s:.1f} s, {delivery.words} words",
             f"pace: {'not measured' if delivery.wpm is None else f'{delivery.wpm:.0f} wpm'}",
             f"fillers: {fillers}", f"long pauses: {pauses}", *(f"note: {note}" for note in delivery.notes)]
    return [indent + export.terminal_safe(line) for line in lines]


# ---------------------------------------------------------------- transcribe


def cmd_transcribe(args: argparse.Namespace) -> int:
    settings = Settings.load()
    transcriber = _transcriber(settings, args.engine, args.model)
    if transcriber is None:
        print("error: --engine endpoint needs a transcription endpoint; none is configured (set "
              "SIMULATOR_TRANSCRIBER_LLM_BASE_URL or SIMULATOR_LLM_BASE_URL, or use --engine offline)",
              file=sys.stderr)
        return 2
    failed = printed = 0
    for path in args.files:
        try:
            heard = transcribe_file(path, transcriber)
        except FileProblem as exc:
            print(f"error: {export.terminal_safe(str(exc))}", file=sys.stderr, flush=True)
            failed += 1
            continue
        if heard.notice:
            print(f"note: {export.terminal_safe(f'{path}: {heard.notice}')}", file=sys.stderr, flush=True)
        print(_report(path, heard, args, first=not printed, several=len(args.files) > 1), flush=True)
        printed += 1
    return 1 if failed else 0


def _transcriber(settings: Settings, engine: str, model: str | None) -> Transcriber | None:
    local = offline_transcriber(settings, model)
    if engine == "offline":
        return local
    if settings.llm.transcriber is None:
        return None
    from simulator.speech.endpoint import EndpointTranscriber  # the OpenAI client loads only when asked for

    return with_fallback(EndpointTranscriber(settings.llm.transcriber), local)


def _report(path: Path, heard: Transcript, args: argparse.Namespace, first: bool, several: bool) -> str:
    safe_path, text = export.terminal_safe(str(path)), export.terminal_safe(heard.text)
    if args.json:
        return json.dumps({"path": safe_path, "text": text, "engine": heard.engine, "audio_s": heard.audio_s,
                           "seconds": heard.seconds, "notice": heard.notice,
                           "delivery": heard.delivery().model_dump(mode="json")})
    lines = [*([] if first else [""]), f"== {safe_path} =="] if several else []
    lines.append(text)
    if args.delivery:
        lines += delivery_details(heard.delivery())
    return "\n".join(lines)

"""``interview``: an interview in the terminal, live or scripted from a file, driven by ``InterviewRunner.advance``."""

from __future__ import annotations

import argparse
import errno
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from pydantic import BaseModel, ConfigDict

from simulator.cli.speech import FileProblem, is_audio, offline_transcriber, transcribe_file
from simulator.grading.contract import Grade
from simulator.interview.plan import PlanError
from simulator.interview.runner import InterviewError, InterviewRunner, Step, awaiting_turn
from simulator.reports import export
from simulator.speech.transcribe import AUDIO_SUFFIXES, Transcriber, Transcript
from simulator.storage.records import NotFoundError, SessionSettings
from simulator.storage.store import Store

ANSWER_SEPARATOR = "---"
PAUSE_COMMAND = ":pause"
QUIT_COMMAND = ":abandon"


def add_commands(commands: argparse._SubParsersAction) -> None:
    interview = commands.add_parser(
        "interview", help="run an interview in the terminal",
        description="Run an interview: question, answer, grade card, follow-up... In a live session an empty "
        f"line submits the answer, {PAUSE_COMMAND} leaves the session open to resume later and {QUIT_COMMAND} "
        f"abandons it. With --answers, answers are read from the files in order: a text file holds answers "
        f"separated by a line '{ANSWER_SEPARATOR}', a recording ({', '.join(AUDIO_SUFFIXES)}) is one spoken answer.",
    )
    interview.add_argument("--profile", default="default", help="candidate profile name (default: default)")
    interview.add_argument("--questions", type=int, default=3, metavar="N", help="main questions (default: 3)")
    interview.add_argument("--topic", action="append", default=[], metavar="T", help="topic (repeatable)")
    interview.add_argument("--difficulty", action="append", default=[], choices=["easy", "medium", "hard"])
    interview.add_argument("--mode", choices=["mixed", "weakest-first", "retry-low"], default="mixed")
    interview.add_argument("--follow-ups", type=int, default=1, metavar="N", help="follow-ups per question (default 1)")
    interview.add_argument("--time-limit", type=int, metavar="SECONDS", help="soft time limit per answer")
    interview.add_argument("--interviewer", choices=["offline", "llm"], default="offline")
    interview.add_argument("--judge", choices=["offline", "llm"], default="offline")
    interview.add_argument("--answers", type=Path, nargs="+", metavar="FILE",
                           help=f"scripted answers: text files (answers separated by '{ANSWER_SEPARATOR}') and "
                           "recordings (one spoken answer each, transcribed offline)")
    interview.add_argument("--resume", type=int, metavar="ID", help="continue an open session instead of starting one")
    interview.add_argument("--seed", type=int, help="fix question order and phrasing")
    interview.add_argument("--db", metavar="URL", help="SQLAlchemy database URL (default: data/simulator.db)")
    interview.set_defaults(func=cmd_interview)



# ---------------------------------------------------------------- answers


def read_answer_blocks(path: Path) -> list[str]:
    """Answers from a script file: blocks separated by a line containing only ``---``; empty blocks dropped."""
    blocks: list[list[str]] = [[]]
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() == ANSWER_SEPARATOR:
            blocks.append([])
        else:
            blocks[-1].append(line)
    return [text for block in blocks if (text := "\n".join(block).strip())]


class SpokenAnswer(BaseModel):
    """A recording given as an answer, with what the speech model heard in it."""

    model_config = ConfigDict(frozen=True)

    path: Path
    transcript: Transcript


Answer = str | SpokenAnswer


def read_script(paths: list[Path]) -> list[str | Path]:
    """The answers of ``paths`` in order: text blocks, and recordings still to transcribe (kept as paths, so a
    broken one stops the interview only when its turn comes). :class:`FileProblem` for a file that cannot be used."""
    script: list[str | Path] = []
    for path in paths:
        if is_audio(path):
            if not path.is_file():
                raise FileProblem(path, os.strerror(errno.EISDIR if path.is_dir() else errno.ENOENT))
            script.append(path)
            continue
        try:
            blocks = read_answer_blocks(path)
        except OSError as exc:
            raise FileProblem(path, exc.strerror or str(exc)) from None
        except UnicodeDecodeError:
            raise FileProblem(path, f"not UTF-8 text, and recordings must end in {', '.join(AUDIO_SUFFIXES)}") \
                from None
        if not blocks:
            raise FileProblem(path, f"no answers found (separate answers with a line '{ANSWER_SEPARATOR}')")
        script.extend(blocks)
    return script


def scripted_answers(script: list[str | Path], transcribe: Callable[[], Transcriber]) -> Iterator[Answer]:
    """The script's answers, each recording transcribed when its answer is needed."""
    for item in script:
        yield item if isinstance(item, str) else SpokenAnswer(path=item, transcript=transcribe_file(item, transcribe()))


def _live_answers(stdin: TextIO, out: TextIO) -> Iterator[str | None]:
    """Answers typed in the terminal; an empty line submits. Yields None at end of input."""
    while True:
        out.write("You (empty line to submit):\n")
        out.flush()
        lines: list[str] = []
        for line in stdin:
            if not line.strip() and lines:
                break
            if line.strip():
                lines.append(line.rstrip("\n"))
                if line.strip() in (PAUSE_COMMAND, QUIT_COMMAND) and len(lines) == 1:
                    break
        else:
            if not lines:
                yield None
                return
        yield "\n".join(lines)


# ---------------------------------------------------------------- interview


def cmd_interview(args: argparse.Namespace) -> int:
    from simulator.core import NoEndpointError, Simulator

    try:
        script = read_script(args.answers) if args.answers else None
    except FileProblem as exc:
        print(f"error: {export.terminal_safe(str(exc))}", file=sys.stderr)
        return 1
    simulator = Simulator()
    try:
        with Store(args.db or simulator.settings.database_url) as store:
            runner = simulator.runner(store, interviewer=args.interviewer, judge=args.judge, seed=args.seed or 0)
            session_id = args.resume if args.resume is not None else _start(runner, args)
            answers = _live_answers(sys.stdin, sys.stdout) if script is None else \
                scripted_answers(script, lambda: offline_transcriber(simulator.settings))
            return run_interview(runner, session_id, answers, echo=script is not None)
    except FileProblem as exc:
        print(f"error: {export.terminal_safe(str(exc))}", file=sys.stderr)
        return 1
    except (PlanError, InterviewError, NotFoundError, NoEndpointError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _start(runner: InterviewRunner, args: argparse.Namespace) -> int:
    settings = SessionSettings(
        questions=args.questions, topics=args.topic, difficulty=args.difficulty, mode=args.mode,
        follow_ups=args.follow_ups, time_limit_s=args.time_limit, interviewer=args.interviewer, judge=args.judge,
    )
    return runner.start(args.profile, settings, seed=args.seed)


def run_interview(runner: InterviewRunner, session_id: int, answers: Iterator[Answer | None], echo: bool,
                  out: TextIO | None = None, clock: Callable[[], float] = time.monotonic) -> int:
    """Drive a session until it finishes or answers run out; prints the session id last.

    ``out`` defaults to ``sys.stdout`` as it is when called (not when this module was imported), so a
    redirected stdout is honoured.
    """
    out = sys.stdout if out is None else out
    _say(out, f"Session {session_id} ({runner.interviewer.name} interviewer, {runner.judge_name} judge)\n")
    _print_notes(runner, session_id, out)
    resumed = awaiting_turn(runner.detail(session_id))
    if resumed is not None:
        _say(out, f"\n(resuming) Interviewer: {export.terminal_safe(resumed.text)}\n")
    while True:
        step = runner.advance(session_id)
        if step.kind == "ended":
            break
        if step.kind == "speak":
            _speak(step, out)
        elif step.kind == "graded":
            _print_grades(step.grades, out)
        elif not _take_answer(runner, session_id, answers, echo, out, clock):
            return 0
    detail = runner.detail(session_id)
    average = export.average_score(detail)
    _say(out, f"\nInterview {detail.status}: {len(detail.answers)} answer(s), average "
              f"{'-' if average is None else f'{average:.1f}/10'}.\nsession {session_id}\n")
    return 0


def _speak(step: Step, out: TextIO) -> None:
    assert step.pending is not None
    _say(out, "\nInterviewer: ")
    for chunk in step.pending.stream():
        _say(out, export.terminal_safe(chunk))
    _say(out, "\n")
    if step.pending.speech.meta.get("interviewer") == "offline-fallback":
        _say(out, f"  (LLM interviewer unavailable: {step.pending.speech.meta['fallback_reason']})\n")


def _take_answer(runner: InterviewRunner, session_id: int, answers: Iterator[Answer | None], echo: bool,
                 out: TextIO, clock: Callable[[], float]) -> bool:
    """Read, store and grade one answer; False when the interview stops here (paused or out of answers)."""
    started = clock()
    answer = next(answers, None)
    if isinstance(answer, SpokenAnswer):
        return _take_spoken(runner, session_id, answer, out)
    if answer is None or answer.strip() == PAUSE_COMMAND:
        _say(out, f"\nSession {session_id} is paused and stays open: resume with --resume {session_id}\n"
                  f"session {session_id}\n")
        return False
    if answer.strip() == QUIT_COMMAND:
        runner.abandon(session_id)
        _say(out, f"\nSession {session_id} abandoned.\nsession {session_id}\n")
        return False
    if echo:
        _say(out, f"You: {export.terminal_safe(answer)}\n")
    step = runner.advance(session_id, answer, duration_s=None if echo else clock() - started)
    _print_result(step, out)
    return True


def _take_spoken(runner: InterviewRunner, session_id: int, answer: SpokenAnswer, out: TextIO) -> bool:
    heard = answer.transcript
    delivery = heard.delivery()
    _say(out, f"You (spoken, {export.terminal_safe(answer.path.name)}, {heard.audio_s:.1f} s): "
              f"{export.terminal_safe(heard.text)}\n")
    step = runner.advance(session_id, heard.text, duration_s=heard.audio_s, delivery=delivery)
    _print_result(step, out)
    _say(out, f"  delivery: {delivery.summary()}\n")
    for note in delivery.notes:
        _say(out, f"    - {export.terminal_safe(note)}\n")
    return True


def _print_result(step: Step, out: TextIO) -> None:
    for notice in step.receipt.notices if step.receipt else []:
        _say(out, f"  note: {notice}\n")
    _print_grades(step.grades, out)


def _print_grades(grades: list[Grade], out: TextIO) -> None:
    for grade in grades:
        _say(out, export.grade_card(grade) + "\n")


def _print_notes(runner: InterviewRunner, session_id: int, out: TextIO) -> None:
    for turn in runner.detail(session_id).turns:
        if turn.kind == "note":
            _say(out, f"  {turn.text}\n")


def _say(out: TextIO, text: str) -> None:
    out.write(text)
    out.flush()

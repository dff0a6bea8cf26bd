"""The terminal interface: ``interview`` (live or scripted from a file) and ``sessions list|show|export``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from simulator import export
from simulator.engine import InterviewEngine, InterviewError, Stage, awaiting_turn
from simulator.plan import PlanError
from simulator.store import NotFoundError, SessionSettings, Store

ANSWER_SEPARATOR = "---"
PAUSE_COMMAND = ":pause"
QUIT_COMMAND = ":abandon"


def add_commands(commands: argparse._SubParsersAction) -> None:
    interview = commands.add_parser(
        "interview", help="run an interview in the terminal",
        description="Run an interview: question, answer, grade card, follow-up... In a live session an empty "
        f"line submits the answer, {PAUSE_COMMAND} leaves the session open to resume later and {QUIT_COMMAND} "
        f"abandons it. With --answers, answers are read from FILE (blocks separated by a line '{ANSWER_SEPARATOR}').",
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
    interview.add_argument("--answers", type=Path, metavar="FILE",
                           help=f"scripted answers separated by '{ANSWER_SEPARATOR}'")
    interview.add_argument("--resume", type=int, metavar="ID", help="continue an open session instead of starting one")
    interview.add_argument("--seed", type=int, help="fix question order and phrasing")
    interview.add_argument("--db", metavar="URL", help="SQLAlchemy database URL (default: data/simulator.db)")
    interview.set_defaults(func=cmd_interview)

    sessions = commands.add_parser("sessions", help="list, show and export stored sessions")
    actions = sessions.add_subparsers(title="actions", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list sessions, newest first")
    listing.add_argument("--profile")
    listing.add_argument("--topic")
    listing.add_argument("--since", type=_date, metavar="YYYY-MM-DD")
    listing.add_argument("--min-score", type=float)
    listing.add_argument("--max-score", type=float)
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(func=cmd_sessions_list)
    show = actions.add_parser("show", help="print one session's scored transcript")
    show.add_argument("id", type=int)
    show.set_defaults(func=cmd_sessions_show)
    exporting = actions.add_parser("export", help="export one session as Markdown or JSON")
    exporting.add_argument("id", type=int)
    exporting.add_argument("--format", choices=["md", "json"], default="md")
    exporting.add_argument("--output", type=Path, metavar="FILE", help="write here instead of stdout")
    exporting.set_defaults(func=cmd_sessions_export)
    for action in (listing, show, exporting):
        action.add_argument("--db", metavar="URL", help="SQLAlchemy database URL (default: data/simulator.db)")


def _date(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2026-01-31, got {text!r}") from None


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
    from simulator.runtime import Runtime

    scripted = read_answer_blocks(args.answers) if args.answers else None
    if args.answers and not scripted:
        print(f"error: {args.answers}: no answers found (separate answers with a line '{ANSWER_SEPARATOR}')",
              file=sys.stderr)
        return 1
    runtime = Runtime()
    try:
        store = Store(args.db)
        engine = runtime.engine(store, interviewer=args.interviewer, judge=args.judge, seed=args.seed or 0)
        session_id = args.resume if args.resume is not None else _start(engine, args)
        answers = iter(scripted) if scripted is not None else _live_answers(sys.stdin, sys.stdout)
        return run_interview(engine, session_id, answers, echo=scripted is not None)
    except (PlanError, InterviewError, NotFoundError, RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _start(engine: InterviewEngine, args: argparse.Namespace) -> int:
    settings = SessionSettings(
        questions=args.questions, topics=args.topic, difficulty=args.difficulty, mode=args.mode,
        follow_ups=args.follow_ups, time_limit_s=args.time_limit, interviewer=args.interviewer, judge=args.judge,
    )
    return engine.start(args.profile, settings, seed=args.seed)


def run_interview(engine: InterviewEngine, session_id: int, answers: Iterator[str | None], echo: bool,
                  out: TextIO = sys.stdout, clock: Callable[[], float] = time.monotonic) -> int:
    """Drive a session until it finishes or answers run out; prints the session id last."""
    _say(out, f"Session {session_id} ({engine.interviewer.name} interviewer, {engine.judge_name} judge)\n")
    _print_notes(engine, session_id, out)
    waiting = awaiting_turn(engine.detail(session_id))
    if waiting is not None:
        _say(out, f"\n(resuming) Interviewer: {export.terminal_safe(waiting.text)}\n")
    while True:
        stage = engine.stage(session_id)
        if stage == Stage.ANSWERED:
            _print_grades(engine.grade_pending(session_id), out)
            continue
        if stage in (Stage.READY, Stage.GRADED):
            pending = engine.next_turn(session_id)
            if pending is None:
                break
            _say(out, "\nInterviewer: ")
            for chunk in pending.stream():
                _say(out, export.terminal_safe(chunk))
            _say(out, "\n")
            if pending.speech.meta.get("interviewer") == "offline-fallback":
                _say(out, f"  (LLM interviewer unavailable: {pending.speech.meta['fallback_reason']})\n")
            continue
        if stage == Stage.ASKED:
            if not _take_answer(engine, session_id, answers, echo, out, clock):
                return 0
            continue
        break
    detail = engine.detail(session_id)
    average = export.average_score(detail)
    _say(out, f"\nInterview {detail.status}: {len(detail.answers)} answer(s), average "
              f"{'-' if average is None else f'{average:.1f}/10'}.\nsession {session_id}\n")
    return 0


def _take_answer(engine: InterviewEngine, session_id: int, answers: Iterator[str | None], echo: bool,
                 out: TextIO, clock: Callable[[], float]) -> bool:
    """Read, store and grade one answer; False when the interview stops here (paused or out of answers)."""
    started = clock()
    answer = next(answers, None)
    if answer is None or answer.strip() == PAUSE_COMMAND:
        _say(out, f"\nSession {session_id} is paused and stays open: resume with --resume {session_id}\n"
                  f"session {session_id}\n")
        return False
    if answer.strip() == QUIT_COMMAND:
        engine.abandon(session_id)
        _say(out, f"\nSession {session_id} abandoned.\nsession {session_id}\n")
        return False
    if echo:
        _say(out, f"You: {export.terminal_safe(answer)}\n")
    receipt = engine.answer(session_id, answer, duration_s=None if echo else clock() - started)
    for notice in receipt.notices:
        _say(out, f"  note: {notice}\n")
    _print_grades(engine.grade_pending(session_id), out)
    return True


def _print_grades(grades: list, out: TextIO) -> None:
    for grade in grades:
        _say(out, export.grade_card(grade) + "\n")


def _print_notes(engine: InterviewEngine, session_id: int, out: TextIO) -> None:
    for turn in engine.detail(session_id).turns:
        if turn.kind == "note":
            _say(out, f"  {turn.text}\n")


def _say(out: TextIO, text: str) -> None:
    out.write(text)
    out.flush()


# ---------------------------------------------------------------- sessions


def cmd_sessions_list(args: argparse.Namespace) -> int:
    with Store(args.db) as store:
        sessions = store.list_sessions(profile=args.profile, since=args.since, topic=args.topic,
                                       min_score=args.min_score, max_score=args.max_score, limit=args.limit)
    if not sessions:
        print("no sessions")
        return 0
    print(f"{'id':>5}  {'profile':<16} {'status':<10} {'started (UTC)':<17} {'answers':>7} {'average':>8}  topics")
    for s in sessions:
        average = "-" if s.average_score is None else f"{s.average_score:.1f}"
        print(f"{s.id:>5}  {s.profile[:16]:<16} {s.status:<10} {s.started_at:%Y-%m-%d %H:%M}  {s.answered:>7} "
              f"{average:>8}  {', '.join(s.topics)}")
    return 0


def cmd_sessions_show(args: argparse.Namespace) -> int:
    try:
        with Store(args.db) as store:
            print(export.transcript_text(store.session_detail(args.id)), end="")
    except NotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_sessions_export(args: argparse.Namespace) -> int:
    try:
        with Store(args.db) as store:
            detail = store.session_detail(args.id)
    except NotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    text = export.session_markdown(detail) if args.format == "md" else export.session_json_text(detail) + "\n"
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0

"""``sessions list|show|export``: stored interviews in the terminal, as Markdown or as JSON."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from simulator.config import Settings
from simulator.reports import export
from simulator.storage.records import NotFoundError
from simulator.storage.store import Store


def add_commands(commands: argparse._SubParsersAction) -> None:
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


def cmd_sessions_list(args: argparse.Namespace) -> int:
    with open_store(args.db) as store:
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
        with open_store(args.db) as store:
            print(export.transcript_text(store.session_detail(args.id)), end="")
    except NotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_sessions_export(args: argparse.Namespace) -> int:
    try:
        with open_store(args.db) as store:
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


def open_store(url: str | None) -> Store:
    """The store at ``url``, else the configured database (``SIMULATOR_DB_URL`` or the data folder)."""
    return Store(url or Settings.load().database_url)

"""Command line: ``python -m simulator <command>``; each group of commands lives in its own module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from simulator.cli import content, grading, interview, sessions, speech
from simulator.config import SettingsError
from simulator.storage.db import StorageUnavailable


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (SettingsError, StorageUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulator", description="Interview Simulator tools.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in (content, grading, interview, sessions, speech):
        module.add_commands(commands)
    return parser

"""Command line: ``python -m simulator <command>``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from simulator import bank


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulator", description="Interview Simulator tools.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    validate = commands.add_parser(
        "validate", help="check question files, rubrics and knowledge notes",
        description="Check content. With no PATH: the bundled question bank, rubrics and knowledge notes. "
        "A PATH may be a file or folder of questions, rubrics (YAML) or knowledge notes (Markdown/text); "
        "kinds not given are taken from the bundled content so references can be checked.",
    )
    validate.add_argument("paths", nargs="*", type=Path, metavar="PATH")
    validate.set_defaults(func=cmd_validate)
    return parser


def classify(paths: Sequence[Path]) -> dict[str, list[Path]]:
    """Sort paths into questions, rubrics and knowledge by folder name, then by content."""
    kinds: dict[str, list[Path]] = {"questions": [], "rubrics": [], "knowledge": []}
    for path in paths:
        for file in bank.iter_files([path], bank.YAML_SUFFIXES | bank.KNOWLEDGE_SUFFIXES):
            kinds[_kind_of(file)].append(file)
    return kinds


def _kind_of(file: Path) -> str:
    if file.suffix.lower() in bank.KNOWLEDGE_SUFFIXES:
        return "knowledge"
    folders = {p.name for p in file.resolve().parents}
    if "rubrics" in folders:
        return "rubrics"
    if "question_bank" in folders:
        return "questions"
    try:
        head = file.read_text(encoding="utf-8", errors="replace")[:20_000]
    except OSError:
        return "questions"
    return "rubrics" if "\ncriteria:" in f"\n{head}" and "\nquestions:" not in f"\n{head}" else "questions"


def cmd_validate(args: argparse.Namespace) -> int:
    missing = [p for p in args.paths if not p.exists()]
    kinds = classify([p for p in args.paths if p.exists()])
    bundle = bank.load_bundle(
        kinds["questions"] or ([] if args.paths else [bank.DEFAULT_QUESTION_DIR]),
        kinds["rubrics"] or [bank.DEFAULT_RUBRIC_DIR],
        kinds["knowledge"] or [bank.DEFAULT_KNOWLEDGE_DIR],
    )
    problems = [bank.Problem(str(p), 1, "file", "does not exist") for p in missing] + bundle.problems
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s); loaded {bundle.summary()}", file=sys.stderr)
        return 1
    print(bundle.summary())
    return 0

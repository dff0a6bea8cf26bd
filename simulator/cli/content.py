"""``validate`` (check content files) and ``index`` (build the knowledge search index)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from simulator.config import KNOWLEDGE_DIR, QUESTION_DIR, RUBRIC_DIR
from simulator.content import bank


def add_commands(commands: argparse._SubParsersAction) -> None:
    validate = commands.add_parser(
        "validate", help="check question files, rubrics and knowledge notes",
        description="Check content. With no PATH: the bundled question bank, rubrics and knowledge notes. "
        "A PATH may be a file or folder of questions, rubrics (YAML) or knowledge notes (Markdown/text); "
        "kinds not given are taken from the bundled content so references can be checked.",
    )
    validate.add_argument("paths", nargs="*", type=Path, metavar="PATH")
    validate.set_defaults(func=cmd_validate)

    index = commands.add_parser("index", help="build the knowledge search index under data/",
                                description="Chunk the knowledge notes, embed changed chunks and save the index.")
    index.add_argument("--rebuild", action="store_true", help="embed every chunk again, ignoring the cache")
    index.set_defaults(func=cmd_index)


def cmd_validate(args: argparse.Namespace) -> int:
    missing = [p for p in args.paths if not p.exists()]
    kinds = classify([p for p in args.paths if p.exists()])
    bundle = bank.load_bundle(
        kinds["questions"] or ([] if args.paths else [QUESTION_DIR]),
        kinds["rubrics"] or [RUBRIC_DIR],
        kinds["knowledge"] or [KNOWLEDGE_DIR],
    )
    problems = [bank.Problem(str(p), 1, "file", "does not exist") for p in missing] + bundle.problems
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s); loaded {bundle.summary()}", file=sys.stderr)
        return 1
    print(bundle.summary())
    return 0


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


def cmd_index(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from simulator.core import Simulator

    runtime = Simulator()
    for problem in runtime.bundle.problems:
        print(problem, file=sys.stderr)
    bar = tqdm(total=0, unit="chunk", desc="embedding", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    _ = runtime.embedder  # load the model first so the timing below is the indexing alone
    started = time.perf_counter()
    index = runtime.build_index(rebuild=args.rebuild, progress=progress)
    seconds = time.perf_counter() - started
    bar.close()
    stats = index.stats
    print(f"{stats.chunks} chunks from {len(runtime.bundle.knowledge)} documents: {stats.embedded} embedded, "
          f"{stats.reused} reused, in {seconds:.2f} s")
    return 0




"""``validate`` (check content files) and ``index`` (build the knowledge search index)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from simulator.config import Settings
from simulator.content import bank

SNIFF_BYTES = 20_000
"""How much of a file is read to guess whether it holds questions or a rubric."""


def add_commands(commands: argparse._SubParsersAction) -> None:
    validate = commands.add_parser(
        "validate", help="check question files, rubrics and knowledge notes",
        description="Check content. With no PATH: everything the app loads, that is the bundled question bank, "
        "rubrics and knowledge notes plus the custom folders (SIMULATOR_CUSTOM_QUESTIONS_DIR, "
        "SIMULATOR_CUSTOM_KNOWLEDGE_DIR). A PATH may be a file or folder of questions, rubrics (YAML) or "
        "knowledge notes (Markdown/text); kinds not given are taken from what the app loads so references "
        "can be checked, and question ids are also checked against the questions the app loads.",
    )
    validate.add_argument("paths", nargs="*", type=Path, metavar="PATH")
    validate.set_defaults(func=cmd_validate)

    index = commands.add_parser("index", help="build the knowledge search index under data/",
                                description="Chunk the knowledge notes, embed changed chunks and save the index.")
    index.add_argument("--rebuild", action="store_true", help="embed every chunk again, ignoring the cache")
    index.set_defaults(func=cmd_index)


def cmd_validate(args: argparse.Namespace) -> int:
    settings = Settings.load()
    missing = [p for p in args.paths if not p.exists()]
    kinds = classify([p for p in args.paths if p.exists()])
    if args.paths:
        bundle = _load_given(kinds, settings)
    else:
        bundle = bank.load_bundle(settings.question_dirs, settings.rubric_dirs, settings.knowledge_dirs)
    problems = [bank.Problem(str(p), 1, "file", "does not exist") for p in missing] + bundle.problems
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s); loaded {bundle.summary()}", file=sys.stderr)
        return 1
    print(bundle.summary())
    return 0


def _load_given(kinds: dict[str, list[Path]], settings: Settings) -> bank.Bundle:
    """The given files, after the app's other questions so an id they already use is reported.

    Those other questions only serve the comparison: their own problems and counts are left out.
    """
    given = {p.resolve() for p in kinds["questions"]}
    app_files = bank.iter_files(settings.question_dirs, bank.YAML_SUFFIXES) if given else []
    others = [p for p in app_files if p.resolve() not in given]
    bundle = bank.load_bundle([*others, *kinds["questions"]], kinds["rubrics"] or settings.rubric_dirs,
                              kinds["knowledge"] or settings.knowledge_dirs)
    hidden = {bank.display_path(p) for p in others}
    bundle.problems = [p for p in bundle.problems if p.file not in hidden]
    for question_id, file in list(bundle.question_files.items()):
        if file in hidden:
            del bundle.questions[question_id], bundle.question_files[question_id]
    return bundle


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
        with file.open("rb") as handle:  # a head is enough, and a huge file is refused later by its size
            head = handle.read(SNIFF_BYTES).decode("utf-8", errors="replace")
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




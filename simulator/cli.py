"""Command line: ``python -m simulator <command>``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from simulator import bank, batch, metrics


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

    index = commands.add_parser("index", help="build the knowledge search index under data/",
                                description="Chunk the knowledge notes, embed changed chunks and save the index.")
    index.add_argument("--rebuild", action="store_true", help="embed every chunk again, ignoring the cache")
    index.set_defaults(func=cmd_index)

    for name, helptext in (("grade", "grade answers in a JSONL file"),
                           ("eval", "grade human-scored answers and print agreement")):
        sub = commands.add_parser(name, help=helptext, description=f"{helptext[0].upper()}{helptext[1:]}. Rows need "
                                  "question, reference_answer, answer, max_score; optional question_id and rubric.")
        sub.add_argument("input", type=Path, metavar="INPUT.jsonl")
        sub.add_argument("--judge", choices=["offline", "llm"], default="offline")
        sub.add_argument("--output", type=Path, metavar="OUT.jsonl", help="write graded rows here (default: stdout)"
                         if name == "grade" else "also write graded rows here")
        if name == "eval":
            sub.add_argument("--timing", action="store_true",
                             help="also time the bare encoder on the same answers and print the ratio")
        sub.set_defaults(func=cmd_grade if name == "grade" else cmd_eval)

    bench = commands.add_parser("bench", help="measure start-up, grading, retrieval and re-index speed",
                                description="Time cold start, offline grading, hybrid search at 1k-100k chunks, "
                                "batch grading and incremental re-indexing in temporary folders. Prints a table, "
                                "then one JSON object as the last line.")
    bench.add_argument("--quick", action="store_true", help="fewer repetitions and no 100k-chunk corpus")
    bench.add_argument("--json-only", action="store_true", help="print only the JSON line")
    bench.set_defaults(func=cmd_bench)

    from simulator import terminal

    terminal.add_commands(commands)
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


def cmd_index(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from simulator.runtime import Runtime

    runtime = Runtime()
    for problem in runtime.bundle.problems:
        print(problem, file=sys.stderr)
    bar = tqdm(total=0, unit="chunk", desc="embedding", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    _ = runtime.embedder  # load the model first so the timing below is the indexing alone
    index, seconds = batch.timed(lambda: runtime.build_index(rebuild=args.rebuild, progress=progress))
    bar.close()
    stats = index.stats
    print(f"{stats.chunks} chunks from {len(runtime.bundle.knowledge)} documents: {stats.embedded} embedded, "
          f"{stats.reused} reused, in {seconds:.2f} s")
    return 0


def _graded(args: argparse.Namespace, require_score: bool):
    from simulator.judges.offline import warm
    from simulator.runtime import Runtime

    loaded = batch.read_rows(args.input, require_score=require_score)
    for problem in loaded.problems:
        print(problem, file=sys.stderr)
    runtime = Runtime()
    try:
        judge = runtime.judge(args.judge)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return loaded, None, None
    prepare = (lambda specs, answers: warm(runtime.embedder, specs, answers)) if args.judge == "offline" else None

    def spec_for(row: batch.GradeRow):
        return runtime.spec_for(row.question, row.reference_answer, row.question_id, row.rubric)

    rows = batch.grade_rows(loaded.rows, spec_for, judge, str(args.input), prepare)
    return loaded, runtime, rows


def _write_rows(graded, output: Path | None, problems: list, echo: bool):
    from tqdm import tqdm

    results = []
    handle = output.open("w", encoding="utf-8") if output else (sys.stdout if echo else None)
    try:
        for row, grade, problem in tqdm(graded, unit="answer", desc="grading", file=sys.stderr):
            if problem is not None:
                problems.append(problem)
                print(problem, file=sys.stderr)
                continue
            results.append((row, grade))
            if handle is not None:
                handle.write(json.dumps(batch.output_row(row, grade), ensure_ascii=False) + "\n")
    finally:
        if output and handle is not None:
            handle.close()
    return results


def cmd_grade(args: argparse.Namespace) -> int:
    loaded, _, graded = _graded(args, require_score=False)
    if graded is None:
        return 1
    results = _write_rows(graded, args.output, loaded.problems, echo=True)
    unscored = sum(g.status != "scored" for _, g in results)
    print(f"graded {len(results) - unscored} answer(s), {unscored} unscored, {len(loaded.problems)} bad row(s)",
          file=sys.stderr)
    return 1 if loaded.problems else 0


def cmd_eval(args: argparse.Namespace) -> int:
    loaded, runtime, graded = _graded(args, require_score=True)
    if graded is None:
        return 1
    results, seconds = batch.timed(lambda: _write_rows(graded, args.output, loaded.problems, echo=False))
    scored = [(r, g) for r, g in results if g.status == "scored"]
    if not scored:
        print("error: no row could be scored", file=sys.stderr)
        return 1
    scale = max(r.max_score for r, _ in scored)
    human = [r.score / r.max_score * scale for r, _ in scored]
    predicted = [g.scaled(scale) for _, g in scored]
    summary = {**metrics.agreement(human, predicted, scale), "unscored": len(results) - len(scored),
               "bad_rows": len(loaded.problems), "judge": args.judge, "seconds": round(seconds, 3)}
    _print_breakdown(scored, scale)
    if getattr(args, "timing", False):
        answers = [r.answer for r, _ in scored]
        _, encoder_seconds = batch.timed(lambda: runtime.embedder.encode_uncached(answers))
        summary["encoder_seconds"] = round(encoder_seconds, 3)
        summary["batch_to_encoder_ratio"] = round(seconds / encoder_seconds, 3)
    print(json.dumps(summary))
    return 0


def _print_breakdown(scored: list, scale: float) -> None:
    kinds: dict[str, list[tuple[float, float]]] = {}
    for row, grade in scored:
        kind = str((row.model_extra or {}).get("kind", "all"))
        kinds.setdefault(kind, []).append((row.score / row.max_score * scale, grade.scaled(scale)))
    print(f"{'kind':<15}{'n':>4}{'human':>8}{'judge':>8}")
    for kind, pairs in sorted(kinds.items(), key=lambda kv: -sum(h for h, _ in kv[1]) / len(kv[1])):
        human = sum(h for h, _ in pairs) / len(pairs)
        judged = sum(p for _, p in pairs) / len(pairs)
        print(f"{kind:<15}{len(pairs):>4}{human:>8.2f}{judged:>8.2f}")


def cmd_bench(args: argparse.Namespace) -> int:
    from simulator import bench

    return bench.main(quick=args.quick, json_only=args.json_only)


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

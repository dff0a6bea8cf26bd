"""``grade`` (grade a JSONL file of answers) and ``eval`` (grade human-scored answers, print agreement)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from simulator.grading import agreement, batch


def add_commands(commands: argparse._SubParsersAction) -> None:
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

    train = commands.add_parser(
        "train-grader", help="train the claim model the offline judge uses",
        description="Fine-tune the packaged MiniLM as a 3-way claim model (entails / contradicts / neither) on "
        "SemEval-2013 and pairs made from the question bank; print data counts, held-out metrics and the time; "
        "write the weights, fluency statistics, metrics and MODEL_CARD.md. A full run takes about 25 minutes "
        "on 2 cores.",
    )
    from simulator.grading.training import train as training

    training.add_arguments(train)
    train.set_defaults(func=training.run)


def _graded(args: argparse.Namespace, require_score: bool):
    from simulator.core import NoEndpointError, Simulator
    from simulator.grading.offline import warm

    loaded = batch.read_rows(args.input, require_score=require_score)
    for problem in loaded.problems:
        print(problem, file=sys.stderr)
    runtime = Simulator()
    try:
        judge = runtime.judge(args.judge)
    except NoEndpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return loaded, None, None
    prepare = (lambda specs, answers: warm(runtime.embedder, specs, answers)) if args.judge == "offline" else None

    def spec_for(row: batch.AnswerRow):
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
    summary = {**agreement.agreement(human, predicted, scale), "unscored": len(results) - len(scored),
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



"""Answers built to game the offline judge score below an honest partial answer to the same question, and below 3.

Probes are made here, independently of the grading model's training data: key points negated or with the two
approaches swapped, a wrong conclusion in the right terms, term salad with and without commas, shuffled words,
all the key points followed by a retraction, the question copied back, and another question's model answer.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden" / "answers.jsonl"
CEILING = 3.0
SWAPS = {"rag": "fine-tuning", "retrieval": "fine-tuning", "fine-tuning": "RAG", "fine-tune": "retrieve",
         "retrieve": "fine-tune", "retrieved": "fine-tuned", "fine-tuned": "retrieved", "index": "weights",
         "weights": "index", "lora": "full fine-tuning", "cheaper": "more expensive", "more expensive": "cheaper",
         "lower": "higher", "higher": "lower", "reduces": "increases", "increases": "reduces", "fresh": "stale"}
_SWAP = re.compile(r"\b(" + "|".join(sorted(map(re.escape, SWAPS), key=len, reverse=True)) + r")\b", re.IGNORECASE)
_AUXILIARY = re.compile(r"\b(is|are|was|were|can|will|should|does|do|has|have|must|needs|keeps|makes|changes|"
                        r"updates|reduces|adds|leaves|stays|sits|belongs|lets|gives|costs|trains|grounds)\b")
_FUNCTION = {"the", "a", "an", "of", "to", "and", "or", "in", "on", "for", "with", "is", "are", "it", "its", "that",
             "this", "by", "as", "at", "be", "from", "so", "but", "not", "than", "which", "each", "per"}


def negate(sentence: str) -> str:
    match = _AUXILIARY.search(sentence)
    if match is None:
        return f"It is not true that {sentence[0].lower()}{sentence[1:]}"
    word = match.group(1)
    if word in {"is", "are", "was", "were", "can", "will", "should", "does", "do", "has", "have", "must"}:
        replacement = f"{word} not"
    else:
        replacement = f"does not {word.removesuffix('s')}" if word.endswith("s") else f"do not {word}"
    return sentence[:match.start()] + replacement + sentence[match.end():]


def swap(sentence: str) -> str:
    return _SWAP.sub(lambda m: SWAPS[m.group(1).lower()], sentence)


def content_words(text: str) -> list[str]:
    return [w for w in re.findall(r"[A-Za-z][A-Za-z-]+", text) if w.lower() not in _FUNCTION]


def probes(question: dict, other: dict, rng: random.Random) -> dict[str, str]:
    points = [p["text"] for p in question["key_points"]]
    terms = list(dict.fromkeys(w for p in points for w in content_words(p)))
    words = question["model_answer"].split()
    rng.shuffle(words)
    return {
        "negated": " ".join(negate(p) for p in points),
        "swapped": " ".join(swap(p) for p in points),
        "wrong conclusion": (f"Because {terms[0]} and {terms[1]} make the model hallucinate more, {terms[2]} only adds "
                             f"risk and cost; {terms[3]} never helps, so avoid both and rely on the base model."),
        "salad with commas": ", ".join(terms) + ".",
        "salad without commas": " ".join(terms),
        "shuffled": " ".join(words),
        "retraction": " ".join(points) + " Actually, everything I just said is false.",
        "copied question": question["prompt"],
        "another question's answer": other["model_answer"],
    }


@pytest.fixture(scope="module")
def cases(runtime):
    rows = [json.loads(line) for line in GOLDEN.read_text().splitlines() if line.strip()]
    partial = {r["question_id"]: r["answer"] for r in rows if r["kind"] == "partial"}
    bank = runtime.bundle.questions
    ids = sorted(partial)
    assert len(ids) >= 12, "the golden set needs a partial answer for at least 12 questions"
    rng = random.Random(7)
    out = []
    for n, qid in enumerate(ids):
        question = bank[qid].model_dump()
        other = bank[ids[(n + 5) % len(ids)]].model_dump()
        out.append((qid, partial[qid], probes(question, other, rng)))
    return out


NOT_YET = {"swapped", "another question's answer"}
"""Kinds the judge still misses on some questions: a sentence that credits the other approach in new words, and
another question's model answer in this domain (where answers share many claims). Negated key points are caught
by the claim model (see test_grading_evidence). These tests fail loudly once the rest works."""

KINDS = ["negated", "swapped", "wrong conclusion", "salad with commas", "salad without commas", "shuffled",
         "retraction", "copied question", "another question's answer"]


@pytest.mark.parametrize("kind", [pytest.param(k, marks=pytest.mark.xfail(strict=True, reason="known limit of the offline judge (README, Grading)"))
                                  if k in NOT_YET else k for k in KINDS])
def test_probe_scores_below_the_honest_partial_answer_and_below_three(runtime, judge, cases, kind):
    failures = []
    for qid, honest, attempts in cases:
        spec = runtime.spec_for("", "", qid)
        baseline = judge(spec, honest).overall
        score = judge(spec, attempts[kind]).overall
        if score >= min(baseline, CEILING) and not (baseline == 0 and score == 0):
            failures.append(f"{qid}: {score:.1f} (honest partial {baseline:.1f})")
    assert not failures, "\n".join(failures)


def test_probe_kinds_are_the_ones_the_issue_names(cases):
    _, _, attempts = cases[0]
    assert set(attempts) == set(KINDS)

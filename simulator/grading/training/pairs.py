"""Training pairs for the claim cross-encoder.

Two sources feed the model:

* SemEval-2013 Task 7 (3-way): real student answers paired with an expert reference answer.
* Synthetic contrast pairs built from the project's question bank: for every key point, candidate
  sentences that state it, state the opposite, or only look related (shuffled words, keyword piles,
  other questions' points, filler).

Labels: 0 = entails, 1 = contradicts, 2 = neither.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import yaml

from simulator.grading.training.pairtext import (
    Similarity,
    content_words,
    lower_first,
    overlap_similarity,
    split_sentences,
    strip_end,
    upper_first,
)
from simulator.grading.training.rewrites import (
    FILLERS,
    HEDGES,
    RETRACTION_FRAMES,
    RETRACTIONS,
    WRONG_CONCLUSIONS,
    all_swaps,
    first_clause,
    keyword_pile,
    local_shuffle,
    negate,
    paraphrase,
    word_shuffle,
)

ENTAILS, CONTRADICTS, NEITHER = 0, 1, 2
LABELS: tuple[str, ...] = ("entails", "contradicts", "neither")
SEMEVAL_LABELS: dict[str, int] = {"correct": ENTAILS, "contradictory": CONTRADICTS, "incorrect": NEITHER}



@dataclass(frozen=True)
class Pair:
    claim: str
    candidate: str
    label: int
    source: str  # "semeval" or "bank"
    kind: str  # how the pair was made, e.g. "negated", "shuffle", or the SemEval label
    qid: str
    corpus: str = ""  # SemEval corpus (beetle / sciEntsBank); empty for the bank
    split: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


# ---------------------------------------------------------------- SemEval


def semeval_pairs(path: str | Path, splits: Iterable[str], all_references: bool = False) -> list[Pair]:
    """Pairs (reference answer, student answer) from the SemEval-2013 3-way file.

    With ``all_references`` every reference answer is paired with the student answer, not only the
    first (best) one; that only changes Beetle, where questions have several references.
    """
    wanted = set(splits)
    pairs: list[Pair] = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row["split"] not in wanted:
                continue
            references = row["reference_answers"] if all_references else row["reference_answers"][:1]
            for reference in references:
                pairs.append(
                    Pair(
                        claim=reference,
                        candidate=row["answer"],
                        label=SEMEVAL_LABELS[row["label"]],
                        source="semeval",
                        kind=row["label"],
                        qid=row["question_id"],
                        corpus=row["corpus"],
                        split=row["split"],
                    )
                )
    return pairs


def semeval_contrast_pairs(semeval: Sequence[Pair], rng: random.Random, limit: int = 1200) -> list[Pair]:
    """Negation contrast made from SemEval training answers, so that polarity is learnt outside the bank too.

    * a correct student answer with its polarity flipped contradicts the reference;
    * a reference with its polarity flipped contradicts the reference;
    * a flipped correct answer still follows from the flipped reference (entails): a "not" on both sides is no
      contradiction, which keeps the model from reading every negation word as one.
    """
    out: list[Pair] = []

    def add(claim: str, candidate: str | None, label: int, kind: str, row: Pair) -> None:
        if candidate and candidate.strip() != claim.strip():
            out.append(Pair(claim, candidate, label, "semeval-contrast", kind, row.qid, row.corpus, row.split))

    correct = [p for p in semeval if p.label == ENTAILS]
    for row in rng.sample(correct, min(limit, len(correct))):
        flipped = negate(row.candidate)
        add(row.claim, flipped, CONTRADICTS, "negated-answer", row)
        reference = negate(row.claim)
        if flipped and reference and rng.random() < 0.5:
            add(reference, flipped, ENTAILS, "both-negated", row)
    for row in {p.claim: p for p in semeval}.values():
        add(row.claim, negate(row.claim), CONTRADICTS, "negated-reference", row)
    return out


# ---------------------------------------------------------------- question bank loading


def load_questions(bank_dir: str | Path) -> list[dict]:
    questions: list[dict] = []
    for path in sorted(Path(bank_dir).glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        questions.extend(data.get("questions") or [])
    return questions


def load_rubric_misconceptions(rubric_dir: str | Path) -> dict[str, list[dict]]:
    """Rubric id -> that rubric's misconceptions."""
    out: dict[str, list[dict]] = {}
    for path in sorted(Path(rubric_dir).glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        out[data.get("id", path.stem)] = list(data.get("misconceptions") or [])
    return out


def split_questions(questions: Sequence[dict], test_fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Hold out a seeded fraction of whole questions (by id) so no key point leaks into training."""
    ids = sorted(q["id"] for q in questions)
    random.Random(seed).shuffle(ids)
    held = set(ids[: max(1, round(len(ids) * test_fraction))])
    return [q for q in questions if q["id"] not in held], [q for q in questions if q["id"] in held]


# ---------------------------------------------------------------- text helpers


# ---------------------------------------------------------------- bank pairs


@dataclass
class _KeyPoint:
    qid: str
    text: str
    criterion: str
    best: str  # the model-answer sentence most similar to the key point
    best_score: float
    window: str  # the most similar window of two consecutive model-answer sentences
    window_score: float
    unrelated: list[str]  # model-answer sentences of the same question that barely relate to the point


def _criterion_name(value: str) -> str:
    return value.split(".")[-1]


def bank_pairs(
    questions: Sequence[dict],
    rng: random.Random,
    rubric_misconceptions: dict[str, list[dict]] | None = None,
    similarity: Similarity | None = None,
    phrasings: bool = False,
) -> list[Pair]:
    """Synthetic entails / contradicts / neither pairs for the given questions (``phrasings``: also each
    misconception claim entailed by its own rewordings).

    ``similarity`` aligns key points with model-answer sentences and keeps "other question" negatives
    away from near-duplicates; word overlap is used when it is None.
    """
    sim = similarity or overlap_similarity
    # thresholds for embedding cosine; word-overlap (Jaccard) scores run much lower
    aligned_at, mis_claim_at, mis_correction_at, correction_entails_at, far_at = (
        (0.62, 0.35, 0.55, 0.75, 0.35) if similarity else (0.25, 0.1, 0.15, 0.3, 0.1)
    )
    rubric_misconceptions = rubric_misconceptions or {}
    pairs: list[Pair] = []

    def add(claim: str, candidate: str | None, label: int, kind: str, qid: str) -> None:
        if candidate and candidate.strip() and candidate.strip() != claim.strip():
            pairs.append(Pair(claim, candidate.strip(), label, "bank", kind, qid))

    points: list[_KeyPoint] = []
    for question in questions:
        sentences = split_sentences(question["model_answer"])
        windows = [" ".join(sentences[j : j + 2]) for j in range(max(1, len(sentences) - 1))]
        texts = [kp["text"] for kp in question["key_points"]]
        scores = sim(texts, sentences)
        window_scores = sim(texts, windows)
        for row, kp in enumerate(question["key_points"]):
            best = int(np.argmax(scores[row]))
            best_window = int(np.argmax(window_scores[row]))
            unrelated = [
                s
                for j, s in enumerate(sentences)
                if scores[row, j] < min(0.3, scores[row, best] - 0.25) and len(s.split()) >= 4
            ]
            points.append(
                _KeyPoint(
                    question["id"],
                    kp["text"],
                    _criterion_name(kp["criterion"]),
                    sentences[best],
                    float(scores[row, best]),
                    windows[best_window],
                    float(window_scores[row, best_window]),
                    unrelated,
                )
            )

    all_texts = [p.text for p in points]
    all_sentences = [(q["id"], s) for q in questions for s in split_sentences(q["model_answer"]) if len(s.split()) >= 4]
    cross = sim(all_texts, [s for _, s in all_sentences]) if all_sentences else np.zeros((len(points), 0))
    cross_points = sim(all_texts, all_texts)

    for i, kp in enumerate(points):
        q = kp.qid
        # entails
        aligned = kp.best_score >= aligned_at
        if aligned:
            add(kp.text, kp.best, ENTAILS, "best-sentence", q)
            if rng.random() < 0.5:
                add(kp.text, paraphrase(kp.best, rng), ENTAILS, "best-sentence", q)
        if kp.window_score >= aligned_at:
            add(kp.text, kp.window, ENTAILS, "window", q)
        for text in dict.fromkeys(paraphrase(kp.text, rng) for _ in range(3)):
            add(kp.text, text, ENTAILS, "paraphrase", q)
        add(kp.text, first_clause(kp.text), ENTAILS, "short-claim", q)

        # contradicts
        negated = negate(kp.text)
        add(kp.text, negated, CONTRADICTS, "negated", q)
        reworded = paraphrase(negated, rng) if negated else None
        if reworded and reworded != negated:
            add(kp.text, reworded, CONTRADICTS, "negated", q)
        if aligned:
            add(kp.text, negate(kp.best), CONTRADICTS, "negated", q)
        swaps = all_swaps(kp.text)
        for swapped in rng.sample(swaps, min(2, len(swaps))):
            add(kp.text, swapped, CONTRADICTS, "swap", q)
        if rng.random() < 0.5:
            add(kp.text, kp.text + rng.choice(RETRACTIONS), CONTRADICTS, "retraction", q)
        else:
            add(
                kp.text,
                rng.choice(RETRACTION_FRAMES).format(x=lower_first(strip_end(kp.text))),
                CONTRADICTS,
                "retraction",
                q,
            )
        conclusions = [c for pattern, c in WRONG_CONCLUSIONS if re.search(pattern, kp.text, re.I)]
        if conclusions:
            conclusion = rng.choice(conclusions)
            if rng.random() < 0.5 and (clause := first_clause(kp.text)):
                conclusion = f"{strip_end(clause)}, so {lower_first(conclusion[3:])}"
            add(kp.text, conclusion, CONTRADICTS, "wrong-conclusion", q)

        # neither
        add(kp.text, word_shuffle(kp.text, rng), NEITHER, "shuffle", q)
        add(kp.text, word_shuffle(kp.best, rng), NEITHER, "shuffle", q)
        add(kp.text, local_shuffle(rng.choice([kp.text, kp.best]), rng), NEITHER, "shuffle", q)
        add(kp.text, keyword_pile(kp.text, rng), NEITHER, "keyword-pile", q)
        if rng.random() < 0.5:
            add(kp.text, keyword_pile(kp.window, rng, limit=rng.randint(4, 9)), NEITHER, "keyword-pile", q)
        if kp.unrelated:
            add(kp.text, rng.choice(kp.unrelated), NEITHER, "same-question-other", q)
        far_sentences = [s for j, (qid, s) in enumerate(all_sentences) if qid != q and cross[i, j] < far_at]
        far_points = [p.text for j, p in enumerate(points) if p.qid != q and cross_points[i, j] < far_at]
        if far_sentences:
            add(kp.text, rng.choice(far_sentences), NEITHER, "other-question", q)
        if far_points and rng.random() < 0.5:
            add(kp.text, rng.choice(far_points), NEITHER, "other-question", q)
        terms = [w for w in content_words(kp.text) if w[:1].isalpha()]
        if len(terms) >= 2 and rng.random() < 0.5:
            a, b = rng.sample(terms, 2)
            add(kp.text, rng.choice(HEDGES).format(a=a, b=b, A=upper_first(a)), NEITHER, "hedge", q)

    by_question: dict[str, list[_KeyPoint]] = {}
    for kp in points:
        by_question.setdefault(kp.qid, []).append(kp)

    for question in questions:
        q = question["id"]
        kps = by_question.get(q, [])
        if not kps:
            continue
        for kp in rng.sample(kps, min(2, len(kps))):
            add(kp.text, " ".join(question["prompt"].split()), NEITHER, "prompt-copy", q)
        for kp in rng.sample(kps, min(2, len(kps))):
            add(kp.text, rng.choice(FILLERS), NEITHER, "filler", q)

        # misconceptions: the question's own plus those of its rubrics
        misconceptions = list(question.get("misconceptions") or [])
        for rubric in question.get("rubrics") or []:
            misconceptions.extend(rubric_misconceptions.get(rubric, []))
        kp_texts = [kp.text for kp in kps]
        for mis in misconceptions:
            criterion = _criterion_name(mis.get("criterion", ""))
            wrong = [mis["claim"], *(mis.get("phrasings") or [])]
            correction = " ".join(str(mis.get("correction", "")).split())
            scores = sim([mis["claim"], correction], kp_texts)
            # The key point a misconception denies is the one its correction restates; a shared
            # criterion alone is too loose (one criterion covers several different claims).
            j = max(range(len(kps)), key=lambda k: scores[0, k] + scores[1, k] + 0.05 * (kps[k].criterion == criterion))
            if scores[1, j] < mis_correction_at or scores[0, j] < mis_claim_at:
                continue
            target = kps[j]
            for text in rng.sample(wrong, min(2, len(wrong))):
                add(target.text, text, CONTRADICTS, "misconception", q)
            if scores[1, j] >= correction_entails_at:
                add(target.text, correction, ENTAILS, "correction", q)

    # a question's own misconception contradicts its correction
    for question in questions:
        for mis in question.get("misconceptions") or []:
            correction = " ".join(str(mis.get("correction", "")).split())
            for text in [mis["claim"], *(mis.get("phrasings") or [])][:3]:
                add(correction, text, CONTRADICTS, "misconception", question["id"])
            for text in (mis.get("phrasings") or [])[:2] if phrasings else []:
                add(mis["claim"], text, ENTAILS, "misconception-phrasing", question["id"])
    return pairs


def rubric_misconception_pairs(rubric_misconceptions: dict[str, list[dict]], phrasings: bool = False) -> list[Pair]:
    """Each rubric misconception (claim and phrasings) against its own correction: contradicts.

    Kept apart from ``bank_pairs`` because rubrics are shared by all questions, so these pairs would
    otherwise appear in the held-out split as well.
    """
    pairs: list[Pair] = []
    for rubric, items in sorted(rubric_misconceptions.items()):
        for mis in items:
            correction = " ".join(str(mis.get("correction", "")).split())
            for text in [mis["claim"], *(mis.get("phrasings") or [])]:
                pairs.append(Pair(correction, text, CONTRADICTS, "bank", "misconception", f"rubric:{rubric}"))
            # a wrong claim follows from its own rewordings: asserting a misconception is entailment of it
            for text in mis.get("phrasings") or [] if phrasings else []:
                pairs.append(Pair(mis["claim"], text, ENTAILS, "bank", "misconception-phrasing", f"rubric:{rubric}"))
    return pairs


def summarize(pairs: Sequence[Pair]) -> dict[str, dict[str, int]]:
    """Counts by source/label and by bank kind/label, for logging."""
    out: dict[str, dict[str, int]] = {}
    for p in pairs:
        key = p.source if p.source != "semeval" else f"semeval/{p.corpus}"
        out.setdefault(key, {}).setdefault(LABELS[p.label], 0)
        out[key][LABELS[p.label]] += 1
        if p.source != "semeval":
            kind = f"{p.source}-kind/{p.kind}"
            out.setdefault(kind, {}).setdefault(LABELS[p.label], 0)
            out[kind][LABELS[p.label]] += 1
    return dict(sorted(out.items()))

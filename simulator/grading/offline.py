"""The offline evidence judge: grades an answer with embeddings, lexical overlap and rubric structure.

No LLM is involved. For every key point the judge looks for the answer sentence that makes it
(semantic similarity and shared content words, ignoring words the question already contains),
then turns coverage into a 0–4 level per criterion and a weighted 0–10 overall. Asserted
misconceptions cap their criterion. Every covered point carries the sentence that earned it and a
knowledge passage that supports it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from simulator.grading.contract import (
    OFFLINE_JUDGE,
    CriterionGrade,
    Grade,
    GradeFn,
    MisconceptionHit,
    PointEvidence,
    Retrieve,
)
from simulator.grading.fluency import FluencyModel
from simulator.grading.reading import read_answer
from simulator.grading.rules import (
    INJECTION_FLAG,
    MAX_ANSWER_CHARS,
    capped,
    feedback,
    genuine_sentences,
    overall_score,
)
from simulator.grading.spec import GradingSpec, SpecMisconception
from simulator.search.embeddings import Embedder
from simulator.search.passage import Citation
from simulator.text import content_terms, is_negated, shorten, split_sentences


@dataclass(frozen=True)
class Calibration:
    """Numbers that turn similarities into coverage. Chosen on the golden set and the dev sample."""

    sim_floor: float = 0.30
    """Cosine similarity at or below which a sentence shows nothing of a key point."""
    sim_full: float = 0.72
    """Cosine similarity at which a sentence fully makes a key point."""
    semantic_weight: float = 0.6
    """Share of semantic (vs lexical) evidence in a sentence's coverage of a point."""
    covered_at: float = 0.45
    """Coverage from which a point counts as made."""
    full_credit_at: float = 0.65
    """Coverage that earns a point full credit towards its criterion's level."""
    credit_floor: float = 0.10
    """Coverage at or below which a point earns no credit at all (topic words alone are not a claim)."""
    misconception_at: float = 0.70
    """Similarity from which a sentence asserts a misconception."""
    misconception_margin: float = 0.05
    """How much closer to the wrong claim than to its correction and the key points the sentence must be."""
    injection_penalty: float = 1.0
    """Points taken off the overall when the answer tries to instruct the grader."""


_REFUTING = re.compile(
    r"\b(myth|misconception|mistake|wrong|false|incorrect|untrue|fallacy|trap|pitfall|naive|people (think|assume|say)"
    r"|some (think|assume|say)|contrary|it is tempting|tempting to|don'?t believe|not true)\b",
    re.IGNORECASE,
)


@dataclass
class _Answer:
    text: str
    sentences: list[str]
    vectors: np.ndarray
    terms: list[set[str]]
    claim_weight: np.ndarray
    """How much each sentence can count: claim weight (term lists count little) times fluency."""
    flags: list[str] = field(default_factory=list)


def offline_judge(embedder: Embedder, retrieve: Retrieve | None = None,
                  calibration: Calibration | None = None, fluency: FluencyModel | None = None) -> GradeFn:
    """Build the offline judge. ``retrieve`` (e.g. ``KnowledgeIndex.search``) supplies citations; ``fluency``
    weighs each sentence by how natural its word order is (shuffled words and salad count for little)."""
    cal = calibration or Calibration()
    cite = _citation_finder(retrieve)

    def grade(spec: GradingSpec, answer: str) -> Grade:
        started = time.perf_counter()
        parsed = _parse_answer(spec, answer, embedder, fluency)
        points = _score_points(spec, parsed, embedder, cal, cite)
        hits = _misconceptions(spec, parsed, embedder, cal)
        criteria = _criteria(spec, points, hits, cal)
        overall = _overall(spec, criteria, hits, parsed, cal)
        graded = [c for c, _ in criteria]
        return Grade(
            status="scored", judge=OFFLINE_JUDGE, model=embedder.name, overall=overall,
            criteria=graded, points=points, misconceptions=hits,
            citations=_unique_citations(points), feedback=feedback(graded, points, hits, parsed.flags),
            flags=parsed.flags, latency_ms=round((time.perf_counter() - started) * 1000, 2),
        )

    return grade


def spec_texts(spec: GradingSpec) -> list[str]:
    """Every text of a spec the judge embeds (key points, wrong claims, corrections)."""
    return _truths(spec) + [t for m in spec.misconceptions for t in (*_claims(m), m.misconception.correction)]


def warm(embedder: Embedder, specs: list[GradingSpec], answers: list[str]) -> None:
    """Encode every text a batch of grades will need in one pass (batch grading is then ~encoder time)."""
    texts: list[str] = []
    for spec, answer in zip(specs, answers, strict=True):
        texts += genuine_sentences(answer[:MAX_ANSWER_CHARS])[0] + spec_texts(spec)
    embedder.warm(texts)


# ---------------------------------------------------------------- reading the answer


def _parse_answer(spec: GradingSpec, answer: str, embedder: Embedder, fluency: FluencyModel | None) -> _Answer:
    read = read_answer(spec.question, answer, fluency)
    sentences = read.sentences
    vectors = embedder.encode(sentences) if sentences else np.zeros((0, embedder.dim), np.float32)
    return _Answer(read.text, sentences, vectors, read.terms, read.weight, read.flags)


# ---------------------------------------------------------------- key points


def _score_points(spec: GradingSpec, answer: _Answer, embedder: Embedder, cal: Calibration,
                  cite: Callable[[str, list[str]], Citation | None]) -> list[PointEvidence]:
    point_vectors = embedder.encode([p.text for p in spec.key_points])
    question_terms = set(content_terms(spec.question))
    evidence = []
    for point, vector in zip(spec.key_points, point_vectors, strict=True):
        coverage, best = _point_coverage(point.text, vector, question_terms, answer, cal)
        covered = coverage >= cal.covered_at
        evidence.append(PointEvidence(
            key_point=point.text, criterion_key=point.criterion_key, covered=covered,
            strength=round(coverage, 3), answer_quote=answer.sentences[best] if covered and best is not None else None,
            citation=cite(point.text, spec.references),
        ))
    return evidence


def _point_coverage(text: str, vector: np.ndarray, question_terms: set[str], answer: _Answer,
                    cal: Calibration) -> tuple[float, int | None]:
    if not answer.sentences:
        return 0.0, None
    semantic = np.clip((answer.vectors @ vector - cal.sim_floor) / (cal.sim_full - cal.sim_floor), 0, 1)
    wanted = set(content_terms(text)) - question_terms
    lexical = np.array([len(t & wanted) / len(wanted) if wanted else 0.0 for t in answer.terms])
    if not wanted:  # the point only restates the question: let meaning, not words, decide
        lexical = semantic
    combined = (cal.semantic_weight * semantic + (1 - cal.semantic_weight) * lexical) * answer.claim_weight
    best = int(np.argmax(combined))
    return float(combined[best]), best


# ---------------------------------------------------------------- misconceptions


def _truths(spec: GradingSpec) -> list[str]:
    """Statements known to be right: the key points and the reference answer's sentences."""
    return [p.text for p in spec.key_points] + split_sentences(spec.reference_answer) + [spec.question]


def _claims(item: SpecMisconception) -> list[str]:
    return [item.misconception.claim, *item.misconception.phrasings]


def _misconceptions(spec: GradingSpec, answer: _Answer, embedder: Embedder, cal: Calibration) -> list[MisconceptionHit]:
    """Sentences closer to a wrong claim than to what is true, with the claim's polarity, not refuting it."""
    if not answer.sentences:
        return []
    truths = answer.vectors @ embedder.encode(_truths(spec)).T
    true_support = truths.max(axis=1)
    hits = []
    for item in spec.misconceptions:
        claims = _claims(item)
        similarity = answer.vectors @ embedder.encode(claims).T
        row, col = np.unravel_index(int(np.argmax(similarity)), similarity.shape)
        sentence = answer.sentences[row]
        correction = float(answer.vectors[row] @ embedder.encode([item.misconception.correction])[0])
        margin = similarity[row, col] - max(correction, float(true_support[row]))
        if similarity[row, col] < cal.misconception_at or margin < cal.misconception_margin:
            continue
        if _REFUTING.search(sentence):
            continue
        if is_negated(sentence) != is_negated(claims[col]):
            continue
        m = item.misconception
        hits.append(MisconceptionHit(id=m.id, claim=m.claim, correction=m.correction,
                                     criterion_key=item.criterion_key, answer_quote=sentence))
    return hits


# ---------------------------------------------------------------- levels and the overall score


def _criteria(spec: GradingSpec, points: list[PointEvidence], hits: list[MisconceptionHit],
              cal: Calibration) -> list[tuple[CriterionGrade, float]]:
    """Each criterion's grade, with its unrounded score (0–4) used for the overall."""
    out = []
    for item in spec.criteria:
        mine = [p for p in points if p.criterion_key == item.key]
        score = 4 * float(np.mean([_credit(p.strength, cal) for p in mine])) if mine else 0.0
        score, capped_by = capped(spec, item.key, score, hits)
        level = round(score)
        criterion = item.criterion
        out.append((CriterionGrade(
            key=item.key, title=criterion.title, weight=criterion.weight, level=level,
            descriptor=criterion.levels[level], justification=_justify(mine, capped_by), capped_by=capped_by,
        ), score))
    return out


def _credit(strength: float, cal: Calibration) -> float:
    return float(np.clip((strength - cal.credit_floor) / (cal.full_credit_at - cal.credit_floor), 0, 1))


def _overall(spec: GradingSpec, criteria: list[tuple[CriterionGrade, float]], hits: list[MisconceptionHit],
             answer: _Answer, cal: Calibration) -> float:
    penalty = cal.injection_penalty if INJECTION_FLAG in answer.flags else 0.0
    return overall_score(spec, criteria, hits, penalty)


# ---------------------------------------------------------------- citations and feedback


def _citation_finder(retrieve: Retrieve | None) -> Callable[[str, list[str]], Citation | None]:
    cache: dict[tuple[str, tuple[str, ...]], Citation | None] = {}

    def find(point: str, references: list[str]) -> Citation | None:
        key = (point, tuple(references))
        if retrieve is None:
            return None
        if key not in cache:
            passages = retrieve(point, 5)
            preferred = [p for p in passages if p.reference in references]
            cache[key] = (preferred or passages or [None])[0]
        return cache[key]

    return find


def _unique_citations(points: list[PointEvidence]) -> list[Citation]:
    seen: dict[str, Citation] = {}
    for p in points:
        if p.citation is not None and p.covered:
            seen.setdefault(p.citation.passage_id, p.citation)
    return list(seen.values())


def _justify(points: list[PointEvidence], capped_by: str | None) -> str:
    made = [p for p in points if p.covered]
    parts = [f"Made {len(made)} of {len(points)} key point(s)."]
    if made:
        parts.append(f"Strongest evidence: “{shorten(made[0].answer_quote or '', 140)}”")
    if capped_by:
        parts.append(f"Capped because the answer asserts the misconception '{capped_by}'.")
    return " ".join(parts)



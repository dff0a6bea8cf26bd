"""The offline evidence judge: grades an answer with a claim model, embeddings and rubric structure.

No LLM is involved. The answer is first read (:mod:`~simulator.grading.reading`): retracted sentences, text
addressed to the grader, term lists and shuffled words count for little or nothing. For every key point the
bi-encoder and shared content words pick the closest sentences; the claim model (:mod:`~simulator.grading.evidence`)
then decides whether they make the point, say the opposite, or credit the other approach. Point strengths
become a 0–4 level per criterion and a weighted 0–10 overall; asserted misconceptions (entailed wrong claims)
cap their criterion, and an answer that states the question's central answer earns a floor. Every made point
carries the text that earned it and a knowledge passage that supports it; every contradicted point its quote.
Without the claim model (turned off in settings) coverage alone decides, as before.
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
from simulator.grading.evidence import (
    Candidate,
    ClaimScorer,
    EvidenceCalibration,
    PairBook,
    candidates_for,
    need_candidates,
    read_claim,
    swap_approaches,
)
from simulator.grading.fluency import FluencyModel
from simulator.grading.reading import WORD_SALAD_FLAG, read_answer
from simulator.grading.rules import (
    INJECTION_FLAG,
    KEYWORD_LIST_FLAG,
    capped,
    feedback,
    genuine_sentences,
    overall_score,
)
from simulator.grading.spec import GradingSpec, SpecMisconception
from simulator.grading.verify import Support, lexical_support
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
    """Strength from which a point counts as made."""
    full_credit_at: float = 0.65
    """Strength that earns a point full credit towards its criterion's level."""
    credit_floor: float = 0.10
    """Strength at or below which a point earns no credit at all (topic words alone are not a claim)."""
    misconception_at: float = 0.70
    """Similarity from which a sentence asserts a misconception (without the claim model)."""
    misconception_margin: float = 0.05
    """How much closer to the wrong claim than to its correction and the key points the sentence must be."""
    injection_penalty: float = 1.0
    """Points taken off the overall when the answer tries to instruct the grader."""
    evidence: EvidenceCalibration = field(default_factory=EvidenceCalibration)
    """How the claim model's readings enter the grade."""


_REFUTING = re.compile(
    r"\b(myth|misconception|mistake|wrong|false|incorrect|untrue|fallacy|trap|pitfall|naive|people (think|assume|say)"
    r"|some (think|assume|say)|contrary|it is tempting|tempting to|don'?t believe|not true)\b",
    re.IGNORECASE,
)

ClaimSource = ClaimScorer | Callable[[], ClaimScorer | None] | None
"""The claim model, a function that returns it once loaded (it may load in the background), or None."""


@dataclass
class _Answer:
    text: str
    sentences: list[str]
    vectors: np.ndarray
    terms: list[set[str]]
    claim_weight: np.ndarray
    """How much each sentence can count: claim weight (term lists count little) times fluency."""
    flags: list[str] = field(default_factory=list)
    swapped: _Answer | None = None
    """The same sentences with RAG and fine-tuning exchanged (to see which approach a sentence credits)."""
    set_aside: list[str] = field(default_factory=list)
    """Sentences addressed to the grader: no evidence, but a wrong claim in them still counts."""


@dataclass
class _Plan:
    """Candidates chosen for every claim of one grade, before the claim model reads them."""

    points: list[list[Candidate]]
    misconceptions: list[tuple[SpecMisconception, str]]
    """Misconceptions a sentence asserts, with that sentence."""


def offline_judge(embedder: Embedder, retrieve: Retrieve | None = None, calibration: Calibration | None = None,
                  fluency: FluencyModel | None = None, claims: ClaimSource = None) -> GradeFn:
    """Build the offline judge. ``retrieve`` (e.g. ``KnowledgeIndex.search``) supplies citations; ``fluency``
    weighs each sentence by how natural its word order is (shuffled words and salad count for little);
    ``claims`` is the claim model that decides entailment and contradiction."""
    cal = calibration or Calibration()
    cite = _citation_finder(retrieve)

    def grade(spec: GradingSpec, answer: str) -> Grade:
        started = time.perf_counter()
        parsed = _parse_answer(spec, answer, embedder, fluency)
        book = PairBook(claims() if callable(claims) else claims)
        plan = _plan(spec, parsed, embedder, cal, book)
        book.run()
        points = _score_points(spec, parsed, plan, book, cal, cite)
        hits = _misconceptions(spec, plan)
        concise = _concise_floor(parsed, points, hits, cal)
        criteria = _criteria(spec, points, hits, cal, concise)
        overall = _overall(spec, criteria, hits, parsed, cal)
        graded = [c for c, _ in criteria]
        return Grade(
            status="scored", judge=OFFLINE_JUDGE, model=embedder.name, overall=overall,
            criteria=graded, points=points, misconceptions=hits,
            citations=_unique_citations(points), feedback=feedback(graded, points, hits, parsed.flags, overall),
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
        texts += genuine_sentences(answer)[0] + spec_texts(spec)
    embedder.warm(texts)


# ---------------------------------------------------------------- reading the answer


def _parse_answer(spec: GradingSpec, answer: str, embedder: Embedder, fluency: FluencyModel | None) -> _Answer:
    read = read_answer(spec.question, answer, fluency)
    sentences = read.sentences
    vectors = embedder.encode(sentences) if sentences else np.zeros((0, embedder.dim), np.float32)
    parsed = _Answer(read.text, sentences, vectors, read.terms, read.weight, read.flags, set_aside=read.set_aside)
    swapped = [swap_approaches(s) for s in sentences]
    changed = [i for i, (a, b) in enumerate(zip(sentences, swapped, strict=True)) if a != b]
    if changed:
        question_terms = set(content_terms(spec.question))
        swapped_vectors = vectors.copy()
        swapped_vectors[changed] = embedder.encode([swapped[i] for i in changed])
        parsed.swapped = _Answer(read.text, swapped, swapped_vectors,
                                 [set(content_terms(s)) - question_terms for s in swapped], read.weight)
    return parsed


def _plan(spec: GradingSpec, answer: _Answer, embedder: Embedder, cal: Calibration, book: PairBook) -> _Plan:
    """Pick the candidates for every key point (booking their claim-model pairs) and find misconceptions."""
    ev = cal.evidence
    question_terms = set(content_terms(spec.question))
    points = []
    for point, vector in zip(spec.key_points, embedder.encode([p.text for p in spec.key_points]), strict=True):
        coverage = _coverage(point.text, vector, question_terms, answer, cal)
        swapped = _coverage(point.text, vector, question_terms, answer.swapped, cal) if answer.swapped else coverage
        chosen = candidates_for(coverage, answer.claim_weight, answer.sentences, ev.candidates, swapped)
        need_candidates(book, point.text, chosen, ev, _entail_weight(spec, cal))
        points.append(chosen)
    wrong = _similar_misconceptions(spec, answer, embedder, cal)
    return _Plan(points, wrong)


def _coverage(text: str, vector: np.ndarray, question_terms: set[str], answer: _Answer,
              cal: Calibration) -> np.ndarray:
    """Per sentence: semantic and word coverage of a key point (0–1), before the reading weight."""
    if not answer.sentences:
        return np.zeros(0, np.float32)
    semantic = np.clip((answer.vectors @ vector - cal.sim_floor) / (cal.sim_full - cal.sim_floor), 0, 1)
    wanted = set(content_terms(text)) - question_terms
    lexical = np.array([len(t & wanted) / len(wanted) if wanted else 0.0 for t in answer.terms])
    if not wanted:  # the point only restates the question: let meaning, not words, decide
        lexical = semantic
    return cal.semantic_weight * semantic + (1 - cal.semantic_weight) * lexical


# ---------------------------------------------------------------- key points


def _entail_weight(spec: GradingSpec, cal: Calibration) -> float:
    ev = cal.evidence
    return ev.entail_weight if spec.question_id is not None else ev.adhoc_entail_weight


def _score_points(spec: GradingSpec, answer: _Answer, plan: _Plan, book: PairBook, cal: Calibration,
                  cite: Callable[[str, list[str]], Citation | None]) -> list[PointEvidence]:
    evidence = []
    for point, chosen in zip(spec.key_points, plan.points, strict=True):
        reading = read_claim(book, point.text, chosen, cal.evidence, _entail_weight(spec, cal))
        covered = reading.strength >= cal.covered_at
        evidence.append(PointEvidence(
            key_point=point.text, criterion_key=point.criterion_key, covered=covered,
            strength=round(reading.strength, 3), answer_quote=reading.quote if covered else None,
            contradicted=reading.contradicted, contradiction_quote=reading.contradiction_quote,
            citation=cite(point.text, spec.references),
        ))
    return evidence


# ---------------------------------------------------------------- concise answers


def _concise_floor(answer: _Answer, points: list[PointEvidence], hits: list[MisconceptionHit],
                   cal: Calibration) -> PointEvidence | None:
    """The point that earns a concise answer its floor: a short answer cannot make every point, but one that
    makes a point well and says nothing wrong deserves part credit. None when the floor does not apply."""
    words = sum(len(s.split()) for s in answer.sentences)
    if not answer.sentences or words > cal.evidence.concise_words or hits or any(p.contradicted for p in points):
        return None
    if WORD_SALAD_FLAG in answer.flags or KEYWORD_LIST_FLAG in answer.flags:
        return None
    best = max(points, key=lambda p: p.strength, default=None)
    return best if best is not None and best.strength >= cal.evidence.concise_at else None


# ---------------------------------------------------------------- misconceptions


def _truths(spec: GradingSpec) -> list[str]:
    """Statements known to be right: the key points and the reference answer's sentences."""
    return [p.text for p in spec.key_points] + split_sentences(spec.reference_answer) + [spec.question]


def _claims(item: SpecMisconception) -> list[str]:
    return [item.misconception.claim, *item.misconception.phrasings]


def _misconceptions(spec: GradingSpec, plan: _Plan) -> list[MisconceptionHit]:
    """Sentences that assert a wrong claim (found by :func:`_similar_misconceptions`).

    The claim model does not confirm them: on this bank its P(entails) for a wrong claim was unrelated to
    whether a sentence asserted it (0.10 for a plain "fine-tuning is the reliable way to teach the model our new
    facts"; 0.85 for an honest partial answer), so similarity, polarity and refuting words decide.
    """
    hits = []
    for item, sentence in plan.misconceptions:
        m = item.misconception
        hits.append(MisconceptionHit(id=m.id, claim=m.claim, correction=m.correction,
                                     criterion_key=item.criterion_key, answer_quote=sentence))
    return hits


def _similar_misconceptions(spec: GradingSpec, answer: _Answer, embedder: Embedder,
                            cal: Calibration) -> list[tuple[SpecMisconception, str]]:
    """Sentences closer to a wrong claim than to what is true, with the claim's polarity, not refuting it.

    Set-aside sentences (addressed to the grader) are read here too."""
    sentences = answer.sentences + answer.set_aside
    if not sentences:
        return []
    vectors = np.vstack([answer.vectors, embedder.encode(answer.set_aside)]) if answer.set_aside else answer.vectors
    truths = vectors @ embedder.encode(_truths(spec)).T
    true_support = truths.max(axis=1)
    found = []
    for item in spec.misconceptions:
        claims = _claims(item)
        similarity = vectors @ embedder.encode(claims).T
        row, col = np.unravel_index(int(np.argmax(similarity)), similarity.shape)
        sentence = sentences[row]
        correction = float(vectors[row] @ embedder.encode([item.misconception.correction])[0])
        margin = similarity[row, col] - max(correction, float(true_support[row]))
        if similarity[row, col] < cal.misconception_at or margin < cal.misconception_margin:
            continue
        if _REFUTING.search(sentence) or is_negated(sentence) != is_negated(claims[col]):
            continue
        found.append((item, sentence))
    return found


# ---------------------------------------------------------------- levels and the overall score


def _criteria(spec: GradingSpec, points: list[PointEvidence], hits: list[MisconceptionHit],
              cal: Calibration, concise: PointEvidence | None) -> list[tuple[CriterionGrade, float]]:
    """Each criterion's grade, with its unrounded score (0–4) used for the overall."""
    floor = 4 * cal.evidence.concise_credit / 10 * _credit(concise.strength, cal) if concise else 0.0
    out = []
    for item in spec.criteria:
        mine = [p for p in points if p.criterion_key == item.key]
        score = 4 * float(np.mean([_credit(p.strength, cal) for p in mine])) if mine else 0.0
        lifted = concise is not None and floor > score
        score, capped_by = capped(spec, item.key, max(score, floor), hits)
        level = round(score)
        criterion = item.criterion
        out.append((CriterionGrade(
            key=item.key, title=criterion.title, weight=criterion.weight, level=level,
            descriptor=criterion.levels[level],
            justification=_justify(mine, capped_by, concise.answer_quote if lifted and concise else None),
            capped_by=capped_by,
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


def _justify(points: list[PointEvidence], capped_by: str | None, concise_quote: str | None = None) -> str:
    made = [p for p in points if p.covered]
    parts = [f"Made {len(made)} of {len(points)} key point(s)."]
    if made:
        strongest = max(made, key=lambda p: p.strength)
        parts.append(f"Strongest evidence: “{shorten(strongest.answer_quote or '', 140)}”")
    if concise_quote:
        parts.append(f"A concise answer that gets a point right (“{shorten(concise_quote, 140)}”) earns part credit.")
    contradicted = [p for p in points if p.contradicted]
    if contradicted:
        parts.append(f"Contradicted {len(contradicted)} point(s).")
    if capped_by:
        parts.append(f"Capped because the answer asserts the misconception '{capped_by}'.")
    return " ".join(parts)




def quote_support(embedder: Embedder, claims: ClaimSource = None, calibration: Calibration | None = None) -> Support:
    """A :data:`~simulator.grading.verify.Support` that reads quotes the way this judge reads sentences: embedding
    and word coverage, or the claim model's entailment, whichever is higher; a quote close to a point in wording
    that the model says contradicts it supports nothing."""
    cal = calibration or Calibration()

    def support(points: list[str], quotes: list[str]) -> np.ndarray:
        semantic = np.clip((embedder.encode(points) @ embedder.encode(quotes).T - cal.sim_floor)
                           / (cal.sim_full - cal.sim_floor), 0, 1)
        coverage = cal.semantic_weight * semantic + (1 - cal.semantic_weight) * lexical_support(points, quotes)
        scorer = claims() if callable(claims) else claims
        if scorer is None:
            return coverage
        probs = scorer.score((p, q) for p in points for q in quotes)
        entails = np.array([[probs[(p, q)][0] for q in quotes] for p in points])
        contradicts = np.array([[probs[(p, q)][1] for q in quotes] for p in points])
        ev = cal.evidence
        opposed = (coverage >= ev.close_wording) & (contradicts >= ev.contradicted_at) & (contradicts > entails)
        return np.where(opposed, 0.0, np.maximum(coverage, entails))

    return support

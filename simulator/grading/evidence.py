"""Claim evidence: what the claim model says about a claim and the few parts of an answer chosen for it.

The bi-encoder and shared words pick candidates (the sentences that cover a claim best, and a window of
neighbouring sentences, since strong answers often spread one point over two or three sentences); the claim model
then reads only the (claim, candidate) pairs the judge will use, one grade's pairs together, repeats from a cache.

What the judge takes from it:

* **contradicts**: a sentence close to the claim in wording that says the opposite (the model's own
  P(contradicts), or the counterfactual: the claim follows much better once the negation is taken out);
* **swapped**: the sentence says it of the other approach: with RAG and fine-tuning exchanged it covers the claim
  much better (words and embeddings), or the model finds the claim follows much better from it;
* **entails**: credit for the claim, used for ad-hoc questions graded against a short reference (the setting
  the model was trained on); on this bank's informal answers coverage ranks answers better (see
  :class:`EvidenceCalibration`).

Both contradiction kinds earn the point nothing and are quoted back to the candidate.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from simulator.grading.claims import CONTRADICTS, ENTAILS, ClaimModel

Pair = tuple[str, str]


@dataclass(frozen=True)
class EvidenceCalibration:
    """How claim-model probabilities enter a grade. Chosen on the golden set and ``shared/dev-data``."""

    entail_weight: float = 0.0
    """For bank questions, a candidate's strength is the larger of its coverage and this times the model's
    P(entails). 0: on this domain's informal answers P(entails) ranked answers worse than coverage did (golden
    Spearman 0.62 at 1.0, 0.66 at 0.5, 0.80 at 0), so there the model only judges contradictions."""
    adhoc_entail_weight: float = 1.0
    """The same for ad-hoc questions graded against a short reference answer, the setting the model was trained
    on (SemEval): there P(entails) lifts agreement with human grades (dev sample Pearson 0.18 to 0.39)."""
    contradicted_at: float = 0.6
    """P(contradicts) of a sentence close to the claim in wording from which the point is contradicted."""
    close_wording: float = 0.8
    """Coverage (embedding and words) from which a sentence counts as close to the claim in wording."""
    swap_margin: float = 0.25
    """How much more the claim must follow from the sentence with approaches exchanged or negation taken out
    for the sentence to count as contradicting it."""
    swap_coverage_margin: float = 0.1
    """How much closer to the claim (coverage) a sentence must come with the approaches exchanged for it to
    count as crediting the wrong approach."""
    candidates: int = 2
    """Sentences sent to the claim model per key point (the closest by coverage)."""
    concise_words: int = 45
    """Answers up to this many words count as concise."""
    concise_at: float = 0.65
    """Strength the best key point of a concise answer needs for the floor."""
    concise_credit: float = 4.5
    """Least overall score (0–10) of a concise answer that makes one key point fully and nothing wrong."""


_APPROACHES = {
    "rag": "fine-tuning", "retrieval": "fine-tuning", "retrieval-augmented generation": "fine-tuning",
    "fine-tuning": "RAG", "finetuning": "RAG", "fine tuning": "RAG", "training": "retrieval",
    "fine-tune": "retrieve", "fine tune": "retrieve", "retrieve": "fine-tune", "fine-tuned": "retrieval-based",
    "tuned": "retrieval-based", "retrieved": "trained-in",
}
_APPROACH = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _APPROACHES), key=len, reverse=True)) + r")\b",
                       re.IGNORECASE)


def swap_approaches(text: str) -> str:
    """``text`` with RAG and fine-tuning (and their verbs) exchanged; unchanged when it names neither."""
    return _APPROACH.sub(lambda m: _APPROACHES[m.group(1).lower()], text)


_CONTRACTED = {"don't": "do", "doesn't": "does", "didn't": "did", "isn't": "is", "aren't": "are", "wasn't": "was",
               "weren't": "were", "can't": "can", "cannot": "can", "won't": "will", "wouldn't": "would",
               "shouldn't": "should", "couldn't": "could", "hasn't": "has", "haven't": "have", "mustn't": "must"}
_NEGATION = re.compile(r"\b(?:" + "|".join(map(re.escape, _CONTRACTED)) + r")\b|\s*\b(?:not|never|no longer)\b",
                       re.IGNORECASE)


def without_negation(text: str) -> str:
    """``text`` with its negations taken out ("does not ground" becomes "does ground"); unchanged without any."""
    return _NEGATION.sub(lambda m: _CONTRACTED.get(m.group(0).lower().replace("’", "'"), ""), text)


def counterfactuals(text: str) -> list[str]:
    """The sentence as it would read with the approaches exchanged, and without its negations (when different)."""
    return [t for t in (swap_approaches(text), without_negation(text)) if t != text]


class ClaimScorer:
    """The claim model behind a thread-safe cache of pair probabilities."""

    def __init__(self, model: ClaimModel, cache_size: int = 50_000) -> None:
        self.model = model
        self.cache_size = cache_size
        self._cache: OrderedDict[Pair, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def score(self, pairs: Iterable[Pair]) -> dict[Pair, np.ndarray]:
        """Probabilities (entails, contradicts, neither) for every pair, new pairs in one batch."""
        wanted = list(dict.fromkeys(pairs))
        with self._lock:
            missing = [p for p in wanted if p not in self._cache]
        fresh = self.model.predict(missing) if missing else np.zeros((0, 3), np.float32)
        with self._lock:
            for pair, row in zip(missing, fresh, strict=True):
                self._cache[pair] = row
            for pair in wanted:
                self._cache.move_to_end(pair)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
            return {p: self._cache[p] for p in wanted}


class PairBook:
    """Collects the pairs one grade needs, scores them together, then answers lookups."""

    def __init__(self, scorer: ClaimScorer | None) -> None:
        self.scorer = scorer
        self._wanted: list[Pair] = []
        self._scores: dict[Pair, np.ndarray] = {}

    @property
    def active(self) -> bool:
        return self.scorer is not None

    def need(self, claim: str, candidate: str) -> None:
        if self.scorer is not None:
            self._wanted.append((claim, candidate))

    def run(self) -> None:
        if self.scorer is not None and self._wanted:
            self._scores.update(self.scorer.score(self._wanted))
            self._wanted = []

    def entails(self, claim: str, candidate: str) -> float:
        return float(self._scores[(claim, candidate)][ENTAILS]) if self.scorer is not None else 0.0

    def contradicts(self, claim: str, candidate: str) -> float:
        return float(self._scores[(claim, candidate)][CONTRADICTS]) if self.scorer is not None else 0.0


@dataclass(frozen=True)
class Candidate:
    """A part of the answer offered as evidence for one claim."""

    text: str
    """The sentence, or a window of neighbouring sentences."""
    coverage: float
    """Embedding and word coverage of the claim (before the reading weight)."""
    weight: float
    """Reading weight (claim and fluency): how much this text can count at most."""
    single: bool
    """One sentence (contradictions and swaps are read only from single sentences)."""
    swapped_coverage: float = 0.0
    """Coverage of the claim by the sentence with RAG and fine-tuning exchanged."""


def candidates_for(coverage: np.ndarray, weights: np.ndarray, sentences: list[str], count: int,
                   swapped: np.ndarray | None = None) -> list[Candidate]:
    """The ``count`` sentences that cover a claim best (with or without the approaches exchanged), and the
    window around the best one. ``swapped`` is each sentence's coverage with RAG and fine-tuning exchanged."""
    if not sentences:
        return []
    swapped = coverage if swapped is None else swapped
    ranked = [int(i) for i in np.argsort(-(np.maximum(coverage, swapped) * weights), kind="stable")[:count]]
    out = [Candidate(sentences[i], float(coverage[i]), float(weights[i]), True, float(swapped[i])) for i in ranked]
    best = ranked[0]
    low, high = max(0, best - 1), min(len(sentences), best + 2)
    if high - low > 1:
        out.append(Candidate(" ".join(sentences[low:high]), float(coverage[low:high].max()),
                             float(weights[low:high].mean()), False))
    return out


def need_candidates(book: PairBook, claim: str, candidates: list[Candidate], cal: EvidenceCalibration,
                    entail_weight: float) -> None:
    """Book the pairs :func:`read_claim` will look up: every candidate when entailment earns credit, otherwise
    only those close enough in wording to be judged for contradiction."""
    for candidate in candidates:
        if entail_weight <= 0 and max(candidate.coverage, candidate.swapped_coverage) < cal.close_wording:
            continue
        book.need(claim, candidate.text)
        if candidate.single:
            for changed in counterfactuals(candidate.text):
                book.need(claim, changed)


@dataclass(frozen=True)
class ClaimReading:
    strength: float
    """0–1: how well the answer makes the claim."""
    quote: str | None
    """The text that earned the strength."""
    contradicted: bool = False
    """Some sentence says the opposite, or says it of the other approach."""
    contradiction_quote: str | None = None
    swapped: bool = False
    """The contradiction is the two approaches exchanged."""


def read_claim(book: PairBook, claim: str, candidates: list[Candidate], cal: EvidenceCalibration,
               entail_weight: float) -> ClaimReading:
    """How well the candidates make ``claim``; with no claim model, coverage alone decides.

    ``entail_weight`` is how much the model's P(entails) can earn (0: it only judges contradictions)."""
    if not candidates:
        return ClaimReading(0.0, None)
    if not book.active:
        best = max(candidates, key=lambda c: c.coverage * c.weight)
        return ClaimReading(best.coverage * best.weight, best.text)
    for candidate in (c for c in candidates if c.single and c.weight >= 0.5):
        contradiction = _contradiction(book, claim, candidate, cal)
        if contradiction is not None:
            return ClaimReading(0.0, None, contradicted=True, contradiction_quote=candidate.text,
                                swapped=contradiction == "swapped")
    scored = [(_strength(book, claim, c, entail_weight), c.text) for c in candidates]
    strength, quote = max(scored)
    return ClaimReading(strength, quote)


def _contradiction(book: PairBook, claim: str, candidate: Candidate, cal: EvidenceCalibration) -> str | None:
    """How ``candidate`` contradicts ``claim``: "swapped", "negated", "opposite", or None.

    Only a sentence close to the claim in wording is judged: on looser paraphrases the model's P(contradicts)
    leans on negation words and on which approach is named, and would punish honest answers. For a close
    sentence, the model's own P(contradicts) decides, or the counterfactual: the claim follows much better once
    the approaches are exchanged or the negation is taken out.
    """
    text = candidate.text
    if candidate.swapped_coverage >= cal.close_wording and \
            candidate.swapped_coverage - candidate.coverage >= cal.swap_coverage_margin:
        return "swapped"  # exchanging the approaches brings the sentence much closer to the claim
    if candidate.coverage < cal.close_wording:
        return None
    entails = book.entails(claim, text)
    contradicts = book.contradicts(claim, text)
    if contradicts >= cal.contradicted_at and contradicts > entails:
        return "opposite"
    for kind, changed in (("swapped", swap_approaches(text)), ("negated", without_negation(text))):
        if changed != text and book.entails(claim, changed) - entails >= cal.swap_margin:
            return kind
    return None


def _strength(book: PairBook, claim: str, candidate: Candidate, entail_weight: float) -> float:
    entails = book.entails(claim, candidate.text) if entail_weight > 0 else 0.0
    return float(np.clip(candidate.weight * max(candidate.coverage, entail_weight * entails), 0.0, 1.0))

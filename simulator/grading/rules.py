"""Scoring rules every judge follows, so a grade means the same thing whichever judge made it.

* Text addressed to the grader is never evidence: such sentences are set aside (and flagged).
* A misconception caps the criterion it belongs to (or the overall score when it belongs to none).
* The overall is the weighted mean of the criterion scores (0–4) on a 0–10 scale, after caps and penalties.
* Feedback names the strongest and weakest criterion, what to add, and what to correct.
"""

from __future__ import annotations

from collections.abc import Sequence

from simulator.grading.contract import CriterionGrade, MisconceptionHit, PointEvidence, weakness
from simulator.grading.spec import GradingSpec
from simulator.text import shorten, split_sentences
from simulator.untrusted import injection_suspected

MAX_ANSWER_CHARS = 100_000
"""Longest answer kept and graded; longer ones are cut (and the candidate is told)."""

INJECTION_FLAG = "injection-ignored"
KEYWORD_LIST_FLAG = "keyword-list"
TRUNCATED_FLAG = "truncated"


def genuine_sentences(answer: str) -> tuple[list[str], list[str]]:
    """The answer's sentences without those that try to instruct the grader, and the flags that caused."""
    sentences = split_sentences(answer)
    kept = [s for s in sentences if not injection_suspected(s)]
    return kept, [INJECTION_FLAG] if len(kept) < len(sentences) else []


def misconception_cap(spec: GradingSpec, hit: MisconceptionHit) -> int:
    """The highest level (0–4) the asserted misconception allows where it applies."""
    caps = [m.misconception.cap for m in spec.misconceptions
            if m.misconception.id == hit.id and m.criterion_key == hit.criterion_key]
    return min(caps, default=4)


def cap_for(spec: GradingSpec, criterion_key: str, hits: Sequence[MisconceptionHit]) -> tuple[str, int] | None:
    """The tightest cap the asserted misconceptions put on one criterion: (misconception id, level), or None."""
    caps = [(h.id, misconception_cap(spec, h)) for h in hits if h.criterion_key == criterion_key]
    return min(caps, key=lambda c: c[1]) if caps else None


def capped(spec: GradingSpec, criterion_key: str, score: float,
           hits: Sequence[MisconceptionHit]) -> tuple[float, str | None]:
    """``score`` (0–4) lowered to the criterion's cap, and the id of the misconception that lowered it."""
    cap = cap_for(spec, criterion_key, hits)
    if cap is not None and score > cap[1]:
        return float(cap[1]), cap[0]
    return score, None


def overall_score(spec: GradingSpec, scored: Sequence[tuple[CriterionGrade, float]],
                  hits: Sequence[MisconceptionHit], penalty: float = 0.0) -> float:
    """Weighted mean of the criterion scores (0–4, unrounded) as 0–10, capped by overall misconceptions."""
    weights = sum(c.weight for c, _ in scored)
    overall = sum(c.weight * score for c, score in scored) / weights / 4 * 10 if weights else 0.0
    global_caps = [misconception_cap(spec, h) for h in hits if h.criterion_key is None]
    if global_caps:
        overall = min(overall, min(global_caps) / 4 * 10)
    return round(min(10.0, max(0.0, overall - penalty)), 2)


def feedback(criteria: Sequence[CriterionGrade], points: Sequence[PointEvidence],
             hits: Sequence[MisconceptionHit], flags: Sequence[str]) -> str:
    """Short written feedback: strongest and weakest criterion, what to add, what to correct."""
    lines = []
    best = max(criteria, key=lambda c: (c.level, c.weight), default=None)
    worst = min(criteria, key=weakness, default=None)
    if best is not None and worst is not None and best.level > worst.level:
        lines.append(f"Strongest: {best.title} (level {best.level}/4). Weakest: {worst.title} (level {worst.level}/4).")
    elif best is not None:
        lines.append(f"{'Every criterion' if len(criteria) > 1 else best.title}: level {best.level}/4.")
    missed = [p for p in points if not p.covered]
    if missed:
        lines.append("To add: " + "; ".join(shorten(p.key_point, 90).rstrip(".") for p in missed[:3]) + ".")
    lines += [f"Careful: {hit.correction}" for hit in hits]
    if KEYWORD_LIST_FLAG in flags:
        lines.append("Terms alone earn little: say what each one does and why it matters.")
    if INJECTION_FLAG in flags:
        lines.append("Text addressed to the grader was ignored and cost a point.")
    if not points or not any(p.covered for p in points):
        lines.append("The answer did not make any of the points this question looks for.")
    return " ".join(lines)

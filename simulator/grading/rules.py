"""Scoring rules every judge follows, so a grade means the same thing whichever judge made it.

* Text addressed to the grader is never evidence: such sentences are set aside (and flagged).
* A misconception caps the criterion it belongs to (or the overall score when it belongs to none).
* The overall is the weighted mean of the criterion scores (0–4) on a 0–10 scale, after caps and penalties.
* Feedback names the strongest and weakest criterion, what lifts the grade a level, and what to correct.
"""

from __future__ import annotations

from collections.abc import Sequence

from simulator.grading.contract import CriterionGrade, MisconceptionHit, PointEvidence, weakness
from simulator.grading.spec import GradingSpec
from simulator.text import shorten, split_sentences
from simulator.untrusted import injection_suspected

MAX_ANSWER_CHARS = 100_000
"""Longest answer kept; longer ones are cut (and the candidate is told)."""
MAX_GRADED_CHARS = 20_000
"""Grading reads at most this many characters of an answer (about 3,000 words); the grade says when it cut."""
MAX_GRADED_SENTENCES = 150
"""...and at most this many sentences, so that 20,000 one-word sentences cost no more than a long essay."""

INJECTION_FLAG = "injection-ignored"
KEYWORD_LIST_FLAG = "keyword-list"
TRUNCATED_FLAG = "truncated"


def genuine_sentences(answer: str) -> tuple[list[str], list[str]]:
    """The graded sentences without those that try to instruct the grader, and the flags that caused."""
    kept, set_aside, cut = partition_sentences(answer)
    return kept, reading_flags(set_aside, cut)


def reading_flags(set_aside: list[str], cut: bool) -> list[str]:
    """The flags a partition of the answer raises: text addressed to the grader, and a cut."""
    return ([INJECTION_FLAG] if set_aside else []) + ([TRUNCATED_FLAG] if cut else [])


def graded_sentences(answer: str) -> tuple[list[str], bool]:
    """The sentences grading reads (within :data:`MAX_GRADED_CHARS` and :data:`MAX_GRADED_SENTENCES`), and whether
    the answer was longer."""
    sentences = split_sentences(answer[:MAX_GRADED_CHARS])
    cut = len(answer) > MAX_GRADED_CHARS or len(sentences) > MAX_GRADED_SENTENCES
    return sentences[:MAX_GRADED_SENTENCES], cut


def partition_sentences(answer: str) -> tuple[list[str], list[str], bool]:
    """(sentences that are evidence, sentences set aside because they speak to the grader, whether the answer was
    cut). A set-aside sentence earns nothing, but a wrong claim inside it still counts: ignoring an instruction
    must never lift a cap."""
    kept: list[str] = []
    set_aside: list[str] = []
    sentences, cut = graded_sentences(answer)
    for sentence in sentences:
        (set_aside if injection_suspected(sentence) else kept).append(sentence)
    return kept, set_aside, cut


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
             hits: Sequence[MisconceptionHit], flags: Sequence[str], overall: float) -> str:
    """Short written feedback: strongest and weakest criterion, what lifts the grade a level, what to correct.

    It never contradicts the score: "did not make any of the points" only beside an overall of 0."""
    lines = []
    best = max(criteria, key=lambda c: (c.level, c.weight), default=None)
    worst = min(criteria, key=weakness, default=None)
    if best is not None and worst is not None and best.level > worst.level:
        lines.append(f"Strongest: {best.title} (level {best.level}/4). Weakest: {worst.title} (level {worst.level}/4).")
    elif best is not None:
        lines.append(f"{'Every criterion' if len(criteria) > 1 else best.title}: level {best.level}/4.")
    lines += [f"You said “{shorten(p.contradiction_quote or '', 120)}”, which contradicts: {p.key_point}"
              for p in points if p.contradicted]
    lines += _next_steps(criteria, points)
    lines += [f"Careful: {hit.correction}" for hit in hits]
    if KEYWORD_LIST_FLAG in flags:
        lines.append("Terms alone earn little: say what each one does and why it matters.")
    if INJECTION_FLAG in flags:
        lines.append("Text addressed to the grader was ignored and cost a point.")
    if TRUNCATED_FLAG in flags:
        lines.append(f"Only the first {MAX_GRADED_SENTENCES} sentences or {MAX_GRADED_CHARS:,} characters were "
                     "graded.")
    if not any(p.covered for p in points):
        lines.append("The answer comes near some points but makes none of them fully."
                     if overall > 0 else
                     "The answer did not make any of the points this question looks for.")
    return " ".join(lines)


def _next_steps(criteria: Sequence[CriterionGrade], points: Sequence[PointEvidence]) -> list[str]:
    """What would lift the weakest criterion that can still rise by one level, then other missing points."""
    missed = [p for p in points if not p.covered]
    rising = sorted((c for c in criteria if c.level < 4 and any(p.criterion_key == c.key for p in missed)),
                    key=weakness)
    if not rising:
        return []
    target = rising[0]
    first = next(p for p in missed if p.criterion_key == target.key)
    # Key points are given whole: half a point reads as a different, wrong one.
    steps = [f"To lift {target.title} to level {target.level + 1}/4: {first.key_point.rstrip('.')}."]
    others = [p for p in missed if p is not first][:2]
    if others:
        steps.append("Also missing: " + "; ".join(p.key_point.rstrip(".") for p in others) + ".")
    return steps

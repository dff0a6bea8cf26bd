"""Evidence or nothing: an LLM's criterion level stands only as far as verified quotes from the answer carry it.

A quote is *verified* when it is really in the answer (normalised comparison), is not text addressed to the
grader, and has some substance (a few content words, not one term). A key point of the criterion is *backed*
when some verified quote makes it, as the offline judge's machinery reads it (embedding and word coverage, and
the claim model's entailment; see :func:`simulator.grading.offline.quote_support`). The level a criterion may
have follows from the share of its key points that are backed; a higher level is lowered, with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from simulator.text import content_terms

Support = Callable[[Sequence[str], Sequence[str]], np.ndarray]
"""``support(points, quotes)``: a (points × quotes) array in [0, 1], how well each quote makes each point."""

SUPPORT_AT = 0.45
"""Support from which a quote backs a key point."""
MIN_QUOTE_TERMS = 3
"""Content words a quote needs to count as evidence ("RAG" alone proves nothing)."""


@dataclass(frozen=True)
class Verdict:
    """What verification concluded about one criterion."""

    allowed: int
    """Highest level the verified evidence supports."""
    backed: list[int]
    """Indices (into the criterion's points) of the key points some verified quote makes."""


def lexical_support(points: Sequence[str], quotes: Sequence[str]) -> np.ndarray:
    """Share of each point's content words found in each quote: the fallback when no model is at hand."""
    out = np.zeros((len(points), len(quotes)), dtype=np.float32)
    quote_terms = [set(content_terms(q)) for q in quotes]
    for i, point in enumerate(points):
        wanted = set(content_terms(point))
        for j, terms in enumerate(quote_terms):
            out[i, j] = len(wanted & terms) / len(wanted) if wanted else 0.0
    return out


def substantial(quote: str) -> bool:
    return len(set(content_terms(quote))) >= MIN_QUOTE_TERMS


def allowed_level(backed: int, total: int) -> int:
    """0 with nothing backed; otherwise 1 plus three levels spread over the share of backed points (all: 4)."""
    if backed == 0 or total == 0:
        return 0
    return min(4, 1 + math.ceil(3 * backed / total))


def verify(points: Sequence[str], quotes: Sequence[str], support: Support) -> Verdict:
    """The level ``quotes`` can carry for a criterion with these ``points`` (quotes already located and screened)."""
    kept = [q for q in dict.fromkeys(quotes) if substantial(q)]
    if not kept or not points:
        return Verdict(0, [])
    matrix = support(list(points), kept)
    backed = [i for i in range(len(points)) if float(matrix[i].max()) >= SUPPORT_AT]
    return Verdict(allowed_level(len(backed), len(points)), backed)

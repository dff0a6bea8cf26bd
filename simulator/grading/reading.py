"""Reading an answer before judging it: which sentences are claims, which are noise, which were taken back.

* Text addressed to the grader is set aside (see :mod:`simulator.grading.rules`).
* A retraction ("everything I just said is false") withdraws every sentence before it.
* Each remaining sentence gets a claim weight (1 for a claim, less for a bare list of terms, 0 when it only
  repeats the question) and a fluency weight (1 for natural word order, near 0 for shuffled words or salad).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from simulator.grading.fluency import FluencyModel
from simulator.grading.rules import (
    KEYWORD_LIST_FLAG,
    MAX_GRADED_CHARS,
    partition_sentences,
    reading_flags,
)
from simulator.text import content_terms, stopword_ratio, tokens

RETRACTED_FLAG = "retracted"
WORD_SALAD_FLAG = "word-salad"
TERM_LIST_WEIGHT = 0.35
"""Claim weight of a sentence that lists terms without saying anything about them."""
SALAD_AT = 0.5
"""Mean fluency below which the answer as a whole is flagged as word salad."""
ODD_SENTENCE_FLOOR = 0.9
"""In an answer whose word order is natural as a whole, one odd-looking sentence still counts this much: the
sentence-level check is noisy on short or unusual sentences, the answer-level one is not."""

_RETRACTION = re.compile(
    r"\b(?:everything|all|anything|none|each|every\s+word)\b(?:\s+(?:of\s+)?(?:what|that|this|the\s+above|"
    r"i(?:'ve|\s+have)?\s+(?:just\s+)?(?:said|wrote|written|claimed)|above))+.{0,40}?"
    r"\b(?:is|was|are|were)\s+(?:false|wrong|untrue|not\s+true|incorrect|a\s+lie|nonsense|made\s+up|backwards)"
    r"|\b(?:just\s+kidding|scratch\s+(?:all\s+)?that|i\s+take\s+(?:it(?:\s+all)?|that|all\s+(?:of\s+)?(?:it|that)|everything)\s+back"
    r"|the\s+opposite\s+(?:of\s+(?:all\s+)?(?:that|this|what\s+i\s+said|the\s+above)\s+)?is\s+true"
    r"|(?:none|nothing)\s+of\s+(?:this|that|the\s+above|what\s+i\s+(?:just\s+)?said)\s+is\s+(?:true|right|correct)"
    r"|(?:forget|disregard|ignore)\s+(?:everything|all|what)\s+(?:of\s+)?(?:that|above|i(?:'ve|\s+have)?\s+"
    r"(?:just\s+)?(?:said|wrote)))",
    re.IGNORECASE,
)


@dataclass
class ReadAnswer:
    text: str
    """The answer as graded (cut at :data:`MAX_GRADED_CHARS`)."""
    sentences: list[str]
    """Sentences that count: not addressed to the grader, not retracted."""
    terms: list[set[str]]
    """Each sentence's content stems that the question does not already contain."""
    claim_weight: np.ndarray
    """Per sentence: 1 for a claim, :data:`TERM_LIST_WEIGHT` for a list of terms, 0 when nothing is new."""
    fluency: np.ndarray
    """Per sentence: 1 for natural word order, near 0 for shuffled words or salad."""
    flags: list[str] = field(default_factory=list)
    """What the reading noticed (truncated, retracted, keyword-list, word-salad, injection-ignored)."""
    retracted: list[str] = field(default_factory=list)
    """Sentences withdrawn by a later retraction."""
    set_aside: list[str] = field(default_factory=list)
    """Sentences that speak to the grader: never evidence, but still checked for misconceptions."""

    @property
    def weight(self) -> np.ndarray:
        """How much each sentence can count at most: claim weight times fluency, squared so that text that is
        only half natural counts for a quarter (natural prose sits near 1 and barely moves)."""
        return self.claim_weight * self.fluency**2


def read_answer(question: str, answer: str, fluency: FluencyModel | None = None) -> ReadAnswer:
    text = answer[:MAX_GRADED_CHARS]
    sentences, set_aside, cut = partition_sentences(answer)
    flags = reading_flags(set_aside, cut)
    sentences, retracted = _after_retractions(sentences)
    if retracted:
        flags.append(RETRACTED_FLAG)
    question_terms = set(content_terms(question))
    terms = [set(content_terms(s)) - question_terms for s in sentences]
    claim = np.array([claim_weight(s, t) for s, t in zip(sentences, terms, strict=True)], dtype=np.float32)
    whole = fluency.text_weight(" ".join(sentences)) if fluency else 1.0
    natural = np.array([whole * max(fluency.weight(s), ODD_SENTENCE_FLOOR * whole) if fluency else 1.0
                        for s in sentences], dtype=np.float32)
    if sentences and float(claim.mean()) < 0.5:
        flags.append(KEYWORD_LIST_FLAG)
    if sentences and float(natural.mean()) < SALAD_AT:
        flags.append(WORD_SALAD_FLAG)
    return ReadAnswer(text, sentences, terms, claim, natural, flags, retracted, set_aside)


def claim_weight(sentence: str, novel_terms: set[str]) -> float:
    """1 for a sentence that asserts something new; less for term lists, 0 for a restated question."""
    if not novel_terms:
        return 0.0
    words = tokens(sentence)
    ratio = stopword_ratio(sentence)
    listed = len(words) >= 4 and ratio < 0.12 and sentence.count(",") >= 2
    piled = len(words) >= 8 and ratio < 0.12  # terms run together without commas are a list all the same
    # A run of short comma-separated terms is still a list when prose is glued to its end.
    segments = [s for s in sentence.split(",") if tokens(s)]
    short = sum(len(tokens(s)) <= 2 for s in segments)
    return TERM_LIST_WEIGHT if listed or piled or (short >= 5 and short >= 0.75 * len(segments)) else 1.0


def is_retraction(sentence: str) -> bool:
    return bool(_RETRACTION.search(sentence))


def _after_retractions(sentences: list[str]) -> tuple[list[str], list[str]]:
    """The sentences after the last retraction, and those it withdrew (the retraction itself is neither)."""
    last = max((n for n, s in enumerate(sentences) if is_retraction(s)), default=None)
    if last is None:
        return sentences, []
    return sentences[last + 1:], sentences[:last]

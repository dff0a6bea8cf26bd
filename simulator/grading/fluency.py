"""Is this sentence English word order, or words in a heap? A tiny language model over word shapes.

Each word becomes a class: a function word stays itself ("the", "of", "not"), a content word becomes its shape
("ING", "ED", "TION", "S", "X"...), punctuation stays. A bigram model over those classes, fitted on real sentences
(student answers, the knowledge notes, model answers), scores how natural the order is. A sentence is compared with
itself twice: on its own (absolute log-probability per class) and against shuffles of its own words (relative).
Shuffled words and word salad score low on both; honest prose, including clumsy prose, scores high.

Embedding models read a bag of words, so without this check a shuffled model answer looks like the model answer.
"""

from __future__ import annotations

import json
import math
import random
import re
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

from simulator.text import NEGATIONS, STOPWORDS

FLUENCY_FILE = "fluency.json"
"""Where the statistics are saved, beside the claim model's weights."""
SMOOTHING = 0.1
SHUFFLES = 8
MIN_WORDS = 4
"""Shorter sentences are too short to judge and count as fluent."""
ABSOLUTE_CENTRE, ABSOLUTE_SCALE = -3.0, 2.0
RELATIVE_CENTRE, RELATIVE_SCALE = 0.15, 6.0
"""Logistic weights on (absolute, relative) scores; chosen on held-out real sentences against their shuffles."""
TEXT_MIN_WORDS = 12
TEXT_RELATIVE_ZERO, TEXT_RELATIVE_FULL = 0.1, 0.5
"""A whole answer no better ordered than its own shuffles (relative score at or below the first) counts for nothing;
at the second it counts fully. On the golden answers: real ones sit at 0.57 and above in nine cases out of ten,
the same answers with their words shuffled at 0.23 and below."""

_TOKEN = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?|[.,;:!?()]")
_FUNCTION_WORDS = STOPWORDS | NEGATIONS
_SUFFIXES = (("ing", "ING"), ("ed", "ED"), ("ly", "LY"), ("tion", "TION"), ("ity", "TION"), ("ness", "TION"),
             ("ment", "TION"), ("able", "ADJ"), ("ive", "ADJ"), ("al", "ADJ"), ("ous", "ADJ"), ("er", "ER"),
             ("s", "S"))


def word_class(token: str) -> str:
    word = token.lower().replace("'", "").replace("’", "")  # "can't" is the function word "cant"
    if word in _FUNCTION_WORDS or not word[0].isalnum():
        return word
    if word.isdigit():
        return "NUM"
    return next((tag for suffix, tag in _SUFFIXES if word.endswith(suffix) and len(word) > len(suffix) + 2), "X")


def classes(sentence: str) -> list[str]:
    return ["<s>", *(word_class(t) for t in _TOKEN.findall(sentence)), "</s>"]


@dataclass
class FluencyModel:
    """Bigram counts over word classes, and the weight (0–1) they give a sentence."""

    bigrams: Counter[tuple[str, str]] = field(default_factory=Counter)
    unigrams: Counter[str] = field(default_factory=Counter)

    @classmethod
    def fit(cls, sentences: Iterable[str]) -> FluencyModel:
        model = cls()
        for sentence in sentences:
            tags = classes(sentence)
            model.bigrams.update(pairwise(tags))
            model.unigrams.update(tags[:-1])
        return model

    def log_prob(self, sentence: str) -> float:
        """Mean log-probability per class transition."""
        tags = classes(sentence)
        vocabulary = len(self.unigrams) + 1
        total = sum(math.log((self.bigrams[(a, b)] + SMOOTHING) / (self.unigrams[a] + SMOOTHING * vocabulary))
                    for a, b in pairwise(tags))
        return total / (len(tags) - 1)

    def weight(self, sentence: str) -> float:
        """1 for natural word order, near 0 for shuffled words or salad; short sentences count as natural."""
        if len(sentence.split()) < MIN_WORDS or not self.unigrams:
            return 1.0
        absolute, relative = self._scores(sentence)
        z = ABSOLUTE_SCALE * (absolute - ABSOLUTE_CENTRE) + RELATIVE_SCALE * (relative - RELATIVE_CENTRE)
        return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))

    def text_weight(self, text: str) -> float:
        """The same question for a whole answer: catches words shuffled across sentence boundaries, whose
        fragments are too short to judge one by one."""
        if len(text.split()) < TEXT_MIN_WORDS or not self.unigrams:
            return 1.0
        _, relative = self._scores(text)
        return float(min(1.0, max(0.0, (relative - TEXT_RELATIVE_ZERO) / (TEXT_RELATIVE_FULL - TEXT_RELATIVE_ZERO))))

    def _scores(self, text: str) -> tuple[float, float]:
        """(absolute, relative): mean log-probability, and how far it beats the mean of the text's own shuffles."""
        words = text.split()
        absolute = self.log_prob(text)
        rng = random.Random(zlib.crc32(text.encode("utf-8")))  # repeatable across processes
        shuffled = []
        for _ in range(SHUFFLES):
            rng.shuffle(words)
            shuffled.append(self.log_prob(" ".join(words)))
        return absolute, absolute - sum(shuffled) / SHUFFLES

    def save(self, path: Path) -> None:
        data = {"bigrams": [[a, b, n] for (a, b), n in sorted(self.bigrams.items())],
                "unigrams": dict(sorted(self.unigrams.items()))}
        path.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> FluencyModel:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(Counter({(a, b): n for a, b, n in data["bigrams"]}), Counter(data["unigrams"]))

"""Small text tools shared by retrieval and the offline judge: sentences, tokens, stems."""

from __future__ import annotations

import re
from functools import lru_cache

import snowballstemmer

STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each either else even ever every few for
    from further had has have having he her here hers herself him himself his how however i if in into is it
    its itself just let lets like may me might more most much must my myself need needs neither no nor not
    now of off often on once only or other our ours ourselves out over own per quite rather really same
    shall she should so some such than that the their theirs them themselves then there these they this
    those through thus to too under until up upon us use used uses using very via was we were what when
    where whether which while who whom why will with within without would yes yet you your yours yourself
    yourselves one ones get gets got make makes made thing things way ways lot lots well actually basically
    """.split()
)
NEGATIONS = frozenset(
    "not no never cannot cant isnt arent doesnt dont didnt wont wouldnt shouldnt nor neither none hardly rarely".split()
)

_TOKEN = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n\s*(?:[-*•]|\d+[.)])\s+|\n{2,}")
_STEMMER = snowballstemmer.stemmer("english")


def tokens(text: str) -> list[str]:
    """Lower-case word tokens; contractions collapse (``doesn't`` → ``doesnt``)."""
    return [t.replace("'", "").replace("’", "") for t in _TOKEN.findall(text.lower())]


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Snowball (Porter 2) stem, so ``retrieves``, ``retrieval`` and ``retrieved`` match."""
    return word if word.isdigit() else _STEMMER.stemWord(word)


def content_terms(text: str) -> list[str]:
    """Stems of the words that carry meaning (stopwords and one-letter tokens dropped)."""
    return [stem(t) for t in tokens(text) if t not in STOPWORDS and t not in NEGATIONS and len(t) > 1]


def split_sentences(text: str, max_words: int = 60) -> list[str]:
    """Sentences and list items; very long run-ons are cut into pieces of at most ``max_words``."""
    pieces = [p.strip(" \t-*•") for p in _SENTENCE_END.split(text.strip()) if p and p.strip(" \t-*•")]
    out: list[str] = []
    for piece in pieces:
        words = piece.split()
        for start in range(0, len(words), max_words):
            out.append(" ".join(words[start : start + max_words]))
    return [s for s in out if any(ch.isalnum() for ch in s)]


def is_negated(text: str) -> bool:
    """True when the text contains an odd number of negations (a rough polarity test)."""
    return sum(t in NEGATIONS for t in tokens(text)) % 2 == 1


def stopword_ratio(text: str) -> float:
    words = tokens(text)
    return sum(w in STOPWORDS for w in words) / len(words) if words else 0.0


def shorten(text: object, limit: int) -> str:
    """``text`` on one line, at most ``limit`` characters: cut at a word boundary (never mid-word) with "…"."""
    flat = " ".join(str(text).split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    if flat[limit - 1] != " " and " " in cut:
        cut = cut.rsplit(" ", 1)[0]  # one long word alone is still cut: it must fit the limit
    return cut.rstrip(" ,;:") + "…"

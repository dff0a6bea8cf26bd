"""Text helpers for building training pairs: sentence and word splitting, casing, similarity between texts."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

Similarity = Callable[[Sequence[str], Sequence[str]], np.ndarray]
"""Matrix of cosine (or cosine-like) similarities between two lists of texts."""

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’%$@+./–-]*")
STOPWORDS = frozenset(
    """a about above after again all also an and any are as at be because been before being between both but by
    can could did do does doing down during each either even every few for from further had has have having how
    if in into is it its itself just may might more most much must no nor not now of off often on once only or
    other our out over own per rather same should so some such than that the their them then there these they
    this those through to too under until up upon very via was we were what when where whether which while who
    whom why will with within without would you your one ones get gets make makes made thing things way ways
    lot lots well i my me us let lets never cannot always can't don't doesn't isn't""".split()
)


def split_sentences(text: str) -> list[str]:
    """Sentences split the way the app splits answers (also at semicolons)."""
    return [s.strip() for s in _SENTENCE_END.split(" ".join(text.split())) if any(c.isalnum() for c in s)]


def words(text: str) -> list[str]:
    return text.split()


def content_words(text: str) -> list[str]:
    out: list[str] = []
    for token in _WORD.findall(text):
        bare = token.strip(".,;:!?'’\"()").lower()
        if len(bare) > 1 and bare not in STOPWORDS:
            out.append(token.strip('.,;:!?"()'))
    return out


def lower_first(text: str) -> str:
    """Lower-case the first letter unless the first word is an acronym or a name like LoRA."""
    first = text.split(" ", 1)[0]
    if len(first) > 1 and not first[1:].islower() and first[1:].isalpha():
        return text
    return text[:1].lower() + text[1:]


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def strip_end(text: str) -> str:
    return text.rstrip(" .!?;:")


def overlap_similarity(left: Sequence[str], right: Sequence[str]) -> np.ndarray:
    """Jaccard overlap of lower-cased content words; a dependency-free stand-in for embeddings."""
    lsets = [{w.lower() for w in content_words(t)} for t in left]
    rsets = [{w.lower() for w in content_words(t)} for t in right]
    out = np.zeros((len(lsets), len(rsets)), dtype=np.float32)
    for i, a in enumerate(lsets):
        for j, b in enumerate(rsets):
            out[i, j] = len(a & b) / len(a | b) if a | b else 0.0
    return out


def minilm_similarity(model_path: str | Path, batch_size: int = 64) -> Similarity:
    """Cosine similarity from the MiniLM bi-encoder (mean pooling + L2 norm, as sentence-transformers does)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    model = AutoModel.from_pretrained(str(model_path)).eval()
    cache: dict[str, np.ndarray] = {}

    def embed(texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        with torch.inference_mode():
            for start in range(0, len(missing), batch_size):
                chunk = missing[start : start + batch_size]
                batch = tokenizer(chunk, padding=True, truncation=True, max_length=256, return_tensors="pt")
                hidden = model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
                for text, vector in zip(chunk, pooled.numpy(), strict=True):
                    cache[text] = vector
        return np.stack([cache[t] for t in texts]) if texts else np.zeros((0, 1), dtype=np.float32)

    def similarity(left: Sequence[str], right: Sequence[str]) -> np.ndarray:
        return embed(left) @ embed(right).T

    return similarity

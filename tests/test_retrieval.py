"""Hybrid retrieval: chunking, BM25, fusion, persistence and incremental re-embedding."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from simulator.content import bank
from simulator.search.retrieval import (
    BM25,
    build_index,
    chunk_documents,
    index_dir,
    recall_at_k,
    reciprocal_rank_fusion,
)


def test_long_sections_become_overlapping_windows():
    sentences = [f"Sentence number {i} talks about topic {i} in some detail here." for i in range(40)]
    doc = bank.parse_knowledge("# T\n\n## Long section\n" + " ".join(sentences), "t", "t.md")
    chunks = chunk_documents([doc], max_words=60, overlap_words=15)
    assert len(chunks) > 3
    assert chunks[0].id == "t#long-section" and chunks[1].id == "t#long-section~2"
    for first, second in itertools.pairwise(chunks):
        assert first.text.split(". ")[-1] in second.text  # the last sentence carries over
        assert len(first.text.split()) <= 60


def test_bm25_prefers_the_rare_exact_term():
    texts = ["dense vectors capture meaning", "BM25 matches exact product codes like SKU-4471",
             "vectors and meaning and more vectors"]
    scores = BM25(texts).scores("SKU-4471 codes")
    assert int(np.argmax(scores)) == 1
    assert BM25(texts).scores("unrelated words entirely").sum() == 0


def test_reciprocal_rank_fusion_rewards_agreement():
    fused = reciprocal_rank_fusion([[3, 1, 2], [1, 3, 0]], k=60)
    assert [item for item, _ in fused][:2] in ([1, 3], [3, 1])
    assert dict(fused)[1] == pytest.approx(1 / 62 + 1 / 61)
    assert fused[-1][0] in (0, 2)


CASES = [
    ("How much of the model does LoRA train and how many GPUs does it need?", "fine-tuning-methods#lora-and-qlora"),
    ("merge BM25 keyword results with dense results by rank", "rag-pipeline#hybrid-search-and-reciprocal-rank-fusion"),
    ("a model that scores query and passage together to reorder candidates", "rag-pipeline#cross-encoder-re-ranking"),
    ("mix general data into training so the model keeps its old skills", "freshness-and-forgetting#mitigating-forgetting"),
    ("cost per query in dollars versus the cost of a training run", "cost-and-latency#typical-cost-figures"),
    ("one assistant serving many customers with isolated data", "decision-framework#multi-tenant-systems"),
    ("create fifty to a hundred question answer pairs before building", "evaluation#build-a-golden-set-first"),
    ("try better prompts before training anything", "decision-framework#prompt-engineering-first"),
    ("split the data into train validation and test sets", "fine-tuning-methods#training-data-preparation"),
    ("show the source document so auditors can check the answer", "hallucination-and-citations#citations-and-auditability"),
]


def test_hybrid_search_finds_the_right_sections(runtime):
    assert recall_at_k(runtime.index, CASES, k=5) >= 0.8
    top = runtime.index.search(CASES[0][0], k=3)
    assert len(top) == 3 and all(p.excerpt and p.heading for p in top)
    assert top[0].score >= top[1].score >= top[2].score


def test_index_is_persisted_and_only_changed_chunks_are_re_embedded(tmp_path, runtime):
    # Three of the notes: every build below embeds what it embeds for real, so fewer chunks keep it quick.
    docs = {name: runtime.bundle.knowledge[name] for name in ("cost-and-latency", "evaluation", "rag-pipeline")}
    first = build_index(docs.values(), runtime.embedder, tmp_path)
    assert first.stats.embedded == first.stats.chunks == len(chunk_documents(docs.values())) > 10
    folder = index_dir(tmp_path, runtime.embedder.name)
    assert {"faiss.index", "vectors.npy", "hashes.json"} <= {p.name for p in folder.iterdir()}

    again = build_index(docs.values(), runtime.embedder, tmp_path)
    assert (again.stats.embedded, again.stats.reused) == (0, first.stats.chunks)

    changed = docs["cost-and-latency"]
    section = changed.sections[0].model_copy(update={"text": changed.sections[0].text + " Zephyrquartz tier pricing applies."})
    docs["cost-and-latency"] = changed.model_copy(update={"sections": [section, *changed.sections[1:]]})
    incremental = build_index(docs.values(), runtime.embedder, tmp_path)
    assert incremental.stats.embedded == 1
    assert incremental.search("zephyrquartz", k=1)[0].document == "cost-and-latency"

    rebuilt = build_index(docs.values(), runtime.embedder, tmp_path, rebuild=True)
    assert rebuilt.stats.embedded == rebuilt.stats.chunks


class ReverseAlphabetReranker:
    """A fake cross-encoder: prefers passages whose heading sorts last."""

    def predict(self, pairs):
        return [float(sum(map(ord, passage.split(".")[0][:3]))) for _, passage in pairs]


def test_reranker_reorders_candidates(runtime, warm_data_dir):
    plain = runtime.index
    # The same notes as the runtime's index, saved in its data folder: loaded with the reranker, not re-embedded.
    reranked = build_index(runtime.bundle.knowledge.values(), runtime.embedder, warm_data_dir,
                           reranker=ReverseAlphabetReranker())
    assert reranked.stats.embedded == 0 and reranked.reranker is not None
    query = "how does retrieval reduce hallucination"
    top_plain = [p.passage_id for p in plain.search(query, k=5)]
    top_reranked = reranked.search(query, k=5)
    scores = [p.score for p in top_reranked]
    assert scores == sorted(scores, reverse=True)
    assert [p.passage_id for p in top_reranked] != top_plain

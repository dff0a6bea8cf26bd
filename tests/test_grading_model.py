"""The shipped grading models (claim model, fluency statistics) and the command that trains them."""

from __future__ import annotations

import json
import random

import pytest

from simulator.config import CLAIM_MODEL_DIR
from simulator.grading.claims import CONTRADICTS, ENTAILS, NEITHER, ClaimModel
from simulator.grading.fluency import FLUENCY_FILE, FluencyModel
from simulator.grading.reading import RETRACTED_FLAG, is_retraction, read_answer

POINT = "RAG leaves the model weights unchanged and puts retrieved passages into the prompt at query time."


@pytest.fixture(scope="module")
def claim_model() -> ClaimModel:
    return ClaimModel.load(CLAIM_MODEL_DIR)


@pytest.fixture(scope="module")
def fluency() -> FluencyModel:
    return FluencyModel.load(CLAIM_MODEL_DIR / FLUENCY_FILE)


def test_shipped_claim_model_loads_offline_and_tells_the_three_labels_apart(claim_model):
    pairs = [
        (POINT, "RAG keeps the model weights as they are and adds the retrieved passages to the prompt per query."),
        (POINT, "RAG does not change the prompt; it retrains the model weights on the documents."),
        (POINT, "Our team meets every Tuesday to plan the sprint."),
    ]
    labels = claim_model.predict(pairs).argmax(axis=1).tolist()
    assert labels == [ENTAILS, CONTRADICTS, NEITHER]


def test_shipped_model_is_small_and_fp16_and_has_its_card():
    weights = CLAIM_MODEL_DIR / "model.safetensors"
    assert weights.stat().st_size <= 60_000_000
    card = (CLAIM_MODEL_DIR / "MODEL_CARD.md").read_text()
    assert "CC BY-SA 3.0" in card and "python -m simulator train-grader" in card
    metrics = json.loads((CLAIM_MODEL_DIR / "metrics.json").read_text())
    assert metrics["semeval/test_unseen_answers"]["sciEntsBank"]["n"] == 540


def test_fluency_separates_prose_from_its_own_shuffles(fluency):
    sentence = "Fine-tuning changes how the model answers, while retrieval changes what it can look up at query time."
    rng = random.Random(4)
    shuffles = []
    for _ in range(10):
        words = sentence.split()
        rng.shuffle(words)
        shuffles.append(" ".join(words))
    assert fluency.weight(sentence) > 0.9
    assert sum(map(fluency.weight, shuffles)) / len(shuffles) < 0.5
    assert fluency.text_weight(" ".join(shuffles[:3])) < 0.2 < 0.9 < fluency.text_weight(" ".join([sentence] * 3))


def test_a_retraction_withdraws_what_came_before_it(fluency):
    read = read_answer("Which is cheaper?", "RAG is cheaper to start. Everything I just said is false.", fluency)
    assert read.sentences == [] and read.retracted == ["RAG is cheaper to start."]
    assert RETRACTED_FLAG in read.flags
    assert not is_retraction("Everything in the index is stale after a month.")


def test_terms_without_commas_count_as_a_list(fluency):
    read = read_answer("Which is cheaper?", "retrieval embeddings vector database upfront cost per-query tokens GPUs",
                       fluency)
    assert read.claim_weight.tolist() == [pytest.approx(0.35)]


def test_train_grader_quick_writes_a_loadable_model_and_fluency_statistics(run_cli, tmp_path):
    out = tmp_path / "grader"
    result = run_cli("train-grader", "--quick", "--no-eval", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "training pairs: 200" in result.stdout
    assert ClaimModel.load(out).predict([(POINT, POINT)]).shape == (1, 3)
    assert FluencyModel.load(out / FLUENCY_FILE).unigrams
    assert "CC BY-SA 3.0" in (out / "MODEL_CARD.md").read_text()


def test_the_full_training_data_is_the_data_the_shipped_model_was_trained_on():
    """``train-grader`` without --quick rebuilds exactly the pairs counted in the shipped metrics."""
    import argparse

    from simulator.grading.training import train

    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    args = parser.parse_args([])
    args.base = train.base_model_path()
    pairs, _, _, info = train.build_data(args)
    shipped = json.loads((CLAIM_MODEL_DIR / "metrics.json").read_text())["data"]["train_counts"]
    expected = sum(sum(counts.values()) for key, counts in shipped.items() if "-kind/" not in key)
    assert len(pairs) == expected
    assert info["train_counts"] == shipped

"""The claim model: a small cross-encoder that reads (claim, candidate text) and says entails / contradicts / neither.

The folder holds a BERT sequence-classification config, fp16 safetensors weights and the tokenizer.
Weights are cast to fp32 on load; with ``quantize`` every Linear layer becomes a dynamic int8 layer,
which is roughly twice as fast on CPU at a small accuracy cost. Works fully offline.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from simulator.search.embeddings import MODEL_LOAD_LOCK

if TYPE_CHECKING:  # torch and transformers load with the model, not with this module: cold start stays short
    import torch
    from transformers import PreTrainedTokenizerBase

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights ship in the repository; never reach for a hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

LABELS: tuple[str, ...] = ("entails", "contradicts", "neither")
ENTAILS, CONTRADICTS, NEITHER = 0, 1, 2
DEFAULT_MAX_LENGTH = 128


def encode_pairs(
    tokenizer: PreTrainedTokenizerBase, pairs: Sequence[tuple[str, str]], max_length: int
) -> dict[str, torch.Tensor]:
    """``[CLS] claim [SEP] candidate [SEP]`` batches padded to the longest row.

    When a pair is too long the candidate is cut first, but it keeps at least half of the budget (or
    all of itself if shorter), so a long claim such as a full reference answer cannot squeeze it out.
    """
    import torch

    budget = max_length - 3
    # verbose=False: texts over 512 tokens are expected here and are cut below
    claims = tokenizer([c for c, _ in pairs], add_special_tokens=False, verbose=False)["input_ids"]
    candidates = tokenizer([t for _, t in pairs], add_special_tokens=False, verbose=False)["input_ids"]
    cls, sep, pad = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    rows: list[tuple[list[int], list[int]]] = []
    for a, b in zip(claims, candidates, strict=True):
        if len(a) + len(b) > budget:
            b = b[: max(budget - len(a), min(len(b), budget // 2))]
            a = a[: budget - len(b)]
        rows.append(([cls, *a, sep, *b, sep], [0] * (len(a) + 2) + [1] * (len(b) + 1)))
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    token_type_ids = torch.zeros((len(rows), width), dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, types) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        token_type_ids[i, : len(ids)] = torch.tensor(types)
        attention_mask[i, : len(ids)] = 1
    return {"input_ids": input_ids, "token_type_ids": token_type_ids, "attention_mask": attention_mask}


class ClaimModel:
    """A loaded classifier; ``predict`` returns one probability row per (claim, candidate) pair."""

    def __init__(self, model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, max_length: int,
                 quantized: bool = False) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.quantized = quantized

    @classmethod
    def load(cls, folder: str | Path, quantize: bool = True) -> ClaimModel:
        with MODEL_LOAD_LOCK:  # never beside another thread's first use of transformers (see MODEL_LOAD_LOCK)
            return cls._load(folder, quantize)

    @classmethod
    def _load(cls, folder: str | Path, quantize: bool) -> ClaimModel:
        import torch
        from safetensors.torch import load_file
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        folder = Path(folder)
        config = AutoConfig.from_pretrained(folder)
        model = AutoModelForSequenceClassification.from_config(config)
        state = {name: tensor.float() for name, tensor in load_file(folder / "model.safetensors").items()}
        model.load_state_dict(state, strict=True)
        model = model.float().eval()
        if quantize:
            with warnings.catch_warnings():
                # torch marks eager dynamic quantisation as deprecated, but it still works and needs no extra package
                warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
                model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        return cls(model, tokenizer, int(getattr(config, "claim_max_length", DEFAULT_MAX_LENGTH)), quantize)

    def predict(self, pairs: Sequence[tuple[str, str]], batch_size: int | None = None) -> np.ndarray:
        """Softmax probabilities, shape (n, 3), columns in ``LABELS`` order.

        A quantised model scores one pair at a time by default: dynamic int8 layers scale activations over the
        whole batch, so in a batch a pair's probabilities moved by up to 0.44 with its neighbours; alone they
        are the same every time, and on CPU hardly slower (15 ms a pair either way here).
        """
        out = np.zeros((len(pairs), len(LABELS)), dtype=np.float32)
        if not pairs:
            return out
        batch_size = batch_size or (1 if self.quantized else 32)
        # similar lengths share a batch, so little time goes into padding
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
        import torch

        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                index = order[start : start + batch_size]
                batch = encode_pairs(self.tokenizer, [pairs[i] for i in index], self.max_length)
                logits = self.model(**batch).logits.float()
                out[index] = torch.softmax(logits, dim=-1).numpy()
        return out

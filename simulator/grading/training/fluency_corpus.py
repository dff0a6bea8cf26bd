"""Real sentences for the fluency model: SemEval student and reference answers, the knowledge notes, model answers."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path

from simulator.content.bank import Bundle
from simulator.text import split_sentences


def fluency_sentences(semeval: Path, bundle: Bundle, splits: Iterable[str] = ("train",)) -> list[str]:
    """Sentences written by people, in a fixed order (the fit does not depend on order, the counts do not either)."""
    wanted = set(splits)
    texts: list[str] = []
    with gzip.open(semeval, "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row["split"] in wanted:
                texts += [row["answer"], *row["reference_answers"][:1]]
    texts += [section.text for doc in bundle.knowledge.values() for section in doc.sections]
    texts += [q.model_answer for q in bundle.questions.values()]
    return sorted({s for text in texts for s in split_sentences(text)})

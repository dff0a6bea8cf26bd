"""Small, valid content written to a temporary folder, for tests that break it on purpose."""

from __future__ import annotations

import textwrap
from pathlib import Path

RUBRIC = """\
id: demo-rubric
title: Demo rubric
description: Judges whether the answer separates knowledge from behaviour.
criteria:
  - id: separation
    title: Separation
    description: Says retrieval supplies facts while training shapes behaviour.
    weight: 2
    levels:
      0: Nothing relevant.
      1: A vague mention.
      2: Partly right.
      3: Right, with reasons.
      4: Complete and precise.
  - id: freshness
    title: Freshness
    description: Explains how updates reach the system.
    weight: 1
    levels: {0: Absent., 1: Vague., 2: Partial., 3: Correct., 4: Complete.}
misconceptions:
  - id: training-adds-facts
    claim: Fine-tuning is the dependable way to load new facts into a model.
    correction: Training shapes behaviour; facts belong in retrieval.
    criterion: separation
    cap: 1
"""

KNOWLEDGE = """\
# Demo notes

## Retrieval basics
Retrieval fetches passages at query time and places them in the prompt.

## Updating knowledge
Changing a document and re-indexing it is enough; no retraining is needed.
"""

QUESTION = """\
  - id: {qid}
    prompt: Which approach should carry frequently changing facts?
    topic: fundamentals
    difficulty: easy
    rubrics: [demo-rubric]
    model_answer: Retrieval, because documents can be re-indexed without retraining.
    key_points:
      - text: Retrieval supplies the facts at query time.
        criterion: separation
      - text: Fine-tuning shapes tone and format rather than facts.
        criterion: separation
      - text: Updating a document only needs re-indexing, not retraining.
        criterion: freshness
    follow_ups:
      - prompt: How would an update reach users?
        criterion: freshness
      - prompt: What would fine-tuning still be good for?
        criterion: separation
    references: [demo-notes#retrieval-basics]
"""


def question_yaml(*ids: str) -> str:
    return "questions:\n" + "".join(QUESTION.format(qid=qid) for qid in ids)


def write_content(root: Path, questions: dict[str, str] | None = None) -> dict[str, Path]:
    """Write rubrics/, knowledge/ and question_bank/ under ``root``; returns the three folders."""
    folders = {name: root / name for name in ("rubrics", "knowledge", "question_bank")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    (folders["rubrics"] / "demo-rubric.yaml").write_text(RUBRIC)
    (folders["knowledge"] / "demo-notes.md").write_text(KNOWLEDGE)
    for name, text in (questions or {"good.yaml": question_yaml("q-one", "q-two")}).items():
        (folders["question_bank"] / name).write_text(textwrap.dedent(text))
    return folders

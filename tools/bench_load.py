"""Bench: grading under hostile load (a 100 KB answer of tiny sentences, alone and beside an ordinary grade)."""

from __future__ import annotations

import statistics
import sys
import threading
import time
from typing import Any

from simulator.grading import batch


def adversarial_grading(judge, spec, ordinary: str) -> dict[str, Any]:
    """A 100 KB answer of ~20,000 tiny sentences: how long it takes, and how much it delays an ordinary grade
    running at the same time (the grading cap and the encoder lock keep both small)."""
    print("bench: grading a 100 KB adversarial answer, alone and beside an ordinary grade", file=sys.stderr, flush=True)
    flood = " ".join(f"RAG {n}." for n in range(20_000))[:100_000]
    judge(spec, flood)  # its texts are cached afterwards, so time fresh variants below
    _, alone_big = batch.timed(lambda: judge(spec, flood.replace("RAG", "Retrieval")))
    alone = statistics.median(batch.timed(lambda n=n: judge(spec, f"{ordinary} ({n})"))[1] for n in range(3))
    timings: dict[str, float] = {}

    def big() -> None:
        timings["big"] = batch.timed(lambda: judge(spec, flood.replace("RAG", "Fine-tuning")))[1]

    thread = threading.Thread(target=big)
    thread.start()
    time.sleep(0.05)
    _, together = batch.timed(lambda: judge(spec, f"{ordinary} (beside)"))
    thread.join()
    return {"adversarial_100kb_s": round(alone_big, 2), "ordinary_grade_alone_ms": round(alone * 1000, 1),
            "ordinary_grade_beside_100kb_ms": round(together * 1000, 1),
            "ordinary_grade_delay_s": round(together - alone, 3)}


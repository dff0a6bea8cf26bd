"""The numbers that shape an interview, in one place: when to probe, when to move on, what counts as low."""

from __future__ import annotations

from simulator.grading.rules import MAX_ANSWER_CHARS

STRONG_ANSWER = 7.5
"""An answer scoring at least this (0 to 10) moves straight on: nothing worth probing."""
LOW_SCORE = 6.0
"""A latest score below this marks a question to retry and a topic as weak."""

__all__ = ["LOW_SCORE", "MAX_ANSWER_CHARS", "STRONG_ANSWER"]

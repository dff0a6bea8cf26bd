"""Grading: the spec and grade contract, the shared scoring rules, and the offline and LLM judges."""

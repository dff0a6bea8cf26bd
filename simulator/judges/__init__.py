"""Judges: factories that build a ``GradeFn`` (see :mod:`simulator.grading`).

``offline`` grades from evidence in the answer without a model server; ``llm`` grades with a chat model.
"""

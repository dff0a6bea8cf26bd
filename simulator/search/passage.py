"""A passage found in the knowledge notes, as judges cite it and grades store it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Citation(BaseModel):
    model_config = ConfigDict(frozen=True)

    passage_id: str
    """Chunk id in the knowledge index."""
    document: str
    """Knowledge document id."""
    section: str
    """Section id inside the document."""
    heading: str
    """Section heading, for display."""
    excerpt: str
    """The passage text (possibly shortened)."""
    score: float = 0.0
    """Retrieval score of the passage."""

    @property
    def reference(self) -> str:
        return f"{self.document}#{self.section}"

"""Interview Simulator: practise the "RAG or fine-tuning?" interview question."""

__version__ = "0.1.0"

"""Search: sentence embeddings, the hybrid knowledge index and the text tools both use."""

"""Spoken answers: audio in, transcript and delivery measures out (offline Whisper or an OpenAI-compatible endpoint)."""

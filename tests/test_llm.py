"""The model contract through the real openai client against the scripted server: retries, fallbacks, secrets."""

from __future__ import annotations

import json
import socket

import pytest
from pydantic import SecretStr

from simulator.config import LLMConfig, SavedSettings, llm_roles
from simulator.llm import LLMError, OpenAICompatibleModel, check_connection
from tests.fake_llm_server import delayed, error, raw, stream

API_KEY = "sk-test-DO-NOT-LEAK-0123456789abcdef"
HELLO = [{"role": "user", "content": "hello"}]
SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


def make_model(base_url: str, **overrides) -> OpenAICompatibleModel:
    options = {"timeout_s": 2.0, "max_retries": 2, "retry_base_delay_s": 0.001, **overrides}
    return OpenAICompatibleModel(
        LLMConfig(base_url=base_url, model="fake-model", api_key=SecretStr(API_KEY), **options)
    )


def failure(call) -> LLMError:
    with pytest.raises(LLMError) as caught:
        call()
    return caught.value


def formats(requests: list[dict]) -> list[str | None]:
    return [(r.get("response_format") or {}).get("type") for r in requests]


def test_complete_returns_text_usage_and_sends_the_configuration(fake_llm):
    fake_llm.script("hi there")
    reply = make_model(fake_llm.base_url, temperature=0.2).complete(HELLO)
    assert (reply.text, reply.model) == ("hi there", "fake-model")
    assert (reply.prompt_tokens, reply.completion_tokens) == (100, 20)
    assert reply.latency_ms > 0
    [body] = fake_llm.requests
    assert body["model"] == "fake-model"
    assert body["messages"] == HELLO
    assert body["temperature"] == 0.2
    assert "response_format" not in body
    assert fake_llm.headers[0]["authorization"] == f"Bearer {API_KEY}"


def test_json_schema_is_requested_strictly(fake_llm):
    fake_llm.script('{"ok": true}')
    make_model(fake_llm.base_url).complete(HELLO, json_schema=SCHEMA, schema_name="verdict")
    assert fake_llm.requests[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "verdict", "schema": SCHEMA, "strict": True},
    }


def test_rejected_json_schema_falls_back_to_json_mode_and_remembers(fake_llm):
    fake_llm.rejected_formats = {"json_schema"}
    fake_llm.script('{"ok": true}', '{"ok": false}')
    model = make_model(fake_llm.base_url)
    assert model.complete(HELLO, json_schema=SCHEMA).text == '{"ok": true}'
    assert model.complete(HELLO, json_schema=SCHEMA).text == '{"ok": false}'
    assert formats(fake_llm.requests) == ["json_schema", "json_object", "json_object"]
    assert model.structured_output_mode == "json_object"


def test_no_response_format_when_json_mode_is_rejected_too(fake_llm):
    fake_llm.rejected_formats = {"json_schema", "json_object"}
    fake_llm.script('{"ok": true}')
    assert make_model(fake_llm.base_url).complete(HELLO, json_schema=SCHEMA).text == '{"ok": true}'
    assert formats(fake_llm.requests) == ["json_schema", "json_object", None]


def test_rate_limit_is_retried(fake_llm):
    fake_llm.script(error(429, "slow down"), "ok")
    assert make_model(fake_llm.base_url).complete(HELLO).text == "ok"
    assert len(fake_llm.requests) == 2


def test_server_errors_are_retried_a_bounded_number_of_times(fake_llm):
    fake_llm.script(*[error(500, "overloaded")] * 5)
    exc = failure(lambda: make_model(fake_llm.base_url, max_retries=2).complete(HELLO))
    assert len(fake_llm.requests) == 3
    assert exc.status_code == 500
    assert "HTTP 500: overloaded (after 3 attempts)" in exc.reason


def test_backoff_doubles(fake_llm):
    delays: list[float] = []
    fake_llm.script(error(503), error(503), "ok")
    config = LLMConfig(base_url=fake_llm.base_url, model="m", retry_base_delay_s=0.5)
    assert OpenAICompatibleModel(config, sleep=delays.append).complete(HELLO).text == "ok"
    assert delays == [0.5, 1.0]


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_other_client_errors_are_not_retried(fake_llm, status):
    fake_llm.script(error(status, "nope"), "never sent")
    exc = failure(lambda: make_model(fake_llm.base_url).complete(HELLO))
    assert len(fake_llm.requests) == 1
    assert exc.status_code == status
    assert f"HTTP {status}: nope" in exc.reason


def test_timeout_becomes_llm_error(fake_llm):
    fake_llm.script(delayed(2.0), delayed(2.0))
    exc = failure(lambda: make_model(fake_llm.base_url, timeout_s=0.2, max_retries=1).complete(HELLO))
    assert "timed out after 0.2 s (after 2 attempts)" in exc.reason
    assert len(fake_llm.requests) == 2


def test_connection_refused_becomes_llm_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    exc = failure(lambda: make_model(f"http://127.0.0.1:{port}/v1", max_retries=1).complete(HELLO))
    assert "cannot connect (after 2 attempts)" in exc.reason


def test_malformed_response_body_becomes_llm_error(fake_llm):
    fake_llm.script(raw("{not json"))
    assert "not valid JSON" in failure(lambda: make_model(fake_llm.base_url).complete(HELLO)).reason


def test_api_key_is_scrubbed_from_errors_even_when_the_server_echoes_it(fake_llm):
    fake_llm.script(error(401, f"Incorrect API key provided: {API_KEY}"))
    exc = failure(lambda: make_model(fake_llm.base_url).complete(HELLO))
    assert API_KEY not in exc.reason
    assert API_KEY not in str(exc)
    assert API_KEY not in repr(exc)
    assert exc.__cause__ is None
    assert "[redacted]" in exc.reason


def test_api_key_is_never_serialized():
    config = LLMConfig(base_url="http://localhost:11434/v1", model="llama3.1", api_key=SecretStr(API_KEY))
    assert "api_key" not in config.model_dump()
    assert API_KEY not in config.model_dump_json()
    assert API_KEY not in repr(config)
    assert API_KEY not in str(config)


def test_missing_key_is_sent_as_placeholder(fake_llm):
    fake_llm.script("ok")
    OpenAICompatibleModel(LLMConfig(base_url=fake_llm.base_url, model="m")).complete(HELLO)
    assert fake_llm.headers[0]["authorization"] == "Bearer not-needed"


def test_stream_yields_the_scripted_chunks(fake_llm):
    fake_llm.script(stream("Retrieval ", "carries ", "facts."))
    assert list(make_model(fake_llm.base_url).stream(HELLO)) == ["Retrieval ", "carries ", "facts."]
    assert fake_llm.requests[0]["stream"] is True


def test_stream_errors_become_llm_errors(fake_llm):
    fake_llm.script(error(503, "down"), error(503, "down"))
    exc = failure(lambda: list(make_model(fake_llm.base_url, max_retries=1).stream(HELLO)))
    assert exc.status_code == 503


def test_check_connection(fake_llm):
    fake_llm.script("ok", error(401, f"bad key {API_KEY}"))
    model = make_model(fake_llm.base_url)
    ok, message = check_connection(model)
    assert ok and "fake-model" in message
    ok, message = check_connection(model)
    assert not ok and "HTTP 401" in message and API_KEY not in message


def test_models_endpoint(fake_llm):
    import openai

    client = openai.OpenAI(base_url=fake_llm.base_url, api_key="x", max_retries=0)
    assert [m.id for m in client.models.list()] == ["fake-model"]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"SIMULATOR_LLM_MODEL": "llama3.1"}, None),
        ({"SIMULATOR_LLM_BASE_URL": "http://localhost:11434/v1"}, None),
        (
            {"SIMULATOR_LLM_BASE_URL": "http://localhost:11434/v1", "SIMULATOR_LLM_MODEL": "llama3.1"},
            ("http://localhost:11434/v1", "llama3.1", None),
        ),
        (
            {"OPENAI_BASE_URL": "https://api.openai.com/v1", "OPENAI_API_KEY": "k1", "SIMULATOR_LLM_MODEL": "gpt"},
            ("https://api.openai.com/v1", "gpt", "k1"),
        ),
        (
            {
                "SIMULATOR_LLM_BASE_URL": "http://vllm:8000/v1",
                "OPENAI_BASE_URL": "https://api.openai.com/v1",
                "SIMULATOR_LLM_API_KEY": "k2",
                "OPENAI_API_KEY": "k1",
                "SIMULATOR_LLM_MODEL": "qwen",
            },
            ("http://vllm:8000/v1", "qwen", "k2"),
        ),
    ],
)
def test_config_from_env(environ, expected):
    config = llm_roles(environ, SavedSettings()).judge
    if expected is None:
        assert config is None
        return
    key = config.api_key.get_secret_value() if config.api_key else None
    assert (config.base_url, config.model, key) == expected
    assert json.loads(config.model_dump_json()).keys() == {
        "base_url",
        "model",
        "timeout_s",
        "deadline_s",
        "max_retries",
        "temperature",
        "retry_base_delay_s",
    }


def test_each_role_can_have_its_own_model_and_endpoint():
    environ = {"SIMULATOR_LLM_BASE_URL": "http://localhost:11434/v1", "SIMULATOR_LLM_MODEL": "llama3.1",
               "SIMULATOR_JUDGE_LLM_MODEL": "qwen2.5-14b", "SIMULATOR_INTERVIEWER_LLM_BASE_URL": "http://vllm:8000/v1"}
    roles = llm_roles(environ, SavedSettings())
    assert (roles.judge.base_url, roles.judge.model) == ("http://localhost:11434/v1", "qwen2.5-14b")
    assert (roles.interviewer.base_url, roles.interviewer.model) == ("http://vllm:8000/v1", "llama3.1")
    saved = SavedSettings(llm_base_url="http://lmstudio:1234/v1", llm_model="phi", llm_timeout_s=90)
    chosen = llm_roles({"SIMULATOR_LLM_MODEL": "ignored"}, saved)
    assert (chosen.judge.base_url, chosen.judge.model, chosen.judge.timeout_s) == ("http://lmstudio:1234/v1", "phi", 90)

"""A call to the chat endpoint ends by its total deadline, even against a server that drips one byte at a time
(each read succeeds, so a per-read timeout never fires); the interview then grades offline, labelled."""

from __future__ import annotations

import time

import pytest

from simulator.config import LLMConfig, SavedSettings, llm_roles
from simulator.llm import LLMError, OpenAICompatibleModel
from tests import fake_llm_server as fake


def test_a_dripping_server_is_cut_at_the_total_deadline(fake_llm):
    fake_llm.script(*[fake.dripping(0.3)] * 3)
    config = LLMConfig(base_url=fake_llm.base_url, model="fake-model", timeout_s=2.0, deadline_s=2.5,
                       max_retries=2, retry_base_delay_s=0.0)
    started = time.monotonic()
    with pytest.raises(LLMError) as caught:
        OpenAICompatibleModel(config).complete([{"role": "user", "content": "hi"}])
    elapsed = time.monotonic() - started
    assert 2.0 <= elapsed <= 4.0, elapsed
    assert "2.5 s deadline" in caught.value.reason


def test_an_ordinary_reply_is_unaffected_by_the_deadline(fake_llm):
    fake_llm.script("fine")
    config = LLMConfig(base_url=fake_llm.base_url, model="fake-model", deadline_s=5.0)
    assert OpenAICompatibleModel(config).complete([{"role": "user", "content": "hi"}]).text == "fine"


def test_the_deadline_is_configurable_and_checked():
    environ = {"SIMULATOR_LLM_BASE_URL": "http://127.0.0.1:9/v1", "SIMULATOR_LLM_MODEL": "m"}
    assert llm_roles(environ, SavedSettings()).judge.deadline_s == 60.0
    assert llm_roles({**environ, "SIMULATOR_LLM_DEADLINE_S": "12"}, SavedSettings()).judge.deadline_s == 12.0
    with pytest.raises(ValueError, match="SIMULATOR_LLM_DEADLINE_S='soon' is not a number of seconds"):
        llm_roles({**environ, "SIMULATOR_LLM_DEADLINE_S": "soon"}, SavedSettings())


def test_a_bad_deadline_is_one_clear_line_from_the_cli(run_cli):
    result = run_cli("grade", "tests/golden/answers.jsonl", "--judge", "llm",
                     env={"SIMULATOR_LLM_BASE_URL": "http://127.0.0.1:9/v1", "SIMULATOR_LLM_MODEL": "m",
                                "SIMULATOR_LLM_DEADLINE_S": "soon"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == "error: SIMULATOR_LLM_DEADLINE_S='soon' is not a number of seconds"

"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fake_llm_server import FakeLLMServer


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    """A scripted OpenAI-compatible server on 127.0.0.1: ``.base_url``, ``.script(...)``, ``.requests``."""
    with FakeLLMServer() as server:
        yield server


@pytest.fixture(scope="session")
def runtime(tmp_path_factory: pytest.TempPathFactory):
    """The real runtime (bundled content, packaged embedding model) with its index in a temp folder."""
    from simulator.runtime import Runtime, Settings

    return Runtime(Settings(data_dir=tmp_path_factory.mktemp("data")))


@pytest.fixture(scope="session")
def judge(runtime):
    return runtime.offline_judge

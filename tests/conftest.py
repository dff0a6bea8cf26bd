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
    from simulator.config import Settings
    from simulator.core import Simulator

    return Simulator(Settings(data_dir=tmp_path_factory.mktemp("data")))


@pytest.fixture(scope="session")
def judge(runtime):
    return runtime.offline_judge


@pytest.fixture(scope="session")
def app_data_dir(tmp_path_factory: pytest.TempPathFactory):
    """One data folder (search index, saved vectors) shared by every AppTest, so the notes are embedded once."""
    return tmp_path_factory.mktemp("app-data")


@pytest.fixture
def app_env(app_data_dir, tmp_path, monkeypatch):
    """Point the Streamlit app at temporary folders: its own database and custom content, a shared index.

    Returns the paths as a dict: ``db_url``, ``data_dir``, ``custom_questions``, ``custom_knowledge``.
    No LLM is configured unless a test sets ``SIMULATOR_LLM_*`` itself.
    """
    paths = {
        "db_url": f"sqlite:///{tmp_path / 'app.db'}",
        "data_dir": app_data_dir,
        "custom_questions": tmp_path / "custom-questions",
        "custom_knowledge": tmp_path / "custom-knowledge",
    }
    monkeypatch.setenv("SIMULATOR_DB_URL", paths["db_url"])
    monkeypatch.setenv("SIMULATOR_DATA_DIR", str(app_data_dir))
    monkeypatch.setenv("SIMULATOR_CUSTOM_QUESTIONS_DIR", str(paths["custom_questions"]))
    monkeypatch.setenv("SIMULATOR_CUSTOM_KNOWLEDGE_DIR", str(paths["custom_knowledge"]))
    for name in ("SIMULATOR_LLM_BASE_URL", "SIMULATOR_LLM_MODEL", "SIMULATOR_LLM_API_KEY", "OPENAI_API_KEY",
                 "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return paths

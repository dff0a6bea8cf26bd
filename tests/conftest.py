"""Shared pytest fixtures."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fake_llm_server import FakeLLMServer
from tests.postgres import db_url, postgres_server, postgres_url, sqlite_url  # noqa: F401  (fixtures)


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    """A scripted OpenAI-compatible server on 127.0.0.1: ``.base_url``, ``.script(...)``, ``.requests``."""
    with FakeLLMServer() as server:
        yield server


@pytest.fixture(scope="session")
def bundle():
    """The bundled questions, rubrics and knowledge notes (no model needed)."""
    from simulator.content import bank

    return bank.load_bundle()


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
def warm_data_dir(runtime) -> Path:
    """The runtime's data folder once its search index and bank vectors are saved there.

    A fresh data folder costs half a minute on a busy 2-core machine (the notes and ~1,500 bank texts are
    embedded); a process or an in-process command pointed at this one loads them in well under a second.
    Use it read-only: tests that change content or settings take a copy (see ``app_data_dir``).
    """
    _ = runtime.offline_judge  # builds the index and saves the bank vectors (synchronously: no background thread)
    return runtime.settings.data_dir


@pytest.fixture(scope="session")
def app_data_dir(warm_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data folder shared by every AppTest: a copy of the warm one, so the app embeds nothing on its first
    run, while what app tests write there (notes added to the index, saved settings) stays out of the original."""
    return Path(shutil.copytree(warm_data_dir, tmp_path_factory.mktemp("app") / "data"))


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


@dataclass(frozen=True)
class CliResult:
    """What ``python -m simulator ...`` returned and printed."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run the command line in this process: ``run_cli(*args, env={...})`` gives its exit code and output.

    Like a child process started with a clean environment: no ``SIMULATOR_*`` or ``OPENAI_*`` variable from the
    caller's shell is seen, only those in ``env`` (they stay set for the rest of the test). A usage error
    (argparse's ``SystemExit``) becomes its exit code. Use a subprocess only where the process boundary is what
    is tested (a kill, concurrent processes, interpreter exit).
    """
    from simulator.cli.main import main

    for name in list(os.environ):
        if name.startswith(("SIMULATOR_", "OPENAI_")):
            monkeypatch.delenv(name)

    def run(*args: str, env: dict[str, str] | None = None) -> CliResult:
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()  # only this command's output
        try:
            code = main([str(arg) for arg in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``pytest -n 2`` (the Makefile's), tests that serve the app to Chromium run one after another on one
    worker, so two servers never compete for the cores while a test times what a user sees."""
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.xdist_group("browser"))

"""Shared resources for the Streamlit pages: the only simulator module that imports streamlit.

Heavy things (embedding model, search index, database engine) are built once per process through
``st.cache_resource``; they are keyed by the ``SIMULATOR_*`` environment so tests that point the app at
temporary folders get their own instances. LLM clients are cheap and built per use from the current
settings, with the API key taken from the environment, ``st.secrets`` or the Settings page's in-memory
field: it is never written anywhere.
"""

from __future__ import annotations

import os

import streamlit as st

from simulator import bank
from simulator.app_settings import API_KEY_NAMES, AppSettings, load_app_settings, resolve_llm, save_app_settings
from simulator.embeddings import Embedder
from simulator.engine import InterviewEngine
from simulator.llm import LLMConfig
from simulator.runtime import JudgeKind, Runtime, Settings
from simulator.store import Store, database_url

API_KEY_STATE = "llm_api_key"
"""``st.session_state`` key of an API key typed on the Settings page (memory only, this browser session)."""

_ENV_KEYS = ("SIMULATOR_DATA_DIR", "SIMULATOR_EMBED_MODEL", "SIMULATOR_RERANKER", "SIMULATOR_CUSTOM_QUESTIONS_DIR",
             "SIMULATOR_CUSTOM_KNOWLEDGE_DIR")


def _env_key() -> tuple[str, ...]:
    return tuple(os.environ.get(k, "") for k in _ENV_KEYS)


@st.cache_resource(show_spinner=False)
def _embedder(model: str) -> Embedder:
    return Embedder(model or None)


@st.cache_resource(show_spinner=False)
def _runtime(env_key: tuple[str, ...]) -> Runtime:
    settings = Settings.from_env()
    return Runtime(settings, embedder=_embedder(settings.embed_model or ""), warm_in_background=True)


def runtime() -> Runtime:
    """The process-wide runtime (content, embedder, index, judges) for the current environment."""
    return _runtime(_env_key())


def warm_up() -> Runtime:
    """Load the model, index and judge, with a spinner the first time (later calls return at once)."""
    rt = _runtime(_env_key())
    if "offline_judge" not in rt.__dict__:
        with st.spinner("Loading the embedding model and the knowledge index (first start only)…"):
            _ = rt.offline_judge
    return rt


def content() -> bank.Bundle:
    return runtime().bundle


def reload_content() -> bank.Bundle:
    """Re-read questions, rubrics and notes after the user adds some; the index follows on next use."""
    return runtime().reload_content()


@st.cache_resource(show_spinner=False)
def _store(url: str) -> Store:
    return Store(url)


def store() -> Store:
    return _store(database_url())


def app_settings() -> tuple[AppSettings, str | None]:
    """Saved Settings-page preferences and, if the file was unusable, why."""
    return load_app_settings(runtime().settings.data_dir)


def save_settings(settings: AppSettings) -> None:
    save_app_settings(runtime().settings.data_dir, settings)


def api_key() -> tuple[str | None, str]:
    """The API key to use and where it came from (for display: never the key itself)."""
    for name in API_KEY_NAMES:
        if os.environ.get(name):
            return os.environ[name], f"environment variable {name}"
    for name in API_KEY_NAMES:
        value = _secret(name)
        if value:
            return value, f"st.secrets[{name!r}]"
    typed = st.session_state.get(API_KEY_STATE)
    if typed:
        return typed, "typed on the Settings page (kept in memory for this browser session only)"
    return None, "none (fine for local servers such as Ollama)"


def _secret(name: str) -> str | None:
    try:
        value = st.secrets.get(name)
    except Exception:  # no secrets.toml at all is normal; Streamlit raises rather than returning None
        return None
    return str(value) if value else None


def llm_config(settings: AppSettings | None = None) -> LLMConfig | None:
    """The configured LLM endpoint, or None when no base URL and model are set anywhere."""
    chosen = settings or app_settings()[0]
    return resolve_llm(chosen, os.environ, api_key()[0])


def engine(interviewer: JudgeKind = "offline", judge: JudgeKind = "offline", seed: int = 0) -> InterviewEngine:
    """An interview engine over the shared store; raises ``RuntimeError`` when an LLM role has no endpoint."""
    llm = llm_config() if "llm" in (interviewer, judge) else None
    return runtime().engine(store(), interviewer=interviewer, judge=judge, seed=seed, llm=llm)

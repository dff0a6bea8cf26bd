"""Settings and the LLM endpoint for this browser session: the one reader of the environment and ``st.secrets``
for the app, the operator's key kept to its own endpoint, and an endpoint chosen for this session only.

Pages reach these through :mod:`app.services`.
"""

from __future__ import annotations

import os
from typing import Any

import streamlit as st

from app import access
from simulator import config
from simulator.config import LLMConfig, LLMRoles, SavedSettings, Settings
from simulator.llm import OpenAICompatibleModel, check_connection, scrub_secrets

API_KEY_STATE = "llm_api_key"
"""``st.session_state`` key of an API key typed on the Settings page (memory only, this browser session)."""
SESSION_ENDPOINT_STATE = "llm_session_endpoint"
"""``st.session_state`` key of an endpoint chosen on the Settings page for this browser session only."""


def settings(**overrides: Any) -> Settings:
    """The settings for this run: the environment, then ``st.secrets`` for the operator's own values."""
    return Settings.load(environ=operator_environment(), **overrides)


def operator_environment() -> dict[str, str]:
    """``os.environ`` plus the operator settings found only in ``st.secrets`` (the environment wins)."""
    merged = dict(os.environ)
    for name in config.OPERATOR_NAMES:
        if not merged.get(name):
            value = _secret(name)
            if value:
                merged[name] = value
    return merged


def saved_settings() -> tuple[SavedSettings, str | None]:
    """The shared Settings-page preferences (this session's choice over them) and, if unusable, why."""
    loaded = settings()
    return session_endpoint() or loaded.saved, loaded.saved_problem


def can_save_shared() -> bool:
    """Whether this user may change everyone's default endpoint: a coach when login is on, else only when the
    operator allowed it (``SIMULATOR_ALLOW_SHARED_SETTINGS=1``)."""
    current = viewer()
    return current.is_admin if current.login_on else settings().allow_shared_settings


def save_settings(saved: SavedSettings) -> None:
    """Make ``saved`` everyone's default; refused unless the operator allowed it."""
    if not can_save_shared():
        raise PermissionError(f"saving shared settings is off; the operator enables it with "
                              f"{config.SHARED_SETTINGS_FLAG}=1 (with login on, coaches may)")
    config.save(settings().data_dir, saved)
    forget_session_endpoint()


def use_for_session(saved: SavedSettings) -> None:
    """Use ``saved`` in this browser session only: never written anywhere, never seen by other visitors."""
    st.session_state[SESSION_ENDPOINT_STATE] = saved.model_dump()


def session_endpoint() -> SavedSettings | None:
    stored = st.session_state.get(SESSION_ENDPOINT_STATE)
    return SavedSettings.model_validate(stored) if stored else None


def forget_session_endpoint() -> None:
    st.session_state.pop(SESSION_ENDPOINT_STATE, None)


def key_in_use(saved: SavedSettings | None = None) -> str:
    """Which key goes to the endpoint in use, for display (never the key itself)."""
    endpoint = llm_endpoint(saved)
    if endpoint is None:
        return "none (no endpoint is configured)"
    return config.key_for(endpoint.base_url, operator_environment(), _typed_key())[1]


def remember_key(key: str) -> None:
    st.session_state[API_KEY_STATE] = key


def forget_key() -> None:
    st.session_state.pop(API_KEY_STATE, None)


def has_typed_key() -> bool:
    return bool(_typed_key())


def _typed_key() -> str | None:
    return st.session_state.get(API_KEY_STATE) or None


def _secret(name: str) -> str | None:
    try:
        value = st.secrets.get(name)
    except Exception:  # no secrets.toml at all is normal; Streamlit raises rather than returning None
        return None
    return str(value) if value else None


def llm_roles(candidate: SavedSettings | None = None) -> LLMRoles:
    """Each role's endpoint for this browser session; ``candidate`` tries a form before it is used or saved."""
    return settings(typed_key=_typed_key(), session=candidate or session_endpoint()).llm


def llm_endpoint(candidate: SavedSettings | None = None) -> LLMConfig | None:
    """The endpoint shown on the Settings page (the judge's; both roles share it unless overridden)."""
    roles = llm_roles(candidate)
    return roles.judge or roles.interviewer


def llm_ready() -> bool:
    return llm_endpoint() is not None


def test_connection(endpoint: LLMConfig) -> tuple[bool, str]:
    """One tiny request with no retries (the user is waiting on the button): (ok, message to show)."""
    return check_connection(OpenAICompatibleModel(endpoint.model_copy(update={"max_retries": 0})))


def environment_hint(*names: str) -> str | None:
    """The first of these environment variables that is set, as ``NAME: value`` with secrets scrubbed."""
    return next((f"{name}: {scrub_secrets(os.environ[name])}" for name in names if os.environ.get(name)), None)


def viewer() -> access.Viewer:
    return access.current_viewer(settings().admin_emails)

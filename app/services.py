"""Everything the pages do goes through here: the one door between Streamlit pages and the simulator.

Heavy things (embedding model, search index, database engine) are built once per process through
``st.cache_resource``, keyed by the settings that shape them, so tests that point the app at temporary folders
get their own instances. The LLM endpoints are worked out on every run from the environment, the saved
Settings page, ``st.secrets`` and a key typed into this browser session: the key is never written anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from app import access
from simulator import config
from simulator.config import LLMConfig, LLMRoles, SavedSettings, Settings, SettingsError
from simulator.content import intake
from simulator.content.bank import MAX_FILE_BYTES, Bundle
from simulator.content.schemas import KnowledgeDoc, Question
from simulator.core import NoEndpointError, Simulator
from simulator.grading.contract import Grade
from simulator.grading.rules import MAX_ANSWER_CHARS
from simulator.interview.plan import PlanError
from simulator.interview.policy import LOW_SCORE
from simulator.interview.runner import InterviewError, InterviewRunner, Step, awaiting_turn
from simulator.llm import OpenAICompatibleModel, check_connection, scrub_secrets
from simulator.reports import export, progress
from simulator.reports.progress import CriterionAverage, ProgressReport, ScorePoint, TopicAverage, WeakArea
from simulator.search.embeddings import Embedder
from simulator.search.passage import Citation
from simulator.search.retrieval import IndexStats
from simulator.storage.db import StorageUnavailable
from simulator.storage.records import NotFoundError, SessionDetail, SessionSettings, SessionSummary
from simulator.storage.store import Store

__all__ = [  # the types and constants pages may use; the functions below are the rest of the door
    "LOW_SCORE",
    "MAX_ANSWER_CHARS",
    "MAX_FILE_BYTES",
    "Bundle",
    "Citation",
    "CriterionAverage",
    "Grade",
    "IndexStats",
    "InterviewError",
    "InterviewRunner",
    "KnowledgeDoc",
    "LLMConfig",
    "NotFoundError",
    "PlanError",
    "ProgressReport",
    "Question",
    "SavedSettings",
    "ScorePoint",
    "SessionDetail",
    "SessionSettings",
    "SessionSummary",
    "SettingsError",
    "Step",
    "StorageUnavailable",
    "TopicAverage",
    "Viewer",
    "WeakArea",
    "awaiting_turn",
    "scrub_secrets",
]

_SIGNED_IN_STATE = "signed_in_as"
Viewer = access.Viewer
API_KEY_STATE = "llm_api_key"
"""``st.session_state`` key of an API key typed on the Settings page (memory only, this browser session)."""
SESSION_ENDPOINT_STATE = "llm_session_endpoint"
"""``st.session_state`` key of an endpoint chosen on the Settings page for this browser session only."""

inert_markdown = export.inert_markdown
average_score = export.average_score
session_markdown = export.session_markdown
session_json_text = export.session_json_text
MIN_ANSWERS_FOR_COMPARISON = progress.MIN_ANSWERS
EXAMPLE_QUESTION_YAML = intake.EXAMPLE_QUESTION_YAML
PASTED_NAME = intake.PASTED_NAME


# ---------------------------------------------------------------- shared resources



@st.cache_resource(show_spinner=False)
def _embedder(model: str) -> Embedder:
    return Embedder(model or None)


@st.cache_resource(show_spinner=False)
def _simulator(key: tuple[Any, ...]) -> Simulator:
    loaded = settings()
    return Simulator(loaded, embedder=_embedder(loaded.embed_model or ""), warm_in_background=True)


def simulator() -> Simulator:
    """The process-wide simulator (content, embedder, index, judges) for the current settings."""
    s = settings()
    return _simulator((s.data_dir, s.embed_model, s.reranker, s.question_dirs, s.knowledge_dirs))


def warm_up() -> Simulator:
    """Load the model, index and judge, with a spinner the first time (later calls return at once)."""
    sim = simulator()
    if not sim.is_ready:
        with st.spinner("Loading the embedding model and the knowledge index (first start only)…"):
            _ = sim.offline_judge
    return sim


def content() -> Bundle:
    return simulator().bundle


def reload_content() -> Bundle:
    """Re-read questions, rubrics and notes after the user adds some; the index follows on next use."""
    return simulator().reload_content()


@st.cache_resource(show_spinner=False)
def _store(url: str) -> Store:
    return Store(url)


def store() -> Store:
    """The database as this browser session's viewer sees it: only their own data (a coach's view of a candidate
    is read-only)."""
    current = viewer()
    return _store(settings().database_url).scoped(current.owner, read_only=current.read_only)


# ---------------------------------------------------------------- who is using the app


def viewer() -> access.Viewer:
    return access.current_viewer(settings().admin_emails)


def login_required() -> bool:
    """Whether this browser must sign in before seeing anything."""
    return access.login_configured() and not access.signed_in()


def on_sign_in() -> None:
    """Once per browser session after signing in: remember the user; the first coach inherits local data."""
    current = viewer()
    if not current.login_on or st.session_state.get(_SIGNED_IN_STATE) == current.user:
        return
    base = _store(settings().database_url)
    claims = st.user.to_dict()
    base.record_user(current.user, str(claims.get("email") or ""), str(claims.get("name") or ""))
    if current.is_admin:
        base.claim_local_data(current.user)
    st.session_state[_SIGNED_IN_STATE] = current.user


def candidates() -> list[tuple[str, str]]:
    """For coaches: every signed-in user as (owner key, label), the coach first."""
    current = viewer()
    users = _store(settings().database_url).list_users() if current.is_admin else []
    return [(u.owner, u.email or u.name or u.owner) for u in users]


def view_as(owner: str | None) -> None:
    if viewer().is_admin:
        access.view_as(owner)


def may_change_shared_content() -> bool:
    """Questions, notes and the shared LLM endpoint belong to everyone: with login on only coaches change them."""
    current = viewer()
    return not current.login_on or current.is_admin


# ---------------------------------------------------------------- settings and the LLM endpoint


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


# ---------------------------------------------------------------- interviews


def _runner(interviewer: str, judge: str, seed: int = 0) -> InterviewRunner:
    return simulator().runner(store(), interviewer=interviewer, judge=judge, seed=seed, llm=llm_roles())


def start_interview(profile: str, setup: SessionSettings) -> int:
    """Plan and open a session; ``PlanError`` when nothing matches, ``NoEndpointError`` for a missing LLM."""
    return _runner(setup.interviewer, setup.judge).start(profile, setup)


def session_runner(detail: SessionDetail) -> tuple[InterviewRunner, str | None]:
    """The runner for an open session and, when its LLM roles cannot be served now, why it runs offline."""
    try:
        return _runner(detail.settings.interviewer, detail.settings.judge, seed=detail.id), None
    except NoEndpointError as exc:
        return _runner("offline", "offline", seed=detail.id), f"{exc}. Continuing with the offline interviewer " \
            "and judge."


def advance(runner: InterviewRunner, session_id: int, answer: str | None = None,
            duration_s: float | None = None) -> Step:
    return runner.advance(session_id, answer, duration_s)


def session(session_id: int) -> SessionDetail:
    return store().session_detail(session_id)


def open_session_for(profile: str) -> SessionDetail | None:
    try:
        return store().open_session_for(profile) if profile.strip() else None
    except ValueError:  # a profile name that cannot be stored cannot have a session either
        return None


def finish(session_id: int) -> None:
    store().finish_session(session_id)


def abandon(session_id: int) -> None:
    store().abandon_session(session_id)


def list_sessions(**filters: Any) -> list[SessionSummary]:
    return store().list_sessions(**filters)


def profile_names() -> list[str]:
    return [p.name for p in store().list_profiles()]


def progress_report(profile: str) -> ProgressReport:
    return progress.progress_report(store().history(profile), content().rubrics)


# ---------------------------------------------------------------- content intake and knowledge


def custom_question_dir() -> Path:
    return settings().custom_question_dir


def custom_knowledge_dir() -> Path:
    return settings().custom_knowledge_dir


COACHES_ONLY_HELP = "With login on, only coaches add shared questions and notes."
COACHES_ONLY = ("questions and notes are shared by everyone on this instance, so with login on only coaches "
                "(SIMULATOR_ADMIN_EMAILS) add them")


def check_questions(data: str | bytes, name: str, save: bool) -> dict[str, Any]:
    """Check question YAML and, when asked and clean, save it and reload the bank; returns what to show."""
    bundle = content()
    if save and not may_change_shared_content():
        return {"name": name, "problems": [COACHES_ONLY], "ids": [], "saved": None}
    if save:
        check = intake.submit_questions(data, name, bundle, custom_question_dir())
    else:
        check = intake.check_question_yaml(data, name, bundle)
    outcome = {"name": name, "problems": [str(p) for p in check.problems],
               "ids": [q.id for q in check.questions], "saved": str(check.saved) if check.saved else None}
    if check.saved:
        reloaded = reload_content()
        outcome["not_loaded"] = [str(p) for p in reloaded.problems if Path(p.file).name == check.saved.name]
    return outcome


def add_document(data: bytes, filename: str, progress_bar: Callable[[int, int], None]) -> dict[str, Any]:
    """Check, save, reload and re-index one uploaded note; returns what to show."""
    if not may_change_shared_content():
        return {"name": filename, "problems": [COACHES_ONLY]}
    check = intake.submit_document(data, filename, content(), custom_knowledge_dir())
    outcome: dict[str, Any] = {"name": filename, "problems": [str(p) for p in check.problems]}
    if check.saved is None or check.document is None:
        return outcome
    reload_content()
    stats = update_index(progress_bar)
    refs = [f"{check.document.id}#{s.id}" for s in check.document.sections]
    return {**outcome, "saved": str(check.saved), "refs": refs, "stats": stats}


def update_index(progress_bar: Callable[[int, int], None], rebuild: bool = False) -> IndexStats:
    """Rebuild the index, embedding only passages whose text changed unless ``rebuild``."""
    return simulator().build_index(rebuild=rebuild, progress=progress_bar).stats


def index_is_current() -> bool:
    return simulator().index_is_current


def search(query: str, k: int) -> list[Citation]:
    return simulator().index.search(query, k)

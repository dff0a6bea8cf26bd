"""Everything the pages do goes through here: the one door between Streamlit pages and the simulator.

Heavy things (embedding model, search index, database engine) are built once per process through
``st.cache_resource``, keyed by the settings that shape them, so tests that point the app at temporary folders
get their own instances. The LLM endpoints are worked out on every run from the environment, the saved
Settings page, ``st.secrets`` and a key typed into this browser session: the key is never written anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import streamlit as st

from app import access, voice
from app.endpoints import (  # re-exported (``x as x``): pages reach settings and endpoints through this module
    can_save_shared as can_save_shared,
)
from app.endpoints import (
    environment_hint as environment_hint,
)
from app.endpoints import (
    forget_key as forget_key,
)
from app.endpoints import (
    forget_session_endpoint as forget_session_endpoint,
)
from app.endpoints import (
    has_typed_key as has_typed_key,
)
from app.endpoints import (
    key_in_use as key_in_use,
)
from app.endpoints import (
    llm_endpoint as llm_endpoint,
)
from app.endpoints import (
    llm_ready as llm_ready,
)
from app.endpoints import (
    llm_roles as llm_roles,
)
from app.endpoints import (
    operator_environment as operator_environment,
)
from app.endpoints import (
    remember_key as remember_key,
)
from app.endpoints import (
    save_settings as save_settings,
)
from app.endpoints import (
    saved_settings as saved_settings,
)
from app.endpoints import (
    session_endpoint as session_endpoint,
)
from app.endpoints import (
    settings as settings,
)
from app.endpoints import (
    test_connection as test_connection,
)
from app.endpoints import (
    use_for_session as use_for_session,
)
from app.endpoints import (
    viewer as viewer,
)
from simulator.config import LLMConfig, SavedSettings, SettingsError
from simulator.content import intake
from simulator.content.bank import MAX_FILE_BYTES, Bundle
from simulator.content.schemas import KnowledgeDoc, Question
from simulator.core import NoEndpointError, Simulator
from simulator.grading.contract import Grade
from simulator.grading.rules import MAX_ANSWER_CHARS
from simulator.interview import phrasing
from simulator.interview.plan import PlanError
from simulator.interview.policy import LOW_SCORE
from simulator.interview.runner import InterviewError, InterviewRunner, Step, awaiting_turn
from simulator.llm import scrub_secrets
from simulator.reports import debrief as debrief_logic
from simulator.reports import export, practice, progress, scoring
from simulator.reports.practice import DueQuestion
from simulator.reports.progress import (
    CriterionAverage,
    DeliveryPoint,
    DeliveryTrend,
    ProgressReport,
    ScorePoint,
    TopicAverage,
    WeakArea,
)
from simulator.search.embeddings import Embedder
from simulator.search.passage import Citation
from simulator.search.retrieval import IndexStats
from simulator.speech.delivery import Delivery
from simulator.speech.transcribe import AudioError, Transcript, TranscriptionError
from simulator.storage.db import StorageUnavailable
from simulator.storage.records import (
    NotFoundError,
    Recording,
    SessionDetail,
    SessionSettings,
    SessionSummary,
    TurnRecord,
)
from simulator.storage.store import Store

__all__ = [  # the types and constants pages may use; the functions below are the rest of the door
    "LOW_SCORE",
    "MAX_ANSWER_CHARS",
    "MAX_FILE_BYTES",
    "AudioError",
    "Bundle",
    "Citation",
    "CriterionAverage",
    "Delivery",
    "DeliveryPoint",
    "DeliveryTrend",
    "DueQuestion",
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
    "Recording",
    "SavedSettings",
    "ScorePoint",
    "SessionDetail",
    "SessionSettings",
    "SessionSummary",
    "SettingsError",
    "SpokenAnswer",
    "Step",
    "StorageUnavailable",
    "TopicAverage",
    "Transcript",
    "TranscriptionError",
    "TurnRecord",
    "Viewer",
    "WeakArea",
    "awaiting_turn",
    "scrub_secrets",
]

_SIGNED_IN_STATE = "signed_in_as"
Viewer = access.Viewer
SpokenAnswer = voice.SpokenAnswer
speech_engines = voice.engines
speech_engine = voice.chosen_engine
SPEECH_ENGINE_STATE = voice.ENGINE_STATE
transcribe = voice.transcribe
fingerprint = voice.fingerprint

verdict = debrief_logic.verdict
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
    return Simulator(loaded, embedder=lambda: _embedder(loaded.embed_model or ""), warm_in_background=True)


def simulator() -> Simulator:
    """The process-wide simulator (content, embedder, index, judges) for the current settings."""
    s = settings()
    return _simulator((s.data_dir, s.embed_model, s.reranker, s.question_dirs, s.knowledge_dirs))


def warm_up() -> Simulator:
    """Start loading the model, index and judge in the background; returns at once, so pages show meanwhile."""
    sim = simulator()
    sim.start_loading()
    return sim


def is_ready() -> bool:
    return simulator().is_ready


def wait_until_ready() -> Simulator:
    """The simulator once its grader is loaded, with a spinner while it loads (first start only)."""
    sim = simulator()
    if not sim.is_ready:
        with st.spinner("Loading the grader: the language model and the knowledge index (first start only)…"):
            sim.wait_until_ready()
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


# ---------------------------------------------------------------- interviews


def _runner(interviewer: str, judge: str, seed: int = 0) -> InterviewRunner:
    return wait_until_ready().runner(store(), interviewer=interviewer, judge=judge, seed=seed, llm=llm_roles())


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
            duration_s: float | None = None, spoken: voice.SpokenAnswer | None = None) -> Step:
    if spoken is None:
        return runner.advance(session_id, answer, duration_s)
    return runner.advance(session_id, answer, duration_s, delivery=spoken.delivery, recording=spoken.recording)


def recording(turn_id: int) -> Recording | None:
    """An answer's kept recording (kept only when the candidate asked)."""
    return store().recording(turn_id)


def quick_drill_settings(base: SessionSettings | None = None) -> SessionSettings:
    """"Quick drill: RAG or fine-tuning?": three core questions, one follow-up each."""
    chosen = debrief_logic.quick_drill(content().questions)
    return (base or SessionSettings()).model_copy(update={"question_ids": chosen, "questions": len(chosen),
                                                          "follow_ups": 1, "mode": "mixed"})


def debrief(detail: SessionDetail) -> debrief_logic.Debrief:
    return debrief_logic.debrief(detail)


def practice_settings_for(detail: SessionDetail, criterion_key: str) -> SessionSettings | None:
    """A short interview on the questions that lean most on ``criterion_key``, new ones before those just asked."""
    bundle = content()
    asked = frozenset(t.question_id for t in detail.turns if t.question_id)
    chosen = debrief_logic.questions_for_criterion(bundle.questions, bundle.rubrics, criterion_key, avoid=asked)
    if not chosen:
        return None
    return detail.settings.model_copy(update={"question_ids": chosen, "questions": len(chosen), "topics": [],
                                              "difficulty": []})


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
    # unscored answers too: their delivery still belongs in the trend (every score figure keeps the scored ones)
    return progress.progress_report(store().history(profile, scored_only=False), content().rubrics)


# ---------------------------------------------------------------- scores and the practice plan (issue 16)

PRACTICE_LIMIT = 5
"""Most questions in one practice session of due questions."""
score_band = scoring.score_band
question_scores = scoring.question_scores  # a session's question scores, by main question turn id


def practice_due(profile: str, now: datetime | None = None) -> list[DueQuestion]:
    """The profile's bank questions due for practice today (FSRS over their scores), most overdue first; none for
    a profile name that cannot be stored (blank while being typed, say)."""
    try:
        history = store().history(profile)
    except ValueError:
        return []
    return practice.due_today(history, now or datetime.now(UTC), known=content().questions.keys())


def practice_settings(profile: str, base: SessionSettings | None = None,
                      limit: int = PRACTICE_LIMIT) -> SessionSettings | None:
    """Settings for an interview on the most overdue questions (``base`` keeps its interviewer, judge and
    follow-ups); None when nothing is due."""
    chosen = [q.question_id for q in practice_due(profile)[:limit]]
    if not chosen:
        return None
    return SessionSettings.model_validate({**(base or SessionSettings()).model_dump(), "question_ids": chosen,
                                           "questions": len(chosen), "mode": "mixed", "topics": [], "difficulty": []})


def start_practice(profile: str, base: SessionSettings | None = None, limit: int = PRACTICE_LIMIT) -> int | None:
    """Open a session of the due questions (see :func:`practice_settings`); its id, or None when none is due."""
    setup = practice_settings(profile, base, limit)
    return None if setup is None else start_interview(profile, setup)


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


# ---------------------------------------------------------------- practising chosen questions (Question bank)

topic_words = phrasing.topic_words


def start_question_practice(question_ids: list[str]) -> int:
    """Open an interview asking exactly these questions (one follow-up each) for this browser's profile."""
    preferences, _ = saved_settings()
    kinds = (preferences.default_interviewer, preferences.default_judge) if llm_ready() else ("offline", "offline")
    setup = SessionSettings(questions=len(question_ids), question_ids=list(question_ids), follow_ups=1,
                            interviewer=kinds[0], judge=kinds[1])
    return start_interview(st.session_state.get("profile") or "candidate", setup)

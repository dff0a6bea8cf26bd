"""Every setting in one place: the ``SIMULATOR_*`` environment plus the preferences saved from the Settings page.

:meth:`Settings.load` is the only code that reads the environment or ``settings.json``; everything else receives
a :class:`Settings` (or the part of it it needs). The API key is never saved: it comes from the environment or is
handed in by the caller (the app's ``st.secrets`` or a field kept in browser-session memory).

Environment variables (all optional):

=================================  =====================================================================
``SIMULATOR_DATA_DIR``             data folder: database, search index, saved vectors, ``settings.json``
``SIMULATOR_DB_URL``               SQLAlchemy URL of the interview database (default: SQLite in the data folder)
``SIMULATOR_EMBED_MODEL``          sentence-transformers model for embeddings (default: the packaged MiniLM)
``SIMULATOR_RERANKER``             local cross-encoder used to re-rank retrieved passages
``SIMULATOR_CLAIM_MODEL``          folder of the grading models: claim model and fluency statistics (``none``: off)
``SIMULATOR_CUSTOM_QUESTIONS_DIR`` where questions added in the app are saved
``SIMULATOR_CUSTOM_KNOWLEDGE_DIR`` where notes uploaded in the app are saved
``SIMULATOR_LLM_BASE_URL``         OpenAI-compatible API root (``OPENAI_BASE_URL`` is a fallback)
``SIMULATOR_LLM_MODEL``            model name on that endpoint
``SIMULATOR_LLM_API_KEY``          key for that endpoint (``OPENAI_API_KEY`` is a fallback); never stored
``SIMULATOR_JUDGE_LLM_MODEL``      a different model for the judge role (same endpoint unless the next is set)
``SIMULATOR_JUDGE_LLM_BASE_URL``   a different endpoint for the judge role
``SIMULATOR_INTERVIEWER_LLM_MODEL``, ``SIMULATOR_INTERVIEWER_LLM_BASE_URL``: the same for the interviewer role
``SIMULATOR_TRANSCRIBER_LLM_MODEL``, ``SIMULATOR_TRANSCRIBER_LLM_BASE_URL``: the same for speech to text
                                   (spoken answers); the model defaults to ``whisper-1``, never the shared one
``SIMULATOR_SPEECH_MODEL``         offline speech model: ``tiny.en`` (default), ``base`` or a CTranslate2 model folder
``SIMULATOR_ADMIN_EMAILS``         with login on: the coaches' emails, comma-separated
=================================  =====================================================================

The operator's key is only ever sent to the base URLs set beside it (to OpenAI when none is set). An endpoint
typed on the Settings page gets only a key typed in the same browser session, and it becomes everyone's default
only when ``SIMULATOR_ALLOW_SHARED_SETTINGS=1`` lets that page save it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
QUESTION_DIR = PROJECT_ROOT / "question_bank"
RUBRIC_DIR = PROJECT_ROOT / "rubrics"
KNOWLEDGE_DIR = PROJECT_ROOT / "knowledge"
CLAIM_MODEL_DIR = PROJECT_ROOT / "models" / "claim-grader"
SETTINGS_FILE = "settings.json"
API_KEY_NAMES = ("SIMULATOR_LLM_API_KEY", "OPENAI_API_KEY")
"""Where the operator's API key may come from, first match wins (the same names are looked up in ``st.secrets``)."""
BASE_URL_NAMES = ("SIMULATOR_LLM_BASE_URL", "OPENAI_BASE_URL")
ROLE_URL_NAMES = ("SIMULATOR_INTERVIEWER_LLM_BASE_URL", "SIMULATOR_JUDGE_LLM_BASE_URL",
                  "SIMULATOR_TRANSCRIBER_LLM_BASE_URL")
ADMIN_EMAILS = "SIMULATOR_ADMIN_EMAILS"
OPERATOR_NAMES = (*API_KEY_NAMES, *BASE_URL_NAMES, *ROLE_URL_NAMES, "SIMULATOR_LLM_MODEL",
                  "SIMULATOR_INTERVIEWER_LLM_MODEL", "SIMULATOR_JUDGE_LLM_MODEL", "SIMULATOR_TRANSCRIBER_LLM_MODEL",
                  ADMIN_EMAILS)
"""Operator settings the app also accepts from ``st.secrets`` (the environment wins)."""
OPENAI_URL = "https://api.openai.com/v1"
"""Where an operator key with no base URL beside it belongs (the OpenAI SDK's own default)."""
SHARED_SETTINGS_FLAG = "SIMULATOR_ALLOW_SHARED_SETTINGS"
TRANSCRIBER_MODEL = "whisper-1"
"""Speech-to-text model asked for when ``SIMULATOR_TRANSCRIBER_LLM_MODEL`` is not set (OpenAI's name for Whisper)."""
SPEECH_MODEL = "SIMULATOR_SPEECH_MODEL"
SPEECH_MODELS = ("tiny.en", "base")
"""The offline speech models known by name (those of :mod:`simulator.speech.models`, a layer this one cannot import)."""

AgentKind = Literal["offline", "llm"]
"""Which implementation plays a role (interviewer or judge)."""
Role = Literal["interviewer", "judge"]


class LLMConfig(BaseModel):
    """Where and how to reach an OpenAI-compatible chat endpoint (OpenAI, Ollama, vLLM, LM Studio...)."""

    model_config = ConfigDict(frozen=True)

    base_url: str
    """API root including ``/v1``, e.g. ``http://localhost:11434/v1`` for Ollama."""
    model: str
    """Model name as the server knows it, e.g. ``gpt-4o-mini`` or ``llama3.1``."""
    api_key: SecretStr | None = Field(default=None, exclude=True, repr=False)
    """Secret key; None for local servers. Never serialized, persisted or logged."""
    timeout_s: float = Field(default=30.0, gt=0)
    """Longest wait for any single read (connect, send, each part of the reply), in seconds."""
    deadline_s: float = Field(default=60.0, gt=0, le=3600)
    """Total wall-clock time one call may take, retries and a slowly dripping reply included."""
    max_retries: int = Field(default=2, ge=0)
    """Extra attempts after a connection error, timeout, 429 or 5xx."""
    temperature: float = Field(default=0.0, ge=0, le=2)
    """Sampling temperature; 0 keeps grading repeatable."""
    retry_base_delay_s: float = Field(default=0.5, ge=0)
    """First retry delay; doubles on each further retry (capped at 8 s)."""


class LLMRoles(BaseModel):
    """The endpoint each LLM-capable role uses; None where no endpoint is configured for it."""

    model_config = ConfigDict(frozen=True)

    interviewer: LLMConfig | None = None
    """Endpoint that phrases questions and follow-ups."""
    judge: LLMConfig | None = None
    """Endpoint that grades answers."""
    transcriber: LLMConfig | None = None
    """Endpoint that turns spoken answers into text (``/audio/transcriptions``); the offline model steps in when it
    is None or fails."""

    def for_role(self, role: Role) -> LLMConfig | None:
        return self.interviewer if role == "interviewer" else self.judge


class SavedSettings(BaseModel):
    """What the Settings page stores in ``settings.json``. ``extra="forbid"`` keeps a key from ever being written."""

    model_config = ConfigDict(extra="forbid")

    llm_base_url: str = ""
    """OpenAI-compatible API root, e.g. ``http://localhost:11434/v1``; empty means use the environment."""
    llm_model: str = ""
    """Model name on that endpoint; empty means use the environment."""
    llm_timeout_s: float = Field(default=30.0, gt=0, le=600)
    """Per-request timeout for LLM calls."""
    default_interviewer: AgentKind = "offline"
    """Interviewer preselected on the interview set-up form."""
    default_judge: AgentKind = "offline"
    """Judge preselected on the interview set-up form."""

    @field_validator("llm_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        # a key written into the query would be saved to settings.json and shown on the page
        if "?" in value or "#" in value:
            raise ValueError("must not carry a key or any query string; put the key in the API key field, which "
                             "is never saved")
        return value.rstrip("/")


class Settings(BaseModel):
    """Where things live, which models to use and which LLM endpoint each role uses."""

    model_config = ConfigDict(frozen=True)

    data_dir: Path = PROJECT_ROOT / "data"
    """Database, search index, saved vectors and ``settings.json``."""
    db_url: str = ""
    """SQLAlchemy URL of the interview database; empty means ``data_dir/simulator.db``."""
    embed_model: str | None = None
    """Embedding model; None means the packaged MiniLM."""
    reranker: str | None = None
    """Local cross-encoder used to re-rank retrieved passages, if any."""
    claim_model: Path | None = CLAIM_MODEL_DIR
    """Folder of the trained grading models (claim model, fluency statistics); None to grade without them."""
    question_dirs: tuple[Path, ...] = (QUESTION_DIR,)
    """Folders of question YAML files (read recursively)."""
    rubric_dirs: tuple[Path, ...] = (RUBRIC_DIR,)
    """Folders of rubric YAML files."""
    knowledge_dirs: tuple[Path, ...] = (KNOWLEDGE_DIR,)
    """Folders of knowledge notes (Markdown or text)."""
    custom_question_dir: Path = QUESTION_DIR / "custom"
    """Where questions added in the app are saved (loaded with the bank)."""
    custom_knowledge_dir: Path = KNOWLEDGE_DIR / "custom"
    """Where documents uploaded in the app are saved (indexed with the notes)."""
    llm: LLMRoles = LLMRoles()
    """The LLM endpoint of each role (none configured by default: everything runs offline)."""
    saved: SavedSettings = SavedSettings()
    """The Settings page's saved preferences (already merged into ``llm``)."""
    saved_problem: str | None = None
    """Why ``settings.json`` could not be used, when it could not."""
    allow_shared_settings: bool = False
    """Whether the Settings page may save an endpoint as everyone's default (``SIMULATOR_ALLOW_SHARED_SETTINGS``)."""
    admin_emails: frozenset[str] = frozenset()
    """Coaches when login is on (``SIMULATOR_ADMIN_EMAILS``, comma-separated): they see every candidate's data,
    read-only, and own the shared settings and content."""
    speech_model: str = SPEECH_MODELS[0]
    """The offline speech model (``SIMULATOR_SPEECH_MODEL``): ``tiny.en``, ``base``, or a folder with a CTranslate2
    Whisper model."""

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'simulator.db'}"

    @property
    def settings_path(self) -> Path:
        return self.data_dir / SETTINGS_FILE

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, typed_key: str | None = None,
             saved: SavedSettings | None = None, session: SavedSettings | None = None) -> Settings:
        """Settings from the environment and the saved file. ``saved`` replaces the file; ``session`` is an endpoint
        chosen in one browser session only, and ``typed_key`` a key typed in that session (see :func:`llm_roles`)."""
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("SIMULATOR_DATA_DIR") or PROJECT_ROOT / "data")
        problem = None
        if saved is None:
            saved, problem = load_saved(data_dir)
        questions = Path(env.get("SIMULATOR_CUSTOM_QUESTIONS_DIR") or QUESTION_DIR / "custom")
        knowledge = Path(env.get("SIMULATOR_CUSTOM_KNOWLEDGE_DIR") or KNOWLEDGE_DIR / "custom")
        return cls(
            data_dir=data_dir, db_url=env.get("SIMULATOR_DB_URL") or "",
            embed_model=env.get("SIMULATOR_EMBED_MODEL") or None, reranker=env.get("SIMULATOR_RERANKER") or None,
            claim_model=_claim_model(env.get("SIMULATOR_CLAIM_MODEL")),
            question_dirs=_with(QUESTION_DIR, questions),
            knowledge_dirs=_with(KNOWLEDGE_DIR, knowledge),
            custom_question_dir=questions, custom_knowledge_dir=knowledge,
            llm=llm_roles(env, saved, typed_key, session), saved=saved, saved_problem=problem,
            allow_shared_settings=_flag(env, SHARED_SETTINGS_FLAG),
            admin_emails=frozenset(e.strip().lower() for e in env.get(ADMIN_EMAILS, "").split(",") if e.strip()),
            speech_model=_speech_model(env),
        )


def _claim_model(value: str | None) -> Path | None:
    if not value:
        return CLAIM_MODEL_DIR
    return None if value.strip().lower() == "none" else Path(value)


def environment_key(environ: Mapping[str, str] | None = None) -> str | None:
    """The API key set in the environment, if any."""
    env = os.environ if environ is None else environ
    return next((env[name] for name in API_KEY_NAMES if env.get(name)), None)


def llm_roles(environ: Mapping[str, str], saved: SavedSettings, typed_key: str | None = None,
              session: SavedSettings | None = None) -> LLMRoles:
    """Each role's endpoint: this browser session's choice, else the saved base URL and model, else the
    environment's; a role's own ``SIMULATOR_<ROLE>_LLM_*`` variables override the shared ones.

    The key that goes with an endpoint is the one typed in this session, else the operator's key but only for
    the base URLs the operator set beside it (:func:`key_for`): a URL typed by a visitor never receives it.
    """
    chosen = session if session is not None and session.llm_base_url else saved
    base_url = chosen.llm_base_url or _first(environ, BASE_URL_NAMES)
    session_model = session.llm_model if session is not None else ""
    model = session_model or saved.llm_model or environ.get("SIMULATOR_LLM_MODEL", "")
    timeout = (session or saved).llm_timeout_s
    deadline = _seconds(environ, "SIMULATOR_LLM_DEADLINE_S", max(60.0, timeout))

    def role(name: str, default_model: str = model) -> LLMConfig | None:
        url = environ.get(f"SIMULATOR_{name}_LLM_BASE_URL") or base_url
        chosen_model = environ.get(f"SIMULATOR_{name}_LLM_MODEL") or default_model
        if not url or not chosen_model:
            return None
        key = key_for(url, environ, typed_key)[0]
        return LLMConfig(base_url=url, model=chosen_model, timeout_s=timeout, deadline_s=deadline,
                         api_key=SecretStr(key) if key else None)

    # a chat model cannot transcribe, so the transcriber never takes the shared model name
    return LLMRoles(interviewer=role("INTERVIEWER"), judge=role("JUDGE"),
                    transcriber=role("TRANSCRIBER", TRANSCRIBER_MODEL))


def key_for(url: str, environ: Mapping[str, str], typed_key: str | None = None) -> tuple[str | None, str]:
    """The key to send to ``url`` and where it comes from (a description, never the key)."""
    if typed_key:
        return typed_key, "typed in this browser session"
    operator_key = environment_key(environ)
    if not operator_key:
        return None, "none"
    if endpoint_identity(url) in operator_endpoints(environ):
        return operator_key, f"the operator's key ({next(n for n in API_KEY_NAMES if environ.get(n))})"
    return None, "none: the operator's key is only sent to the endpoint configured beside it"


def operator_endpoints(environ: Mapping[str, str]) -> frozenset[str]:
    """The base URLs the operator configured next to their key; OpenAI's when they set none."""
    urls = {endpoint_identity(environ[name]) for name in (*BASE_URL_NAMES, *ROLE_URL_NAMES) if environ.get(name)}
    return frozenset(urls or {endpoint_identity(OPENAI_URL)})


def endpoint_identity(url: str) -> str:
    """``url`` in a comparable form: scheme and host lower-cased, default port and trailing slash dropped."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip()
    host = (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    netloc = host if port in (None, default) else f"{host}:{port}"
    return f"{parts.scheme.lower()}://{netloc}{parts.path.rstrip('/')}"


def _first(environ: Mapping[str, str], names: tuple[str, ...]) -> str:
    return next((environ[name] for name in names if environ.get(name)), "")


def _flag(environ: Mapping[str, str], name: str) -> bool:
    raw = (environ.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name}={raw!r} must be 1 or 0 (true or false)")


class SettingsError(ValueError):
    """A setting in the environment cannot be used; the message names the variable and the value."""


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    """A positive number of seconds (at most an hour) from the environment; a clear error naming the variable."""
    raw = environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise SettingsError(f"{name}={raw!r} must be more than 0 and at most 3600 seconds")
    return value


def _speech_model(environ: Mapping[str, str]) -> str:
    """The offline speech model: a known name or an existing folder; a clear error naming the variable."""
    raw = (environ.get(SPEECH_MODEL) or "").strip()
    if not raw:
        return SPEECH_MODELS[0]
    if raw in SPEECH_MODELS or Path(raw).is_dir():
        return raw
    names = " or ".join(repr(name) for name in SPEECH_MODELS)
    raise SettingsError(f"{SPEECH_MODEL}={raw!r} must be {names}, or an existing folder with a CTranslate2 Whisper "
                        "model")


def _with(default: Path, custom: Path) -> tuple[Path, ...]:
    """The default folder plus a custom one outside it (inside it, it is already read recursively)."""
    inside = custom.resolve().is_relative_to(default.resolve())
    return (default,) if inside else (default, custom)


def load_saved(data_dir: Path) -> tuple[SavedSettings, str | None]:
    """The saved preferences, or defaults plus a message saying why the file could not be used."""
    path = data_dir / SETTINGS_FILE
    if not path.exists():
        return SavedSettings(), None
    try:
        return SavedSettings.model_validate(json.loads(path.read_text(encoding="utf-8"))), None
    except (OSError, ValueError, ValidationError) as exc:
        return SavedSettings(), f"{path}: ignored ({type(exc).__name__}: {str(exc).splitlines()[0]})"


def save(data_dir: Path, saved: SavedSettings) -> Path:
    """Write the preferences atomically (a crash never leaves half a file)."""
    path = data_dir / SETTINGS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(saved.model_dump_json(indent=2), encoding="utf-8")
    tmp.replace(path)
    return path

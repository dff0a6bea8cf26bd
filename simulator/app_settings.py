"""Preferences chosen on the Settings page, saved as JSON under the data folder. Never holds an API key."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from simulator.llm import LLMConfig

SETTINGS_FILE = "settings.json"
API_KEY_NAMES = ("SIMULATOR_LLM_API_KEY", "OPENAI_API_KEY")


class AppSettings(BaseModel):
    """What the Settings page stores. ``extra="forbid"`` keeps a key from ever being written by mistake."""

    model_config = ConfigDict(extra="forbid")

    llm_base_url: str = ""
    """OpenAI-compatible API root, e.g. ``http://localhost:11434/v1``; empty means use the environment."""
    llm_model: str = ""
    """Model name on that endpoint; empty means use the environment."""
    llm_timeout_s: float = Field(default=30.0, gt=0, le=600)
    """Per-request timeout for LLM calls."""
    default_interviewer: Literal["offline", "llm"] = "offline"
    """Interviewer preselected on the interview set-up form."""
    default_judge: Literal["offline", "llm"] = "offline"
    """Judge preselected on the interview set-up form."""

    @field_validator("llm_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


def settings_path(data_dir: Path) -> Path:
    return data_dir / SETTINGS_FILE


def load_app_settings(data_dir: Path) -> tuple[AppSettings, str | None]:
    """The saved settings, or defaults plus a message saying why the file could not be used."""
    path = settings_path(data_dir)
    if not path.exists():
        return AppSettings(), None
    try:
        return AppSettings.model_validate(json.loads(path.read_text(encoding="utf-8"))), None
    except (OSError, ValueError, ValidationError) as exc:
        return AppSettings(), f"{path}: ignored ({type(exc).__name__}: {str(exc).splitlines()[0]})"


def save_app_settings(data_dir: Path, settings: AppSettings) -> Path:
    path = settings_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(settings.model_dump_json(indent=2), encoding="utf-8")
    tmp.replace(path)
    return path


def resolve_llm(settings: AppSettings, environ: Mapping[str, str], api_key: str | None = None) -> LLMConfig | None:
    """The endpoint to use: the saved base URL and model, else the environment's; the key comes from the caller
    (environment, ``st.secrets`` or a field kept only in memory)."""
    from_env = LLMConfig.from_env(environ)
    base_url = settings.llm_base_url or (from_env.base_url if from_env else "")
    model = settings.llm_model or (from_env.model if from_env else "")
    if not base_url or not model:
        return None
    key = api_key or next((environ[name] for name in API_KEY_NAMES if environ.get(name)), None)
    return LLMConfig(base_url=base_url, model=model, timeout_s=settings.llm_timeout_s,
                     api_key=SecretStr(key) if key else None)

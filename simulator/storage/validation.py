"""Checks on what enters the store: profile names, turn shapes, and metadata that must never hold secrets."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from simulator.content.schemas import Rubric
from simulator.injection import fold_look_alikes, invisible_characters
from simulator.storage.records import TURN_KINDS
from simulator.storage.tables import PROFILE_NAME_MAX

_JOINERS = "\u200c\u200d"
_ROLES_FOR_KIND = {"question": {"interviewer"}, "follow_up": {"interviewer"}, "answer": {"candidate"},
                   "note": {"interviewer", "candidate"}}
_SECRET_KEYS = {"apikey", "api_key", "api-key", "authorization", "password", "secret", "access_token", "bearer"}


def clean_profile_name(name: object) -> str:
    """The stored form of a profile name: stripped, NFC, invisible format characters (zero-width, bidi
    controls) removed so look-alike names are one profile; 1 to 60 characters, no control characters."""
    if not isinstance(name, str):
        raise ValueError(f"profile name must be text, got {type(name).__name__}")
    # Joiners (U+200C/D) build emoji and some scripts' letters, so they stay unless they dangle at the ends.
    visible = "".join(c for c in name if unicodedata.category(c) != "Cf" or c in _JOINERS)
    cleaned = unicodedata.normalize("NFC", visible.strip().strip(_JOINERS).strip())
    if not cleaned:
        raise ValueError("profile name is empty")
    if len(cleaned) > PROFILE_NAME_MAX:
        raise ValueError(f"profile name is {len(cleaned)} characters long; the limit is {PROFILE_NAME_MAX}")
    bad = next((c for c in cleaned if unicodedata.category(c) in {"Cc", "Cs", "Zl", "Zp"}), None)
    if bad is not None:
        raise ValueError(f"profile name contains a control character ({bad!r}); use letters, digits, spaces")
    profile_identity(cleaned)  # refuses a name that is blank once invisible characters are gone
    return cleaned


def profile_identity(name: str) -> str:
    """What makes two profile names the same profile: NFKC (fullwidth and styled letters become plain ones),
    invisible characters and blank fillers removed, look-alike letters folded to Latin, case folded and spaces
    collapsed. "Alice", "ａｌｉｃｅ" and "аlice" with a Cyrillic а are one profile."""
    text = invisible_characters(unicodedata.normalize("NFKC", name))
    text = unicodedata.normalize("NFKC", fold_look_alikes(text)).casefold()
    identity = " ".join(text.split())
    if not identity:
        raise ValueError("profile name has no visible characters")
    return identity


def check_turn(role: str, kind: str, text: str, duration_s: float | None, meta: Mapping[str, Any] | None) -> None:
    if not isinstance(text, str):
        raise ValueError(f"turn text must be text, got {type(text).__name__}")
    if kind not in _ROLES_FOR_KIND:
        raise ValueError(f"unknown turn kind {kind!r}; expected one of {', '.join(TURN_KINDS)}")
    if role not in _ROLES_FOR_KIND[kind]:
        raise ValueError(f"a {kind} turn is spoken by {' or '.join(sorted(_ROLES_FOR_KIND[kind]))}, not {role!r}")
    if duration_s is not None and duration_s < 0:
        raise ValueError(f"duration_s must not be negative (got {duration_s})")
    _reject_secrets(meta or {})


def _reject_secrets(value: Any) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if str(key).lower() in _SECRET_KEYS:
                raise ValueError(f"turn meta must not hold secrets (key {key!r})")
            _reject_secrets(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _reject_secrets(item)


def rubric_snapshot(rubrics: Iterable[Rubric] | Mapping[str, Rubric] | None) -> dict[str, Any] | None:
    if rubrics is None:
        return None
    items = rubrics.values() if isinstance(rubrics, Mapping) else rubrics
    return {r.id: r.model_dump(mode="json") for r in items}

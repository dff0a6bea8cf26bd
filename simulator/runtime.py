"""Builds the simulator's shared services (content, embedder, index, judges) once, from settings."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

from simulator import bank
from simulator.embeddings import Embedder
from simulator.engine import InterviewEngine
from simulator.grading import LLM_JUDGE, OFFLINE_JUDGE, GradeFn, GradingSpec, adhoc_spec, spec_from_question
from simulator.interviewer import Interviewer, LLMInterviewer, OfflineInterviewer
from simulator.judges.offline import offline_judge, spec_texts
from simulator.llm import LLMConfig, OpenAICompatibleModel
from simulator.retrieval import KnowledgeIndex, Progress, build_index, index_dir, load_cross_encoder
from simulator.store import Store

JudgeKind = Literal["offline", "llm"]


@dataclass(frozen=True)
class Settings:
    """Where things live and which models to use; read from ``SIMULATOR_*`` environment variables."""

    data_dir: Path = bank.PROJECT_ROOT / "data"
    embed_model: str | None = None
    reranker: str | None = None
    question_dirs: tuple[Path, ...] = (bank.DEFAULT_QUESTION_DIR,)
    rubric_dirs: tuple[Path, ...] = (bank.DEFAULT_RUBRIC_DIR,)
    knowledge_dirs: tuple[Path, ...] = (bank.DEFAULT_KNOWLEDGE_DIR,)
    custom_question_dir: Path = bank.DEFAULT_QUESTION_DIR / "custom"
    """Where questions added in the app are saved (loaded with the bank)."""
    custom_knowledge_dir: Path = bank.DEFAULT_KNOWLEDGE_DIR / "custom"
    """Where documents uploaded in the app are saved (indexed with the notes)."""
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ), repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        data_dir = Path(environ.get("SIMULATOR_DATA_DIR") or bank.PROJECT_ROOT / "data")
        questions = Path(environ.get("SIMULATOR_CUSTOM_QUESTIONS_DIR") or bank.DEFAULT_QUESTION_DIR / "custom")
        knowledge = Path(environ.get("SIMULATOR_CUSTOM_KNOWLEDGE_DIR") or bank.DEFAULT_KNOWLEDGE_DIR / "custom")
        return cls(data_dir=data_dir, embed_model=environ.get("SIMULATOR_EMBED_MODEL") or None,
                   reranker=environ.get("SIMULATOR_RERANKER") or None,
                   question_dirs=_with(bank.DEFAULT_QUESTION_DIR, questions),
                   knowledge_dirs=_with(bank.DEFAULT_KNOWLEDGE_DIR, knowledge),
                   custom_question_dir=questions, custom_knowledge_dir=knowledge, env=dict(environ))


def _with(default: Path, custom: Path) -> tuple[Path, ...]:
    """The default folder plus a custom one outside it (inside it, it is already read recursively)."""
    inside = custom.resolve().is_relative_to(default.resolve())
    return (default,) if inside else (default, custom)


class Runtime:
    """Lazily built services; each heavy piece (model, index) is created at most once."""

    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None,
                 warm_in_background: bool = False):
        self.settings = settings or Settings.from_env()
        self.warm_in_background = warm_in_background
        self._llm_models: dict[LLMConfig, OpenAICompatibleModel] = {}
        self._llm_lock = threading.Lock()
        if embedder is not None:
            self.__dict__["embedder"] = embedder  # share one loaded model between runtimes

    @cached_property
    def bundle(self) -> bank.Bundle:
        s = self.settings
        return bank.load_bundle(s.question_dirs, s.rubric_dirs, s.knowledge_dirs)

    @cached_property
    def embedder(self) -> Embedder:
        return Embedder(self.settings.embed_model)

    @cached_property
    def index(self) -> KnowledgeIndex:
        return self.build_index()

    def build_index(self, rebuild: bool = False, progress: Progress | None = None) -> KnowledgeIndex:
        reranker = load_cross_encoder(self.settings.reranker) if self.settings.reranker else None
        index = build_index(self.bundle.knowledge.values(), self.embedder, self.settings.data_dir,
                            rebuild=rebuild, progress=progress, reranker=reranker)
        self.__dict__["index"] = index
        self.__dict__.pop("offline_judge", None)
        return index

    def reload_content(self) -> bank.Bundle:
        """Re-read the YAML and notes (after a user adds content); the index follows on next use."""
        for name in ("bundle", "index", "offline_judge"):
            self.__dict__.pop(name, None)
        return self.bundle

    @cached_property
    def offline_judge(self) -> GradeFn:
        self._warm_bank_vectors()
        return offline_judge(self.embedder, self.index.search)

    def _warm_bank_vectors(self) -> None:
        """Load the saved vectors of every bank key point and misconception, or compute and save them.

        Computing them takes seconds (about 1,500 texts). With ``warm_in_background`` (the app) that runs in
        a thread, so the first page appears sooner; a grade before it ends just encodes its own texts.
        """
        path = index_dir(self.settings.data_dir, self.embedder.name) / "bank-texts.npz"
        bundle = self.bundle
        texts = [t for q in bundle.questions.values() for t in spec_texts(spec_from_question(q, bundle.rubrics))]
        self.embedder.load_vectors(path)
        if self.embedder.has_all(texts):
            return
        if not self.warm_in_background:
            self.embedder.save_vectors(path, texts)
            return
        threading.Thread(target=self._save_vectors_quietly, args=(path, texts), name="warm-bank", daemon=True).start()

    def _save_vectors_quietly(self, path: Path, texts: list[str]) -> None:
        try:
            for start in range(0, len(texts), 256):  # small batches keep the encoder lock free for live grades
                self.embedder.warm(texts[start:start + 256])
            self.embedder.save_vectors(path, texts)
        except Exception as exc:  # a warm-up failure only costs speed; say so instead of dying silently
            print(f"warning: could not pre-compute bank vectors: {exc}", file=sys.stderr)

    def llm_config(self, llm: LLMConfig | None = None) -> LLMConfig:
        """``llm`` when given (e.g. chosen on the Settings page), else the environment's configuration."""
        config = llm or LLMConfig.from_env(self.settings.env)
        if config is None:
            raise RuntimeError("no LLM is configured: set SIMULATOR_LLM_BASE_URL and SIMULATOR_LLM_MODEL "
                               "(and SIMULATOR_LLM_API_KEY if the endpoint needs one)")
        return config

    def llm_model(self, llm: LLMConfig | None = None) -> OpenAICompatibleModel:
        """One client per endpoint configuration, reused across interviews (it keeps its HTTP connections)."""
        config = self.llm_config(llm)
        with self._llm_lock:
            if config not in self._llm_models:
                self._llm_models[config] = OpenAICompatibleModel(config)
            return self._llm_models[config]

    def llm_judge(self, llm: LLMConfig | None = None) -> GradeFn:
        from simulator.judges.llm import llm_judge
        return llm_judge(self.llm_model(llm), self.index.search, hints=self.offline_judge)

    def judge(self, kind: JudgeKind, llm: LLMConfig | None = None) -> GradeFn:
        return self.offline_judge if kind == "offline" else self.llm_judge(llm)

    def judge_name(self, kind: JudgeKind, llm: LLMConfig | None = None) -> str:
        return OFFLINE_JUDGE if kind == "offline" else f"{LLM_JUDGE}:{self.llm_config(llm).model}"

    def interviewer(self, kind: JudgeKind, seed: int = 0, llm: LLMConfig | None = None) -> Interviewer:
        offline = OfflineInterviewer(seed)
        if kind == "offline":
            return offline
        return LLMInterviewer(self.llm_model(llm), self.llm_config(llm).model, fallback=offline)

    def engine(self, store: Store, interviewer: JudgeKind = "offline", judge: JudgeKind = "offline",
               seed: int = 0, llm: LLMConfig | None = None) -> InterviewEngine:
        """An interview engine over ``store``; an LLM judge falls back to the offline judge per answer."""
        bundle = self.bundle
        return InterviewEngine(store, bundle.questions, bundle.rubrics, judge=self.judge(judge, llm),
                               interviewer=self.interviewer(interviewer, seed, llm),
                               judge_name=self.judge_name(judge, llm),
                               fallback_judge=self.offline_judge if judge == "llm" else None)

    def spec_for(self, question: str, reference_answer: str, question_id: str | None = None,
                 rubric_ids: list[str] | None = None) -> GradingSpec:
        """The bank's spec when ``question_id`` is known; otherwise an ad-hoc spec from the reference."""
        bundle = self.bundle
        if question_id and question_id in bundle.questions:
            return spec_from_question(bundle.questions[question_id], bundle.rubrics)
        unknown = [r for r in rubric_ids or [] if r not in bundle.rubrics]
        if unknown:
            raise ValueError(f"unknown rubric {unknown[0]!r} (known: {', '.join(sorted(bundle.rubrics))})")
        return adhoc_spec(question, reference_answer, rubric_ids or [], bundle.rubrics, self._similarity)

    def _similarity(self, left: list[str], right: list[str]) -> list[list[float]]:
        return (self.embedder.encode(left) @ self.embedder.encode(right).T).tolist()

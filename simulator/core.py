"""The simulator assembled from :class:`~simulator.config.Settings`: content, embedder, index, judges, interviews.

Both front ends (the CLI and the app's services) build one :class:`Simulator` and ask it for what they need.
Heavy pieces (the embedding model, the knowledge index, the offline judge) are created at most once, on first use.
"""

from __future__ import annotations

import atexit
import functools
import sys
import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

from simulator.config import KNOWLEDGE_DIR, AgentKind, LLMConfig, LLMRoles, Role, Settings
from simulator.content import bank
from simulator.grading.claims import ClaimModel
from simulator.grading.contract import LLM_JUDGE, OFFLINE_JUDGE, GradeFn
from simulator.grading.evidence import ClaimScorer
from simulator.grading.fluency import FLUENCY_FILE, FluencyModel
from simulator.grading.offline import offline_judge, quote_support, spec_texts
from simulator.grading.spec import GradingSpec, adhoc_spec, spec_from_question
from simulator.interview.interviewer import Interviewer, LLMInterviewer, OfflineInterviewer
from simulator.interview.runner import InterviewRunner
from simulator.llm import OpenAICompatibleModel
from simulator.search.embeddings import Embedder
from simulator.search.passage import Citation
from simulator.search.retrieval import KnowledgeIndex, ProgressCallback, build_index, index_dir, load_cross_encoder
from simulator.storage.store import Store

WARM_BATCH = 256
"""Bank texts encoded per batch by the background warm-up; small batches keep the encoder free for live grades."""


class NoEndpointError(RuntimeError):
    """An LLM role was asked for, but no endpoint is configured for it."""


class BackgroundLoad:
    """Loads the claim model once, in a thread when started early; ``get`` waits for it.

    Grades never depend on timing: a grade asked for while the model loads waits for it.
    """

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._scorer: ClaimScorer | None = None
        self._error: Exception | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is None and self.folder is not None:
                self._thread = threading.Thread(target=self._load, name="load-claim-model", daemon=True)
                self._thread.start()
                # like the bank warm-up: a daemon thread still inside torch when the interpreter exits aborts it
                atexit.register(self._thread.join, 30.0)

    def get(self) -> ClaimScorer | None:
        self.start()
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise RuntimeError(f"the claim model in {self.folder} could not be loaded: {self._error}") from self._error
        return self._scorer

    def _load(self) -> None:
        try:
            self._scorer = _claim_scorer(Path(self.folder).resolve())  # type: ignore[arg-type]
        except Exception as exc:  # reported to the first grade that needs the model
            self._error = exc


@functools.cache
def _claim_scorer(folder: Path) -> ClaimScorer:
    """One loaded claim model (and its cache of pair scores) per folder, shared by every simulator in the process."""
    return ClaimScorer(ClaimModel.load(folder))


class Simulator:
    """Lazily built services; each heavy piece (model, index) is created at most once."""

    def __init__(self, settings: Settings | None = None, embedder: Embedder | Callable[[], Embedder] | None = None,
                 warm_in_background: bool = False):
        self.settings = settings or Settings.load()
        self.warm_in_background = warm_in_background
        self._llm_models: dict[LLMConfig, OpenAICompatibleModel] = {}
        self._llm_lock = threading.Lock()
        self._warming: threading.Thread | None = None
        self._stop_warming = threading.Event()
        self.claims = BackgroundLoad(self.settings.claim_model)
        if warm_in_background:
            self.claims.start()
        self._heavy = threading.RLock()  # the model, index and judge are built once, whichever thread asks first
        self._loader: threading.Thread | None = None
        self._loader_lock = threading.Lock()
        if isinstance(embedder, Embedder):
            self.__dict__["embedder"] = embedder  # share one loaded model between simulators
        self._embedder_factory = embedder if callable(embedder) and not isinstance(embedder, Embedder) else None

    # -- content, model and index

    @cached_property
    def bundle(self) -> bank.Bundle:
        s = self.settings
        return bank.load_bundle(s.question_dirs, s.rubric_dirs, s.knowledge_dirs)

    @cached_property
    def embedder(self) -> Embedder:
        return self._once("embedder", self._embedder_factory or (lambda: Embedder(self.settings.embed_model)))

    @cached_property
    def index(self) -> KnowledgeIndex:
        return self._once("index", self.build_index)

    def _once(self, name: str, make: Callable[[], Any]) -> Any:
        """Build ``name`` under the lock, so a background load and a page asking at once share one build."""
        with self._heavy:
            if name not in self.__dict__:
                self.__dict__[name] = make()
            return self.__dict__[name]

    def start_loading(self) -> None:
        """Load the model, index and offline judge in a background thread, so a page can show meanwhile."""
        with self._loader_lock:  # not the build lock: that one is held for the whole load, and this must not wait
            if self._loader is not None or self.is_ready:
                return
            self._loader = threading.Thread(target=lambda: self.offline_judge, name="load-judge", daemon=True)
            self._loader.start()
        atexit.register(self._loader.join, 60.0)  # never exit while torch is mid-load in that thread

    def wait_until_ready(self) -> None:
        """Block until the offline judge is loaded (loading it here if nothing started it)."""
        _ = self.offline_judge
    def build_index(self, rebuild: bool = False, progress: ProgressCallback | None = None) -> KnowledgeIndex:
        with self._heavy:
            reranker = load_cross_encoder(self.settings.reranker) if self.settings.reranker else None
            index = build_index(self.bundle.knowledge.values(), self.embedder, self.settings.data_dir,
                                rebuild=rebuild, progress=progress, reranker=reranker)
            self.__dict__["index"] = index
            self.__dict__.pop("offline_judge", None)
            return index

    @property
    def index_is_current(self) -> bool:
        """Whether the index has been built since the content last changed."""
        return "index" in self.__dict__

    def reload_content(self) -> bank.Bundle:
        """Re-read the YAML and notes (after a user adds content); the index follows on next use."""
        with self._heavy:
            for name in ("bundle", "index", "offline_judge"):
                self.__dict__.pop(name, None)
            return self.bundle

    # -- judges and interviewers

    @cached_property
    def fluency(self) -> FluencyModel | None:
        """Word-order statistics saved beside the claim model (None when absent or turned off)."""
        folder = self.settings.claim_model
        path = folder / FLUENCY_FILE if folder is not None else None
        return FluencyModel.load(path) if path is not None and path.exists() else None

    @cached_property
    def offline_judge(self) -> GradeFn:
        return self._once("offline_judge", self._build_offline_judge)

    def _build_offline_judge(self) -> GradeFn:
        self._warm_bank_vectors()
        return offline_judge(self.embedder, self.index.search, fluency=self.fluency, claims=self.claims.get)

    @property
    def is_ready(self) -> bool:
        """Whether the offline judge (model, index, bank vectors) is loaded."""
        return "offline_judge" in self.__dict__

    def judge(self, kind: AgentKind, endpoint: LLMConfig | None = None) -> GradeFn:
        """The offline judge, or an LLM judge on ``endpoint`` (default: the judge role's configured endpoint)."""
        if kind == "offline":
            return self.offline_judge
        from simulator.grading.llm_judge import llm_judge

        return llm_judge(self.llm_model(self._endpoint("judge", endpoint)), self.index.search,
                         hints=self.offline_judge, trusted=self._bundled_passage,
                         support=quote_support(self.embedder, self.claims.get))

    def _bundled_passage(self, passage: Citation) -> bool:
        """Whether a passage comes from the notes shipped with the app (not from a note a user added)."""
        doc = self.bundle.knowledge.get(passage.document)
        if doc is None:
            return False
        path = Path(doc.path).resolve()
        custom = self.settings.custom_knowledge_dir.resolve()
        return path.is_relative_to(KNOWLEDGE_DIR.resolve()) and not path.is_relative_to(custom)

    def judge_name(self, kind: AgentKind, endpoint: LLMConfig | None = None) -> str:
        return OFFLINE_JUDGE if kind == "offline" else f"{LLM_JUDGE}:{self._endpoint('judge', endpoint).model}"

    def interviewer(self, kind: AgentKind, seed: int = 0, endpoint: LLMConfig | None = None) -> Interviewer:
        offline = OfflineInterviewer(seed)
        if kind == "offline":
            return offline
        config = self._endpoint("interviewer", endpoint)
        return LLMInterviewer(self.llm_model(config), config.model, fallback=offline)

    def runner(self, store: Store, interviewer: AgentKind = "offline", judge: AgentKind = "offline",
               seed: int = 0, llm: LLMRoles | None = None) -> InterviewRunner:
        """An interview runner over ``store``. ``llm`` overrides the configured endpoints (e.g. a key typed in
        the app); an LLM judge falls back to the offline judge per answer. :class:`NoEndpointError` when an LLM
        role has no endpoint."""
        roles = llm or self.settings.llm
        bundle = self.bundle
        return InterviewRunner(store, bundle.questions, bundle.rubrics, judge=self.judge(judge, roles.judge),
                               interviewer=self.interviewer(interviewer, seed, roles.interviewer),
                               judge_name=self.judge_name(judge, roles.judge),
                               fallback_judge=self.offline_judge if judge == "llm" else None)

    def llm_model(self, config: LLMConfig) -> OpenAICompatibleModel:
        """One client per endpoint configuration, reused across interviews (it keeps its HTTP connections)."""
        with self._llm_lock:
            if config not in self._llm_models:
                self._llm_models[config] = OpenAICompatibleModel(config)
            return self._llm_models[config]

    def _endpoint(self, role: Role, endpoint: LLMConfig | None) -> LLMConfig:
        config = endpoint or self.settings.llm.for_role(role)
        if config is None:
            raise NoEndpointError(f"no LLM is configured for the {role}: set SIMULATOR_LLM_BASE_URL and "
                                  "SIMULATOR_LLM_MODEL (and SIMULATOR_LLM_API_KEY if the endpoint needs one), "
                                  "or choose an endpoint on the Settings page")
        return config

    # -- grading outside interviews

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

    # -- background warm-up of the bank's vectors

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
        self._warming = threading.Thread(target=self._save_vectors_quietly, args=(path, texts), name="warm-bank",
                                         daemon=True)
        self._warming.start()
        # A daemon thread still inside the encoder when the interpreter exits aborts the process ("terminate
        # called without an active exception"): stop it between batches and wait for it first.
        atexit.register(self.stop_warming)

    def stop_warming(self, timeout_s: float = 30.0) -> None:
        """Stop the background warm-up after its current batch and wait for it."""
        self._stop_warming.set()
        if self._warming is not None:
            self._warming.join(timeout_s)

    def _save_vectors_quietly(self, path: Path, texts: list[str]) -> None:
        try:
            for start in range(0, len(texts), WARM_BATCH):
                if self._stop_warming.is_set():
                    return
                self.embedder.warm(texts[start:start + WARM_BATCH])
            self.embedder.save_vectors(path, texts)
        except Exception as exc:  # a warm-up failure only costs speed; say so instead of dying silently
            print(f"warning: could not pre-compute bank vectors: {exc}", file=sys.stderr)

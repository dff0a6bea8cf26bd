"""The LLM judge: a chat model grades the answer against the rubric, grounded in quotes and retrieved passages.

The model only picks levels, covered points, misconceptions, quotes and passage ids; every one of them is
checked (quotes must occur in the answer, outside text addressed to the grader; ids must exist) and a bad reply
is re-asked, at most ``max_attempts`` times. Scores are computed here from the rubric weights, never taken from
the model. When no valid reply arrives, or the model is unreachable, the grade is ``unscored`` with the reason.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simulator.grading.contract import (
    LLM_JUDGE,
    CriterionGrade,
    Grade,
    GradeFn,
    MisconceptionHit,
    PointEvidence,
    Retrieve,
    unscored,
)
from simulator.grading.llm_prompts import (
    RECHECK_PROMPT,
    RETRY_PROMPT,
    describe_evidence,
    grading_messages,
)
from simulator.grading.rules import INJECTION_FLAG, capped, feedback, genuine_sentences, overall_score
from simulator.grading.spec import GradingSpec, SpecCriterion
from simulator.grading.verify import Support, Verdict, lexical_support, verify
from simulator.injection import fold_look_alikes, invisible_characters
from simulator.llm import ChatModel, Completion, LLMError, Message
from simulator.search.passage import Citation
from simulator.text import shorten
from simulator.untrusted import sanitize_untrusted

EVIDENCE_FLAG = "evidence-lowered"
"""A level the LLM gave was lowered to what its verified quotes support."""
_MAX_ECHOED_REPLY_CHARS = 8000
_MAX_REASON_CHARS = 600
_CODE_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$", re.IGNORECASE)
_TYPOGRAPHY = {"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "..."}
_QUOTE_EDGES = " \t\n\"'.,;:!?…-"


class _Reply(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CriterionVerdict(_Reply):
    criterion: str
    """Criterion key, ``rubric.criterion``."""
    level: int = Field(ge=0, le=4)
    """Level 0 to 4."""
    justification: str
    """Why this level."""
    quotes: list[str]
    """Exact quotes from the answer supporting the level."""
    passage_ids: list[str]
    """Ids of retrieved passages supporting the judgement."""


class MisconceptionVerdict(_Reply):
    id: str
    """Misconception id."""
    quote: str
    """Exact quote from the answer asserting it."""


class JudgeReply(_Reply):
    criteria: list[CriterionVerdict]
    """One verdict per criterion of the spec."""
    covered_points: list[int]
    """1-based numbers of the key points the answer makes."""
    misconceptions: list[MisconceptionVerdict]
    """Misconceptions the answer asserts."""


REPLY_SCHEMA = JudgeReply.model_json_schema()


def llm_judge(
    model: ChatModel,
    retrieve: Retrieve,
    *,
    hints: GradeFn | None = None,
    trusted: Callable[[Citation], bool] = lambda _: True,
    support: Support = lexical_support,
    max_attempts: int = 3,
    top_k: int = 6,
    disagreement_threshold: float = 3.0,
) -> GradeFn:
    """A judge that asks ``model`` for grounded verdicts.

    ``retrieve(query, k)`` supplies the passages the model may cite (queried with the question and the reference
    answer); only passages ``trusted`` accepts (the bundled notes) enter the prompt as reference, the rest (notes
    users added) are fenced as untrusted text. ``hints``, typically the offline judge, runs first: its levels and
    covered points go into the prompt as hints, and its overall is compared with ours (``judges-disagree`` flag at
    ``disagreement_threshold``).
    Every level above 0 must be carried by verified quotes that make the criterion's key points (``support``
    reads them; see :mod:`simulator.grading.verify`): a higher level is lowered, with the reason. When the two
    judges still differ by ``disagreement_threshold`` after one re-check with the offline evidence attached, the
    lower grade is kept and the other rides along as ``second_opinion``.
    Model failures become ``unscored`` grades; errors raised by ``retrieve`` or ``hints`` (our own code) propagate.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")

    def grade(spec: GradingSpec, answer: str) -> Grade:
        started = time.perf_counter()
        if not spec.criteria:
            return unscored(LLM_JUDGE, "the question has no rubric criteria to grade", model=model.name)
        hint = hints(spec, answer) if hints else None
        passages = retrieve(f"{spec.question}\n\n{spec.reference_answer}", top_k)
        evidence = _Evidence(spec, answer, passages)
        usage = _Usage()
        try:
            messages = grading_messages(spec, answer, passages, hint, trusted)
            reply = _ask(model, messages, evidence, max_attempts, usage)
        except LLMError as exc:
            return _unscored(f"LLM judge unavailable: {exc.reason}", model, usage, started)
        if isinstance(reply, list):
            reason = f"LLM judge gave no usable grade in {max_attempts} attempts: {'; '.join(reply)}"
            return _unscored(reason, model, usage, started)
        result = _scored(evidence, reply, model.name, support)
        if _disagree(result, hint, disagreement_threshold):
            assert hint is not None
            result = _recheck(model, messages, reply, (result, hint), evidence, support, usage, disagreement_threshold)
        flags = [*result.flags, *(f for f in evidence.flags if f not in result.flags)]
        return result.model_copy(update={"flags": flags, "latency_ms": _ms_since(started), **usage.fields()})

    return grade


def _disagree(result: Grade, hint: Grade | None, threshold: float) -> bool:
    return (hint is not None and hint.overall is not None and result.overall is not None
            and abs(hint.overall - result.overall) >= threshold)


def _recheck(model: ChatModel, messages: list[Message], reply: JudgeReply, grades: tuple[Grade, Grade],
             evidence: _Evidence, support: Support, usage: _Usage, threshold: float) -> Grade:
    """Ask once more with the offline evidence attached; if the judges still disagree, keep the lower grade."""
    result, hint = grades
    assert hint.overall is not None and result.overall is not None
    follow = [*messages, {"role": "assistant", "content": reply.model_dump_json()},
              {"role": "user", "content": RECHECK_PROMPT.format(offline=hint.overall, ours=result.overall,
                                                                 evidence=describe_evidence(hint))}]
    try:
        again = _ask(model, follow, evidence, 1, usage)
    except LLMError:
        again = None
    if isinstance(again, JudgeReply):
        result = _scored(evidence, again, model.name, support)
    if not _disagree(result, hint, threshold):
        return result
    assert result.overall is not None
    lower, other = (hint, result) if hint.overall < result.overall else (result, hint)
    note = (f"judges-disagree: kept the lower grade ({hint.judge} {hint.overall:.1f} vs "
            f"{LLM_JUDGE} {result.overall:.1f})")
    return lower.model_copy(update={"second_opinion": other, "flags": [*lower.flags, note]})


@dataclass
class _Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    def add(self, completion: Completion) -> None:
        if completion.prompt_tokens is not None:
            self.prompt_tokens = (self.prompt_tokens or 0) + completion.prompt_tokens
        if completion.completion_tokens is not None:
            self.completion_tokens = (self.completion_tokens or 0) + completion.completion_tokens

    def fields(self) -> dict[str, int | None]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}


@dataclass
class _Evidence:
    """What a reply may refer to: the spec, the answer (as written and as the model saw it), the passages."""

    spec: GradingSpec
    answer: str
    passages: Sequence[Citation]
    _texts: list[tuple[str, list[int], str]] = field(init=False)

    def __post_init__(self) -> None:
        self._texts = [(*_normalized_with_map(text), text) for text in (self.answer, sanitize_untrusted(self.answer))]
        # read sentence by sentence, once: ``injection-ignored`` when some sentence speaks to the grader
        kept, flags = genuine_sentences(self.answer)
        self.flags = [f for f in flags if f == INJECTION_FLAG]
        self._genuine = _genuine_texts(kept) if self.flags else None

    @property
    def passage_ids(self) -> dict[str, Citation]:
        return {p.passage_id: p for p in self.passages}

    def locate(self, quote: str) -> str | None:
        """The answer's own text for ``quote`` (matched ignoring case, spacing and typography), or None."""
        needle = _normalized_with_map(quote)[0].strip(_QUOTE_EDGES)
        if not needle:
            return None
        for haystack, index, text in self._texts:
            start = haystack.find(needle)
            if start >= 0:
                return text[index[start] : index[start + len(needle) - 1] + 1]
        return None

    def addressed_to_grader(self, quote: str) -> bool:
        """Whether ``quote`` occurs only inside sentences that try to instruct the grader: never evidence."""
        needle = _normalized_with_map(quote)[0].strip(_QUOTE_EDGES)
        return bool(needle) and self._genuine is not None and not any(needle in g for g in self._genuine)


def _genuine_texts(kept: list[str]) -> list[str]:
    """The answer's genuine sentences (not addressed to the grader), normalized as written and as fenced."""
    text = "\n".join(kept)
    return [_normalized_with_map(t)[0] for t in (text, sanitize_untrusted(text))]


def _ask(
    model: ChatModel, messages: list[Message], evidence: _Evidence, max_attempts: int, usage: _Usage
) -> JudgeReply | list[str]:
    """A validated reply, or the problems with the last one once ``max_attempts`` are used up."""
    problems: list[str] = []
    for _ in range(max_attempts):
        completion = model.complete(messages, json_schema=REPLY_SCHEMA, schema_name="grade")
        usage.add(completion)
        reply, problems = _parse(completion.text, evidence)
        if reply is not None:
            return reply
        messages = [
            *messages,
            {"role": "assistant", "content": completion.text[:_MAX_ECHOED_REPLY_CHARS]},
            {"role": "user", "content": RETRY_PROMPT.format(problems="\n".join(f"- {p}" for p in problems))},
        ]
    return problems


def _parse(text: str, evidence: _Evidence) -> tuple[JudgeReply | None, list[str]]:
    try:
        data = json.loads(_CODE_FENCE.sub("", text))
    except json.JSONDecodeError as exc:
        return None, [f"the reply is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"]
    try:
        reply = JudgeReply.model_validate(data)
    except ValidationError as exc:
        return None, [_schema_problem(error) for error in exc.errors()[:8]]
    problems = _problems(reply, evidence)
    return (None, problems) if problems else (reply, [])


def _schema_problem(error: dict) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "the reply"
    got = "" if error["type"] == "missing" else f" (got {shorten(json.dumps(error.get('input'), default=str), 80)})"
    return f"schema mismatch at {where}: {error['msg']}{got}"


def _problems(reply: JudgeReply, evidence: _Evidence) -> list[str]:
    return [
        *_criterion_key_problems(reply, evidence.spec),
        *(p for v in reply.criteria for p in _verdict_problems(v, evidence)),
        *(
            f"covered_points has {n}, but key points are numbered 1 to {len(evidence.spec.key_points)}"
            for n in reply.covered_points
            if not 1 <= n <= len(evidence.spec.key_points)
        ),
        *(p for m in reply.misconceptions for p in _misconception_problems(m, evidence)),
    ]


def _criterion_key_problems(reply: JudgeReply, spec: GradingSpec) -> list[str]:
    expected = [c.key for c in spec.criteria]
    given = [v.criterion for v in reply.criteria]
    problems = [f"missing criterion {key!r}" for key in expected if key not in given]
    problems += [f"unknown criterion {key!r} (expected one of {expected})" for key in given if key not in expected]
    problems += [f"criterion {key!r} appears more than once" for key in dict.fromkeys(given) if given.count(key) > 1]
    return problems


def _verdict_problems(verdict: CriterionVerdict, evidence: _Evidence) -> list[str]:
    problems = [
        f"criterion {verdict.criterion!r}: quote {shorten(quote, 80)} is not in the candidate's answer"
        for quote in verdict.quotes
        if evidence.locate(quote) is None
    ]
    problems += [
        f"criterion {verdict.criterion!r}: quote {shorten(quote, 80)} is text addressed to the grader, not evidence"
        for quote in verdict.quotes
        if evidence.locate(quote) is not None and evidence.addressed_to_grader(quote)
    ]
    known = evidence.passage_ids
    problems += [
        f"criterion {verdict.criterion!r}: passage id {shorten(pid, 80)} is not one of the reference passages "
        f"({', '.join(known) or 'none'})"
        for pid in verdict.passage_ids
        if pid not in known
    ]
    return problems


def _misconception_problems(verdict: MisconceptionVerdict, evidence: _Evidence) -> list[str]:
    known = [m.misconception.id for m in evidence.spec.misconceptions]
    if verdict.id not in known:
        return [f"unknown misconception id {shorten(verdict.id, 80)} (expected one of {known})"]
    if evidence.locate(verdict.quote) is None:
        return [f"misconception {verdict.id!r}: quote {shorten(verdict.quote, 80)} is not in the candidate's answer"]
    return []


def _scored(evidence: _Evidence, reply: JudgeReply, model_name: str, support: Support = lexical_support) -> Grade:
    spec = evidence.spec
    checks = {c.key: _check(evidence, c.key, _verdict_for(reply, c.key), support) for c in spec.criteria}
    verdicts = {v.criterion: v for v in reply.criteria}
    hits = _misconception_hits(evidence, reply)
    scored = [_criterion_grade(spec, c, verdicts[c.key], hits, checks[c.key]) for c in spec.criteria]
    criteria = [c for c, _ in scored]
    points = _points(evidence, verdicts, _backed_numbers(spec, reply, checks))
    overall = overall_score(spec, scored, hits)
    lowered = [c.key for c, _ in scored if verdicts[c.key].level > c.level and c.capped_by is None]
    return Grade(
        status="scored",
        judge=LLM_JUDGE,
        model=model_name,
        overall=overall,
        criteria=criteria,
        points=points,
        misconceptions=hits,
        citations=_cited(evidence, reply),
        feedback=feedback(criteria, points, hits, [], overall),
        flags=[EVIDENCE_FLAG] if lowered else [],
    )


def _verdict_for(reply: JudgeReply, key: str) -> CriterionVerdict:
    return next(v for v in reply.criteria if v.criterion == key)


def _check(evidence: _Evidence, key: str, verdict: CriterionVerdict, support: Support) -> Verdict:
    """What the verdict's own quotes prove for its criterion."""
    located = [evidence.locate(q) for q in verdict.quotes]
    quotes = [q for q in located if q is not None and not evidence.addressed_to_grader(q)]
    return verify([p.text for p in evidence.spec.points_for(key)], quotes, support)


def _backed_numbers(spec: GradingSpec, reply: JudgeReply, checks: dict[str, Verdict]) -> set[int]:
    """Numbers (1-based) of the points the model called covered that a verified quote actually makes."""
    backed = set()
    for key, check in checks.items():
        numbers = [n for n, p in enumerate(spec.key_points, 1) if p.criterion_key == key]
        backed |= {numbers[i] for i in check.backed}
    return set(reply.covered_points) & backed


def _misconception_hits(evidence: _Evidence, reply: JudgeReply) -> list[MisconceptionHit]:
    specs = {m.misconception.id: m for m in reversed(evidence.spec.misconceptions)}
    hits: dict[str, MisconceptionHit] = {}
    for verdict in reply.misconceptions:
        found = specs[verdict.id]
        hits.setdefault(
            verdict.id,
            MisconceptionHit(
                id=verdict.id,
                claim=found.misconception.claim,
                correction=found.misconception.correction,
                criterion_key=found.criterion_key,
                answer_quote=evidence.locate(verdict.quote) or verdict.quote,
            ),
        )
    return list(hits.values())


def _criterion_grade(spec: GradingSpec, spec_criterion: SpecCriterion, verdict: CriterionVerdict,
                     hits: list[MisconceptionHit], check: Verdict) -> tuple[CriterionGrade, float]:
    c = spec_criterion.criterion
    level = min(verdict.level, check.allowed)
    justification = verdict.justification
    if level < verdict.level:
        backed = len(check.backed)
        justification += (f" [Lowered from {verdict.level} to {level}: the quotes given back {backed} of "
                          f"{len(spec.points_for(spec_criterion.key))} key point(s).]")
    score, capped_by = capped(spec, spec_criterion.key, float(level), hits)
    level = int(score)
    grade = CriterionGrade(key=spec_criterion.key, title=c.title, weight=c.weight, level=level,
                           descriptor=c.levels[level], justification=justification, capped_by=capped_by)
    return grade, score


def _points(evidence: _Evidence, verdicts: dict[str, CriterionVerdict], covered: set[int]) -> list[PointEvidence]:
    passages = evidence.passage_ids
    points = []
    for number, point in enumerate(evidence.spec.key_points, 1):
        verdict = verdicts[point.criterion_key]
        quote = next((q for q in map(evidence.locate, verdict.quotes) if q), None)
        points.append(
            PointEvidence(
                key_point=point.text,
                criterion_key=point.criterion_key,
                covered=number in covered,
                strength=1.0 if number in covered else 0.0,
                answer_quote=quote if number in covered else None,
                citation=next((passages[pid] for pid in verdict.passage_ids), None),
            )
        )
    return points


def _cited(evidence: _Evidence, reply: JudgeReply) -> list[Citation]:
    passages = evidence.passage_ids
    ids = dict.fromkeys(pid for v in reply.criteria for pid in v.passage_ids)
    return [passages[pid] for pid in ids]


def _unscored(reason: str, model: ChatModel, usage: _Usage, started: float) -> Grade:
    grade = unscored(LLM_JUDGE, shorten(reason, _MAX_REASON_CHARS), model=model.name, latency_ms=_ms_since(started))
    return grade.model_copy(update=usage.fields())


def _normalized_with_map(text: str) -> tuple[str, list[int]]:
    """``text`` as quotes are compared: NFKC, invisible characters dropped, look-alike letters folded to Latin,
    case-folded, typography unified, whitespace collapsed; ``index[i]`` maps back to ``text`` (what is shown)."""
    chars: list[str] = []
    index: list[int] = []
    for position, raw in enumerate(text):
        if not invisible_characters(raw):
            continue
        char = fold_look_alikes(unicodedata.normalize("NFKC", raw))
        if char.isspace():
            if chars and chars[-1] != " ":
                chars.append(" ")
                index.append(position)
            continue
        for folded in _TYPOGRAPHY.get(char, char).casefold():
            chars.append(folded)
            index.append(position)
    return "".join(chars), index


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


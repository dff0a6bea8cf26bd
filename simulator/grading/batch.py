"""Grading JSONL files: the rows ``grade`` and ``eval`` read, and what they write back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from simulator.content.bank import Problem, field_path
from simulator.grading.contract import Grade
from simulator.grading.spec import GradingSpec


class AnswerRow(BaseModel):
    """One input row; fields not listed here pass through to the output untouched."""

    model_config = ConfigDict(extra="allow")

    question: str = Field(min_length=1)
    """The question text."""
    reference_answer: str = ""
    """A strong answer; key points are derived from it for questions outside the bank."""
    answer: str
    """The candidate's answer."""
    max_score: float = Field(gt=0)
    """Scale of ``score`` and ``predicted_score``."""
    question_id: str | None = None
    """Bank question id: use the bank's rubric, key points and misconceptions."""
    rubric: list[str] = []
    """Rubric id(s) whose criteria and misconceptions apply (ad-hoc questions)."""
    score: float | None = None
    """Human score, required by ``eval``."""

    @field_validator("rubric", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else (value or [])


@dataclass
class LoadedRows:
    rows: list[tuple[int, AnswerRow]]
    problems: list[Problem]


def read_rows(path: Path, require_score: bool = False) -> LoadedRows:
    """Rows with their line numbers; a bad line becomes a problem and the rest still load."""
    rows, problems = [], []
    shown = str(path)
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise ValueError("each line must be a JSON object")
                row = AnswerRow.model_validate(data)
            except json.JSONDecodeError as exc:
                problems.append(Problem(shown, number, "json", f"not valid JSON: {exc.msg} at column {exc.colno}"))
                continue
            except ValidationError as exc:
                for err in exc.errors(include_url=False):
                    problems.append(Problem(shown, number, field_path(err["loc"]), err["msg"]))
                continue
            except ValueError as exc:
                problems.append(Problem(shown, number, "(row)", str(exc)))
                continue
            if require_score and row.score is None:
                problems.append(Problem(shown, number, "score", "eval needs a human score on every row"))
                continue
            rows.append((number, row))
    return LoadedRows(rows, problems)


def output_row(row: AnswerRow, grade: Grade) -> dict[str, Any]:
    """The input row plus ``predicted_score``, ``judge`` and the grade's evidence."""
    out = row.model_dump(exclude_unset=True)
    out["predicted_score"] = grade.scaled(row.max_score)
    out["judge"] = grade.judge
    out["grade"] = {
        "status": grade.status,
        "reason": grade.reason,
        "model": grade.model,
        "overall": grade.overall,
        "criteria": [{"criterion": c.key, "level": c.level, "capped_by": c.capped_by} for c in grade.criteria],
        "covered": [_point(p) for p in grade.covered],
        "missed": [_point(p) for p in grade.missed],
        "misconceptions": [{"id": m.id, "quote": m.answer_quote, "correction": m.correction}
                           for m in grade.misconceptions],
        "citations": [c.reference for c in grade.citations],
        "flags": grade.flags,
        "feedback": grade.feedback,
        "latency_ms": grade.latency_ms,
    }
    return out


def _point(p) -> dict[str, Any]:
    return {"key_point": p.key_point, "criterion": p.criterion_key, "strength": p.strength,
            "quote": p.answer_quote, "citation": p.citation.reference if p.citation else None}


SpecFor = Callable[[AnswerRow], GradingSpec]


def grade_rows(rows: list[tuple[int, AnswerRow]], spec_for: SpecFor, judge: Callable[[GradingSpec, str], Grade],
               source: str, prepare: Callable[[list[GradingSpec], list[str]], None] | None = None,
               ) -> Iterator[tuple[AnswerRow, Grade | None, Problem | None]]:
    """Grade every row; a row whose spec cannot be built yields a problem instead of a grade."""
    specs: list[tuple[int, AnswerRow, GradingSpec | None, Problem | None]] = []
    for number, row in rows:
        try:
            specs.append((number, row, spec_for(row), None))
        except ValueError as exc:
            specs.append((number, row, None, Problem(source, number, "rubric", str(exc))))
    if prepare is not None:
        ready = [(s, r.answer) for _, r, s, _ in specs if s is not None]
        prepare([s for s, _ in ready], [a for _, a in ready])
    for _, row, spec, problem in specs:
        yield row, (judge(spec, row.answer) if spec is not None else None), problem


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started

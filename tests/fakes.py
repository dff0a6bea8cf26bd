"""Test doubles that are real implementations of a contract, only simpler: a deterministic judge.

:func:`fake_judge` builds a :data:`~simulator.grading.contract.GradeFn` for engine tests whose subject is not
grading (the runner's stages, storage, concurrency, exports). It needs no embedding model and no index, answers
in microseconds, and its scores follow from the answer in a way a test can read off:

* ``[score N]`` anywhere in the answer (N from 0 to 10) sets the overall score to N; every criterion gets the
  level nearest to it (N × 0.4) and that share of each criterion's key points counts as covered;
* ``[unscored]`` makes the grade unscored (as a judge that failed would);
* otherwise a key point is covered when the answer contains at least half of its words (those of four letters
  or more), each criterion's level is its share of covered points on the 0–4 scale, and the overall is the
  weighted mean of the levels on the 0–10 scale. An answer made of a question's key points scores 10; one
  that shares none of their words scores 0.

Misconceptions, citations and injection flags are left out: tests of those use the real judges.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from simulator.content.schemas import Question, Rubric
from simulator.grading.contract import CriterionGrade, Grade, PointEvidence, unscored
from simulator.grading.spec import GradingSpec
from simulator.interview.interviewer import OfflineInterviewer
from simulator.interview.runner import InterviewRunner
from simulator.storage.store import Store

FAKE_JUDGE = "fake"
SCORE_MARK = re.compile(r"\[score (\d+(?:\.\d+)?)\]")
UNSCORED_MARK = "[unscored]"
_WORD = re.compile(r"[a-z0-9]{4,}")


def scored(score: float) -> str:
    """The marker that makes the fake judge give ``score`` (0 to 10) to an answer."""
    return f"[score {score:g}]"


class FakeJudge:
    """A deterministic judge (see the module docstring). ``calls`` records every (spec, answer) graded."""

    name = FAKE_JUDGE

    def __init__(self) -> None:
        self.calls: list[tuple[GradingSpec, str]] = []

    def __call__(self, spec: GradingSpec, answer: str) -> Grade:
        self.calls.append((spec, answer))  # list.append is atomic: safe from the engine's threads
        if UNSCORED_MARK in answer:
            return unscored(FAKE_JUDGE, "the answer asked the fake judge not to score it")
        if not spec.criteria:
            return unscored(FAKE_JUDGE, "the spec has no criteria")
        mark = SCORE_MARK.search(answer)
        target = min(10.0, float(mark.group(1))) if mark else None
        said = set(_WORD.findall(answer.lower()))
        points = []
        for point in spec.key_points:
            if target is None:
                strength = _share(point.text, said)
            else:  # the first ``target`` tenths of each criterion's points
                siblings = spec.points_for(point.criterion_key)
                strength = float(siblings.index(point) < round(len(siblings) * target / 10))
            covered = strength >= 0.5
            points.append(PointEvidence(key_point=point.text, criterion_key=point.criterion_key, covered=covered,
                                        strength=strength, answer_quote=answer[:80] if covered else None))
        criteria = []
        for item in spec.criteria:
            own = [p for p in points if p.criterion_key == item.key]
            covered_here = sum(p.covered for p in own)
            level = round(target * 0.4) if target is not None else round(4 * covered_here / len(own)) if own else 0
            criteria.append(CriterionGrade(
                key=item.key, title=item.criterion.title, weight=item.criterion.weight, level=level,
                descriptor=item.criterion.levels[level],
                justification=f"fake judge: {covered_here} of {len(own)} key points covered"))
        weights = sum(c.weight for c in criteria)
        overall = target if target is not None else round(sum(c.weight * c.level for c in criteria) / weights * 2.5, 2)
        return Grade(status="scored", judge=FAKE_JUDGE, overall=overall, criteria=criteria, points=points,
                     feedback=f"fake judge: {sum(p.covered for p in points)} of {len(points)} key points covered")


def _share(point: str, said: set[str]) -> float:
    words = set(_WORD.findall(point.lower()))
    return len(words & said) / len(words) if words else 0.0


def fake_judge() -> FakeJudge:
    """A fresh deterministic judge (its own ``calls`` record)."""
    return FakeJudge()


def fake_runner(store: Store, questions: Mapping[str, Question], rubrics: Mapping[str, Rubric], seed: int = 0,
                judge: FakeJudge | None = None) -> InterviewRunner:
    """An interview runner with the offline interviewer and the fake judge: no model, no index."""
    return InterviewRunner(store, questions, rubrics, judge=judge or fake_judge(),
                           interviewer=OfflineInterviewer(seed), judge_name=FAKE_JUDGE)


def strong_answer(question: Question) -> str:
    """An answer that makes every key point of ``question`` (the fake judge gives it 10)."""
    return " ".join(p.text for p in question.key_points)

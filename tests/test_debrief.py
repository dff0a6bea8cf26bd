"""The debrief's logic: verdict bands, strengths and gaps from criterion levels, and questions that practise the
weakest criterion."""

from __future__ import annotations

import pytest

from simulator.reports.debrief import questions_for_criterion, quick_drill, verdict


@pytest.mark.parametrize(("score", "label"), [(10, "Strong"), (8.0, "Strong"), (7.94, "Solid"), (7.96, "Strong"), (6.0, "Solid"),
                                              (5.94, "Partial"), (4.0, "Partial"), (3.94, "Weak"), (3.96, "Partial"), (0, "Weak")])
def test_verdict_bands(score, label):
    assert verdict(score) == label


def test_practice_questions_lean_on_the_chosen_criterion(bundle):
    question = bundle.questions["cost-which-is-cheaper"]
    from simulator.content.bank import resolve_criterion

    rubric, criterion = resolve_criterion(question.key_points[0].criterion, question.rubrics, bundle.rubrics)
    key = f"{rubric}.{criterion}"
    chosen = questions_for_criterion(bundle.questions, bundle.rubrics, key)
    assert 1 <= len(chosen) <= 3
    for qid in chosen:
        q = bundle.questions[qid]
        refs = {resolve_criterion(p.criterion, q.rubrics, bundle.rubrics) for p in q.key_points}
        assert (rubric, criterion) in refs
    fresh = questions_for_criterion(bundle.questions, bundle.rubrics, key, avoid=frozenset(chosen[:1]))
    assert chosen[0] not in fresh[:1] or len(fresh) == 1
    assert questions_for_criterion(bundle.questions, bundle.rubrics, "no.such") == []


def test_quick_drill_is_three_bank_questions(bundle):
    drill = quick_drill(bundle.questions)
    assert len(drill) == 3 and len(set(drill)) == 3 and all(q in bundle.questions for q in drill)
    assert "cost-which-is-cheaper" in drill

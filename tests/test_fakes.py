"""The fake judge other engine tests rely on: valid, deterministic grades whose scores follow from the answer."""

from __future__ import annotations

from simulator.grading.contract import Grade
from simulator.grading.spec import spec_from_question
from tests.fakes import FAKE_JUDGE, fake_judge, scored, strong_answer

QUESTION = "finetune-lora-vs-full"


def test_scores_follow_the_key_points_the_answer_makes(bundle):
    question = bundle.questions[QUESTION]
    spec = spec_from_question(question, bundle.rubrics)
    judge = fake_judge()

    full = judge(spec, strong_answer(question))
    assert full.status == "scored" and full.judge == FAKE_JUDGE and full.overall == 10
    assert [p.key_point for p in full.points] == [p.text for p in spec.key_points] and not full.missed
    assert [c.key for c in full.criteria] == [c.key for c in spec.criteria] and {c.level for c in full.criteria} == {4}

    nothing = judge(spec, "I am not sure; maybe it depends.")
    assert nothing.overall == 0 and not nothing.covered and {c.level for c in nothing.criteria} == {0}

    first = spec.key_points[0]
    partial = judge(spec, first.text)
    assert [p.key_point for p in partial.covered] == [first.text]
    assert 0 < partial.overall < 10
    assert next(c for c in partial.criteria if c.key == first.criterion_key).level > 0
    assert judge.calls == [(spec, strong_answer(question)), (spec, "I am not sure; maybe it depends."),
                           (spec, first.text)]


def test_markers_set_the_score_or_leave_the_answer_unscored(bundle):
    spec = spec_from_question(bundle.questions[QUESTION], bundle.rubrics)
    judge = fake_judge()
    for score in (0, 3.5, 7.5, 10):
        grade = judge(spec, f"Anything at all. {scored(score)}")
        assert grade.overall == score and {c.level for c in grade.criteria} == {round(score * 0.4)}
    assert judge(spec, "[score 10]").covered == judge(spec, "[score 10]").points
    unscored = judge(spec, "No grade for this one, please. [unscored]")
    assert unscored.status == "unscored" and unscored.overall is None and unscored.judge == FAKE_JUDGE


def test_grades_are_valid_and_repeatable(bundle):
    judge = fake_judge()
    for question in list(bundle.questions.values())[:10]:
        spec = spec_from_question(question, bundle.rubrics)
        for answer in (strong_answer(question), question.model_answer, "Retrieval. [score 6]"):
            grade = judge(spec, answer)
            assert Grade.model_validate_json(grade.model_dump_json()) == grade == judge(spec, answer)
            assert all(c.descriptor == s.criterion.levels[c.level] for c, s in zip(grade.criteria, spec.criteria,
                                                                                    strict=True))

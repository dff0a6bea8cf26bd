"""The claim model inside the offline judge: contradictions with quotes, consistent explanations, follow-ups graded
on what they ask, ad-hoc grading, and grades that do not depend on what else was graded before."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from simulator.grading.evidence import swap_approaches, without_negation
from simulator.interview.runner import spec_for_turn
from simulator.storage.records import TurnRecord

GOLDEN = Path(__file__).parent / "golden" / "answers.jsonl"
OVERFITTING = ("I'd first deduplicate the 600 examples and hold out a proper validation split so the overfitting "
               "shows up in numbers. Then I'd drop the rank to 8 or even 4, add LoRA dropout of about 0.1, and stop "
               "on validation loss instead of running a fixed number of epochs. If I can, I'd also collect more "
               "varied examples.")


def test_counterfactual_rewrites_exchange_the_approaches_and_drop_negations():
    assert swap_approaches("RAG is cheaper than fine-tuning.") == "fine-tuning is cheaper than RAG."
    assert swap_approaches("Nothing to exchange here.") == "Nothing to exchange here."
    assert without_negation("RAG does not change the weights.") == "RAG does change the weights."
    assert without_negation("Fine-tuning can't add facts.") == "Fine-tuning can add facts."


def test_a_negated_key_point_is_reported_as_a_contradiction_with_its_quote_and_earns_nothing(runtime, judge):
    spec = runtime.spec_for("", "", "cost-which-is-cheaper")
    honest = judge(spec, spec.key_points[3].text)
    point = spec.key_points[3].text  # "Around 10M+ calls a month, a small fine-tuned model can become cheaper ..."
    negated = point.replace("can become", "can never become")
    assert negated != point
    grade = judge(spec, negated)
    evidence = grade.points[3]
    assert evidence.contradicted and not evidence.covered and evidence.strength == 0
    assert evidence.contradiction_quote == negated
    assert "contradicts" in grade.feedback
    assert grade.overall < honest.overall


def test_explanations_agree_with_the_score_on_every_golden_answer(runtime, judge):
    rows = [json.loads(line) for line in GOLDEN.read_text().splitlines() if line.strip()]
    for row in rows[::3]:
        spec = runtime.spec_for(row["question"], row["reference_answer"], row.get("question_id"))
        grade = judge(spec, row["answer"])
        for point in grade.points:
            assert not (point.covered and point.contradicted), row["id"]
            assert point.covered == (point.answer_quote is not None), row["id"]
        if grade.overall and grade.overall > 0:
            assert "did not make any of the points" not in grade.feedback, row["id"]
        if any(c.level < 4 for c in grade.criteria) and grade.missed:
            assert "To lift " in grade.feedback, row["id"]


def test_grades_do_not_depend_on_what_was_graded_before(runtime):
    from simulator.grading.offline import offline_judge

    spec = runtime.spec_for("", "", "cost-which-is-cheaper")
    answer = "RAG is cheap to start, but at very high volume a small tuned model can cost less per call."
    fresh = offline_judge(runtime.embedder, fluency=runtime.fluency, claims=runtime.claims.get)
    first = fresh(spec, answer)
    for other in ("Fine-tuning changes the weights.", "Retrieval adds latency.", OVERFITTING):
        fresh(spec, other)
    again = offline_judge(runtime.embedder, fluency=runtime.fluency, claims=runtime.claims.get)(spec, answer)
    assert first.model_dump(exclude={"latency_ms"}) == again.model_dump(exclude={"latency_ms"})


def _follow_up_turn(runtime, prompt_part: str) -> TurnRecord:
    question = next(q for q in runtime.bundle.questions.values()
                    if any(prompt_part in f.prompt for f in q.follow_ups))
    follow_up = next(f for f in question.follow_ups if prompt_part in f.prompt)
    spec = runtime.spec_for("", "", question.id)
    key = next(c.key for c in spec.criteria if c.key.split(".")[-1] == follow_up.criterion.split(".")[-1])
    now = datetime.now(UTC)
    return TurnRecord(
        id=2, session_id=1, seq=2, role="interviewer", kind="follow_up", text=follow_up.prompt,
        question_id=question.id, topic=question.topic, question_snapshot=question.model_dump(mode="json"),
        rubric_snapshot={r: runtime.bundle.rubrics[r].model_dump(mode="json") for r in question.rubrics},
        parent_turn_id=1, created_at=now, answered_at=None, duration_s=None, grade=None, graded_at=None,
        meta={"criterion": key, "follow_up": follow_up.prompt},
    )


def test_a_follow_up_is_graded_on_its_criterion_and_on_what_it_expects(runtime, judge):
    asked = _follow_up_turn(runtime, "overfits a 600-example dataset")
    spec = spec_for_turn(asked)
    assert spec is not None and len(spec.criteria) == 1
    expects = asked.question().follow_ups[0].expects if asked.question() else []
    assert expects and all(p.criterion_key == spec.criteria[0].key for p in spec.key_points)
    assert {p.text for p in spec.key_points} >= set(expects)
    without_expects = spec.model_copy(update={"key_points": [p for p in spec.key_points if p.text not in expects]})
    strong = judge(spec, OVERFITTING).overall
    assert strong >= 5.0
    assert strong > judge(without_expects, OVERFITTING).overall
    assert judge(spec, "I would train it for longer with a bigger rank.").overall < strong - 3


def test_every_bank_follow_up_says_what_it_expects(runtime):
    for question in runtime.bundle.questions.values():
        for follow_up in question.follow_ups:
            assert 3 <= len(follow_up.expects) <= 5, (question.id, follow_up.prompt)


def test_ad_hoc_grading_uses_the_claim_model_too(runtime, judge):
    """Against a short reference (the SemEval setting the model was trained on) its P(entails) earns credit that
    embedding and word coverage alone miss."""
    from simulator.grading.offline import offline_judge

    reference = "The harder coin will scratch the softer one."
    spec = runtime.spec_for("How would a scratch test tell which coin is harder?", reference)
    answer = "If the penny scratches the nickel, the penny is harder."
    coverage_only = offline_judge(runtime.embedder, fluency=runtime.fluency, claims=None)
    assert judge(spec, answer).overall > coverage_only(spec, answer).overall
    assert judge(spec, answer).overall > judge(spec, "Coins are made of metal.").overall

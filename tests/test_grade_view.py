"""What the grade card says (simulator.reports.grade_view), worked out from grades built here: no model, no app."""

from __future__ import annotations

import itertools

import pytest

from simulator.grading.contract import CriterionGrade, Grade, MisconceptionHit, PointEvidence
from simulator.reports import grade_view as view
from simulator.text import split_sentences

LONG_POINT = ("Fine-tuning pays off when the same narrow behaviour is needed on millions of calls, because a small "
              "tuned model with a short prompt then costs less per call than a large model fed long retrieved "
              "context, sharply cutting both latency and spend once the training bill is paid back.")
DESCRIPTOR = "States the trade-off between upfront and per-call cost with numbers."


def criterion(key: str, level: int, weight: float = 1.0, title: str | None = None, **extra) -> CriterionGrade:
    return CriterionGrade(key=key, title=title or key.title(), weight=weight, level=level,
                          descriptor=f"{DESCRIPTOR} ({key} {level})", justification=extra.pop("justification", ""),
                          **extra)


def point(text: str, key: str, covered: bool = False, quote: str | None = None, strength: float | None = None,
          contradicted: bool = False) -> PointEvidence:
    return PointEvidence(key_point=text, criterion_key=key, covered=covered,
                         strength=strength if strength is not None else (0.9 if covered else 0.1),
                         answer_quote=quote if covered else None, contradicted=contradicted,
                         contradiction_quote=quote if contradicted else None)


def grade(overall: float, criteria: list[CriterionGrade], points: list[PointEvidence], **extra) -> Grade:
    return Grade(status="scored", judge="offline-evidence", overall=overall, criteria=criteria, points=points,
                 **extra)


# ---------------------------------------------------------------- verdict


@pytest.mark.parametrize(("overall", "label"), [
    (0.0, "Weak"), (3.9, "Weak"), (3.94, "Weak"), (4.0, "Partial"), (5.9, "Partial"), (5.96, "Solid"),
    (6.0, "Solid"), (7.94, "Solid"), (7.96, "Strong"), (8.0, "Strong"), (10.0, "Strong"),
])
def test_verdict_bands_follow_the_score_as_shown(overall, label):
    shown = view.verdict(grade(overall, [], []))
    assert shown is not None and shown.label == label
    assert shown.score_text == f"{overall:.1f} / 10", "one decimal, and the band of exactly that number"


def test_an_unscored_grade_gets_no_verdict_steps_or_reason():
    failed = Grade(status="unscored", judge="llm", reason="LLM judge unavailable: timeout")
    assert view.verdict(failed) is None
    assert view.next_steps(failed) == [] and view.why_score(failed) is None and view.points_line(failed) is None


# ---------------------------------------------------------------- next steps


def _grades_below_ten():
    """Many shapes of scored grade below 10: every mix of covered, missed and contradicted points over levels."""
    statuses = ("covered", "missed", "contradicted")
    for a, b, level_a, level_b in itertools.product(statuses, statuses, range(5), range(5)):
        points = [point("Point A.", "a", covered=a == "covered", contradicted=a == "contradicted", quote="q a"),
                  point("Point B.", "b", covered=b == "covered", contradicted=b == "contradicted", quote="q b")]
        overall = (level_a + level_b) / 8 * 10
        if overall < 10:
            yield grade(overall, [criterion("a", level_a), criterion("b", level_b)], points)
    yield grade(7.5, [criterion("a", 3)], [])  # an LLM-style grade with no key points at all
    yield grade(2.0, [], [], flags=["keyword-list"])


@pytest.mark.parametrize("graded", list(_grades_below_ten()))
def test_next_steps_are_never_empty_below_ten(graded):
    steps = view.next_steps(graded)
    assert 1 <= len(steps) <= view.MAX_STEPS
    assert all(step.lead for step in steps) and len(set(steps)) == len(steps)


def test_a_perfect_grade_has_nothing_to_add():
    perfect = grade(10.0, [criterion("a", 4)], [point("Point A.", "a", covered=True, quote="q")])
    assert view.next_steps(perfect) == []


def test_next_steps_put_contradictions_first_then_missing_points_of_the_weakest_criterion():
    graded = grade(3.0, [criterion("strong", 3, title="Where facts belong"), criterion("weak", 0, weight=2.0)], [
        point("Strong one.", "strong", covered=True, quote="yes"),
        point("Strong two.", "strong"),
        point("Weak one.", "weak"),
        point("Said backwards.", "strong", contradicted=True, quote="the opposite"),
    ])
    steps = view.next_steps(graded)
    assert steps[0] == view.NextStep("Put right what you said about Where facts belong", "Said backwards.")
    assert steps[1] == view.NextStep("Add to Weak (level 0/4 now)", "Weak one.")
    assert steps[2] == view.NextStep("Add to Where facts belong (level 3/4 now)", "Strong two.")


def test_a_keyword_list_is_told_to_explain_its_terms():
    graded = grade(0.2, [criterion("a", 0)], [point("Point A.", "a")], flags=["keyword-list"])
    assert view.next_steps(graded)[0].lead == "Explain the terms you name"


def test_texts_are_whole_never_cut():
    misconception = MisconceptionHit(id="m", claim="Fine-tuning adds facts.", correction=LONG_POINT + " Really.",
                                     criterion_key=None, answer_quote="it learns facts")
    graded = grade(2.0, [criterion("a", 1, title="Economics at scale " * 5)],
                   [point(LONG_POINT, "a"), point(LONG_POINT + " Also.", "a", contradicted=True, quote="no")],
                   misconceptions=[misconception])
    texts = [t for s in view.next_steps(graded) for t in (s.lead, s.detail)]
    texts += [view.why_score(graded) or "", view.points_line(graded) or ""]
    texts += [t for c in view.criterion_views(graded) for t in (c.title, c.did, c.meaning)]
    assert not [t for t in texts if "…" in t or t.endswith("...")]
    details = {s.detail for s in view.next_steps(graded)}
    assert {LONG_POINT + " Also.", misconception.correction, LONG_POINT} <= details


# ---------------------------------------------------------------- why this score, points line


def test_a_high_score_with_nothing_missed_says_why():
    graded = grade(8.3, [criterion("a", 4), criterion("b", 3, title="Clear recommendation")],
                   [point("A.", "a", covered=True, quote="a"), point("B.", "b", covered=True, quote="b")])
    why = view.why_score(graded)
    assert why is not None and why.startswith("Why this score: ")
    assert "Clear recommendation at 3/4" in why and "part" in why


def test_a_score_below_what_the_points_suggest_names_the_cap_and_the_penalty():
    graded = grade(3.0, [criterion("a", 1, capped_by="m1", title="Where facts belong"), criterion("b", 4)],
                   [point("A.", "a", covered=True, quote="a"), point("B.", "b", covered=True, quote="b"),
                    point("C.", "b", covered=True, quote="c"), point("D.", "a")],
                   flags=["injection-ignored"])
    why = view.why_score(graded)
    assert why is not None
    assert "a wrong claim held Where facts belong down" in why and "cost a point" in why


def test_no_reason_when_the_counts_explain_the_score():
    graded = grade(5.0, [criterion("a", 2)], [point("A.", "a", covered=True, quote="a"), point("B.", "a")])
    assert view.why_score(graded) is None


def test_did_not_make_any_points_only_when_none_was_made():
    none_made = grade(3.7, [criterion("a", 1)], [point("A.", "a"), point("B.", "a")])
    one_made = grade(5.7, [criterion("a", 2)], [point("A.", "a", covered=True, quote="a"), point("B.", "a")])
    assert view.points_line(none_made).startswith("You did not make any of the 2 key points")
    assert "came close" in view.points_line(none_made), "a score above 0 says where it came from"
    assert view.points_line(one_made) == "You made 1 of the 2 key points this question looks for."
    assert "did not make" not in view.points_line(one_made)


# ---------------------------------------------------------------- per criterion


def test_what_the_answer_did_comes_from_its_points_not_the_descriptor():
    graded = grade(4.0, [criterion("a", 2), criterion("b", 0), criterion("c", 3)], [
        point("A1.", "a", covered=True, quote="first claim"), point("A2.", "a"),
        point("B1.", "b", contradicted=True, quote="backwards"),
        point("C1.", "c", covered=True, quote="third claim", strength=0.5),
    ])
    a, b, c = view.criterion_views(graded)
    assert a.did == "You made 1 of its 2 points." and a.quotes == ("first claim",)
    assert b.did == "You did not make its point; you said the opposite of 1 point." and b.tone == "empty"
    assert c.did == "You made its point, though not fully."
    assert all(DESCRIPTOR not in v.did for v in (a, b, c)) and a.meaning.startswith(DESCRIPTOR)
    assert [v.tone for v in (a, b, c)] == ["orange", "empty", "yellow"]


def test_the_judges_own_reasoning_is_kept_for_the_llm_judge_and_for_lowered_levels():
    offline = grade(5.0, [criterion("a", 2, justification="Made 1 of 2 key point(s).")], [])
    lowered = grade(5.0, [criterion("a", 2, justification="[Lowered from 4] quotes prove less")], [])
    llm = Grade(status="scored", judge="llm", overall=5.0, criteria=[criterion("a", 2, justification="It says x.")])
    assert view.criterion_views(offline)[0].note is None
    assert view.criterion_views(lowered)[0].note.startswith("[Lowered from 4]")
    assert view.criterion_views(llm)[0].note == "It says x."


def test_point_groups_keep_contradicted_points_apart_from_missed_ones():
    graded = grade(4.0, [criterion("a", 2, title="Cost")], [
        point("Made.", "a", covered=True, quote="m"), point("Missed.", "a"),
        point("Opposed.", "a", contradicted=True, quote="o"),
    ])
    groups = view.point_groups(graded)
    assert [p.text for p in groups.made] == ["Made."] and groups.made[0].quote == "m"
    assert [p.text for p in groups.missed] == ["Missed."]
    assert [(p.text, p.quote, p.criterion) for p in groups.contradicted] == [("Opposed.", "o", "Cost")]


# ---------------------------------------------------------------- highlights


ANSWER = ("Short answer: it depends.\n\n- RAG keeps facts fresh:  you update the index,\n  not the model.\n"
          "1. Fine-tuning shapes   behaviour; it does not add facts.\nFine-tuning adds facts reliably. Done.")


def _sentences(*numbers: int) -> str:
    """What a judge quotes: sentences as split for grading, joined by a space."""
    sentences = split_sentences(ANSWER)
    return " ".join(sentences[n] for n in numbers)


def test_highlights_cover_the_quoted_words_and_give_back_the_answer_exactly():
    credit = _sentences(1, 2, 3)  # a window of sentences across a line break and a numbered item
    wrong = _sentences(5)
    graded = grade(5.0, [criterion("a", 2)], [
        point("A.", "a", covered=True, quote=credit), point("B.", "a", contradicted=True, quote=wrong)])
    segments = view.highlights(ANSWER, graded)
    assert "".join(s.text for s in segments) == ANSWER
    marked = {s.kind: s.text for s in segments if s.kind}
    assert marked["wrong"] == "Fine-tuning adds facts reliably."
    assert " ".join(marked["credit"].split()) == credit
    assert "fresh:  you" in marked["credit"] and "index,\n  not" in marked["credit"], "the answer's own spacing"
    assert marked["credit"] in ANSWER


def test_a_quote_joined_across_list_items_is_found_with_their_markers():
    answer = "Two reasons:\n- retrieval keeps facts fresh\n- tuning shapes tone"
    quote = " ".join(split_sentences(answer)[1:])
    assert quote == "retrieval keeps facts fresh tuning shapes tone"
    start, end = view.quote_span(answer, quote)
    assert answer[start:end] == "retrieval keeps facts fresh\n- tuning shapes tone"


def test_a_wrong_claim_wins_an_overlap_and_a_quote_not_in_the_answer_marks_nothing():
    hit = MisconceptionHit(id="m", claim="c", correction="x", criterion_key=None,
                           answer_quote="Fine-tuning adds facts reliably.")
    graded = grade(2.0, [criterion("a", 1)], [
        point("A.", "a", covered=True, quote="Fine-tuning adds facts reliably. Done."),
        point("B.", "a", covered=True, quote="words the answer never said")], misconceptions=[hit])
    segments = view.highlights(ANSWER, graded)
    assert [(s.kind, s.text) for s in segments if s.kind] == [("wrong", "Fine-tuning adds facts reliably."),
                                                              ("credit", "Done.")]
    assert "".join(s.text for s in segments) == ANSWER


def test_quote_span_needs_whole_words_in_order():
    assert view.quote_span("a cat sat", "cat sat") == (2, 9)
    assert view.quote_span("a cat sat", "sat cat") is None
    assert view.quote_span("a cat sat", "   ") is None
    assert view.highlights("", grade(1.0, [], [])) == []


# ---------------------------------------------------------------- badges


@pytest.mark.parametrize(("flag", "label"), [
    ("keyword-list", "Keyword list"), ("word-salad", "Jumbled wording"),
    ("injection-ignored", "Instructions to the grader ignored"), ("truncated", "Only partly graded"),
    ("retracted", "Taken back"), ("evidence-lowered", "Lowered to the evidence"),
    ("judge-fallback", "Fallback judge"),
    ("judges-disagree: kept the lower grade (offline-evidence 3.1 vs llm 8.3)", "Judges disagreed"),
])
def test_each_flag_has_a_plain_badge_with_help(flag, label):
    [badge] = view.badges(grade(5.0, [], [], flags=[flag]))
    assert badge.label == label and badge.help and badge.tone


def test_contradictions_and_wrong_claims_get_badges_and_unknown_flags_none():
    hit = MisconceptionHit(id="m", claim="c", correction="x", criterion_key=None, answer_quote="q")
    graded = grade(2.0, [criterion("a", 1)], [point("A.", "a", contradicted=True, quote="q")],
                   misconceptions=[hit], flags=["something-new", "keyword-list", "keyword-list"])
    assert [b.label for b in view.badges(graded)] == ["Keyword list", "Contradiction", "Wrong claim"]

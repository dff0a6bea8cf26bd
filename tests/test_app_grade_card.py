"""The grade card in AppTest: a grade built here, rendered by ``widgets.grade_card`` in a script of its own."""

from __future__ import annotations

import html

from streamlit.testing.v1 import AppTest

from simulator.grading.contract import CriterionGrade, Grade, MisconceptionHit, PointEvidence
from simulator.search.passage import Citation
from tests.test_literal_rendering import HOSTILE, MARKERS, html_bodies, html_text, rendered

ANSWER = ("Retrieval keeps facts fresh because you update the index, not the model.\n\n"
          "Fine-tuning is the reliable way to teach facts.  It also sets the tone.")
CREDIT = "Retrieval keeps facts fresh because you update the index, not the model."
WRONG = "Fine-tuning is the reliable way to teach facts."
MODEL_ANSWER = "Use retrieval for facts and fine-tuning for behaviour; combine them when both matter."
MISSED = "Fine-tuning pays off at very high volume, when a small tuned model undercuts long retrieved prompts."


def sample_grade(**extra) -> Grade:
    citation = Citation(passage_id="p1", document="rag", section="freshness", heading="Keeping facts fresh",
                        excerpt="Update the index, not the weights.", score=0.61)
    fields = dict(
        status="scored", judge="offline-evidence", model="minilm", overall=6.4,
        criteria=[
            CriterionGrade(key="k.facts", title="Where facts belong", weight=2, level=3,
                           descriptor="Puts changing facts in retrieval and says why.", justification=""),
            CriterionGrade(key="k.cost", title="Economics at scale", weight=1, level=0,
                           descriptor="Does not consider volume at all.", justification=""),
        ],
        points=[
            PointEvidence(key_point="Facts belong in an index you can update.", criterion_key="k.facts",
                          covered=True, strength=0.8, answer_quote=CREDIT, citation=citation),
            PointEvidence(key_point=MISSED, criterion_key="k.cost", covered=False, strength=0.1),
        ],
        misconceptions=[MisconceptionHit(id="ft-facts", claim="Fine-tuning teaches facts reliably.",
                                         correction="Fine-tuning shapes behaviour; facts go in retrieval.",
                                         criterion_key=None, answer_quote=WRONG)],
        citations=[citation], flags=["keyword-list", "judges-disagree: kept the lower grade (x 1 vs y 9)"],
        second_opinion=Grade(status="scored", judge="llm", overall=9.1, criteria=[]),
    )
    return Grade(**{**fields, **extra})


def card_script(grade_json: str, answer: str | None, model_answer: str | None) -> None:
    from app import widgets
    from simulator.grading.contract import Grade

    widgets.grade_card(Grade.model_validate_json(grade_json), key="t", answer=answer, model_answer=model_answer)


def render(grade: Grade, answer: str | None = ANSWER, model_answer: str | None = MODEL_ANSWER) -> AppTest:
    app = AppTest.from_function(card_script, args=(grade.model_dump_json(), answer, model_answer),
                                default_timeout=30)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def shown_html(app: AppTest) -> str:
    return "\n".join(html_text(body) for body in html_bodies(app))


def test_the_card_leads_with_the_verdict_then_next_steps_then_folded_details():
    app = render(sample_grade())
    [score, second] = [m for m in app.metric if m.label == "Score"]
    assert (score.value, score.proto.delta) == ("6.4 / 10", "Solid")
    assert (second.value, second.proto.delta) == ("9.1 / 10", "Strong"), "the other judge, inside the details"
    assert next(m.value for m in app.markdown if "-badge[" not in m.value) == "**Next steps**"
    steps = next(body for body in html_bodies(app) if body.startswith("<ol"))
    assert "Drop a wrong claim" in steps and "Explain the terms you name" in steps
    assert html.escape(MISSED) in steps, "a missed key point, whole"
    assert [e.label for e in app.expander] == ["Details: criteria, key points, your answer and sources"]


def test_badges_name_the_flags_in_plain_words_with_help():
    app = render(sample_grade())
    badges = [m for m in app.markdown if "-badge[" in m.value]
    labels = " ".join(b.value for b in badges)
    assert "Keyword list" in labels and "Judges disagreed" in labels and "Wrong claim" in labels
    assert all(b.proto.help for b in badges)


def test_criteria_bars_show_every_level_and_what_the_answer_did():
    app = render(sample_grade())
    bodies = html_bodies(app)
    zero = next(b for b in bodies if "Economics at scale<" in b)
    assert 'aria-label="level 0 of 4"' in zero and zero.count("background: transparent") == 4, "an empty bar"
    three = next(b for b in bodies if "Where facts belong<" in b)
    assert 'aria-label="level 3 of 4"' in three and three.count("background: transparent") == 1
    text = shown_html(app)
    assert "You made its point, though not fully." in text and "You did not make its point." in text
    assert "What level 0 means in the rubric: Does not consider volume at all." in text


def test_the_answer_is_shown_with_its_credited_and_wrong_sentences_marked_beside_the_model_answer():
    app = render(sample_grade())
    body = next(b for b in html_bodies(app) if "<mark" in b and "It also sets the tone" in b)
    assert f'earned credit" style="background: rgba(48, 164, 108, 0.30); color: inherit; border-radius: 2px">' \
           f"{html.escape(CREDIT)}</mark>" in body
    assert f">{html.escape(WRONG)}</mark>" in body
    assert html_text(body) == ANSWER, "the whole answer, exactly as typed"
    assert [m.value for m in app.markdown if "answer**" in m.value] == ["**Your answer**", "**Model answer**"]
    assert MODEL_ANSWER in shown_html(app)


def test_a_high_score_with_nothing_missed_says_why():
    grade = sample_grade(overall=8.3, misconceptions=[], flags=[], second_opinion=None,
                         points=[sample_grade().points[0]])
    text = shown_html(render(grade))
    assert "You made the one key point this question looks for." in text
    assert "Why this score: points made only in part leave Economics at scale at 0/4" in text


def test_an_unscored_grade_has_no_number_and_still_offers_the_model_answer():
    failed = Grade(status="unscored", judge="llm", model="gpt", reason="LLM judge unavailable: timed out")
    app = render(failed)
    assert not app.metric and "not scored" in app.warning[0].value
    assert "Judge: llm (gpt): LLM judge unavailable: timed out" in shown_html(app)
    assert [e.label for e in app.expander] == ["Model answer"]
    assert not any("/ 10" in m.value for m in app.markdown)


def test_candidate_and_content_text_appear_only_in_literal_elements():
    hostile = sample_grade(
        reason=HOSTILE, feedback=HOSTILE,
        criteria=[CriterionGrade(key="k.facts", title=HOSTILE, weight=1, level=0, descriptor=HOSTILE,
                                 justification=f"[Lowered from 2] {HOSTILE}")],
        points=[PointEvidence(key_point=HOSTILE, criterion_key="k.facts", covered=True, strength=1.0,
                              answer_quote=HOSTILE),
                PointEvidence(key_point=HOSTILE, criterion_key="k.facts", covered=False, strength=0.0,
                              contradicted=True, contradiction_quote=HOSTILE)],
        misconceptions=[MisconceptionHit(id="m", claim=HOSTILE, correction=HOSTILE, criterion_key=None,
                                         answer_quote=HOSTILE)],
        citations=[Citation(passage_id="p", document="d", section="s", heading=HOSTILE, excerpt=HOSTILE)],
        second_opinion=Grade(status="unscored", judge="llm", reason=HOSTILE),
    )
    app = render(hostile, answer=f"Intro. {HOSTILE}", model_answer=HOSTILE)
    literal, markdown = rendered(app)
    for marker in MARKERS:
        assert not [t for t in markdown if marker in t], f"{marker!r} reached Markdown"
        assert any(marker in t for t in literal), f"{marker!r} is not shown"
    assert not any("<b>bold</b>" in body for body in html_bodies(app)), "HTML is escaped in st.html"

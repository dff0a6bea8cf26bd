"""Widgets shared by the pages: grade cards and scored transcripts. Candidate text is always rendered inert."""

from __future__ import annotations

import streamlit as st

from simulator.grading.contract import Grade
from simulator.grading.rules import MAX_ANSWER_CHARS
from simulator.reports.export import inert_markdown
from simulator.storage.records import SessionDetail, TurnRecord

AVATARS = {"interviewer": ":material/record_voice_over:", "candidate": ":material/person:"}


def inert(text: str) -> None:
    """Show untrusted text exactly as typed: no HTML, links, images or Markdown formatting."""
    st.markdown(inert_markdown(text))


def judge_label(grade: Grade) -> str:
    label = f"Judge: {grade.judge}" + (f" ({grade.model})" if grade.model else "")
    return label + (" · fallback" if "judge-fallback" in grade.flags else "")


def grade_card(grade: Grade | None, key: str) -> None:
    """Overall score, criterion bars, covered and missed points, misconceptions and cited passages."""
    if grade is None:
        st.caption("Not graded yet.")
        return
    if grade.status != "scored":
        st.warning(f"Unscored by {grade.judge}: {grade.reason}", icon=":material/help:")
        return
    with st.container(border=True, key=f"grade-{key}"):
        top = st.columns([1, 3])
        top[0].metric("Score", f"{grade.overall:.1f} / 10")
        top[1].caption(judge_label(grade))
        if grade.reason:
            top[1].caption(inert_markdown(grade.reason))
        if grade.feedback:
            top[1].markdown(inert_markdown(grade.feedback))
        for criterion in grade.criteria:
            st.progress(criterion.level / 4, text=f"{criterion.title}: {criterion.level}/4 · {criterion.descriptor}")
            if "[Lowered from" in criterion.justification:  # the LLM's level was more than its quotes prove
                st.caption(inert_markdown(criterion.justification))
        _points(grade)
        for hit in grade.misconceptions:
            st.error(f"Misconception: {inert_markdown(hit.claim)}  \nInstead: {inert_markdown(hit.correction)}",
                     icon=":material/report:")
        _citations(grade)
    if grade.second_opinion is not None:  # not in an expander: the card's own source expanders cannot nest
        st.caption("Second opinion: the judges disagreed by 3 points or more even after a re-check, so the lower "
                   "grade above stands. The other judge's grade and evidence:")
        grade_card(grade.second_opinion, f"{key}-second")


def _points(grade: Grade) -> None:
    covered, missed = grade.covered, grade.missed
    left, right = st.columns(2)
    with left:
        st.markdown(f"**Covered ({len(covered)})**")
        for point in covered:
            quote = f"  \n  _you said:_ “{inert_markdown(point.answer_quote)}”" if point.answer_quote else ""
            st.markdown(f"- :green[✓] {inert_markdown(point.key_point)}{quote}")
    with right:
        st.markdown(f"**Missed ({len(missed)})**")
        for point in missed:
            quote = (f"  \n  _you said the opposite:_ “{inert_markdown(point.contradiction_quote)}”"
                     if point.contradicted and point.contradiction_quote else "")
            st.markdown(f"- :red[✗] {inert_markdown(point.key_point)}{quote}")


def _citations(grade: Grade) -> None:
    for citation in grade.citations:
        with st.expander(f"Source: {citation.heading} ({citation.reference})", icon=":material/menu_book:"):
            st.markdown(inert_markdown(citation.excerpt))
            st.caption(f"retrieval score {citation.score:.3f}")


def turn(record: TurnRecord, asked: TurnRecord | None = None) -> None:
    """One chat turn. An answer carries its grade card and, when it answers a main question ``asked``,
    that question's model answer (shown only once answered, so it never spoils the question)."""
    if record.kind == "note":
        st.caption(inert_markdown(record.text))
        return
    role = "assistant" if record.role == "interviewer" else "user"
    with st.chat_message(role, avatar=AVATARS[record.role]):
        if record.kind == "follow_up":
            st.caption("Follow-up")
        inert(record.text)
        if record.kind != "answer":
            return
        if record.duration_s is not None:
            over = " · over the time limit" if "over_time_limit_s" in record.meta else ""
            st.caption(f"Answered in {record.duration_s:.0f} s{over}")
        if "truncated_from_chars" in record.meta:
            st.caption(f"Cut to {MAX_ANSWER_CHARS:,} characters from {record.meta['truncated_from_chars']:,}.")
        grade_card(record.grade, key=str(record.id))
        question = asked.question() if asked is not None and asked.kind == "question" else None
        if question is not None:
            model_answer(question.model_answer)


def model_answer(text: str) -> None:
    """The question's model answer, folded (shown only once answered, so it never spoils the question)."""
    with st.expander("Model answer", icon=":material/lightbulb:"):
        st.markdown(inert_markdown(text))


def transcript(detail: SessionDetail) -> None:
    by_id = {t.id: t for t in detail.turns}
    for record in detail.turns:
        turn(record, by_id.get(record.parent_turn_id or -1))


def problems_report(name: str, problems: list[str], advice: str = "") -> None:
    """Why nothing was saved: one ``file:line: field: message`` line per problem, in a copyable block."""
    st.error(f"Nothing was saved. {inert_markdown(name)} has {len(problems)} problem(s){advice}:",
             icon=":material/error:")
    st.code("\n".join(problems), language=None, wrap_lines=True)

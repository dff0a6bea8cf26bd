"""Widgets shared by the pages: literal text, grade cards and scored transcripts.

Text the app did not write itself (answers, questions and model answers as stored, key points, misconception
claims, judge feedback and quotes, note excerpts, profile and file names) goes through :func:`literal` or
:func:`literal_caption`, never into Markdown. Streamlit's Markdown turns a bare ``https://...`` or ``www....``
into a link and ``:smile:``, ``:material/home:`` or ``:red[...]`` into emoji, icons and colour even when the
text is backslash-escaped, and widget labels, captions and alerts are Markdown too, so those carry our words only.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator

import streamlit as st

from simulator.grading.contract import Grade, PointEvidence
from simulator.grading.rules import MAX_ANSWER_CHARS
from simulator.storage.records import SessionDetail, TurnRecord

AVATARS = {"interviewer": ":material/record_voice_over:", "candidate": ":material/person:"}
_CAPTION_STYLE = "font-size: 0.875rem; opacity: 0.65; white-space: pre-wrap; overflow-wrap: anywhere; margin: 0"


def literal(text: str) -> None:
    """``text`` exactly as typed, in a plain-text element: line breaks kept, long lines wrapped, and no
    Markdown, HTML, links, emoji or icons."""
    st.text(text, width="stretch")


inert = literal  # the name the pages used before; kept so page edits made meanwhile still run


def literal_caption(text: str) -> None:
    """Like :func:`literal`, in the small grey style of a caption (escaped HTML: never read as Markdown)."""
    st.html(f'<p style="{_CAPTION_STYLE}">{html.escape(text)}</p>')


def literal_stream(chunks: Iterator[str]) -> str:
    """Show streamed text in one plain-text element as it arrives (st.write_stream would render Markdown);
    returns the whole text."""
    slot = st.empty()
    shown = ""
    for chunk in chunks:
        shown += chunk
        slot.text(shown, width="stretch")
    return shown


def judge_label(grade: Grade) -> str:
    label = f"Judge: {grade.judge}" + (f" ({grade.model})" if grade.model else "")
    return label + (" · fallback" if "judge-fallback" in grade.flags else "")


def grade_card(grade: Grade | None, key: str) -> None:
    """Overall score, criterion bars, covered and missed points, misconceptions and cited passages."""
    if grade is None:
        st.caption("Not graded yet.")
        return
    if grade.status != "scored":
        st.warning("This answer was not scored.", icon=":material/help:")
        literal_caption(f"{judge_label(grade)}: {grade.reason}")
        return
    with st.container(border=True, key=f"grade-{key}"):
        top = st.columns([1, 3])
        top[0].metric("Score", f"{grade.overall:.1f} / 10")
        with top[1]:
            literal_caption(judge_label(grade) + (f"\n{grade.reason}" if grade.reason else ""))
            if grade.feedback:
                literal(grade.feedback)
        for criterion in grade.criteria:  # titles and descriptors come from the bundled rubrics
            st.progress(criterion.level / 4, text=f"{criterion.title}: {criterion.level}/4 · {criterion.descriptor}")
            if "[Lowered from" in criterion.justification:  # the LLM's level was more than its quotes prove
                literal_caption(criterion.justification)
        _points(grade)
        _misconceptions(grade)
        _citations(grade)
    if grade.second_opinion is not None:  # not in an expander: the card's own source expanders cannot nest
        st.caption("Second opinion: the judges disagreed by 3 points or more even after a re-check, so the lower "
                   "grade above stands. The other judge's grade and evidence:")
        grade_card(grade.second_opinion, f"{key}-second")


def _points(grade: Grade) -> None:
    left, right = st.columns(2)
    with left:
        st.markdown(f"**:green[✓] Covered ({len(grade.covered)})**")
        _point_list("✓", grade.covered, "you said", lambda p: p.answer_quote)
    with right:
        st.markdown(f"**:red[✗] Missed ({len(grade.missed)})**")
        _point_list("✗", grade.missed, "you said the opposite",
                    lambda p: p.contradiction_quote if p.contradicted else None)


def _point_list(mark: str, points: list[PointEvidence], quote_label: str,
                quote_of: Callable[[PointEvidence], str | None]) -> None:
    """One plain-text block per column: each key point on its line, the answer's words under it."""
    lines = []
    for point in points:
        lines.append(f"{mark} {point.key_point}")
        quote = quote_of(point)
        if quote:
            lines.append(f"    {quote_label}: “{quote}”")
    if lines:
        literal("\n".join(lines))


def _misconceptions(grade: Grade) -> None:
    if not grade.misconceptions:
        return
    st.error(f"**Misconceptions ({len(grade.misconceptions)})**: what the answer claimed, and the correction.",
             icon=":material/report:")
    literal("\n".join(f"✗ {hit.claim}\n    Instead: {hit.correction}" for hit in grade.misconceptions))


def _citations(grade: Grade) -> None:
    for citation in grade.citations:  # the reference is a slug made from file and heading names
        with st.expander(f"Source: {citation.reference}", icon=":material/menu_book:"):
            literal_caption(citation.heading)
            literal(citation.excerpt)
            st.caption(f"retrieval score {citation.score:.3f}")


def turn(record: TurnRecord, asked: TurnRecord | None = None) -> None:
    """One chat turn. An answer carries its grade card and, when it answers a main question ``asked``,
    that question's model answer (shown only once answered, so it never spoils the question)."""
    if record.kind == "note":
        literal_caption(record.text)
        return
    role = "assistant" if record.role == "interviewer" else "user"
    with st.chat_message(role, avatar=AVATARS[record.role]):
        if record.kind == "follow_up":
            st.caption("Follow-up")
        literal(record.text)
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
        literal(text)


def transcript(detail: SessionDetail) -> None:
    by_id = {t.id: t for t in detail.turns}
    for record in detail.turns:
        turn(record, by_id.get(record.parent_turn_id or -1))


def problems_report(problems: list[str], advice: str = "") -> None:
    """Why nothing was saved: one ``file:line: field: message`` line per problem, in a copyable block."""
    st.error(f"Nothing was saved: {len(problems)} problem(s){advice}.", icon=":material/error:")
    st.code("\n".join(problems), language=None, wrap_lines=True)

"""Widgets shared by the pages: literal text, grade cards and scored transcripts.

Text the app did not write itself (answers, questions and model answers as stored, key points, misconception
claims, judge feedback and quotes, note excerpts, profile and file names) goes through :func:`literal` or
:func:`literal_caption`, never into Markdown. Streamlit's Markdown turns a bare ``https://...`` or ``www....``
into a link and ``:smile:``, ``:material/home:`` or ``:red[...]`` into emoji, icons and colour even when the
text is backslash-escaped, and widget labels, captions and alerts are Markdown too, so those carry our words only.
"""

from __future__ import annotations

import html
from collections.abc import Iterator

import streamlit as st

from app import services
from app.grade_card import grade_card, judge_label, model_answer_folded
from app.voice import delivery_card, read_aloud
from app.voice_panel import forget_recording, reading_aloud, take_spoken_answer, voice_panel
from simulator.grading.rules import MAX_ANSWER_CHARS
from simulator.storage.records import SessionDetail, TurnRecord

__all__ = [
    "AVATARS",
    "delivery_card",
    "forget_recording",
    "grade_card",
    "inert",
    "judge_label",
    "literal",
    "literal_caption",
    "literal_stream",
    "model_answer",
    "problems_report",
    "read_aloud",
    "reading_aloud",
    "spoken",
    "take_spoken_answer",
    "transcript",
    "turn",
    "voice_panel",
]
model_answer = model_answer_folded  # on its own; the grade card shows it beside the answer

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


def turn(record: TurnRecord, asked: TurnRecord | None = None) -> None:
    """One chat turn. An answer carries its grade card and, when it answers a main question ``asked``,
    that question's model answer (shown only once answered, so it never spoils the question): beside the
    highlighted answer in the card's details, or folded on its own when the answer was not scored."""
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
        question = asked.question() if asked is not None and asked.kind == "question" else None
        grade_card(record.grade, key=str(record.id), answer=record.text,
                   model_answer=question.model_answer if question is not None else None)
        spoken(record)


def spoken(record: TurnRecord) -> None:
    """A spoken answer's delivery card and, when the candidate kept it, the recording."""
    if record.delivery is not None:
        delivery_card(record.delivery, key=str(record.id))
    if record.has_recording:
        kept = services.recording(record.id)
        if kept is not None:
            st.audio(kept.data, format=kept.mime)



def transcript(detail: SessionDetail) -> None:
    by_id = {t.id: t for t in detail.turns}
    for record in detail.turns:
        turn(record, by_id.get(record.parent_turn_id or -1))


def problems_report(problems: list[str], advice: str = "") -> None:
    """Why nothing was saved: one ``file:line: field: message`` line per problem, in a copyable block."""
    st.error(f"Nothing was saved: {len(problems)} problem(s){advice}.", icon=":material/error:")
    st.code("\n".join(problems), language=None, wrap_lines=True)

"""Scored transcripts: Markdown for reading, JSON for re-rendering, and a plain-text grade card for the terminal.

Candidate text is untrusted, and so is anything else this module did not write (questions and model answers
from custom YAML, uploaded notes, judge output that quotes the answer, profile and model names). In Markdown each
such string is put in code: a code span inline, a fenced code block for longer text. Backslash escapes are not
enough: GitHub turns ``:smile:``, ``@name`` and ``#12`` into emoji, mentions and links after the Markdown is
rendered, where the escapes are already gone, and renderers differ on which escapes stop a bare ``www.`` or
``https://`` from becoming a link. Every renderer shows code as the characters typed and nothing else.
"""

from __future__ import annotations

import json
import re
import textwrap
from typing import Any

from simulator.grading.contract import Grade
from simulator.reports import scoring
from simulator.speech.delivery import Delivery
from simulator.storage.records import SessionDetail, TurnRecord
from simulator.text import shorten

EXPORT_FORMAT = "interview-simulator/session@1"
"""Identifies the JSON export layout; bump when it changes incompatibly."""

_BACKTICK_RUN = re.compile(r"`+")
_TERMINAL_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LEVEL_BAR = "█"
_EMPTY_BAR = "░"
_BLOCK_WIDTH = 100  # code blocks do not wrap on GitHub, so longer lines are wrapped at word breaks here


def inert_markdown(text: str) -> str:
    """``text`` as an inline code span, so any Markdown renderer shows exactly its characters: no HTML, links,
    emoji, mentions or formatting. Runs of whitespace become one space (a span is one line); "" stays "".
    In a table cell, escape ``|`` too (GFM splits cells before it reads code spans)."""
    flat = " ".join(text.split())
    if not flat:
        return ""
    fence = "`" * (_longest_backtick_run(flat) + 1)
    # A span that starts or ends with a backtick needs a space inside each fence; one space is trimmed off each side.
    pad = " " if flat[0] == "`" or flat[-1] == "`" else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def inert_markdown_block(text: str) -> str:
    """``text`` as a fenced code block shown literally everywhere. Its fence is longer than any backtick run
    in the text, so no line of it can close the block; lines over 100 characters are wrapped at spaces."""
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    lines = [wrapped for line in text.splitlines() for wrapped in _wrap(line)]
    return "\n".join([f"{fence}text", *lines, fence])


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in _BACKTICK_RUN.findall(text)), default=0)


def _wrap(line: str) -> list[str]:
    if len(line) <= _BLOCK_WIDTH:
        return [line]
    return textwrap.wrap(line, _BLOCK_WIDTH, break_long_words=False, break_on_hyphens=False) or [line]


def terminal_safe(text: str) -> str:
    """``text`` without control characters (ANSI escapes among them), for printing to a terminal."""
    return _TERMINAL_CONTROLS.sub("\N{REPLACEMENT CHARACTER}", text)


def level_bar(level: int, width: int = 4) -> str:
    return _LEVEL_BAR * level + _EMPTY_BAR * (width - level)


def session_json(detail: SessionDetail) -> dict[str, Any]:
    """Everything needed to re-render the transcript (questions and rubrics as asked, every grade). Each answer has
    ``delivery`` (how a spoken answer was spoken; null for a typed one) and ``has_recording`` (whether its audio
    was kept in the app; the audio itself is never exported)."""
    return {"format": EXPORT_FORMAT, "session": detail.model_dump(mode="json")}


def session_json_text(detail: SessionDetail) -> str:
    return json.dumps(session_json(detail), ensure_ascii=False, indent=2)


def session_from_json(data: dict[str, Any]) -> SessionDetail:
    """Read back a JSON export (raises ``ValueError`` for another format)."""
    if data.get("format") != EXPORT_FORMAT:
        raise ValueError(f"not an Interview Simulator session export (format {data.get('format')!r})")
    return SessionDetail.model_validate(data["session"])


def average_score(detail: SessionDetail) -> float | None:
    """The session's score: the mean of its questions' scores, each the mean of the question's scored answers
    (main answer and follow-ups; see :mod:`simulator.reports.scoring`). None when nothing is scored."""
    return scoring.session_score(detail)


# ---------------------------------------------------------------- Markdown transcript


def session_markdown(detail: SessionDetail) -> str:
    average = average_score(detail)
    lines = [
        f"# Interview {detail.id}: {inert_markdown(detail.profile)}",
        "",
        f"- Started: {detail.started_at:%Y-%m-%d %H:%M} UTC; status: {detail.status}",
        f"- Interviewer: {inert_markdown(detail.interviewer)}; judge: {inert_markdown(detail.judge)}",
        f"- Average score: {'not scored' if average is None else f'{average:.1f} / 10'} "
        f"over {len(scoring.question_scores(detail))} scored question(s), {len(detail.answers)} answer(s)",
        "",
    ]
    by_id = {t.id: t for t in detail.turns}
    number = 0
    for turn in detail.turns:
        if turn.kind == "question":
            number += 1
            lines += _question_md(turn, number)
        elif turn.kind == "follow_up":
            lines += ["### Follow-up", "", inert_markdown_block(turn.text), ""]
        elif turn.kind == "note":
            lines += ["*Note:*", "", inert_markdown_block(turn.text), ""]
        else:
            lines += _answer_md(turn, by_id.get(turn.parent_turn_id or -1))
    return "\n".join(lines).rstrip() + "\n"


def _question_md(turn: TurnRecord, number: int) -> list[str]:
    question = turn.question()
    about = f" ({question.topic}, {question.difficulty})" if question else ""
    return [f"## Question {number}{about}", "", inert_markdown_block(turn.text), ""]


def _answer_md(turn: TurnRecord, asked: TurnRecord | None) -> list[str]:
    timing = f" ({turn.duration_s:.0f} s)" if turn.duration_s is not None else ""
    lines = [f"**Answer**{timing}:", "", inert_markdown_block(turn.text), ""]
    if turn.delivery is not None:
        lines += _delivery_md(turn.delivery, turn.has_recording)
    lines += _grade_md(turn.grade)
    question = asked.question() if asked is not None and asked.kind == "question" else None
    if question is not None:
        lines += ["<details><summary>Model answer</summary>", "", inert_markdown_block(question.model_answer), "",
                  "</details>", ""]
    return lines


def _delivery_md(delivery: Delivery, recording_kept: bool) -> list[str]:
    """How a spoken answer was spoken. Its words are ours, but an imported JSON export can carry anything, so
    they go in code like every other string this module did not write."""
    engine = f", transcribed by {inert_markdown(delivery.engine)}" if delivery.engine.strip() else ""
    kept = ", recording kept" if recording_kept else ""
    lines = [f"**Delivery** (spoken answer{engine}{kept}): {inert_markdown(delivery.summary())}", ""]
    if delivery.notes:
        lines += [*(f"- {inert_markdown(note)}" for note in delivery.notes), ""]
    return lines


def _grade_md(grade: Grade | None) -> list[str]:
    if grade is None:
        return ["*Not graded yet.*", ""]
    if grade.status != "scored":
        return [f"**Unscored** by {inert_markdown(grade.judge)}: {inert_markdown(grade.reason or '')}", ""]
    lines = [f"**Score: {grade.overall:.1f} / 10** (judge: {inert_markdown(_judge_label(grade))})", ""]
    if grade.reason:
        lines += [f"*Note:* {inert_markdown(grade.reason)}", ""]
    lines += ["| Criterion | Level | Why |", "|---|---|---|"]
    lines += [f"| {c.title} | {c.level}/4 {level_bar(c.level)} | {_cell(c.justification or c.descriptor)} |"
              for c in grade.criteria]
    lines.append("")
    for point in grade.covered:
        quote = f" (you said: {inert_markdown(point.answer_quote)})" if point.answer_quote else ""
        source = f" (source: {inert_markdown(point.citation.reference)})" if point.citation else ""
        lines.append(f"- Covered: {inert_markdown(point.key_point)}{quote}{source}")
    lines += [f"- Missed: {inert_markdown(p.key_point)}" for p in grade.missed]
    for hit in grade.misconceptions:
        lines.append(f"- Misconception: {inert_markdown(hit.claim)} Instead: {inert_markdown(hit.correction)}")
    if grade.feedback:
        lines += ["", "Feedback:", "", inert_markdown_block(grade.feedback)]
    if grade.citations:
        sources = "; ".join(f"{inert_markdown(c.heading)} ({inert_markdown(c.reference)})" for c in grade.citations)
        lines += ["", f"Sources: {sources}"]
    if grade.second_opinion is not None:  # the judges disagreed: the lower grade stands, the other is shown too
        lines += ["", "Second opinion (the judges disagreed; the lower grade above stands):", "",
                  *_grade_md(grade.second_opinion)]
    return [*lines, ""]


def _cell(text: str) -> str:
    return inert_markdown(text).replace("|", "\\|")


def _judge_label(grade: Grade) -> str:
    return f"{grade.judge}, {grade.model}" if grade.model else grade.judge


# ---------------------------------------------------------------- terminal grade card


def grade_card(grade: Grade, width: int = 78) -> str:
    """A plain-text grade card for the terminal interview."""
    if grade.status != "scored":
        return f"  Unscored ({grade.judge}): {terminal_safe(grade.reason or '')}"
    lines = [f"  Score {grade.overall:.1f}/10   judge: {_judge_label(grade)}"]
    if grade.reason:
        lines.append(f"  note: {terminal_safe(grade.reason)}")
    title_width = max((len(c.title) for c in grade.criteria), default=0)
    lines += [f"  {c.title:<{title_width}}  {level_bar(c.level)} {c.level}/4" for c in grade.criteria]
    lines += [f"  + {_fit(p.key_point, width)}" for p in grade.covered]
    lines += [f"  - {_fit(p.key_point, width)}" for p in grade.missed]
    other = grade.second_opinion
    if other is not None and other.overall is not None:
        lines.append(f"  second opinion: {other.overall:.1f}/10 by {_judge_label(other)} (the lower grade stands)")
    lines += [f"  ! {_fit(h.claim, width)} -> {_fit(h.correction, width)}" for h in grade.misconceptions]
    if grade.citations:
        lines.append("  sources: " + ", ".join(c.reference for c in grade.citations[:4]))
    return "\n".join(lines)



def _fit(text: str, width: int) -> str:
    return shorten(terminal_safe(text), width)


def transcript_text(detail: SessionDetail) -> str:
    """A compact plain-text view of a session (``sessions show``)."""
    average = average_score(detail)
    lines = [f"Session {detail.id}  profile: {terminal_safe(detail.profile)}  status: {detail.status}  "
             f"started: {detail.started_at:%Y-%m-%d %H:%M} UTC",
             f"interviewer: {detail.interviewer}  judge: {detail.judge}  "
             f"average: {'-' if average is None else f'{average:.1f}/10'}  plan: {', '.join(detail.plan)}", ""]
    for turn in detail.turns:
        who = "Interviewer" if turn.role == "interviewer" else "You"
        lines.append(f"[{turn.seq}] {who} ({turn.kind}): {terminal_safe(turn.text)}")
        if turn.delivery is not None:
            lines += _delivery_text(turn.delivery, turn.has_recording)
        if turn.grade is not None:
            lines.append(grade_card(turn.grade))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _delivery_text(delivery: Delivery, recording_kept: bool) -> list[str]:
    engine = f", transcribed by {delivery.engine}" if delivery.engine.strip() else ""
    kept = ", recording kept" if recording_kept else ""
    lines = [terminal_safe(f"  Delivery (spoken{engine}{kept}): {delivery.summary()}")]
    return lines + [f"  * {terminal_safe(note)}" for note in delivery.notes]

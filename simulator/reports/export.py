"""Scored transcripts: Markdown for reading, JSON for re-rendering, and a plain-text grade card for the terminal.

Candidate text is untrusted: in Markdown it is escaped so that nothing in an answer (HTML, links, images,
headings, tables) renders as anything but the characters the candidate typed.
"""

from __future__ import annotations

import json
import re
from typing import Any

from simulator.grading.contract import Grade
from simulator.storage.records import SessionDetail, TurnRecord
from simulator.text import shorten

EXPORT_FORMAT = "interview-simulator/session@1"
"""Identifies the JSON export layout; bump when it changes incompatibly."""

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#$])")
_MD_LINE_START = re.compile(r"^(\s*)([-+=]|\d+(?=[.)]))", re.MULTILINE)
_TERMINAL_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LEVEL_BAR = "█"
_EMPTY_BAR = "░"


def inert_markdown(text: str) -> str:
    """``text`` escaped so Markdown renders it literally: no HTML, links, images, emphasis or headings."""
    escaped = _MD_SPECIAL.sub(r"\\\1", text)
    return _MD_LINE_START.sub(_escape_line_start, escaped)


def _escape_line_start(match: re.Match[str]) -> str:
    indent, marker = match.groups()
    # A list number is defused by escaping the dot or parenthesis after it; a bullet by escaping itself.
    return f"{indent}{marker}\\" if marker[0].isdigit() else f"{indent}\\{marker}"


def terminal_safe(text: str) -> str:
    """``text`` without control characters (ANSI escapes among them), for printing to a terminal."""
    return _TERMINAL_CONTROLS.sub("\N{REPLACEMENT CHARACTER}", text)


def level_bar(level: int, width: int = 4) -> str:
    return _LEVEL_BAR * level + _EMPTY_BAR * (width - level)


def session_json(detail: SessionDetail) -> dict[str, Any]:
    """Everything needed to re-render the transcript (questions and rubrics as asked, every grade)."""
    return {"format": EXPORT_FORMAT, "session": detail.model_dump(mode="json")}


def session_json_text(detail: SessionDetail) -> str:
    return json.dumps(session_json(detail), ensure_ascii=False, indent=2)


def session_from_json(data: dict[str, Any]) -> SessionDetail:
    """Read back a JSON export (raises ``ValueError`` for another format)."""
    if data.get("format") != EXPORT_FORMAT:
        raise ValueError(f"not an Interview Simulator session export (format {data.get('format')!r})")
    return SessionDetail.model_validate(data["session"])


def average_score(detail: SessionDetail) -> float | None:
    scored = [a.grade.overall for a in detail.answers if a.grade and a.grade.overall is not None]
    return round(sum(scored) / len(scored), 2) if scored else None


# ---------------------------------------------------------------- Markdown transcript


def session_markdown(detail: SessionDetail) -> str:
    average = average_score(detail)
    lines = [
        f"# Interview {detail.id}: {inert_markdown(detail.profile)}",
        "",
        f"- Started: {detail.started_at:%Y-%m-%d %H:%M} UTC; status: {detail.status}",
        f"- Interviewer: {detail.interviewer}; judge: {detail.judge}",
        f"- Average score: {'not scored' if average is None else f'{average:.1f} / 10'} "
        f"over {len(detail.answers)} answer(s)",
        "",
    ]
    by_id = {t.id: t for t in detail.turns}
    number = 0
    for turn in detail.turns:
        if turn.kind == "question":
            number += 1
            lines += _question_md(turn, number)
        elif turn.kind == "follow_up":
            lines += [f"### Follow-up: {inert_markdown(turn.text)}", ""]
        elif turn.kind == "note":
            lines += [f"*Note: {inert_markdown(turn.text)}*", ""]
        else:
            lines += _answer_md(turn, by_id.get(turn.parent_turn_id or -1))
    return "\n".join(lines).rstrip() + "\n"


def _question_md(turn: TurnRecord, number: int) -> list[str]:
    question = turn.question()
    about = f" ({question.topic}, {question.difficulty})" if question else ""
    return [f"## Question {number}{about}", "", inert_markdown(turn.text), ""]


def _answer_md(turn: TurnRecord, asked: TurnRecord | None) -> list[str]:
    timing = f" ({turn.duration_s:.0f} s)" if turn.duration_s is not None else ""
    lines = [f"**Answer**{timing}:", ""]
    lines += [f"> {inert_markdown(line)}" if line.strip() else ">" for line in turn.text.splitlines()] + [""]
    lines += _grade_md(turn.grade)
    question = asked.question() if asked is not None and asked.kind == "question" else None
    if question is not None:
        lines += ["<details><summary>Model answer</summary>", "", inert_markdown(question.model_answer), "",
                  "</details>", ""]
    return lines


def _grade_md(grade: Grade | None) -> list[str]:
    if grade is None:
        return ["*Not graded yet.*", ""]
    if grade.status != "scored":
        return [f"**Unscored** by {grade.judge}: {inert_markdown(grade.reason or '')}", ""]
    lines = [f"**Score: {grade.overall:.1f} / 10** (judge: {_judge_label(grade)})", ""]
    if grade.reason:
        lines += [f"*{inert_markdown(grade.reason)}*", ""]
    lines += ["| Criterion | Level | Why |", "|---|---|---|"]
    lines += [f"| {c.title} | {c.level}/4 {level_bar(c.level)} | {_cell(c.justification or c.descriptor)} |"
              for c in grade.criteria]
    lines.append("")
    for point in grade.covered:
        quote = f' (you said: "{inert_markdown(point.answer_quote)}")' if point.answer_quote else ""
        source = f" [{point.citation.reference}]" if point.citation else ""
        lines.append(f"- Covered: {inert_markdown(point.key_point)}{quote}{source}")
    lines += [f"- Missed: {inert_markdown(p.key_point)}" for p in grade.missed]
    for hit in grade.misconceptions:
        lines.append(f"- Misconception: {inert_markdown(hit.claim)} Instead: {inert_markdown(hit.correction)}")
    if grade.feedback:
        lines += ["", f"Feedback: {inert_markdown(grade.feedback)}"]
    if grade.citations:
        lines += ["", "Sources: " + "; ".join(f"{inert_markdown(c.heading)} ({c.reference})" for c in grade.citations)]
    if grade.second_opinion is not None:  # the judges disagreed: the lower grade stands, the other is shown too
        lines += ["", "Second opinion (the judges disagreed; the lower grade above stands):", "",
                  *_grade_md(grade.second_opinion)]
    return [*lines, ""]


def _cell(text: str) -> str:
    return inert_markdown(" ".join(text.split()))


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
        if turn.grade is not None:
            lines.append(grade_card(turn.grade))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"

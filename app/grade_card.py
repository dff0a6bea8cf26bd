"""The grade card: the verdict and score, what to do next and the flags up front; the evidence folded below.

What to show is worked out in :mod:`simulator.reports.grade_view`; this module only draws it. Every text the app
did not write (answer, quotes, key points, model answer, rubric titles and descriptors, judge reasoning, cited
notes) goes into escaped HTML or plain text, never into Markdown, so links, emoji and tags stay as typed.
"""

from __future__ import annotations

import html

import streamlit as st

from simulator.grading.contract import Grade
from simulator.reports import grade_view as view

_COLOURS = {"red": "#e5484d", "orange": "#f76b15", "yellow": "#e2b203", "green": "#30a46c"}
_EMPTY_CELL = "rgba(128, 128, 128, 0.45)"
_MARKS = {"credit": ("rgba(48, 164, 108, 0.30)", "earned credit"),
          "wrong": ("rgba(229, 72, 77, 0.30)", "says the opposite of a key point, or a wrong claim")}
_WRAP = "white-space: pre-wrap; overflow-wrap: anywhere"
_SMALL = "font-size: 0.875rem"
_MUTED = "font-size: 0.875rem; opacity: 0.65"
_BANDS_HELP = "Strong: 8 or more. Solid: 6 or more. Partial: 4 or more. Weak: below 4."
DETAILS_LABEL = "Details: criteria, key points, your answer and sources"


def judge_label(grade: Grade) -> str:
    label = f"Judge: {grade.judge}" + (f" ({grade.model})" if grade.model else "")
    return label + (" · fallback" if view.FALLBACK_FLAG in grade.flags else "")


def grade_card(grade: Grade | None, key: str, answer: str | None = None, model_answer: str | None = None) -> None:
    """Verdict, next steps and badges, then the details folded. Given the ``answer`` it shows it with the words
    that earned credit highlighted, beside the question's ``model_answer`` (shown only once answered)."""
    if grade is None or grade.status != "scored":
        _not_scored(grade)
        if model_answer is not None:
            model_answer_folded(model_answer)
        return
    with st.container(border=True, key=f"grade-{key}"):
        _headline(grade)
        _next_steps(grade)
        with st.expander(DETAILS_LABEL, icon=":material/fact_check:"):
            _criteria(grade)
            _points(grade)
            _misconceptions(grade)
            _answers(grade, answer, model_answer)
            _sources(grade)
            _second_opinion(grade)


def model_answer_folded(text: str) -> None:
    """The question's model answer, folded (shown only once answered, so it never spoils the question)."""
    with st.expander("Model answer", icon=":material/lightbulb:"):
        st.text(text, width="stretch")


def _not_scored(grade: Grade | None) -> None:
    if grade is None:
        st.caption("Not graded yet.")
        return
    st.warning("This answer was not scored, so it has no score.", icon=":material/help:")
    _caption(f"{judge_label(grade)}: {grade.reason}")


# ---------------------------------------------------------------- up front


def _headline(grade: Grade) -> None:
    shown = view.verdict(grade)
    assert shown is not None
    score, notes = st.columns([1, 2])
    score.metric("Score", shown.score_text, delta=shown.label, delta_color=shown.tone,
                 delta_arrow="off", help=_BANDS_HELP)
    with notes:
        _badges(grade)
        for line in (view.points_line(grade), view.why_score(grade)):
            if line:
                _text(line)
        _caption(judge_label(grade) + (f"\n{grade.reason}" if grade.reason else ""))


def _badges(grade: Grade) -> None:
    badges = view.badges(grade)
    if not badges:
        return
    with st.container(horizontal=True, gap="small"):
        for badge in badges:  # labels and help are ours
            st.badge(badge.label, icon=badge.icon, color=badge.tone, help=badge.help)


def _next_steps(grade: Grade) -> None:
    st.markdown("**Next steps**")
    steps = view.next_steps(grade)
    if not steps:
        st.caption("Nothing to add: every key point was made in full.")
        return
    items = "".join(f"<li><strong>{_esc(s.lead)}</strong>{': ' + _esc(s.detail) if s.detail else ''}</li>"
                    for s in steps)
    st.html(f'<ol style="margin: 0 0 0 1.25rem; padding: 0; {_WRAP}">{items}</ol>')


# ---------------------------------------------------------------- the details


def _criteria(grade: Grade) -> None:
    if not grade.criteria:
        return
    st.markdown("**Criteria**")
    for criterion in view.criterion_views(grade):
        st.html(_criterion_html(criterion))


def _criterion_html(c: view.CriterionView) -> str:
    quotes = "".join(f'<div style="{_SMALL}; {_WRAP}">You said: “{_esc(q)}”</div>' for q in c.quotes)
    note = f'<div style="{_MUTED}; {_WRAP}">Judge\'s reasoning: {_esc(c.note)}</div>' if c.note else ""
    return (
        '<div style="margin-bottom: 0.5rem">'
        '<div style="display: flex; justify-content: space-between; gap: 0.5rem; font-weight: 600">'
        f'<span style="overflow-wrap: anywhere">{_esc(c.title)}</span>'
        f'<span style="white-space: nowrap">level {c.level}/4</span></div>'
        f"{level_bar(c.level, c.tone)}"
        f'<div style="{_SMALL}">{_esc(c.did)}</div>{quotes}'
        f'<div style="{_MUTED}; {_WRAP}">What level {c.level} means in the rubric: {_esc(c.meaning)}</div>'
        f"{note}</div>"
    )


def level_bar(level: int, tone: str) -> str:
    """Four cells, ``level`` of them filled in the level's colour; level 0 is four empty outlined cells."""
    colour = _COLOURS.get(tone, _EMPTY_CELL)
    cells = "".join(
        '<span style="flex: 1; height: 0.6rem; border-radius: 3px; '
        f'border: 1px solid {colour if n < level else _EMPTY_CELL}; '
        f'background: {colour if n < level else "transparent"}"></span>'
        for n in range(4)
    )
    return (f'<div role="img" aria-label="level {level} of 4" '
            f'style="display: flex; gap: 3px; margin: 0.25rem 0">{cells}</div>')


def _points(grade: Grade) -> None:
    groups = view.point_groups(grade)
    sections = [("✓ Made", groups.made, False), ("✗ Said the opposite", groups.contradicted, True),
                ("✗ Missed", groups.missed, False)]
    body = "".join(_point_section(title, lines, quoted) for title, lines, quoted in sections if lines)
    if body:
        st.markdown("**Key points**")
        st.html(body)


def _point_section(title: str, lines: list[view.PointLine], quoted: bool) -> str:
    items = "".join(
        f"<li>{_esc(line.text)} <span style=\"{_MUTED}\">({_esc(line.criterion)})</span>"
        + (f'<div style="{_SMALL}">You said: “{_esc(line.quote)}”</div>' if quoted and line.quote else "")
        + "</li>"
        for line in lines
    )
    return (f'<div style="font-weight: 600">{title} ({len(lines)})</div>'
            f'<ul style="margin: 0 0 0.5rem 1.25rem; padding: 0; {_WRAP}">{items}</ul>')


def _misconceptions(grade: Grade) -> None:
    if not grade.misconceptions:
        return
    st.markdown(f"**Wrong claims ({len(grade.misconceptions)})**")
    items = "".join(f"<li>{_esc(hit.claim)}<div style=\"{_SMALL}\">What is true instead: {_esc(hit.correction)}"
                    f"</div><div style=\"{_SMALL}\">You said: “{_esc(hit.answer_quote)}”</div></li>"
                    for hit in grade.misconceptions)
    st.html(f'<ul style="margin: 0 0 0.5rem 1.25rem; padding: 0; {_WRAP}">{items}</ul>')


def _answers(grade: Grade, answer: str | None, model_answer: str | None) -> None:
    shown = [(title, text) for title, text in (("Your answer", answer), ("Model answer", model_answer))
             if text is not None]
    if not shown:
        return
    for column, (title, text) in zip(st.columns(len(shown)), shown, strict=True):
        with column:
            st.markdown(f"**{title}**")
            if title == "Your answer":
                _highlighted(text, grade)
            else:
                st.html(f'<div style="{_WRAP}">{_esc(text)}</div>')


def _highlighted(answer: str, grade: Grade) -> None:
    segments = view.highlights(answer, grade)
    kinds = [k for k in _MARKS if any(s.kind == k for s in segments)]
    if kinds:
        st.html(f'<div style="{_MUTED}">Highlighted: ' + " ".join(_mark(k, _MARKS[k][1]) for k in kinds) + "</div>")
    body = "".join(_esc(s.text) if s.kind is None else _mark(s.kind, s.text) for s in segments)
    st.html(f'<div style="{_WRAP}">{body}</div>')


def _mark(kind: str, text: str) -> str:
    colour, meaning = _MARKS[kind]
    return (f'<mark title="{meaning}" style="background: {colour}; color: inherit; border-radius: 2px">'
            f"{_esc(text)}</mark>")


def _sources(grade: Grade) -> None:
    if not grade.citations:
        return
    st.markdown(f"**Sources ({len(grade.citations)})**")
    for citation in grade.citations:
        st.html(f'<div style="margin-bottom: 0.5rem; {_WRAP}"><strong>{_esc(citation.heading)}</strong> '
                f'<span style="{_MUTED}">{_esc(citation.reference)} · retrieval score {citation.score:.3f}</span>'
                f'<div style="{_SMALL}">{_esc(citation.excerpt)}</div></div>')


def _second_opinion(grade: Grade) -> None:
    other = grade.second_opinion
    if other is None:
        return
    st.markdown("**Second opinion**")
    st.caption("The judges disagreed by 3 points or more even after a re-check, so the lower grade above stands. "
               "The other judge's grade:")
    if other.status != "scored":
        _not_scored(other)
        return
    _headline(other)
    _criteria(other)


# ---------------------------------------------------------------- text


def _esc(text: str) -> str:
    return html.escape(text)


def _text(text: str) -> None:
    """A line that may hold rubric or question text: escaped, never Markdown."""
    st.html(f'<p style="margin: 0; {_WRAP}">{_esc(text)}</p>')


def _caption(text: str) -> None:
    st.html(f'<p style="margin: 0; {_MUTED}; {_WRAP}">{_esc(text)}</p>')

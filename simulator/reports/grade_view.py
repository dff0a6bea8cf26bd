"""What a grade card says, worked out from a stored grade: the verdict, what to do next, why the score is what it is,
what the answer did for each criterion, which of its words earned credit, and the flags as badges.

Everything is derived from the grade's structure (levels, points, quotes, flags), never from its stored feedback
text, so grades stored by older versions read the same way. Texts from the question bank, the rubrics and the
answer are passed through whole: a card shows them in full or not at all, never cut mid-word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from simulator.grading.contract import OFFLINE_JUDGE, CriterionGrade, Grade, PointEvidence, weakness
from simulator.grading.llm_judge import EVIDENCE_FLAG
from simulator.grading.reading import RETRACTED_FLAG, WORD_SALAD_FLAG
from simulator.grading.rules import (
    INJECTION_FLAG,
    KEYWORD_LIST_FLAG,
    MAX_GRADED_CHARS,
    MAX_GRADED_SENTENCES,
    TRUNCATED_FLAG,
)
from simulator.reports.scoring import score_band

MAX_STEPS = 3
FALLBACK_FLAG = "judge-fallback"
DISAGREE_FLAG = "judges-disagree"
LEVEL_TONES = ("empty", "red", "orange", "yellow", "green")
"""Colour of a criterion bar by level 0–4 (0 is an empty bar)."""
BAND_TONES = {"Strong": "green", "Solid": "blue", "Partial": "orange", "Weak": "red"}
MISMATCH = 1.5
"""How far (in points out of 10) the score may sit below the share of points made before the card says why."""

Kind = Literal["credit", "wrong"]


@dataclass(frozen=True)
class Verdict:
    label: str
    """Strong, Solid, Partial or Weak."""
    score: float
    """The overall to one decimal, as shown; the band is read from this, so "8.0" is never "Solid"."""
    tone: str

    @property
    def score_text(self) -> str:
        return f"{self.score:.1f} / 10"


@dataclass(frozen=True)
class NextStep:
    lead: str
    """What to do, in our words (may name a criterion)."""
    detail: str = ""
    """The key point or correction it is about, whole."""


@dataclass(frozen=True)
class CriterionView:
    key: str
    title: str
    level: int
    tone: str
    did: str
    """What the answer did for this criterion, from its points (not the rubric's descriptor)."""
    quotes: tuple[str, ...]
    """The answer's own words that earned credit here."""
    meaning: str
    """The rubric's descriptor of this level, to be shown labelled as such."""
    note: str | None = None
    """The judge's own reasoning when the points cannot tell it (LLM judge, or a level lowered to its evidence)."""


@dataclass(frozen=True)
class PointLine:
    text: str
    """The key point, whole."""
    criterion: str
    """Title of the criterion it belongs to."""
    quote: str | None = None
    """The answer's words: what made it, or what said the opposite."""


@dataclass(frozen=True)
class PointGroups:
    made: list[PointLine]
    missed: list[PointLine]
    contradicted: list[PointLine]


@dataclass(frozen=True)
class Segment:
    text: str
    kind: Kind | None = None
    """``credit`` for words that earned a point, ``wrong`` for words that contradict one or claim a misconception."""


@dataclass(frozen=True)
class Badge:
    label: str
    tone: str
    icon: str
    help: str


# ---------------------------------------------------------------- the verdict


def verdict(grade: Grade) -> Verdict | None:
    """The band and score as shown; None for an unscored grade (it never gets a number)."""
    if grade.status != "scored" or grade.overall is None:
        return None
    shown = float(f"{grade.overall:.1f}")
    label = score_band(shown)
    return Verdict(label, shown, BAND_TONES.get(label, "gray"))


def is_perfect(grade: Grade) -> bool:
    return grade.overall is not None and float(f"{grade.overall:.1f}") >= 10 and not grade.missed


def points_line(grade: Grade) -> str | None:
    """How many key points the answer made; "did not make any" only when it made none."""
    total = len(grade.points)
    if verdict(grade) is None or not total:
        return None
    made, opposite = len(grade.covered), sum(p.contradicted for p in grade.points)
    against = f"; you said the opposite of {opposite}" if opposite else ""
    if made == total:
        return f"You made {'the one key point' if total == 1 else f'all {total} key points'} this question looks for."
    if made:
        return f"You made {made} of the {total} key points this question looks for{against}."
    near = " The score comes from points you came close to." if grade.overall else ""
    return f"You did not make any of the {total} key points this question looks for{against}.{near}"


# ---------------------------------------------------------------- next steps


def next_steps(grade: Grade, limit: int = MAX_STEPS) -> list[NextStep]:
    """Up to ``limit`` things to do, most useful first: put right what was contradicted or claimed wrongly, fix
    how the answer is written, add the missing points of the weakest criteria, then say the half-made ones in
    full. Never empty for a scored grade below 10."""
    if verdict(grade) is None or is_perfect(grade):
        return []
    steps = [*_corrections(grade), *_writing_steps(grade), *_missing_steps(grade), *_partial_steps(grade)]
    unique = list(dict.fromkeys(steps))[:limit]
    return unique or [_deeper_step(grade)]


def _corrections(grade: Grade) -> list[NextStep]:
    titles = _titles(grade)
    steps = [NextStep(f"Put right what you said about {titles.get(p.criterion_key, 'this point')}", p.key_point)
             for p in grade.points if p.contradicted]
    return steps + [NextStep("Drop a wrong claim; what is true instead", h.correction) for h in grade.misconceptions]


def _writing_steps(grade: Grade) -> list[NextStep]:
    advice = {
        KEYWORD_LIST_FLAG: NextStep("Explain the terms you name",
                                    "say what each one does and why it matters, in full sentences."),
        WORD_SALAD_FLAG: NextStep("Write plain sentences", "in a natural order, one idea at a time."),
        INJECTION_FLAG: NextStep("Answer the question only",
                                 "text addressed to the grader is ignored and only costs you."),
    }
    return [step for flag, step in advice.items() if flag in grade.flags]


def _missing_steps(grade: Grade) -> list[NextStep]:
    """Missed points, weakest criterion first, one per criterion before a second from any."""
    by_key = {c.key: c for c in grade.criteria}
    missed = [p for p in grade.points if not p.covered and not p.contradicted]
    missed.sort(key=lambda p: weakness(by_key[p.criterion_key]) if p.criterion_key in by_key else (5, 0.0))
    firsts, rest, seen = [], [], set()
    for point in missed:
        (rest if point.criterion_key in seen else firsts).append(point)
        seen.add(point.criterion_key)
    return [NextStep(f"Add to {_where(by_key.get(p.criterion_key))}", p.key_point) for p in firsts + rest]


def _partial_steps(grade: Grade) -> list[NextStep]:
    """Points made only in part, in criteria that fell short of level 4: say them fully."""
    short = {c.key: c for c in grade.criteria if c.level < 4}
    made = sorted((p for p in grade.covered if p.criterion_key in short), key=lambda p: p.strength)
    return [NextStep(f"Say it in full for {_where(short[p.criterion_key])}", p.key_point) for p in made]


def _deeper_step(grade: Grade) -> NextStep:
    weakest = min((c for c in grade.criteria if c.level < 4), key=weakness, default=None)
    where = _where(weakest) if weakest else "each part of your answer"
    return NextStep(f"Go deeper on {where}", "give the reason behind each claim and one concrete example.")


def _where(criterion: CriterionGrade | None) -> str:
    return "this question" if criterion is None else f"{criterion.title} (level {criterion.level}/4 now)"


def _titles(grade: Grade) -> dict[str, str]:
    return {c.key: c.title for c in grade.criteria}


# ---------------------------------------------------------------- why this score


def why_score(grade: Grade) -> str | None:
    """One line on why the score is what it is, when the counts alone would not explain it: nothing missed
    but below 10, or well below the share of points made."""
    if verdict(grade) is None or not _needs_reason(grade):
        return None
    reasons = [*_cap_reasons(grade), *_flag_reasons(grade), *_level_reasons(grade)]
    if not reasons:
        reasons = ["the score is the weighted mean of the criterion levels, not a count of points"]
    return "Why this score: " + "; ".join(reasons[:3]) + "."


def _needs_reason(grade: Grade) -> bool:
    assert grade.overall is not None
    if not grade.points:
        return False
    if not grade.missed:
        return grade.overall < 9.95
    share = 10 * len(grade.covered) / len(grade.points)
    return grade.overall < share - MISMATCH


def _cap_reasons(grade: Grade) -> list[str]:
    capped = [c.title for c in grade.criteria if c.capped_by]
    reasons = [f"a wrong claim held {' and '.join(capped)} down"] if capped else []
    if any(hit.criterion_key is None for hit in grade.misconceptions):
        reasons.append("a wrong claim caps the whole score")
    return reasons


def _flag_reasons(grade: Grade) -> list[str]:
    reasons = []
    if INJECTION_FLAG in grade.flags:
        cost = " and cost a point" if grade.judge == OFFLINE_JUDGE else ""
        reasons.append(f"text addressed to the grader was ignored{cost}")
    if EVIDENCE_FLAG in grade.flags:
        reasons.append("a level the judge gave was lowered to what your quoted words prove")
    if KEYWORD_LIST_FLAG in grade.flags or WORD_SALAD_FLAG in grade.flags:
        reasons.append("lists of terms and jumbled wording count for little")
    if any("concise answer" in c.justification.lower() for c in grade.criteria):
        reasons.append("a short answer earns part credit only")
    return reasons


def _level_reasons(grade: Grade) -> list[str]:
    below = sorted((c for c in grade.criteria if c.level < 4 and not c.capped_by), key=weakness)
    if not below:
        return []
    named = " and ".join(f"{c.title} at {c.level}/4" for c in below[:2])
    if not grade.missed:
        return [f"points made only in part leave {named}"]
    return [f"the score is the weighted mean of the criterion levels, with {named}"]


# ---------------------------------------------------------------- per criterion


def criterion_views(grade: Grade) -> list[CriterionView]:
    return [_criterion_view(grade, c) for c in grade.criteria]


def _criterion_view(grade: Grade, criterion: CriterionGrade) -> CriterionView:
    mine = [p for p in grade.points if p.criterion_key == criterion.key]
    quotes = tuple(dict.fromkeys(p.answer_quote for p in mine if p.covered and p.answer_quote))
    lowered = "[Lowered from" in criterion.justification
    note = criterion.justification if (grade.judge != OFFLINE_JUDGE or lowered) and criterion.justification else None
    return CriterionView(criterion.key, criterion.title, criterion.level, LEVEL_TONES[criterion.level],
                         did_summary(criterion, mine), quotes, criterion.descriptor, note)


def did_summary(criterion: CriterionGrade, points: list[PointEvidence]) -> str:
    """What the answer did here, in plain words: points made of those asked, opposites, caps, partial credit."""
    made = sum(p.covered for p in points)
    opposite = sum(p.contradicted for p in points)
    parts = [_made_phrase(made, len(points))]
    if opposite:
        parts.append(f"you said the opposite of {_count(opposite, 'point')}")
    if points and made == len(points) and criterion.level < 4:
        parts[0] += ", though not fully" if made == 1 else ", some not fully"
    if "concise answer" in criterion.justification.lower():
        parts.append("a short answer that gets a point right earns part credit")
    elif points and made == 0 and criterion.level > 0:
        parts.append("you came close, which earns part credit")
    if criterion.capped_by:
        parts.append(f"a wrong claim held it at level {criterion.level}")
    return "; ".join(parts) + "."


def _made_phrase(made: int, total: int) -> str:
    if total == 0:
        return "No key point of this question belongs here; the level is the judge's reading of your answer"
    if made == total:
        return "You made its point" if total == 1 else f"You made all {total} of its points"
    if made == 0:
        return "You did not make its point" if total == 1 else f"You made none of its {total} points"
    return f"You made {made} of its {total} points"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def point_groups(grade: Grade) -> PointGroups:
    titles = _titles(grade)

    def line(point: PointEvidence, quote: str | None) -> PointLine:
        return PointLine(point.key_point, titles.get(point.criterion_key, ""), quote)

    return PointGroups(
        made=[line(p, p.answer_quote) for p in grade.covered],
        missed=[line(p, None) for p in grade.missed if not p.contradicted],
        contradicted=[line(p, p.contradiction_quote) for p in grade.missed if p.contradicted],
    )


# ---------------------------------------------------------------- the answer, highlighted


_BULLET = r"\s+(?:(?:[-*•]|\d+[.)])\s+)?"  # what sentence splitting may have dropped between two quoted words


def quote_span(answer: str, quote: str) -> tuple[int, int] | None:
    """Where ``quote`` sits in ``answer``: its words in order, separated in the answer by any whitespace (and a
    list marker), as the judges join sentences. None when the answer does not hold it."""
    words = quote.split()
    if not words:
        return None
    found = re.search(_BULLET.join(re.escape(w) for w in words), answer)
    return found.span() if found else None


def highlights(answer: str, grade: Grade) -> list[Segment]:
    """``answer`` cut into runs, in order and whole (their texts join back to it exactly): the words that earned
    credit, the words that contradict a point or claim a misconception (these win an overlap), and the rest."""
    kinds: list[Kind | None] = [None] * len(answer)
    for kind, quotes in (("credit", _credit_quotes(grade)), ("wrong", _wrong_quotes(grade))):
        for quote in quotes:
            span = quote_span(answer, quote)
            if span:
                kinds[span[0]:span[1]] = [kind] * (span[1] - span[0])
    return _runs(answer, kinds)


def _credit_quotes(grade: Grade) -> list[str]:
    return [p.answer_quote for p in grade.covered if p.answer_quote]


def _wrong_quotes(grade: Grade) -> list[str]:
    contradicting = [p.contradiction_quote for p in grade.points if p.contradicted and p.contradiction_quote]
    return contradicting + [hit.answer_quote for hit in grade.misconceptions if hit.answer_quote]


def _runs(text: str, kinds: list[Kind | None]) -> list[Segment]:
    segments: list[Segment] = []
    start = 0
    for end in range(1, len(text) + 1):
        if end == len(text) or kinds[end] != kinds[start]:
            segments += _trimmed(Segment(text[start:end], kinds[start]))
            start = end
    return segments


def _trimmed(segment: Segment) -> list[Segment]:
    """A marked run without the spaces at its edges (left over where another mark took the words beside them)."""
    core = segment.text.strip()
    if segment.kind is None or core == segment.text:
        return [segment]
    if not core:
        return [Segment(segment.text)]
    before, after = segment.text.split(core, 1)
    return [Segment(t, k) for t, k in ((before, None), (core, segment.kind), (after, None)) if t]


# ---------------------------------------------------------------- badges


_FLAG_BADGES = {
    KEYWORD_LIST_FLAG: Badge("Keyword list", "orange", ":material/format_list_bulleted:",
                             "Much of the answer lists terms without saying what they do. Such lists earn little."),
    WORD_SALAD_FLAG: Badge("Jumbled wording", "orange", ":material/shuffle:",
                           "Much of the answer reads as shuffled words, which earns little credit."),
    INJECTION_FLAG: Badge("Instructions to the grader ignored", "red", ":material/block:",
                          "Sentences addressed to the grader were set aside: they earn nothing, and with the "
                          "offline judge they cost a point."),
    RETRACTED_FLAG: Badge("Taken back", "gray", ":material/undo:",
                          "The answer withdrew what came before, so only the words after that count."),
    TRUNCATED_FLAG: Badge("Only partly graded", "gray", ":material/content_cut:",
                          f"Grading reads the first {MAX_GRADED_SENTENCES} sentences or "
                          f"{MAX_GRADED_CHARS:,} characters of an answer."),
    EVIDENCE_FLAG: Badge("Lowered to the evidence", "violet", ":material/gavel:",
                         "The LLM judge gave a level that its quotes from the answer did not prove, so it was "
                         "lowered."),
    FALLBACK_FLAG: Badge("Fallback judge", "blue", ":material/swap_horiz:",
                         "The judge you chose failed, so the offline judge graded this answer."),
    DISAGREE_FLAG: Badge("Judges disagreed", "violet", ":material/balance:",
                         "The two judges differed by 3 points or more; the lower grade stands. The other one is at "
                         "the end of the details."),
}


def badges(grade: Grade) -> list[Badge]:
    """One badge per notable flag, plus one when the answer contradicts a point or asserts a misconception."""
    shown = [_FLAG_BADGES[name] for name in dict.fromkeys(_flag_name(f) for f in grade.flags) if name in _FLAG_BADGES]
    if any(p.contradicted for p in grade.points):
        shown.append(Badge("Contradiction", "red", ":material/compare_arrows:",
                           "The answer says the opposite of a key point; that point earns nothing."))
    if grade.misconceptions:
        shown.append(Badge("Wrong claim", "red", ":material/report:",
                           "The answer asserts a common misconception, which caps the score."))
    return shown


def _flag_name(flag: str) -> str:
    """``judges-disagree: kept the lower grade (...)`` is the flag ``judges-disagree`` with a note."""
    return flag.split(":", 1)[0].strip()

"""How an answer was spoken, measured from its transcript: pace, filler words and long pauses.

Delivery is coaching beside the content grade and never feeds into it. Everything here is computed from what the
speech model heard (its words and their timestamps), not from what the candidate may have edited afterwards.
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import pairwise

from pydantic import BaseModel, ConfigDict, Field

SLOW_WPM = 90
"""Below this many words per minute most listeners find a spoken answer slow."""
FAST_WPM = 180
"""Above this many words per minute most listeners find it hard to follow."""
LONG_PAUSE_S = 2.0
"""A silence between two words at least this long counts as a long pause."""
SLOW_START_S = 4.0
"""Silence before the first word at least this long is worth a note."""
FILLERS_PER_100_WORDS = 4.0
"""More filler words than this per 100 words is worth a note."""
SHORT_ANSWER_S = 15.0
"""Speech shorter than this is a very short answer (and too short to judge pace by)."""

# Hesitation sounds are always fillers. Words that are also ordinary English count only where speech marks them as
# fillers: "like" and "I mean" set off by a comma or opening a sentence, "you know" not followed by what is known.
_HESITATIONS = re.compile(r"\b(?:u+h+m*|u+m+|e+r+m+|e+r+|a+h+|h+m+|m+h*m+)\b", re.IGNORECASE)
_ALWAYS = re.compile(r"\b(?:basically|literally)\b", re.IGNORECASE)
_LIKE = re.compile(r"(?:(?:^|[,.;:!?—]|\s-+)\s*like\b(?!\s+(?:this|that)\b))|(?<!-)\blike\s*,", re.IGNORECASE)
_I_MEAN = re.compile(r"(?:(?:^|[.;:!?])\s*i mean\b)|\bi mean\s*,", re.IGNORECASE)
_ACTUALLY = re.compile(r"(?:(?:^|[,.;:!?])\s*actually\s*,)", re.IGNORECASE)
_YOU_KNOW = re.compile(
    r"\byou know\b(?!\s+(?:that|what|how|why|when|where|which|who|whether|if|about|the|a|an|it|this|them|him|her)\b)",
    re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)*")


class Word(BaseModel):
    """One recognised word with its time in the recording."""

    model_config = ConfigDict(frozen=True)

    text: str
    """The word as recognised (may carry punctuation)."""
    start: float = Field(ge=0)
    """Seconds from the start of the recording."""
    end: float = Field(ge=0)
    """Seconds from the start of the recording."""


class Pause(BaseModel):
    """A long silence inside the answer."""

    model_config = ConfigDict(frozen=True)

    at_s: float
    """When it began, in seconds from the start of the recording."""
    length_s: float
    """How long it lasted, in seconds."""


class Delivery(BaseModel):
    """How one answer was spoken. Stored with the answer turn; never part of its grade."""

    model_config = ConfigDict(frozen=True)

    audio_s: float
    """Length of the recording, in seconds."""
    speaking_s: float
    """From the first recognised word to the last, in seconds (the recording length when there are no timings)."""
    start_delay_s: float | None = None
    """Silence before the first word, in seconds; None without word timings."""
    words: int
    """Words spoken (as transcribed)."""
    wpm: float | None
    """Words per minute over the speaking time; None when there is too little speech to say."""
    fillers: dict[str, int] = {}
    """Filler words heard, by filler ("um", "like", "you know"...)."""
    long_pauses: list[Pause] = []
    """Silences of ``LONG_PAUSE_S`` or more between words."""
    timed: bool = True
    """Whether word timings were available (without them pauses cannot be measured)."""
    engine: str = ""
    """Which speech model transcribed the recording, e.g. ``offline:tiny.en``."""
    notes: list[str] = []
    """Plain-language advice on what was off (empty when nothing was)."""

    @property
    def filler_count(self) -> int:
        return sum(self.fillers.values())

    @property
    def fillers_per_100_words(self) -> float:
        return 100 * self.filler_count / self.words if self.words else 0.0

    def summary(self) -> str:
        """One line: ``48 s · 132 wpm · 2 fillers (um ×1, like ×1) · 1 long pause``."""
        parts = [f"{self.audio_s:.0f} s", "pace not measured" if self.wpm is None else f"{self.wpm:.0f} wpm"]
        listed = ", ".join(f"{name} ×{n}" for name, n in self.fillers.items())
        parts.append(f"{self.filler_count} filler{'s' * (self.filler_count != 1)}" + (f" ({listed})" if listed else ""))
        if not self.timed:
            parts.append("pauses not measured")
        else:
            count = len(self.long_pauses)
            parts.append(f"{count} long pause{'s' * (count != 1)}")
        return " · ".join(parts)


def count_fillers(text: str) -> dict[str, int]:
    """Filler words in ``text``, by filler, most frequent first."""
    found: Counter[str] = Counter()
    for match in _HESITATIONS.finditer(text):
        found[_hesitation_name(match.group(0))] += 1
    for pattern, name in ((_LIKE, "like"), (_I_MEAN, "I mean"), (_ACTUALLY, "actually"), (_YOU_KNOW, "you know")):
        if hits := len(pattern.findall(text)):
            found[name] += hits
    for match in _ALWAYS.finditer(text):
        found[match.group(0).lower()] += 1
    return dict(found.most_common()) if found else {}


def _hesitation_name(word: str) -> str:
    lowered = word.lower()
    for name, pattern in (("um", r"u+m+"), ("uh", r"u+h+m*"), ("erm", r"e+r+m+"), ("er", r"e+r+"), ("ah", r"a+h+")):
        if re.fullmatch(pattern, lowered):
            return name
    return "hmm"


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def analyse(text: str, words: list[Word], audio_s: float, engine: str = "") -> Delivery:
    """Delivery measures for one recording: ``text`` as transcribed, ``words`` with timings (may be empty)."""
    timed = bool(words)
    if timed:
        speaking_s = max(0.0, words[-1].end - words[0].start)
        start_delay: float | None = round(words[0].start, 2)
    else:
        speaking_s, start_delay = audio_s, None
    count = word_count(text)
    wpm = round(count / speaking_s * 60, 1) if speaking_s >= 1.0 and count else None
    delivery = Delivery(audio_s=round(audio_s, 2), speaking_s=round(speaking_s, 2), start_delay_s=start_delay,
                        words=count, wpm=wpm, fillers=count_fillers(text), long_pauses=long_pauses(words),
                        timed=timed, engine=engine)
    return delivery.model_copy(update={"notes": advice(delivery)})


def long_pauses(words: list[Word], threshold_s: float = LONG_PAUSE_S) -> list[Pause]:
    """Silences of ``threshold_s`` or more between consecutive words."""
    return [Pause(at_s=round(before.end, 2), length_s=round(after.start - before.end, 2))
            for before, after in pairwise(words) if after.start - before.end >= threshold_s]


def advice(delivery: Delivery) -> list[str]:
    """What to work on, in plain words; empty when the delivery was fine."""
    notes: list[str] = []
    if delivery.words == 0:
        return ["No words were recognised: check the microphone and speak a little closer to it."]
    if delivery.speaking_s < SHORT_ANSWER_S:
        notes.append(f"You spoke for only {int(delivery.speaking_s)} s. Interviewers expect a spoken answer of about "
                     "one to two minutes: state your position, give a reason, then an example.")
    elif delivery.wpm is not None and delivery.wpm < SLOW_WPM:
        notes.append(f"Your pace was {delivery.wpm:.0f} words per minute, slower than the {SLOW_WPM} to {FAST_WPM} "
                     "that is easy to follow. Plan the answer's three points before you start so you keep moving.")
    elif delivery.wpm is not None and delivery.wpm > FAST_WPM:
        notes.append(f"Your pace was {delivery.wpm:.0f} words per minute, faster than the {SLOW_WPM} to {FAST_WPM} "
                     "that is easy to follow. Slow down and let each point land before the next.")
    if delivery.fillers_per_100_words > FILLERS_PER_100_WORDS:
        listed = ", ".join(f"{name} ×{n}" for name, n in delivery.fillers.items())
        notes.append(f"{delivery.filler_count} filler words ({listed}), {delivery.fillers_per_100_words:.0f} per 100 "
                     "words. A short silent pause sounds more confident than a filler.")
    if delivery.long_pauses:
        longest = max(delivery.long_pauses, key=lambda p: p.length_s)
        notes.append(f"{len(delivery.long_pauses)} pause(s) of {LONG_PAUSE_S:.0f} s or more; the longest, "
                     f"{longest.length_s:.1f} s at {_clock(longest.at_s)}. If you need time, say what you are "
                     "weighing out loud.")
    if delivery.start_delay_s is not None and delivery.start_delay_s >= SLOW_START_S:
        notes.append(f"{delivery.start_delay_s:.0f} s of silence before your first word. Open with your position in "
                     "one sentence, then think aloud.")
    return notes


def _clock(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"

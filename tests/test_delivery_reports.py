"""Spoken answers in the reports: their delivery in the Markdown, JSON and terminal exports, and the delivery trend
of the Progress page, over a real SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from simulator.content import bank
from simulator.grading.contract import CriterionGrade, Grade
from simulator.reports import export, progress
from simulator.speech.delivery import Delivery, Pause, Word, analyse
from simulator.storage.records import Recording, SessionDetail, SessionSettings
from simulator.storage.store import Store

ENGINE = "offline:tiny.en"
AUDIO = Recording(data=b"RIFF-not-really-a-wav-AUDIO-BYTES", mime="audio/wav")
SPOKEN_TEXT = "So um I would, like, chunk the documents first and then embed them then"
TYPED_TEXT = "Hybrid retrieval: BM25 and dense vectors, fused."


@pytest.fixture(scope="module")
def content() -> bank.Bundle:
    return bank.load_bundle()


@pytest.fixture
def store(tmp_path: Path):
    with Store(f"sqlite:///{tmp_path / 'delivery.db'}") as opened:
        yield opened


def grade(overall: float = 6.0) -> Grade:
    criteria = [CriterionGrade(key="reference-answer.coverage", title="Coverage", weight=1.0, level=2,
                               descriptor="-", justification="-")]
    return Grade(status="scored", judge="test-judge", overall=overall, criteria=criteria)


def heard(text: str = SPOKEN_TEXT, engine: str = ENGINE) -> Delivery:
    """What the speech model would report for ``text``: 0.4 s a word, then a 4.9 s pause before the last one."""
    spoken = text.split()
    words = [Word(text=w, start=i * 0.4, end=i * 0.4 + 0.3) for i, w in enumerate(spoken[:-1])]
    words.append(Word(text=spoken[-1], start=10.0, end=10.3))
    return analyse(text, words, audio_s=12.0, engine=engine)


def paced(wpm: float | None, fillers: int = 0, words: int = 100, timed: bool = True) -> Delivery:
    """A delivery with the given pace and ``fillers`` ums in ``words`` words."""
    speaking = 60.0 if wpm is None else words / wpm * 60
    return Delivery(audio_s=speaking + 1, speaking_s=speaking, words=words, wpm=wpm,
                    fillers={"um": fillers} if fillers else {}, timed=timed, engine=ENGINE,
                    long_pauses=[Pause(at_s=3.0, length_s=2.5)] if timed else [])


class Session:
    """One session written through the Store: each ``answer`` asks the next bank question and answers it."""

    def __init__(self, store: Store, content: bank.Bundle, profile: str = "ana"):
        self.store, self.content = store, content
        self.id = store.create_session(profile, SessionSettings(), "offline", "test-judge", [])
        self._questions = iter(content.questions.values())

    def answer(self, text: str, delivery: Delivery | None = None, recording: Recording | None = None,
               result: Grade | None = None) -> int:
        question = next(self._questions)
        asked = self.store.add_turn(self.id, "interviewer", "question", question.prompt, question=question,
                                    rubrics=self.content.rubrics_for(question))
        answer = self.store.add_turn(self.id, "candidate", "answer", text, parent_turn_id=asked, duration_s=12.0,
                                     delivery=delivery, recording=recording)
        self.store.attach_grade(answer, result or grade())
        return answer

    def detail(self) -> SessionDetail:
        return self.store.session_detail(self.id)


@pytest.fixture
def mixed(store, content) -> SessionDetail:
    """A spoken answer whose recording was kept, then a typed one."""
    session = Session(store, content)
    session.answer(SPOKEN_TEXT, heard(), AUDIO)
    session.answer(TYPED_TEXT)
    return session.detail()


def tokens(markdown: str) -> list:
    parsed = MarkdownIt("gfm-like").parse(markdown)
    return [t for token in parsed for t in (token, *(token.children or []))]


# ---------------------------------------------------------------- Markdown


def test_markdown_shows_a_spoken_answers_delivery_after_the_answer(mixed):
    spoken, _ = mixed.answers
    assert spoken.delivery is not None and spoken.delivery.notes, "the fixture's delivery has advice"
    markdown = export.session_markdown(mixed)
    line = (f"**Delivery** (spoken answer, transcribed by `{ENGINE}`, recording kept): "
            f"`{spoken.delivery.summary()}`")
    assert line in markdown
    assert "`12 s · 82 wpm · 2 fillers (um ×1, like ×1) · 1 long pause`" in markdown
    notes = [f"- `{note}`" for note in spoken.delivery.notes]
    assert "\n".join([line, "", *notes]) in markdown, "the notes follow as bullet points"
    first = markdown.split("## Question 2")[0]
    assert first.index(SPOKEN_TEXT) < first.index("**Delivery**") < first.index("**Score:"), \
        "after the answer, before its grade"


def test_markdown_leaves_typed_answers_as_they_were(mixed):
    second = export.session_markdown(mixed).split("## Question 2")[1]
    assert TYPED_TEXT in second and "Delivery" not in second


def test_markdown_says_nothing_of_a_recording_that_was_not_kept(store, content):
    session = Session(store, content)
    session.answer(SPOKEN_TEXT, heard(engine=""))
    markdown = export.session_markdown(session.detail())
    assert "**Delivery** (spoken answer): `" in markdown and "recording kept" not in markdown


def test_delivery_text_is_code_even_from_a_hostile_import(store, content):
    """An imported JSON export can carry any engine name, filler or note: none of it may become Markdown."""
    hostile = ["https://evil.example/x", "@someone", ":smile:", "<script>alert(1)</script>", "**bold**"]
    delivery = paced(150, fillers=2).model_copy(update={
        "engine": "`tiny` https://evil.example/x", "fillers": {":smile:": 2},
        "notes": ["<script>alert(1)</script> @someone", "**bold** [link](https://evil.example/x)"]})
    session = Session(store, content)
    session.answer("fine", delivery)
    parsed = tokens(export.session_markdown(session.detail()))
    code = [t.content for t in parsed if t.type in ("code_inline", "fence")]
    prose = [t.content for t in parsed if t.type == "text"]
    for marker in hostile:
        assert any(marker in text for text in code), marker
        assert not any(marker in text for text in prose), marker
    assert not [t for t in parsed if t.type in ("link_open", "html_inline")]


# ---------------------------------------------------------------- JSON


def test_json_carries_the_delivery_and_whether_the_recording_was_kept(mixed):
    data = json.loads(export.session_json_text(mixed))
    answers = [t for t in data["session"]["turns"] if t["kind"] == "answer"]
    spoken, _ = mixed.answers
    assert answers[0]["delivery"] == spoken.delivery.model_dump(mode="json")
    assert answers[0]["delivery"]["engine"] == ENGINE and answers[0]["delivery"]["fillers"] == {"um": 1, "like": 1}
    assert [a["has_recording"] for a in answers] == [True, False]
    assert answers[1]["delivery"] is None, "a typed answer has a null delivery"
    assert all(t["delivery"] is None and t["has_recording"] is False
               for t in data["session"]["turns"] if t["kind"] != "answer")
    assert "AUDIO-BYTES" not in export.session_json_text(mixed), "the audio itself is never exported"


def test_json_round_trips_and_re_renders_the_same_markdown(mixed):
    restored = export.session_from_json(json.loads(export.session_json_text(mixed)))
    assert restored == mixed
    assert export.session_markdown(restored) == export.session_markdown(mixed)


def test_an_export_from_before_spoken_answers_still_loads(mixed):
    data = json.loads(export.session_json_text(mixed))
    for turn in data["session"]["turns"]:
        del turn["delivery"], turn["has_recording"]
    restored = export.session_from_json(data)
    assert all(t.delivery is None and not t.has_recording for t in restored.turns)


# ---------------------------------------------------------------- terminal


def test_terminal_transcript_shows_the_delivery_under_a_spoken_answer(mixed):
    spoken, _ = mixed.answers
    shown = export.transcript_text(mixed)
    lines = shown.splitlines()
    at = lines.index(f"[{spoken.seq}] You (answer): {SPOKEN_TEXT}")
    assert lines[at + 1] == f"  Delivery (spoken, transcribed by {ENGINE}, recording kept): {spoken.delivery.summary()}"
    assert lines[at + 2: at + 2 + len(spoken.delivery.notes)] == [f"  * {n}" for n in spoken.delivery.notes]
    assert shown.count("Delivery (") == 1, "the typed answer has none"


def test_terminal_transcript_strips_control_characters_from_the_delivery(store, content):
    delivery = paced(150).model_copy(update={"engine": "evil\x1b[31m", "notes": ["red\x1b[0m note"]})
    session = Session(store, content)
    session.answer("fine", delivery)
    shown = export.transcript_text(session.detail())
    assert "\x1b" not in shown and "evil\ufffd[31m" in shown and "red\ufffd[0m note" in shown


# ---------------------------------------------------------------- the delivery trend


def test_only_spoken_answers_make_the_trend_oldest_first(store, content):
    session = Session(store, content)
    session.answer(TYPED_TEXT)
    session.answer("spoken", paced(150, fillers=3, words=120))
    session.answer("short", paced(None, timed=False))
    history = store.history("ana")
    trend = progress.progress_report(history).delivery
    assert trend == progress.delivery_trend(reversed(history)), "sorted by time whatever the input order"
    first, short = trend.points
    assert (first.wpm, first.fillers, first.fillers_per_100_words, first.long_pauses) == (150, 3, 2.5, 1)
    assert (short.wpm, short.long_pauses) == (None, None), "untimed and too short: not measured"
    assert first.session_id == session.id and first.answered_at <= short.answered_at
    assert first.question_id == list(content.questions)[1], "the second question: the first was typed"
    assert trend.window == 0 and trend.first_wpm is None
    assert trend.summary == ("2 spoken answers: 150 wpm and 2.5 filler words per 100 words on average. "
                             "Answer 3 more questions by voice to see a trend.")


def test_a_history_of_typed_answers_has_no_delivery_trend(store, content):
    Session(store, content).answer(TYPED_TEXT)
    trend = progress.progress_report(store.history("ana")).delivery
    assert trend == progress.DeliveryTrend() and trend.summary == ""


def test_the_trend_compares_the_first_five_spoken_answers_with_the_last_five(store, content):
    session = Session(store, content)
    paces = [200, 190, 195, 200, 190, 160, 155, 150, 145, 150, 150]
    for n, wpm in enumerate(paces):
        session.answer(f"answer {n}", paced(wpm, fillers=6 if n < 5 else 2))
    trend = progress.delivery_trend(store.history("ana"))
    assert [p.wpm for p in trend.points] == paces
    assert (trend.window, trend.first_wpm, trend.recent_wpm) == (5, 195.0, 150.0)
    assert (trend.first_fillers, trend.recent_fillers) == (6.0, 2.0)
    assert trend.comfortable_wpm == (90, 180) and trend.filler_limit == 4.0
    assert trend.summary == ("11 spoken answers. Comparing your first 5 with your last 5: your pace moved from 195 "
                             "to 150 wpm, inside the comfortable 90–180 wpm; filler words went from 6.0 to 2.0 per "
                             "100 words.")


def test_a_short_history_compares_halves_and_says_when_nothing_moved(store, content):
    session = Session(store, content)
    for wpm in (201, 199, 190, 205):
        session.answer("spoken", paced(wpm, fillers=1))
    session.answer("too short to time", paced(None))
    trend = progress.delivery_trend(store.history("ana"))
    assert len(trend.points) == 5 and trend.window == 2, "unmeasured answers are left out of the comparison"
    assert trend.summary == ("5 spoken answers. Comparing your first 2 with your last 2: your pace held steady at "
                             "about 198 wpm, above the comfortable 90–180 wpm; filler words held at about 1.0 per "
                             "100 words.")


def test_spoken_answers_count_whatever_their_grade(store, content):
    session = Session(store, content)
    session.answer("spoken", paced(120), result=Grade(status="unscored", judge="test-judge", reason="down"))
    assert progress.progress_report(store.history("ana")).delivery.points == []
    assert len(progress.delivery_trend(store.history("ana", scored_only=False)).points) == 1

"""The FSRS practice plan (issue 16) over hand-built histories: which questions are due today, in which order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fsrs import Rating

from simulator.reports import practice
from simulator.storage.records import HistoryEntry

MONDAY = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


class History:
    """Answers in order; each ``answer`` is a new question turn unless ``follow_up`` (then it joins the last one)."""

    def __init__(self) -> None:
        self.entries: list[HistoryEntry] = []
        self._turn = 0
        self._asked = 0

    def answer(self, question_id: str | None, score: float | None, at: datetime, follow_up: bool = False,
               session: int = 1) -> History:
        self._turn += 1
        if not follow_up:
            self._asked = self._turn
        self.entries.append(HistoryEntry(
            session_id=session, turn_id=self._turn, answered_at=at, question_id=question_id, topic="rag",
            follow_up=follow_up, question_turn_id=self._asked, status="unscored" if score is None else "scored",
            overall=score, criteria={}))
        return self


@pytest.mark.parametrize(("score", "rating"), [
    (0.0, Rating.Again), (3.9, Rating.Again), (4.0, Rating.Hard), (5.9, Rating.Hard), (6.0, Rating.Good),
    (7.9, Rating.Good), (7.96, Rating.Easy), (8.0, Rating.Easy), (10.0, Rating.Easy),
])
def test_scores_map_to_ratings(score, rating):
    assert practice.rating_for(score) == rating


def test_a_low_score_comes_back_sooner_than_a_high_one():
    history = History().answer("low", 2.0, MONDAY).answer("high", 9.0, MONDAY)
    planned = {q.question_id: q for q in practice.schedule(history.entries)}
    assert planned["low"].due_at < planned["high"].due_at
    assert planned["low"].due_at - MONDAY == timedelta(days=1)
    assert [q.question_id for q in practice.schedule(history.entries)] == ["low", "high"]


def test_a_strong_answer_today_is_not_due_tomorrow_but_a_weak_one_is():
    history = History().answer("strong", 9.0, MONDAY).answer("weak", 3.0, MONDAY).entries
    assert practice.due_today(history, MONDAY) == [], "nothing is due the day it was answered"
    tomorrow = [q.question_id for q in practice.due_today(history, MONDAY + timedelta(days=1))]
    assert tomorrow == ["weak"]
    a_week_on = [q.question_id for q in practice.due_today(history, MONDAY + timedelta(days=8))]
    assert a_week_on == ["weak", "strong"], "most overdue first"


def test_due_today_counts_until_the_end_of_the_utc_day():
    history = History().answer("q", 3.0, MONDAY).entries  # due Tuesday 09:30
    early_tuesday = MONDAY.replace(hour=0, minute=5) + timedelta(days=1)
    [due] = practice.due_today(history, early_tuesday)
    assert due.due_at == MONDAY + timedelta(days=1) and due.last_score == 3.0 and due.times_answered == 1


def test_never_answered_unscored_and_ad_hoc_questions_are_not_due():
    history = (History().answer("scored", 5.0, MONDAY).answer("unscored-only", None, MONDAY)
               .answer(None, 1.0, MONDAY)).entries
    later = MONDAY + timedelta(days=30)
    due = practice.due_today(history, later, known={"scored", "unscored-only", "never-asked"})
    assert [q.question_id for q in due] == ["scored"]


def test_questions_no_longer_in_the_bank_are_left_out():
    history = History().answer("kept", 2.0, MONDAY).answer("removed", 2.0, MONDAY).entries
    due = practice.due_today(history, MONDAY + timedelta(days=2), known={"kept"})
    assert [q.question_id for q in due] == ["kept"]


def test_the_question_score_includes_follow_ups():
    history = History().answer("q", 9.0, MONDAY).answer("q", 1.0, MONDAY + timedelta(minutes=2), follow_up=True)
    [planned] = practice.schedule(history.entries)
    assert planned.last_score == 5.0 and planned.times_answered == 1, "one question, scored (9 + 1) / 2"
    assert planned.due_at - MONDAY == timedelta(days=1), "5 is Hard: back the next day"


def test_good_reviews_stretch_the_interval_and_a_lapse_shrinks_it():
    once = History().answer("q", 7.0, MONDAY)
    first_due = practice.schedule(once.entries)[0].due_at
    twice = once.answer("q", 7.0, first_due, session=2)
    second_due = practice.schedule(twice.entries)[0].due_at
    assert second_due - first_due > first_due - MONDAY
    lapsed = twice.answer("q", 1.0, second_due, session=3)
    [after_lapse] = practice.schedule(lapsed.entries)
    assert after_lapse.due_at - second_due < second_due - first_due and after_lapse.last_score == 1.0
    assert after_lapse.times_answered == 3 and after_lapse.last_answered_at == second_due


def test_the_plan_is_deterministic_and_reads_naive_times_as_utc():
    history = History().answer("a", 6.5, MONDAY).answer("b", 4.5, MONDAY).entries
    assert practice.schedule(history) == practice.schedule(list(history))
    naive = History().answer("a", 6.5, MONDAY.replace(tzinfo=None)).answer("b", 4.5, MONDAY.replace(tzinfo=None))
    assert practice.schedule(naive.entries) == practice.schedule(history)

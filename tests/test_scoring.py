"""The one averaging rule (issue 16): a question scores the mean of its answers (main and follow-ups), a session the
mean of its question scores; the Python rule, the SQL session summary and the exports agree on both engines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simulator.grading.contract import CriterionGrade, Grade, unscored
from simulator.reports import export, scoring
from simulator.storage.records import HistoryEntry, SessionSettings
from simulator.storage.store import Store


@pytest.fixture
def store(db_url: str):  # db_url (tests/postgres.py): each test runs on SQLite and on PostgreSQL
    with Store(db_url) as opened:
        yield opened


def grade(overall: float) -> Grade:
    criterion = CriterionGrade(key="r.c", title="C", weight=1.0, level=round(overall * 0.4), descriptor="-",
                               justification="-")
    return Grade(status="scored", judge="test", overall=overall, criteria=[criterion])


class Session:
    """Writes a session through the Store API, one question after another; a follow-up hangs off the question (as
    the runner does it) or off an answer, and counts with the last question asked either way."""

    def __init__(self, store: Store, bundle, profile: str = "ana"):
        self.store, self.bundle = store, bundle
        self.id = store.create_session(profile, SessionSettings(), "offline", "test", [])
        self.questions = iter(bundle.questions.values())

    def ask(self, score: float | None) -> tuple[int, int]:
        question = next(self.questions)
        asked = self.store.add_turn(self.id, "interviewer", "question", question.prompt, question=question)
        return asked, self._answer(asked, score)

    def follow_up(self, parent: int, score: float | None) -> int:
        probe = self.store.add_turn(self.id, "interviewer", "follow_up", "Why?", parent_turn_id=parent)
        return self._answer(probe, score)

    def _answer(self, asked: int, score: float | None) -> int:
        answer = self.store.add_turn(self.id, "candidate", "answer", "an answer", parent_turn_id=asked)
        self.store.attach_grade(answer, unscored("test", "no score") if score is None else grade(score))
        return answer


def mixed_session(store: Store, bundle) -> Session:
    """Scores by question: (8 + 3) / 2 = 5.5; 2; the follow-up alone (main unscored) 6; (1 + 4 + 7) / 3 = 4;
    nothing scored. Session: (5.5 + 2 + 6 + 4) / 4 = 4.375; the old mean over the 7 scored answers was 31 / 7 = 4.43."""
    session = Session(store, bundle)
    asked, _ = session.ask(8.0)
    session.follow_up(asked, 3.0)
    session.ask(2.0)
    asked, _ = session.ask(None)
    session.follow_up(asked, 6.0)
    _, answer = session.ask(1.0)
    again = session.follow_up(answer, 4.0)  # a follow-up hung off the answer, then one off that answer
    session.follow_up(again, 7.0)
    session.ask(None)
    return session


def test_a_session_scores_the_mean_of_its_question_scores(store, bundle):
    session = mixed_session(store, bundle)
    detail = store.session_detail(session.id)
    assert list(scoring.question_scores(detail).values()) == [5.5, 2.0, 6.0, 4.0]
    assert scoring.session_score(detail) == export.average_score(detail) == 4.375


def test_the_session_list_computes_the_same_score_in_sql(store, bundle):
    session = mixed_session(store, bundle)
    other = Session(store, bundle, profile="bo")
    other.ask(None)
    summaries = {s.id: s for s in store.list_sessions()}
    assert summaries[session.id].average_score == 4.375
    assert summaries[other.id].average_score is None
    assert [s.id for s in store.list_sessions(min_score=4.375)] == [session.id]
    assert store.list_sessions(min_score=4.4) == [], "the filter reads the same score"
    assert [s.id for s in store.list_sessions(max_score=4.375)] == [session.id]


def test_history_groups_answers_under_their_question(store, bundle):
    session = mixed_session(store, bundle)
    history = store.history("ana")
    detail = store.session_detail(session.id)
    owners = scoring.question_turns(detail)
    assert [e.question_turn_id for e in history] == [owners[e.turn_id] for e in history], "SQL and Python agree"
    results = scoring.question_results(history)
    assert [(r.score, r.answers) for r in results] == [(5.5, 2), (2.0, 1), (6.0, 1), (4.0, 3)]
    assert [r.question_turn_id for r in results] == list(scoring.question_scores(detail))


def test_hand_built_entries_without_a_question_turn_stand_alone():
    at = datetime(2026, 1, 5, 9, tzinfo=UTC)
    entries = [HistoryEntry(session_id=1, turn_id=n, answered_at=at, question_id="q", topic="t", follow_up=False,
                            status="scored", overall=float(n), criteria={}) for n in (2, 4)]
    assert [r.score for r in scoring.question_results(entries)] == [2.0, 4.0]


@pytest.mark.parametrize(("score", "band"), [
    (0.0, "Weak"), (3.94, "Weak"), (3.96, "Partial"), (4.0, "Partial"), (5.9, "Partial"), (6.0, "Solid"),
    (7.94, "Solid"), (7.96, "Strong"), (8.0, "Strong"), (10.0, "Strong"),
])
def test_score_bands_follow_the_score_as_shown(score, band):
    assert scoring.score_band(score) == band


def test_scores_are_shown_with_one_decimal():
    assert scoring.shown(4.375) == "4.4" and scoring.shown(7.0) == "7.0" and scoring.shown(None) == "—"
    assert scoring.mean([]) is None and scoring.mean([1.0, 2.0, 2.0]) == 1.6667


def test_the_markdown_export_shows_the_session_score(store, bundle):
    detail = store.session_detail(mixed_session(store, bundle).id)
    markdown = export.session_markdown(detail)
    assert "- Average score: 4.4 / 10 over 4 scored question(s), 9 answer(s)" in markdown
    assert "average: 4.4/10" in export.transcript_text(detail)

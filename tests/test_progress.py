"""Progress analytics over a real SQLite store: timeline, topic and criterion averages, weakest areas."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from simulator.content import bank
from simulator.grading.contract import CriterionGrade, Grade, unscored
from simulator.reports import progress
from simulator.speech.delivery import Delivery
from simulator.storage.records import SessionSettings
from simulator.storage.store import Store

FACTS = "behavior-vs-knowledge.knowledge-placement"
CHANGES = "behavior-vs-knowledge.what-each-changes"
RETRIEVAL = "rag-architecture.hybrid-retrieval"
INGESTION = "rag-architecture.ingestion-and-chunking"


@pytest.fixture(scope="module")
def content() -> bank.Bundle:
    return bank.load_bundle()


@pytest.fixture
def store(tmp_path: Path):
    with Store(f"sqlite:///{tmp_path / 'progress.db'}") as opened:
        yield opened


class Interview:
    """Writes one session through the real Store API: questions, answers, follow-ups and their grades."""

    def __init__(self, store: Store, content: bank.Bundle, profile: str = "ana"):
        self.store, self.content = store, content
        self.session_id = store.create_session(profile, SessionSettings(), "offline", "test-judge", [])

    def main(self, question_id: str, overall: float, levels: dict[str, int], delivery: Delivery | None = None) -> int:
        """Ask a bank question, answer it (spoken when ``delivery`` is given) and grade the answer; returns the
        question turn id."""
        question = self.content.questions[question_id]
        asked = self.store.add_turn(self.session_id, "interviewer", "question", question.prompt, question=question,
                                    rubrics=self.content.rubrics_for(question))
        self._answer(asked, grade(overall, levels), delivery)
        return asked

    def follow_up(self, asked: int, overall: float, levels: dict[str, int]) -> None:
        probe = self.store.add_turn(self.session_id, "interviewer", "follow_up", "Why?", parent_turn_id=asked)
        self._answer(probe, grade(overall, levels))

    def adhoc(self, overall: float) -> None:
        asked = self.store.add_turn(self.session_id, "interviewer", "question", "An ad-hoc question?")
        self._answer(asked, grade(overall, {"reference-answer.coverage": 1}))

    def unscored(self, question_id: str) -> None:
        question = self.content.questions[question_id]
        asked = self.store.add_turn(self.session_id, "interviewer", "question", question.prompt, question=question)
        self._answer(asked, unscored("test-judge", "judge unavailable"))

    def _answer(self, asked: int, result: Grade, delivery: Delivery | None = None) -> None:
        answer = self.store.add_turn(self.session_id, "candidate", "answer", "my answer", parent_turn_id=asked,
                                     delivery=delivery)
        self.store.attach_grade(answer, result)


def grade(overall: float, levels: dict[str, int]) -> Grade:
    criteria = [CriterionGrade(key=key, title=key, weight=1.0, level=level, descriptor="-", justification="-")
                for key, level in levels.items()]
    return Grade(status="scored", judge="test-judge", overall=overall, criteria=criteria)


def questions_in(content: bank.Bundle, topic: str, rubric: str) -> list[str]:
    found = [q.id for q in content.questions.values() if q.topic == topic and rubric in q.rubrics]
    assert len(found) >= 2, f"the bank should have two {topic} questions graded on {rubric}"
    return found


@pytest.fixture
def fundamentals(content) -> list[str]:
    return questions_in(content, "fundamentals", "behavior-vs-knowledge")


@pytest.fixture
def rag(content) -> list[str]:
    return questions_in(content, "rag-architecture", "rag-architecture")


def test_an_empty_history_gives_an_empty_report(store, content):
    store.get_or_create_profile("new")
    report = progress.progress_report(store.history("new"), content.rubrics)
    assert report.empty
    assert report == progress.ProgressReport()


def test_timeline_has_one_point_per_scored_question_oldest_first(store, content, fundamentals, rag):
    first = Interview(store, content)
    asked = first.main(fundamentals[0], 3.0, {FACTS: 1})
    first.follow_up(asked, 9.5, {FACTS: 4})  # the question's score is the mean of both answers
    first.unscored(rag[0])
    second = Interview(store, content)
    second.main(rag[0], 7.0, {RETRIEVAL: 3})
    second.adhoc(5.0)

    timeline = progress.score_timeline(store.history("ana", scored_only=False))
    assert [(p.question_id, p.overall, p.session_id, p.answers) for p in timeline] == [
        (fundamentals[0], 6.25, first.session_id, 2),
        (rag[0], 7.0, second.session_id, 1),
        (None, 5.0, second.session_id, 1),
    ]
    assert [p.topic for p in timeline] == ["fundamentals", "rag-architecture", None]
    assert timeline[0].answered_at <= timeline[1].answered_at <= timeline[2].answered_at


def test_topic_averages_are_means_of_question_scores_lowest_first(store, content, fundamentals, rag):
    interview = Interview(store, content)
    interview.main(rag[0], 8.0, {RETRIEVAL: 3})
    interview.main(rag[1], 6.0, {RETRIEVAL: 2})
    asked = interview.main(fundamentals[0], 4.0, {FACTS: 1})
    interview.follow_up(asked, 10.0, {FACTS: 4})  # that question scores (4 + 10) / 2 = 7, not a third answer
    interview.main(fundamentals[1], 5.0, {FACTS: 2})
    interview.adhoc(0.5)  # no topic: must not create one

    averages = progress.topic_averages(store.history("ana"))
    assert [(a.topic, a.average, a.count) for a in averages] == [("fundamentals", 6.0, 2), ("rag-architecture", 7.0, 2)]


def test_criterion_averages_count_follow_ups_and_resolve_titles(store, content, fundamentals, rag):
    interview = Interview(store, content)
    asked = interview.main(fundamentals[0], 4.0, {FACTS: 1, CHANGES: 3})
    interview.follow_up(asked, 6.0, {FACTS: 2})
    interview.main(rag[0], 7.0, {RETRIEVAL: 2, "retired-rubric.gone": 0})
    interview.adhoc(5.0)

    averages = progress.criterion_averages(store.history("ana"), content.rubrics)
    by_key = {a.key: a for a in averages}
    assert (by_key[FACTS].average_level, by_key[FACTS].count) == (1.5, 2)
    assert by_key[FACTS].title == "Where facts belong"
    assert by_key[FACTS].rubric == content.rubrics["behavior-vs-knowledge"].title
    assert by_key["reference-answer.coverage"].title == "Covers the reference"
    assert (by_key["retired-rubric.gone"].title, by_key["retired-rubric.gone"].rubric) == (
        "retired-rubric.gone", "retired-rubric"), "a rubric no longer in the bank falls back to the key"
    levels = [a.average_level for a in averages]
    assert levels == sorted(levels) and averages[0].key == "retired-rubric.gone"


def test_weakest_topics_need_enough_answers_and_pick_the_plan_mode(store, content, fundamentals, rag):
    interview = Interview(store, content)
    interview.main(fundamentals[0], 2.0, {FACTS: 0})
    interview.main(fundamentals[1], 4.0, {FACTS: 1})
    interview.main(rag[0], 3.0, {RETRIEVAL: 1})
    interview.main(rag[0], 8.0, {RETRIEVAL: 3})  # retried and now above the low-score line
    cost = questions_in(content, "cost-latency", "cost-and-latency")[0]
    interview.main(cost, 0.5, {"cost-and-latency.cost-structure": 0})  # lowest, but a single answer

    weak_topics = [w for w in progress.weakest_areas(store.history("ana"), content.rubrics) if w.kind == "topic"]
    assert [(w.key, w.average, w.count) for w in weak_topics] == [("fundamentals", 3.0, 2), ("rag-architecture", 5.5, 2)]
    fundamentals_area, rag_area = weak_topics
    assert fundamentals_area.mode == "retry-low" and fundamentals_area.practise_topic == "fundamentals"
    assert "Retry the 2 fundamentals questions you scored below 6" in fundamentals_area.advice
    assert rag_area.mode == "weakest-first", "its only question's latest score is no longer low"
    assert "Answer more rag-architecture questions" in rag_area.advice
    assert not any(word in area.advice for area in weak_topics for word in ("plan mode", "retry-low", "weakest-first")),\
        "plain words, not the plan's internal names"

    lenient = progress.weakest_areas(store.history("ana"), content.rubrics, min_answers=1, limit=1)
    assert [(w.kind, w.key) for w in lenient] == [("topic", "cost-latency"),
                                                  ("criterion", "cost-and-latency.cost-structure")]


def test_a_weak_criterion_names_where_to_practise_and_what_good_looks_like(store, content, fundamentals, rag):
    interview = Interview(store, content)
    interview.main(fundamentals[0], 5.0, {FACTS: 0})
    interview.main(fundamentals[1], 7.0, {FACTS: 1})
    interview.main(rag[0], 7.0, {FACTS: 3, RETRIEVAL: 4})
    interview.main(rag[1], 7.0, {INGESTION: 3})

    areas = progress.weakest_areas(store.history("ana"), content.rubrics)
    criteria = [w for w in areas if w.kind == "criterion"]
    assert [w.key for w in criteria] == [FACTS], "the others have fewer than two answers"
    [facts] = criteria
    assert (facts.label, facts.average, facts.out_of, facts.count) == ("Where facts belong", round(4 / 3, 4), 4, 3)
    assert facts.practise_topic == "fundamentals", "its level is lowest in fundamentals, not rag-architecture"
    assert facts.mode == "retry-low", "fundamentals has a question whose latest score is below 6"
    assert "weakest in fundamentals: retry the fundamentals questions you scored below 6." in facts.advice
    target = content.rubrics["behavior-vs-knowledge"].criteria[1]
    assert target.id == "knowledge-placement" and target.levels[3] in facts.advice


def test_profiles_are_kept_apart(store, content, fundamentals):
    Interview(store, content, profile="ana").main(fundamentals[0], 2.0, {FACTS: 0})
    Interview(store, content, profile="bo").main(fundamentals[0], 9.0, {FACTS: 4})
    report = progress.progress_report(store.history("bo"), content.rubrics)
    assert [p.overall for p in report.timeline] == [9.0]
    assert [(a.topic, a.average) for a in report.topics] == [("fundamentals", 9.0)]
    assert report.weakest == [], "one answer is not enough to call anything weak"


def test_report_rows_become_dataframes(store, content, fundamentals):
    Interview(store, content).main(fundamentals[0], 6.5, {FACTS: 2})
    report = progress.progress_report(store.history("ana"), content.rubrics)
    frame = pd.DataFrame([dataclasses.asdict(p) for p in report.timeline])
    assert list(frame.columns) == ["answered_at", "overall", "topic", "question_id", "session_id", "answers"]
    assert frame["overall"].tolist() == [6.5]


def test_spoken_answers_score_like_typed_ones_and_add_a_delivery_trend(store, content, fundamentals):
    Interview(store, content, "typed").main(fundamentals[0], 6.5, {FACTS: 2})
    delivery = Delivery(audio_s=40, speaking_s=36, words=90, wpm=150, fillers={"um": 3}, engine="offline:tiny.en")
    Interview(store, content, "spoken").main(fundamentals[0], 6.5, {FACTS: 2}, delivery)
    typed, spoken = (progress.progress_report(store.history(name), content.rubrics) for name in ("typed", "spoken"))
    assert (typed.topics, typed.criteria, typed.weakest) == (spoken.topics, spoken.criteria, spoken.weakest)
    assert [p.overall for p in typed.timeline] == [p.overall for p in spoken.timeline] == [6.5]
    assert typed.delivery == progress.DeliveryTrend(), "typed answers have no delivery"
    frame = pd.DataFrame([dataclasses.asdict(p) for p in spoken.delivery.points])
    assert list(frame.columns) == ["answered_at", "session_id", "question_id", "wpm", "fillers_per_100_words",
                                   "fillers", "long_pauses"]
    assert frame[["wpm", "fillers", "long_pauses"]].values.tolist() == [[150, 3, 0]]
    assert frame["fillers_per_100_words"].round(2).tolist() == [3.33]

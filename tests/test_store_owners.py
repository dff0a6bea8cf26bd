"""Per-user data in the store (login on): each owner sees only their own profiles and sessions, another owner's
session does not exist for them, a coach's read-only view writes nothing, and local data moves to the first coach.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from simulator.storage.records import NotFoundError, SessionSettings
from simulator.storage.store import Store
from tests.test_store import make_grade

ANN, BOB = "https://id.example#ann-sub", "https://id.example#bob-sub"


def interview(store: Store, profile: str = "candidate") -> tuple[int, int]:
    session_id = store.create_session(profile, SessionSettings(), "offline", "offline", ["q"])
    asked = store.add_turn(session_id, "interviewer", "question", "Q?")
    answer = store.add_turn(session_id, "candidate", "answer", f"{store.owner} answers", parent_turn_id=asked)
    return session_id, answer


def test_owners_see_only_their_own(db_url):
    with Store(db_url) as base:
        ann, bob = base.scoped(ANN), base.scoped(BOB)
        ann_session, ann_answer = interview(ann)
        bob_session, _ = interview(bob)  # the same profile name, a different person

        assert [s.id for s in ann.list_sessions()] == [ann_session]
        assert [s.id for s in bob.list_sessions(profile="candidate")] == [bob_session]
        assert ann.get_profile("candidate").id != bob.get_profile("candidate").id
        assert ann.open_session_for("candidate").id == ann_session
        assert base.list_sessions() == [] and base.list_profiles() == []  # the local owner has nothing

        with pytest.raises(NotFoundError):
            bob.session_detail(ann_session)  # a stolen ?session= link
        for write in (lambda: bob.add_turn(ann_session, "interviewer", "note", "hijack"),
                      lambda: bob.abandon_session(ann_session), lambda: bob.finish_session(ann_session),
                      lambda: bob.advance(ann_session, 0), lambda: bob.attach_grade(ann_answer, make_grade())):
            with pytest.raises(NotFoundError):
                write()
        detail = ann.session_detail(ann_session)
        assert detail.status == "active" and [t.text for t in detail.turns] == ["Q?", f"{ANN} answers"]
        assert bob.history("candidate") == []


def test_a_read_only_view_refuses_every_write(db_url):
    with Store(db_url) as base:
        session_id, answer = interview(base.scoped(ANN))
        coach_view = base.scoped(ANN, read_only=True)
        assert coach_view.session_detail(session_id).profile == "candidate"
        for write in (lambda: coach_view.create_session("x", SessionSettings(), "offline", "offline", ["q"]),
                      lambda: coach_view.abandon_session(session_id), lambda: coach_view.attach_grade(answer,
                                                                                                   make_grade())):
            with pytest.raises(PermissionError, match="read-only"):
                write()
        assert base.scoped(ANN).session_detail(session_id).status == "active"


def test_local_data_moves_to_the_first_coach_and_merges_by_name(db_url):
    with Store(db_url) as base:
        local_one, _ = interview(base, "candidate")
        local_two, _ = interview(base, "Practice")
        coach = base.scoped(ANN)
        coach_own, _ = interview(coach, "practice")  # the same profile, spelled differently

        assert base.claim_local_data(ANN) == 2
        assert base.list_sessions() == []
        assert {s.id for s in coach.list_sessions()} == {local_one, local_two, coach_own}
        assert len(coach.list_sessions(profile="PRACTICE")) == 2
        assert base.claim_local_data(BOB) == 0  # only once: nothing is left


def test_users_are_remembered_for_coaches(db_url):
    with Store(db_url) as store:
        store.record_user(BOB, "bob@example.com", "Bob")
        store.record_user(ANN, "ann@example.com", "Ann")
        store.record_user(ANN, "ann@example.com", "Ann B.")  # seen again: updated, not duplicated
        assert [(u.owner, u.name) for u in store.list_users()] == [(ANN, "Ann B."), (BOB, "Bob")]

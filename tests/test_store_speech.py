"""Spoken answers in the store, on SQLite and PostgreSQL: an answer's delivery measures and, only when kept, its
recording are stored with it in one transaction, read back with the session and history, private to their owner,
and survive stepping the schema down to 0005 and back (where the delivery column is dropped and re-added)."""

from __future__ import annotations

import pytest

from simulator.speech.delivery import Pause, Word, analyse
from simulator.storage.db import current_revision, downgrade, migrate
from simulator.storage.records import NotFoundError, Recording, SessionSettings
from simulator.storage.store import Store
from tests.test_store import make_grade

ANN, BOB = "https://id.example#ann-sub", "https://id.example#bob-sub"
WORDS = [Word(text="Um,", start=0.4, end=0.7), Word(text="retrieval", start=0.8, end=1.4),
         Word(text="first.", start=4.0, end=4.6)]
DELIVERY = analyse("Um, retrieval first.", WORDS, audio_s=5.0, engine="offline:tiny.en")
AUDIO = b"RIFF\x00\x01binary\xffaudio"


def spoken_answer(store: Store, recording: Recording | None = None) -> tuple[int, int]:
    session_id = store.create_session("speaker", SessionSettings(), "offline", "offline", ["q"])
    asked = store.add_turn(session_id, "interviewer", "question", "RAG or fine-tuning?")
    answer = store.add_turn(session_id, "candidate", "answer", "Retrieval first.", parent_turn_id=asked,
                            delivery=DELIVERY, recording=recording)
    store.attach_grade(answer, make_grade(overall=6.0))
    return session_id, answer


def test_delivery_is_stored_with_the_answer_and_the_audio_only_when_kept(db_url):
    with Store(db_url) as store:
        session_id, answer_id = spoken_answer(store)
        kept_session, kept_id = spoken_answer(store, Recording(data=AUDIO, mime="audio/webm"))

        answer = store.session_detail(session_id).answers[0]
        assert answer.delivery == DELIVERY
        assert answer.delivery.long_pauses == [Pause(at_s=1.4, length_s=2.6)]
        assert answer.delivery.fillers == {"um": 1}
        assert not answer.has_recording and store.recording(answer_id) is None

        kept = store.session_detail(kept_session).answers[0]
        assert kept.has_recording
        assert store.recording(kept_id) == Recording(data=AUDIO, mime="audio/webm")
        assert [e.delivery for e in store.history("speaker")] == [DELIVERY, DELIVERY]


def test_only_answers_carry_delivery_and_a_recording(db_url):
    with Store(db_url) as store:
        session_id = store.create_session("speaker", SessionSettings(), "offline", "offline", ["q"])
        with pytest.raises(ValueError, match="only answers"):
            store.add_turn(session_id, "interviewer", "question", "Q?", delivery=DELIVERY)
        with pytest.raises(ValueError, match="only answers"):
            store.add_turn(session_id, "interviewer", "note", "n", recording=Recording(data=AUDIO))
        assert store.session_detail(session_id).turns == []


def test_another_owners_recording_does_not_exist(db_url):
    with Store(db_url) as base:
        _, answer_id = spoken_answer(base.scoped(ANN), Recording(data=AUDIO))
        with pytest.raises(NotFoundError):
            base.scoped(BOB).recording(answer_id)
        assert base.scoped(ANN).recording(answer_id).data == AUDIO


def test_stepping_down_to_0005_and_up_again_keeps_the_answers(db_url):
    with Store(db_url) as store:
        session_id, answer_id = spoken_answer(store, Recording(data=AUDIO))
        downgrade(store.engine, "0005")
        assert current_revision(store.engine) == "0005"
        migrate(store.engine)
        answer = store.session_detail(session_id).answers[0]
        assert (answer.id, answer.text, answer.grade.overall) == (answer_id, "Retrieval first.", 6.0)
        assert answer.delivery is None and not answer.has_recording  # what 0006 added went with it

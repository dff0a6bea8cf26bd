"""The offline interviewer's voice: varied, repeatable per seed, never judging aloud, prompts kept word for word."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest

from simulator.interview import phrasing
from simulator.interview.interviewer import FollowUpChoice, OfflineInterviewer, Previous
from simulator.interview.phrasing import area_words, has_own_lead, topic_words
from simulator.storage.records import SessionSettings
from simulator.storage.store import Store
from tests.fakes import fake_runner, scored

JUDGING = re.compile(r"\b(great|good|excellent|perfect|well done|nice|wrong|weak|strong|poor|score|bad|"
                     r"not quite|incorrect|correct)\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def questions(bundle) -> list:
    return sorted(bundle.questions.values(), key=lambda q: q.id)


def lead_of(text: str, prompt: str) -> str:
    """What the interviewer said before the prompt (the prompt must be there, verbatim, at the end)."""
    assert text.endswith(prompt.strip()), (text, prompt)
    return text[: -len(prompt.strip())].strip()


def session_texts(questions: list, seed: int, strong: list[bool] | None = None) -> list[str]:
    """The main-question texts of one session over ``questions``, each answer strong or weak as listed."""
    interviewer = OfflineInterviewer(seed)
    texts, previous = [], None
    for position, question in enumerate(questions):
        texts.append(interviewer.ask_text(question, position, len(questions), previous))
        previous = Previous(question.topic, strong[position] if strong else None)
    return texts


# ---------------------------------------------------------------- main questions


def test_every_question_keeps_its_prompt_verbatim_in_every_situation(questions):
    interviewer = OfflineInterviewer(seed=3)
    situations = [(0, 1, None), (0, 5, None), (2, 5, None), (2, 5, Previous("evaluation", True)),
                  (1, 5, Previous("fundamentals", False)), (4, 5, Previous("scenarios", None))]
    for question in questions:
        for position, total, previous in situations:
            lead_of(interviewer.ask_text(question, position, total, previous), question.prompt)


def test_a_prompt_with_braces_or_markup_is_not_formatted(questions):
    odd = questions[0].model_copy(update={"prompt": "Why {topic} and {0}? {prompt} :smile: 100%"})
    text = OfflineInterviewer(seed=1).ask_text(odd, 2, 4, Previous("other-topic", True))
    assert lead_of(text, odd.prompt)


def test_transitions_vary_within_a_session_and_never_repeat_back_to_back(questions):
    picked = [q for q in questions if not has_own_lead(q.prompt)][:8]
    for seed in range(12):
        leads = [lead_of(t, q.prompt) for t, q in zip(session_texts(picked, seed), picked, strict=True)]
        assert all(a != b for a, b in pairwise(leads)), leads
        assert len(set(leads)) >= 6, leads


def test_wording_is_repeatable_per_seed_and_differs_between_seeds(questions):
    picked = [q for q in questions if not has_own_lead(q.prompt)][:6]
    assert session_texts(picked, 5) == session_texts(picked, 5)
    sessions = {tuple(session_texts(picked, seed)) for seed in range(10)}
    assert len(sessions) >= 5, "different sessions should not all sound the same"


def test_first_last_and_only_questions_say_so(questions):
    question = next(q for q in questions if not has_own_lead(q.prompt))
    for seed in range(8):
        interviewer = OfflineInterviewer(seed)
        first = lead_of(interviewer.ask_text(question, 0, 5), question.prompt)
        last = lead_of(interviewer.ask_text(question, 4, 5, Previous(question.topic, None)), question.prompt)
        only = lead_of(interviewer.ask_text(question, 0, 1), question.prompt)
        assert any(first == p.replace(" {prompt}", "").format(topic=topic_words(question.topic))
                   for p in phrasing.OPENERS), first
        assert re.search(r"\b(last|final|wrap up)\b", last, re.IGNORECASE), last
        assert any(only == p.replace(" {prompt}", "").format(topic=topic_words(question.topic))
                   for p in phrasing.ONLY_QUESTION), only


def test_a_new_topic_is_named_in_plain_words(questions):
    question = next(q for q in questions if q.topic == "cost-latency" and not has_own_lead(q.prompt))
    for seed in range(6):
        switched = OfflineInterviewer(seed).ask_text(question, 1, 4, Previous("fundamentals", None))
        assert "cost and latency" in switched and "cost-latency" not in switched
        same = OfflineInterviewer(seed).ask_text(question, 1, 4, Previous("cost-latency", None))
        assert "cost and latency" in same and lead_of(same, question.prompt) != lead_of(switched, question.prompt)


def test_after_an_answer_the_interviewer_acknowledges_without_judging(questions):
    question = next(q for q in questions if not has_own_lead(q.prompt))
    for seed in range(8):
        for strong, phrases in ((True, phrasing.AFTER_STRONG), (False, phrasing.AFTER_WEAK)):
            text = OfflineInterviewer(seed).ask_text(question, 1, 4, Previous("fundamentals", strong))
            lead = lead_of(text, question.prompt)
            assert any(lead.startswith(p) for p in phrases), lead
            assert not JUDGING.search(lead), lead
    sets = [value for name, value in vars(phrasing).items() if name.isupper() and isinstance(value, tuple)]
    every_phrase = " ".join(phrase for phrases in sets for phrase in phrases)
    assert not JUDGING.search(every_phrase), "no phrase set judges an answer aloud"


def test_a_question_with_its_own_lead_in_gets_no_second_one(questions):
    question = next(q for q in questions if q.prompt.startswith("Let's start simple."))
    assert OfflineInterviewer(seed=2).ask_text(question, 0, 3) == question.prompt.strip()
    assert lead_of(OfflineInterviewer(seed=2).ask_text(question, 2, 3), question.prompt)  # still "last"


def test_halfway_through_a_longer_interview_is_mentioned(questions):
    picked = [q for q in questions if not has_own_lead(q.prompt)][:6]
    texts = session_texts(picked, seed=4)
    marks = [n for n, t in enumerate(texts) if any(h.format(done=n, total=6) in t for h in phrasing.HALFWAY)]
    assert marks == [3]


# ---------------------------------------------------------------- follow-ups


def choice_for(question, level: int | None, title: str = "Operational and MLOps overhead") -> FollowUpChoice:
    return FollowUpChoice(follow_up=question.follow_ups[0], criterion_key="r.c", criterion_title=title,
                          level=level, missed=[])


def test_follow_ups_name_the_weakest_area_in_plain_words(questions):
    question = questions[0]
    for seed in range(8):
        interviewer = OfflineInterviewer(seed)
        touched = interviewer.follow_up_text(question, choice_for(question, 2, "Training data preparation"))
        untouched = interviewer.follow_up_text(question, choice_for(question, 0))
        unknown = interviewer.follow_up_text(question, choice_for(question, None))
        assert "training data preparation" in lead_of(touched, question.follow_ups[0].prompt)
        assert "operational and MLOps overhead" in lead_of(untouched, question.follow_ups[0].prompt)
        assert "touched on" not in untouched and "touched on" not in unknown
        assert any(touched.startswith(p.split("{area}")[0]) for p in phrasing.FOLLOW_UP_TOUCHED)


def test_two_follow_ups_on_one_question_lead_in_differently(questions):
    question = next(q for q in questions if len(q.follow_ups) >= 2)
    for seed in range(8):
        interviewer = OfflineInterviewer(seed)
        texts = [interviewer.follow_up_text(question, FollowUpChoice(f, "r.c", "Trade-offs and risks", 1, []))
                 for f in question.follow_ups[:2]]
        leads = [lead_of(t, f.prompt) for t, f in zip(texts, question.follow_ups, strict=False)]
        assert leads[0] != leads[1]


@pytest.mark.parametrize(("slug", "words"), [("cost-latency", "cost and latency"), ("rag-architecture",
                         "RAG architecture"), ("my-lora_drills", "my LoRA drills"), ("custom-drills", "custom drills")])
def test_topics_in_plain_words(slug, words):
    assert topic_words(slug) == words


def test_areas_keep_acronyms():
    assert area_words("RAG variants and scaling") == "RAG variants and scaling"
    assert area_words("Evaluate, deploy and operate") == "evaluate, deploy and operate"


# ---------------------------------------------------------------- through the runner


def test_a_session_acknowledges_each_answer_and_moves_on_in_plain_words(bundle, tmp_path):
    with Store(f"sqlite:///{tmp_path / 's.db'}") as store:
        runner = fake_runner(store, bundle.questions, bundle.rubrics, seed=11)
        session_id = runner.start("ana", SessionSettings(questions=3, follow_ups=0), seed=2)
        asked = []
        for answer in (scored(9), scored(2), scored(5)):
            pending = runner.next_turn(session_id)
            pending.commit()
            asked.append((pending.text, pending.question))
            runner.answer(session_id, answer, duration_s=1.0)
            runner.grade_pending(session_id)
    leads = [lead_of(text, question.prompt) for text, question in asked]
    assert any(leads[1].startswith(p) for p in phrasing.AFTER_STRONG), leads
    assert any(leads[2].startswith(p) for p in phrasing.AFTER_WEAK), leads
    assert not any(JUDGING.search(lead) for lead in leads)

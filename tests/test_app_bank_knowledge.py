"""The Question bank and Knowledge pages, driven through AppTest with the app pointed at temporary folders."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from simulator.config import Settings
from simulator.content.intake import EXAMPLE_QUESTION_YAML
from simulator.core import Simulator
from simulator.interview.plan import make_plan
from simulator.storage.records import SessionSettings

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


def test_question_bank_lists_and_filters_the_questions(app_env):
    app = open_page("pages/question_bank.py")
    assert app.title[0].value == "Question bank"
    shown = next(c for c in captions(app) if c.startswith("Showing"))
    total = int(shown.split()[1])
    assert total >= 40 and shown == f"Showing {total} of {total} questions."
    assert len(app.expander) >= total  # one details expander per question

    app.multiselect(key="bank_topics").select("cost-latency").run()
    app.multiselect(key="bank_levels").select("hard").run()
    cards = [c for c in captions(app) if " · rubrics: " in c]
    assert cards and all(c.startswith("cost-latency · hard · ") for c in cards)

    app.text_input(key="bank_query").input("no question mentions zyxwvut").run()
    assert next(c for c in captions(app) if c.startswith("Showing")) == f"Showing 0 of {total} questions."


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

    app.text_input(key="bank_query").input("drill-policy-updates").run()
    assert next(c for c in captions(app) if c.startswith("Showing")).startswith("Showing 1 of")
    assert any(c.startswith("custom-drills · easy · ") for c in captions(app))

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
    refs = [c for c in captions(app) if " · score " in c]
    assert len(refs) == 5 and refs[0].startswith("fine-tuning-methods#")


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
    assert next(c for c in captions(app) if " · score " in c).startswith("team-runbook#zorblax-rotation")
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

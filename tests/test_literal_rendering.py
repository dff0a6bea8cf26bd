"""Text the app did not write is shown literally: never a link, an emoji or icon, Markdown or HTML (issue 14).

The app tests store a session whose every user-visible string (profile, question, answer, follow-up, note,
model answer, key points, grade feedback, quotes, misconceptions, cited notes) carries bare URLs, shortcodes,
HTML and a Markdown link, then walk the rendered element tree: those strings must show up in plain-text
elements (st.text, st.code, escaped st.html) and in no Markdown body or label. The export tests parse the
Markdown transcript and check that the same strings sit only inside code, which no renderer links or decorates.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from google.protobuf.message import Message
from markdown_it import MarkdownIt
from markdown_it.token import Token
from streamlit.testing.v1 import AppTest

from simulator.content.intake import EXAMPLE_QUESTION_YAML
from simulator.grading.contract import CriterionGrade, Grade, MisconceptionHit, PointEvidence
from simulator.reports import export
from simulator.search.passage import Citation
from simulator.storage.records import SessionDetail, SessionSettings
from simulator.storage.store import Store

ROOT = Path(__file__).resolve().parent.parent
MARKERS = ("https://evil.example/x", "www.evil.example", ":smile:", ":material/home:", ":red[alert]",
           "<b>bold</b>", "[click](https://evil.example)", "eve@evil.example")
HOSTILE = " ".join(MARKERS) + " | a pipe, which must not split a table cell"
PROFILE = "[click](https://evil.example) www.evil.example :smile:"  # profile names stop at 60 characters
LITERAL_TYPES = {"text", "code", "html"}
# Proto fields Streamlit renders as Markdown: element bodies, widget and block labels, progress text, tooltips.
MARKDOWN_FIELDS = {"body", "label", "text", "help", "caption"}


# ---------------------------------------------------------------- a session full of hostile text


def hostile_grade() -> Grade:
    citation = Citation(passage_id="p1", document="rag-pipeline", section="chunking", heading=HOSTILE,
                        excerpt=HOSTILE, score=0.5)
    return Grade(
        status="scored", judge="offline-evidence", overall=4.0, reason=HOSTILE, feedback=HOSTILE,
        criteria=[CriterionGrade(key="accuracy", title="Accuracy", weight=1.0, level=2, descriptor="Partly right.",
                                 justification=f"[Lowered from 3] {HOSTILE}")],
        points=[PointEvidence(key_point=HOSTILE, criterion_key="accuracy", covered=True, strength=1.0,
                              answer_quote=HOSTILE, citation=citation),
                PointEvidence(key_point=HOSTILE, criterion_key="accuracy", covered=False, strength=0.0,
                              contradicted=True, contradiction_quote=HOSTILE)],
        misconceptions=[MisconceptionHit(id="m1", claim=HOSTILE, correction=HOSTILE, criterion_key=None,
                                         answer_quote=HOSTILE)],
        citations=[citation],
        second_opinion=Grade(status="unscored", judge="llm", reason=HOSTILE),
    )


def hostile_session(db_url: str, bundle, finish: bool = True) -> SessionDetail:
    """One question, answer, follow-up, follow-up answer and note, all hostile, the answers graded."""
    asked = next(iter(bundle.questions.values()))
    question = asked.model_copy(update={
        "prompt": HOSTILE, "model_answer": HOSTILE,
        "key_points": [p.model_copy(update={"text": HOSTILE}) for p in asked.key_points],
    })
    with Store(db_url) as store:
        session_id = store.create_session(PROFILE, SessionSettings(questions=1), "offline", "offline-evidence",
                                          plan=[asked.id])
        question_id = store.add_turn(session_id, "interviewer", "question", HOSTILE, question=question,
                                     rubrics=bundle.rubrics_for(asked))
        if finish:
            answer_id = store.add_turn(session_id, "candidate", "answer", HOSTILE, parent_turn_id=question_id,
                                       duration_s=12.0)
            store.attach_grade(answer_id, hostile_grade())
            follow_up_id = store.add_turn(session_id, "interviewer", "follow_up", HOSTILE,
                                          parent_turn_id=question_id)
            again_id = store.add_turn(session_id, "candidate", "answer", f"Also {HOSTILE}",
                                      parent_turn_id=follow_up_id, duration_s=5.0)
            store.attach_grade(again_id, hostile_grade())
            store.add_turn(session_id, "interviewer", "note", HOSTILE)
            store.finish_session(session_id)
        return store.session_detail(session_id)


# ---------------------------------------------------------------- reading the rendered page


def open_page(page: str, session: int | None = None) -> AppTest:
    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    if session is not None:
        app.query_params["session"] = str(session)
    app.switch_page(page).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def nodes(node) -> Iterator:
    yield node
    for child in getattr(node, "children", {}).values():
        yield from nodes(child)


def markdown_strings(message: Message) -> Iterator[str]:
    """Every string in ``message`` (nested messages too) held in a field Streamlit renders as Markdown."""
    for field, value in message.ListFields():
        single = isinstance(value, str | bytes | Message) or not hasattr(value, "__iter__")
        for item in [value] if single else value:
            if isinstance(item, Message):
                yield from markdown_strings(item)
            elif isinstance(item, str) and field.name in MARKDOWN_FIELDS:
                yield item


def rendered(app: AppTest) -> tuple[list[str], list[str]]:
    """(strings in literal elements, strings Streamlit reads as Markdown) over the main area and the sidebar."""
    literal, markdown = [], []
    for root in (app.main, app.sidebar):
        for node in nodes(root):
            proto = getattr(node, "proto", None)
            if not isinstance(proto, Message):
                continue
            if node.type in LITERAL_TYPES:
                literal.append(html_text(proto.body) if node.type == "html" else node.value)
            else:
                markdown += markdown_strings(proto)
    return literal, markdown


def assert_shown_only_literally(app: AppTest, markers=MARKERS) -> None:
    literal, markdown = rendered(app)
    for marker in markers:
        leaks = [text for text in markdown if marker in text]
        assert not leaks, f"{marker!r} is rendered as Markdown in {leaks[:3]}"
        assert any(marker in text for text in literal), f"{marker!r} is not shown at all"


def html_text(body: str) -> str:
    """The text of a literal caption: its wrapper tag dropped (the text inside is escaped, so holds no tag)."""
    return html.unescape(re.sub(r"<[^>]*>", "", body))


def html_bodies(app: AppTest) -> list[str]:
    return [node.proto.body for root in (app.main, app.sidebar) for node in nodes(root) if node.type == "html"]


# ---------------------------------------------------------------- the pages


def test_review_shows_every_stored_string_literally(app_env, bundle):
    detail = hostile_session(app_env["db_url"], bundle)
    app = open_page("pages/review.py", session=detail.id)
    assert app.selectbox(key="review_session").value == detail.id
    assert_shown_only_literally(app)
    assert [m.value for m in app.markdown].count("**Model answer**") == 1, "beside the answer, in the card"
    assert any(text.value == HOSTILE for text in app.text), "an answer is shown exactly as typed"
    assert not any("<b>bold</b>" in body for body in html_bodies(app)), "HTML is escaped in st.html"


def test_finished_interview_transcript_is_literal(app_env, bundle):
    detail = hostile_session(app_env["db_url"], bundle)
    app = open_page("pages/interview.py", session=detail.id)
    assert any(m.label == "Interview score" for m in app.metric)
    assert_shown_only_literally(app)


def test_open_interview_header_and_question_are_literal(app_env, bundle):
    detail = hostile_session(app_env["db_url"], bundle, finish=False)
    app = open_page("pages/interview.py", session=detail.id)
    assert app.chat_input, "the question waits for an answer"
    assert_shown_only_literally(app, [m for m in MARKERS if m in PROFILE])
    assert any(PROFILE in html_text(body) for body in html_bodies(app)), "the profile is in the sidebar"
    assert app.chat_message[0].text[0].value == HOSTILE


def test_answer_typed_in_the_chat_is_literal(app_env):
    app = open_page("pages/interview.py")
    app.text_input(key="setup_profile").set_value(PROFILE)
    app.slider(key="setup_questions").set_value(1)
    app.button(key="setup_start").click().run()
    app.chat_input(key="answer").set_value(HOSTILE).run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.chat_message[1].text[0].value == HOSTILE
    assert_shown_only_literally(app)


def test_progress_page_keeps_a_hostile_profile_out_of_markdown(app_env, bundle):
    hostile_session(app_env["db_url"], bundle, finish=False)  # a profile without a scored answer yet
    app = open_page("pages/progress.py")
    assert app.selectbox(key="progress_profile").value == PROFILE
    _, markdown = rendered(app)
    assert not [text for text in markdown for marker in MARKERS if marker in text]
    assert app.info[0].value.startswith("This profile has no scored answers yet")


def hostile_question_yaml() -> str:
    """The example question under a new id, with hostile text in every field the bank page shows."""
    data = yaml.safe_load(EXAMPLE_QUESTION_YAML)
    question = data["questions"][0]
    question.update(id="literal-check", topic="custom-literal", prompt=HOSTILE, model_answer=HOSTILE)
    for item in (*question["key_points"], *question["follow_ups"]):
        field = "text" if "text" in item else "prompt"
        item[field] = f"{item[field]} {HOSTILE}"
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def test_question_bank_shows_custom_question_text_literally(app_env):
    app = open_page("pages/question_bank.py")
    app.text_area(key="bank_yaml").input(hostile_question_yaml()).run()
    app.button(key="save_pasted").click().run()
    assert not app.exception and app.success, [c.value for c in app.code]
    app.text_input(key="bank_query").input("custom-literal").run()  # its topic (search reads prompts and topics)
    assert_shown_only_literally(app)


NOTE = f"# Literal check\n\n## Zorblax {HOSTILE}\n\nThe zorblax passage: {HOSTILE}\n".encode()


def test_knowledge_upload_and_search_results_are_literal(app_env):
    app = open_page("pages/knowledge.py")
    app.file_uploader(key="knowledge_upload").upload("zorblax notes.md", NOTE, "text/markdown")
    app.run()
    app.button(key="add_document").click().run()
    assert not app.exception and app.success, [e.value for e in app.error]
    app.text_input(key="knowledge_query").input("zorblax passage").run()
    assert not app.exception
    assert_shown_only_literally(app)


def test_upload_problems_do_not_put_the_file_name_in_markdown(app_env):
    name = "www.evil.example :smile:.md"
    app = open_page("pages/knowledge.py")
    app.file_uploader(key="knowledge_upload").upload(name, b"# Only a title\n", "text/markdown")
    app.run()
    app.button(key="add_document").click().run()
    assert "Nothing was saved" in app.error[0].value
    assert_shown_only_literally(app, ["www.evil.example", ":smile:"])


# ---------------------------------------------------------------- the Markdown export


def parsed(markdown: str) -> list[Token]:
    """Block and inline tokens, flattened, as a CommonMark + GFM tables renderer sees them."""
    tokens = MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(markdown)
    return [t for token in tokens for t in (token, *(token.children or []))]


def test_export_puts_every_hostile_string_in_code(app_env, bundle):
    markdown = export.session_markdown(hostile_session(app_env["db_url"], bundle))
    tokens = parsed(markdown)
    code = [t.content for t in tokens if t.type in ("code_inline", "fence", "code_block")]
    prose = [t.content for t in tokens if t.type == "text"]
    for marker in MARKERS:
        assert any(marker in text for text in code), marker
        assert not any(marker in text for text in prose), f"{marker!r} outside code, where it could be linked"
    assert not [t for t in tokens if t.type in ("link_open", "image", "html_inline")]
    assert all(t.content.strip() in ("<details><summary>Model answer</summary>", "</details>")
               for t in tokens if t.type == "html_block"), "the only HTML is the export's own"
    assert markdown.count("# Interview") == 1 and f"`{PROFILE}`" in markdown


def test_export_shortcodes_survive_an_emoji_renderer(app_env, bundle):
    markdown = export.session_markdown(hostile_session(app_env["db_url"], bundle))
    renderer = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    renderer.core.ruler.push("emoji", emoji_in_text)
    page = renderer.render(markdown)
    assert "😄" not in page and ":smile:" in page


def emoji_in_text(state) -> None:
    """What emoji plugins and GitHub do: shortcodes in text (not in code) become emoji."""
    for token in state.tokens:
        for child in token.children or []:
            if child.type == "text":
                child.content = child.content.replace(":smile:", "😄")


def test_export_is_not_linkified_by_a_gfm_renderer(app_env, bundle):
    markdown = export.session_markdown(hostile_session(app_env["db_url"], bundle))
    tokens = parsed_with_linkify(markdown)
    assert not [t for t in tokens if t.type == "link_open"]


def parsed_with_linkify(markdown: str) -> list[Token]:
    tokens = MarkdownIt("gfm-like").parse(markdown)
    return [t for token in tokens for t in (token, *(token.children or []))]


@pytest.mark.parametrize("text", [
    "plain words", "`tick` and ``double``", "```\nfence inside\n```", "ends with `", " spaced  out\n\tlines ",
    "a | pipe", "x" * 300, "",
])
def test_code_spans_and_blocks_give_back_the_text(text):
    flat = " ".join(text.split())
    inline = [t for t in parsed(export.inert_markdown(text)) if t.type == "code_inline"]
    assert [t.content for t in inline] == ([flat] if flat else [])
    [block] = [t for t in parsed(export.inert_markdown_block(text)) if t.type == "fence"]
    assert block.content.split() == text.split() and block.info == "text"

"""Question bank: browse and filter every question, and add new ones from pasted or uploaded YAML."""

from __future__ import annotations

from collections.abc import Iterable

import streamlit as st

from app import services, widgets
from app.services import Bundle, Question

DIFFICULTIES = ["easy", "medium", "hard"]
PASTED_NAME = services.PASTED_NAME
OUTCOME = "bank_add_outcome"


def matches(question: Question, words: list[str]) -> bool:
    """Every word appears in the question's id, prompt, topic, tags, key points, follow-ups or model answer."""
    haystack = " ".join([question.id, question.prompt, question.topic, question.model_answer, *question.tags,
                         *(p.text for p in question.key_points), *(f.prompt for f in question.follow_ups)])
    return all(word in haystack.lower() for word in words)


def filtered(bundle: Bundle) -> list[Question]:
    left, middle, right = st.columns([2, 2, 3])
    topics = left.multiselect("Topic", bundle.topics(), placeholder="All topics", key="bank_topics")
    levels = middle.multiselect("Difficulty", DIFFICULTIES, placeholder="Any difficulty", key="bank_levels")
    query = right.text_input("Search", placeholder="Words from the prompt, key points, follow-ups, answer or tags",
                             key="bank_query")
    words = query.lower().split()
    return [q for q in bundle.questions.values()
            if (not topics or q.topic in topics) and (not levels or q.difficulty in levels) and matches(q, words)]


def question_card(question: Question, bundle: Bundle) -> None:
    with st.container(border=True):
        widgets.literal(question.prompt)
        # Topic and id are slugs and rubric titles come from the bundled rubrics, so this caption can be Markdown.
        rubrics = ", ".join(r.title for r in bundle.rubrics_for(question))
        st.caption(f"{question.topic} · {question.difficulty} · rubrics: {rubrics} · id {question.id}")
        with st.expander("Key points, follow-ups and model answer"):
            details(question, bundle.question_files[question.id])


def details(question: Question, source_file: str) -> None:
    """Everything below comes from a question file, which may be one a user added: shown as plain text."""
    widgets.literal_caption(f"From {source_file}")
    st.markdown("**Key points**")
    widgets.literal(bulleted(f"{p.text} ({p.criterion})" for p in question.key_points))
    st.markdown("**Follow-ups**")
    widgets.literal(bulleted(f.prompt for f in question.follow_ups))
    if question.misconceptions:
        st.markdown("**Misconceptions to avoid**")
        widgets.literal(bulleted(m.claim for m in question.misconceptions))
    st.markdown("**Model answer**")
    widgets.literal(question.model_answer)


def bulleted(items: Iterable[str]) -> str:
    return "\n".join(f"• {item}" for item in items)


def browse(bundle: Bundle) -> None:
    questions = filtered(bundle)
    st.caption(f"Showing {len(questions)} of {len(bundle.questions)} questions.")
    for question in sorted(questions, key=lambda q: (q.topic, DIFFICULTIES.index(q.difficulty), q.id)):
        question_card(question, bundle)


# ---------------------------------------------------------------- adding questions


def on_paste(save: bool) -> None:
    text = st.session_state.get("bank_yaml", "")
    if not text.strip():
        st.session_state[OUTCOME] = {"name": PASTED_NAME, "problems": [], "ids": [], "saved": None, "empty": True}
        return
    outcome = services.check_questions(text, PASTED_NAME, save)
    st.session_state[OUTCOME] = outcome
    if outcome["saved"]:
        st.session_state["bank_yaml"] = ""  # saved safely, so the box can be emptied for the next one


def on_upload(save: bool) -> None:
    uploaded = st.session_state.get("bank_upload")
    if uploaded is None:
        st.session_state[OUTCOME] = {"name": "", "problems": [], "ids": [], "saved": None, "empty": True}
        return
    st.session_state[OUTCOME] = services.check_questions(uploaded.getvalue(), uploaded.name, save)


def show_outcome(outcome: dict) -> None:
    if outcome.get("empty"):
        st.warning("There is nothing to check yet: paste some YAML or choose a file first.")
    elif outcome["problems"]:
        widgets.problems_report(outcome["problems"], "; fix them and submit again")
    elif outcome["saved"]:
        ids = ", ".join(outcome["ids"])
        st.success(f"Saved {len(outcome['ids'])} question(s) ({ids}) to the file below. They are listed under "
                   "Browse and can be asked in new interviews.", icon=":material/check:")
        st.code(outcome["saved"], language=None)
        if outcome.get("not_loaded"):
            st.warning("The saved file did not load cleanly (another change may have happened meanwhile):")
            st.code("\n".join(outcome["not_loaded"]), language=None, wrap_lines=True)
    else:
        st.success(f"The YAML is valid: {len(outcome['ids'])} new question(s) ({', '.join(outcome['ids'])}). "
                   "Nothing has been saved yet.", icon=":material/check:")


def add_section() -> None:
    custom_dir = services.custom_question_dir()
    widgets.literal_caption(f"New questions are checked exactly like the bundled ones, then saved under "
                            f"{custom_dir}. If anything is wrong, nothing is saved: every problem names its line "
                            "and field.")
    paste, upload, example = st.tabs(["Paste YAML", "Upload a file", "Example"])
    with paste:
        st.text_area("Questions in YAML", key="bank_yaml", height=300,
                     placeholder="questions:\n  - id: ...\n    prompt: ...")
        with st.container(horizontal=True):
            st.button("Check", key="check_pasted", on_click=on_paste, args=(False,))
            st.button("Check and save", key="save_pasted", type="primary", help=services.COACHES_ONLY_HELP,
                      disabled=not services.may_change_shared_content(), on_click=on_paste, args=(True,))
    with upload:
        st.file_uploader("A .yaml or .yml file", type=["yaml", "yml"], key="bank_upload")
        with st.container(horizontal=True):
            st.button("Check", key="check_upload", on_click=on_upload, args=(False,))
            st.button("Check and save", key="save_upload", type="primary", help=services.COACHES_ONLY_HELP,
                      disabled=not services.may_change_shared_content(), on_click=on_upload, args=(True,))
    with example:
        st.caption("A complete question that passes every check. Copy it, give it a new id and make it yours. "
                   "Rubric criteria and knowledge sections must exist: see the Knowledge page for section ids.")
        st.code(services.EXAMPLE_QUESTION_YAML, language="yaml")
    if OUTCOME in st.session_state:
        show_outcome(st.session_state[OUTCOME])


def content_problems(bundle: Bundle) -> None:
    if bundle.problems:
        with st.expander(f"{len(bundle.problems)} problem(s) in the content files (those items were skipped)",
                         icon=":material/warning:"):
            st.code("\n".join(str(p) for p in bundle.problems), language=None, wrap_lines=True)


def main() -> None:
    st.title("Question bank")
    bundle = services.content()
    st.markdown(f"{bundle.summary()} · {len(bundle.topics())} topics")
    content_problems(bundle)
    browse_tab, add_tab = st.tabs(["Browse", "Add questions"], key="bank_tab")
    with browse_tab:
        browse(bundle)
    with add_tab:
        add_section()


main()

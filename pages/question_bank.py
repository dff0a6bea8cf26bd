"""Question bank: find a question by words, topic or difficulty, read what a strong answer covers, practise it
on its own, and add new questions from pasted or uploaded YAML."""

from __future__ import annotations

from collections.abc import Iterable
from math import ceil

import streamlit as st

from app import services, widgets
from app.services import Bundle, Question

DIFFICULTIES = ["easy", "medium", "hard"]
DIFFICULTY_COLORS = {"easy": "green", "medium": "orange", "hard": "red"}
PAGE_SIZE = 10
PAGE = "bank_page"
PASTED_NAME = services.PASTED_NAME
OUTCOME = "bank_add_outcome"


# ---------------------------------------------------------------- finding questions


def topic_label(topic: str) -> str:
    words = services.topic_words(topic)
    return words[:1].upper() + words[1:]


def matches(question: Question, words: list[str]) -> bool:
    """Every word appears in the question's prompt or topic (as a slug or in plain words), ignoring case."""
    haystack = " ".join([question.prompt, question.topic, services.topic_words(question.topic)]).lower()
    return all(word in haystack for word in words)


def first_page() -> None:
    st.session_state[PAGE] = 0


def filtered(bundle: Bundle) -> list[Question]:
    search, topic, level = st.columns([3, 2, 2], vertical_alignment="bottom")
    query = search.text_input("Search", placeholder="Words from the question or its topic, e.g. latency",
                              key="bank_query", on_change=first_page)
    topics = topic.multiselect("Topic", bundle.topics(), format_func=topic_label, placeholder="All topics",
                               key="bank_topics", on_change=first_page)
    levels = level.multiselect("Difficulty", DIFFICULTIES, placeholder="Any difficulty", key="bank_levels",
                               on_change=first_page)
    words = query.lower().split()
    found = [q for q in bundle.questions.values()
             if (not topics or q.topic in topics) and (not levels or q.difficulty in levels) and matches(q, words)]
    return sorted(found, key=lambda q: (q.topic, DIFFICULTIES.index(q.difficulty), q.id))


# ---------------------------------------------------------------- one card per question


def question_card(question: Question, bundle: Bundle) -> None:
    with st.container(border=True):
        widgets.literal(question.prompt)
        with st.container(horizontal=True, vertical_alignment="center"):
            st.badge(topic_label(question.topic), icon=":material/sell:", color="blue")
            st.badge(question.difficulty.capitalize(), color=DIFFICULTY_COLORS[question.difficulty])
            st.space("stretch")
            if st.button("Practise this", key=f"practise-{question.id}", icon=":material/play_arrow:",
                         help="Start a one-question interview on this question, with one follow-up."):
                practise(question)
        with st.expander("What a strong answer covers", icon=":material/lightbulb:"):
            strong_answer(question)
        with st.expander("Details", icon=":material/info:"):
            details(question, bundle)


def strong_answer(question: Question) -> None:
    """Key points, pitfalls and the model answer: text from a question file (maybe a user's), so plain text."""
    st.markdown("**Key points**")
    widgets.literal(bulleted(p.text for p in question.key_points))
    if question.misconceptions:
        st.markdown("**Misconceptions to avoid**")
        widgets.literal(bulleted(m.claim for m in question.misconceptions))
    st.markdown("**Model answer**")
    widgets.literal(question.model_answer)


def details(question: Question, bundle: Bundle) -> None:
    """What question authors need: id, file, rubrics, references and the follow-ups the interviewer may ask."""
    rubrics = ", ".join(f"{r.title} ({r.id})" for r in bundle.rubrics_for(question))
    widgets.literal_caption(f"Id: {question.id}\nFile: {bundle.question_files[question.id]}\n"
                            f"Topic: {question.topic}\nRubrics: {rubrics}\n"
                            f"References: {', '.join(question.references)}"
                            + (f"\nTags: {', '.join(question.tags)}" if question.tags else ""))
    st.markdown("**Follow-ups**")
    widgets.literal(bulleted(f"{f.prompt} ({f.criterion})" for f in question.follow_ups))


def bulleted(items: Iterable[str]) -> str:
    return "\n".join(f"• {item}" for item in items)


def practise(question: Question) -> None:
    """Open a one-question interview on ``question`` and show it on the Interview page."""
    try:
        session_id = services.start_question_practice([question.id])
    except (services.PlanError, ValueError) as exc:
        st.error(f"The interview could not start: {exc}", icon=":material/error:")
        return
    st.switch_page("pages/interview.py", query_params={"session": str(session_id)})


# ---------------------------------------------------------------- the list, a page at a time


def browse(bundle: Bundle) -> None:
    found = filtered(bundle)
    pages = max(1, ceil(len(found) / PAGE_SIZE))
    page = min(st.session_state.get(PAGE, 0), pages - 1)
    shown = found[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]
    if not found:
        st.info("No question matches. Try fewer words, or clear the topic and difficulty filters.")
    else:
        st.caption(f"Showing {page * PAGE_SIZE + 1}–{page * PAGE_SIZE + len(shown)} of {len(found)} matching "
                   f"questions ({len(bundle.questions)} in the bank).")
    for question in shown:
        question_card(question, bundle)
    if pages > 1:
        pager(page, pages)


def pager(page: int, pages: int) -> None:
    with st.container(horizontal=True, horizontal_alignment="center", vertical_alignment="center"):
        st.button("Previous", key="bank_previous", icon=":material/chevron_left:", disabled=page == 0,
                  on_click=turn_page, args=(page - 1,))
        st.caption(f"Page {page + 1} of {pages}")
        st.button("Next", key="bank_next", icon=":material/chevron_right:", icon_position="right",
                  disabled=page >= pages - 1, on_click=turn_page, args=(page + 1,))


def turn_page(page: int) -> None:
    st.session_state[PAGE] = page


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
    st.caption(f"{len(bundle.questions)} questions on {len(bundle.topics())} topics. Find one, read what a strong "
               "answer covers, or practise it on its own with one follow-up.")
    content_problems(bundle)
    browse_tab, add_tab = st.tabs(["Browse", "Add questions"], key="bank_tab")
    with browse_tab:
        browse(bundle)
    with add_tab:
        add_section()


main()

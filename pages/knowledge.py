"""Knowledge: search the notes the judge cites, list them, add Markdown or text notes, and rebuild the index."""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from app import services, widgets
from app.services import MAX_FILE_BYTES, Bundle, IndexStats

OUTCOME = "knowledge_add_outcome"


def update_index(rebuild: bool = False) -> IndexStats:
    """Build the index with a progress bar; only passages whose text changed are embedded unless ``rebuild``."""
    bar = st.progress(0.0, text="Looking for passages that changed…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / total if total else 1.0, text=f"Embedding passages: {done} of {total}")

    stats = services.update_index(progress, rebuild=rebuild)
    bar.progress(1.0, text="The index is up to date.")
    return stats


def stats_text(stats: IndexStats) -> str:
    return f"{stats.chunks} passages ({stats.embedded} embedded now, {stats.reused} reused from saved vectors)"


# ---------------------------------------------------------------- sections of the page


def search(bundle: Bundle) -> None:
    query = st.text_input("Search the notes", key="knowledge_query",
                          placeholder="e.g. how does LoRA reduce the cost of training?")
    k = st.slider("Passages to show", 1, 10, 5, key="knowledge_k")
    if not query.strip():
        st.caption("Searches combine meaning (embeddings) and exact words (BM25), as the judge does.")
        return
    if not services.index_is_current():  # new content made it stale: rebuild first, with progress
        update_index()
    hits = services.search(query, k)
    if not hits:
        st.info("No passage matches those words.")
    titles = {doc_id: doc.title for doc_id, doc in bundle.knowledge.items()}
    for rank, hit in enumerate(hits, start=1):  # headings, titles and passages may come from uploaded notes
        with st.container(border=True):
            widgets.literal(f"{hit.heading} · {titles.get(hit.document, hit.document)}")
            widgets.literal_caption(f"{hit.reference} · {relevance(rank)}")
            widgets.literal(hit.excerpt)


def relevance(rank: int) -> str:
    """How a result ranks, in words: the fused score (meaning and exact words) has no meaning on its own."""
    return "best match" if rank == 1 else f"related · #{rank}"


def documents(bundle: Bundle) -> None:
    rows = [{"Title": doc.title, "Id": doc.id, "Sections": len(doc.sections), "Path": doc.path}
            for doc in sorted(bundle.knowledge.values(), key=lambda d: d.id)]
    st.dataframe(rows, hide_index=True)
    chosen = st.selectbox("Section references of", [r["Id"] for r in rows], index=None, key="knowledge_doc",
                          placeholder="Choose a document to see the ids a question can reference")
    if chosen:
        doc = bundle.knowledge[chosen]
        st.code("\n".join(f"{doc.id}#{s.id}    {s.heading}" for s in doc.sections), language=None)


def add_document() -> None:
    custom_dir = services.custom_knowledge_dir()
    widgets.literal_caption(f"Markdown (.md, .markdown) or plain text (.txt), UTF-8, up to {MAX_FILE_BYTES / 1e6:g} "
                            "MB. Headings split it into sections. The file name becomes the document id, so "
                            f"questions can cite it as document-id#section-id. Saved under {custom_dir}.")
    uploaded = st.file_uploader("A note to add", type=["md", "markdown", "txt"], key="knowledge_upload")
    if st.button("Add to the notes", key="add_document", type="primary",
                 disabled=not services.may_change_shared_content(), help=services.COACHES_ONLY_HELP):
        st.session_state[OUTCOME] = add(uploaded)
    if OUTCOME in st.session_state:
        show_outcome(st.session_state[OUTCOME])


def add(uploaded: UploadedFile | None) -> dict:
    """Check, save, reload and re-index one uploaded note; returns what to show."""
    if uploaded is None:
        return {"empty": True}
    bar = st.progress(0.0, text="Checking the note…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / total if total else 1.0, text=f"Embedding passages: {done} of {total}")

    outcome = services.add_document(uploaded.getvalue(), uploaded.name, progress)
    if "stats" in outcome:
        outcome["stats"] = stats_text(outcome["stats"])
    bar.empty()
    return outcome


def show_outcome(outcome: dict) -> None:
    if outcome.get("empty"):
        st.warning("Choose a file first.")
    elif outcome["problems"]:
        widgets.problems_report(outcome["problems"])
    else:
        st.success(f"Saved the note and updated the index: {outcome['stats']}. It is searchable now.",
                   icon=":material/check:")
        widgets.literal_caption(f"Saved as {outcome['saved']}. Questions can reference these sections:")
        st.code("\n".join(outcome["refs"]), language=None)


def index_section() -> None:
    st.caption("The index is refreshed automatically when notes change. Rebuild it after editing note files "
               "outside the app; only changed passages are embedded again unless you ask for everything.")
    full = st.checkbox("Embed every passage again (ignore saved vectors)", key="knowledge_full_rebuild")
    if st.button("Rebuild index", key="rebuild_index", disabled=not services.may_change_shared_content(),
                 help=services.COACHES_ONLY_HELP):
        services.reload_content()  # pick up note files edited on disk since the last load
        st.session_state["knowledge_rebuilt"] = stats_text(update_index(rebuild=full))
    if "knowledge_rebuilt" in st.session_state:
        st.success(f"Index rebuilt with {st.session_state['knowledge_rebuilt']}.", icon=":material/check:")


def main() -> None:
    st.title("Knowledge")
    summary = st.empty()
    search_tab, docs_tab, add_tab, index_tab = st.tabs(["Search", "Documents", "Add a document", "Index"],
                                                        key="knowledge_tab")
    # Actions that change content run first, so the list and search below already see the result.
    with add_tab:
        add_document()
    with index_tab:
        index_section()
    bundle = services.content()
    with docs_tab:
        documents(bundle)
    with search_tab:
        search(bundle)
    sections = sum(len(d.sections) for d in bundle.knowledge.values())
    summary.markdown(f"{len(bundle.knowledge)} documents · {sections} sections · the judge cites these notes "
                     "when it grades an answer.")


main()

"""Knowledge: search the notes the judge cites, list them, add Markdown or text notes, and rebuild the index."""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from simulator import bank, custom_content, resources
from simulator.export import inert_markdown
from simulator.retrieval import KnowledgeIndex
from simulator.runtime import Runtime

OUTCOME = "knowledge_add_outcome"


def update_index(rt: Runtime, rebuild: bool = False) -> KnowledgeIndex:
    """Build the index with a progress bar; only passages whose text changed are embedded unless ``rebuild``."""
    bar = st.progress(0.0, text="Looking for passages that changed…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / total if total else 1.0, text=f"Embedding passages: {done} of {total}")

    index = rt.build_index(rebuild=rebuild, progress=progress)
    bar.progress(1.0, text="The index is up to date.")
    return index


def current_index(rt: Runtime) -> KnowledgeIndex:
    """The index in use, building it first (with progress) when new content has made it stale."""
    return rt.index if "index" in rt.__dict__ else update_index(rt)


def stats_text(index: KnowledgeIndex) -> str:
    s = index.stats
    return f"{s.chunks} passages ({s.embedded} embedded now, {s.reused} reused from saved vectors)"


# ---------------------------------------------------------------- sections of the page


def search(rt: Runtime) -> None:
    query = st.text_input("Search the notes", key="knowledge_query",
                          placeholder="e.g. how does LoRA reduce the cost of training?")
    k = st.slider("Passages to show", 1, 10, 5, key="knowledge_k")
    if not query.strip():
        st.caption("Searches combine meaning (embeddings) and exact words (BM25), as the judge does.")
        return
    hits = current_index(rt).search(query, k)
    if not hits:
        st.info("No passage matches those words.")
    titles = {doc_id: doc.title for doc_id, doc in rt.bundle.knowledge.items()}
    for hit in hits:
        with st.container(border=True):
            st.markdown(f"**{inert_markdown(hit.heading)}** · {inert_markdown(titles.get(hit.document, hit.document))}")
            st.caption(f"{inert_markdown(hit.reference)} · score {hit.score:.4f}")
            st.markdown(inert_markdown(hit.excerpt))


def documents(bundle: bank.Bundle) -> None:
    rows = [{"Title": doc.title, "Id": doc.id, "Sections": len(doc.sections), "Path": doc.path}
            for doc in sorted(bundle.knowledge.values(), key=lambda d: d.id)]
    st.dataframe(rows, hide_index=True)
    chosen = st.selectbox("Section references of", [r["Id"] for r in rows], index=None, key="knowledge_doc",
                          placeholder="Choose a document to see the ids a question can reference")
    if chosen:
        doc = bundle.knowledge[chosen]
        st.code("\n".join(f"{doc.id}#{s.id}    {s.heading}" for s in doc.sections), language=None)


def add_document(rt: Runtime) -> None:
    custom_dir = rt.settings.custom_knowledge_dir
    st.caption(f"Markdown (.md, .markdown) or plain text (.txt), UTF-8, up to {bank.MAX_FILE_BYTES / 1e6:g} MB. "
               "Headings split it into sections. The file name becomes the document id, so questions can cite "
               f"it as document-id#section-id. Saved under {inert_markdown(str(custom_dir))}.")
    uploaded = st.file_uploader("A note to add", type=["md", "markdown", "txt"], key="knowledge_upload")
    if st.button("Add to the notes", key="add_document", type="primary"):
        st.session_state[OUTCOME] = add(rt, uploaded)
    if OUTCOME in st.session_state:
        show_outcome(st.session_state[OUTCOME])


def add(rt: Runtime, uploaded: UploadedFile | None) -> dict:
    """Check, save, reload and re-index one uploaded note; returns what to show."""
    if uploaded is None:
        return {"empty": True}
    check = custom_content.submit_document(uploaded.getvalue(), uploaded.name, rt.bundle,
                                           rt.settings.custom_knowledge_dir)
    outcome = {"name": uploaded.name, "problems": [str(p) for p in check.problems]}
    if check.saved is None or check.document is None:
        return outcome
    resources.reload_content()
    index = update_index(rt)
    refs = [f"{check.document.id}#{s.id}" for s in check.document.sections]
    return {**outcome, "saved": str(check.saved), "refs": refs, "stats": stats_text(index)}


def show_outcome(outcome: dict) -> None:
    if outcome.get("empty"):
        st.warning("Choose a file first.")
    elif outcome["problems"]:
        st.error(f"Nothing was saved. {inert_markdown(outcome['name'])} has {len(outcome['problems'])} "
                 "problem(s):", icon=":material/error:")
        st.code("\n".join(outcome["problems"]), language=None, wrap_lines=True)
    else:
        st.success(f"Saved {inert_markdown(outcome['saved'])} and updated the index: {outcome['stats']}. "
                   "It is searchable now; questions can reference these sections:", icon=":material/check:")
        st.code("\n".join(outcome["refs"]), language=None)


def index_section(rt: Runtime) -> None:
    st.caption("The index is refreshed automatically when notes change. Rebuild it after editing note files "
               "outside the app; only changed passages are embedded again unless you ask for everything.")
    full = st.checkbox("Embed every passage again (ignore saved vectors)", key="knowledge_full_rebuild")
    if st.button("Rebuild index", key="rebuild_index"):
        resources.reload_content()  # pick up note files edited on disk since the last load
        st.session_state["knowledge_rebuilt"] = stats_text(update_index(rt, rebuild=full))
    if "knowledge_rebuilt" in st.session_state:
        st.success(f"Index rebuilt with {st.session_state['knowledge_rebuilt']}.", icon=":material/check:")


def main() -> None:
    st.title("Knowledge")
    rt = resources.runtime()
    summary = st.empty()
    search_tab, docs_tab, add_tab, index_tab = st.tabs(["Search", "Documents", "Add a document", "Index"],
                                                        key="knowledge_tab")
    # Actions that change content run first, so the list and search below already see the result.
    with add_tab:
        add_document(rt)
    with index_tab:
        index_section(rt)
    bundle = rt.bundle
    with docs_tab:
        documents(bundle)
    with search_tab:
        search(rt)
    sections = sum(len(d.sections) for d in bundle.knowledge.values())
    summary.markdown(f"{len(bundle.knowledge)} documents · {sections} sections · the judge cites these notes "
                     "when it grades an answer.")


main()

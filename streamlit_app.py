"""Streamlit entry point: the login gate (when login is configured), then the selected page with shared
resources loaded once (with a spinner)."""

import streamlit as st

st.set_page_config(page_title="Interview Simulator", page_icon=":material/record_voice_over:", layout="wide")
_starting = st.empty()
_starting.caption("Starting Interview Simulator…")  # shown at once: the first import of the simulator takes seconds

from app import services, widgets  # noqa: E402 - imported after the message above on purpose


def main() -> None:
    _starting.empty()
    if services.login_required():
        # The only page that exists before signing in: every URL, ?session= links included, lands here.
        st.navigation([st.Page(sign_in, title="Sign in", icon=":material/login:")], position="hidden").run()
        return
    pages = [
        st.Page("pages/interview.py", title="Interview", icon=":material/record_voice_over:", default=True),
        st.Page("pages/review.py", title="Review", icon=":material/history:"),
        st.Page("pages/progress.py", title="Progress", icon=":material/monitoring:"),
        st.Page("pages/question_bank.py", title="Question bank", icon=":material/quiz:"),
        st.Page("pages/knowledge.py", title="Knowledge", icon=":material/menu_book:"),
        st.Page("pages/settings.py", title="Settings", icon=":material/settings:"),
    ]
    # Our own links: Streamlit's default menu first lists the raw files of pages/ until this script runs, so it is
    # off (client.showSidebarNavigation) and the menu is drawn here instead.
    page = st.navigation(pages, position="hidden")
    with st.sidebar:
        for entry in pages:
            st.page_link(entry)
    try:
        services.on_sign_in()
        account_panel()
        services.warm_up()
        page.run()
    except (services.SettingsError, services.StorageUnavailable) as exc:
        # a setting or the database is unusable: say so in one sentence, never as a stack trace
        st.error(f"{exc} Nothing else was changed; fix this and reload the page.", icon=":material/error:")


def sign_in() -> None:
    st.title("Interview Simulator")
    st.write("Practise the RAG-or-fine-tuning interview with graded, evidence-backed feedback. Sign in to see "
             "your own interviews and progress.")
    st.button("Sign in", type="primary", icon=":material/login:", on_click=st.login, key="sign_in")


def account_panel() -> None:
    """With login on: who is signed in, a coach's choice of whose data to look at, and signing out."""
    viewer = services.viewer()
    if not viewer.login_on:
        return
    with st.sidebar:
        st.caption("Signed in as")
        widgets.literal(viewer.label)
        if viewer.is_admin:
            coach_picker(viewer)
        st.button("Sign out", icon=":material/logout:", on_click=st.logout, key="sign_out")


def coach_picker(viewer: services.Viewer) -> None:
    people = {f"{viewer.label} (me)": viewer.user}
    for owner, label in services.candidates():
        if owner != viewer.user:
            people[label if label not in people else f"{label} ({owner})"] = owner
    labels = list(people)
    current = next((n for n, (label, owner) in enumerate(people.items()) if owner == viewer.owner), 0)
    chosen = people[st.selectbox("Coach view: whose interviews", labels, index=current, key="coach_view")]
    if chosen != viewer.owner:
        services.view_as(None if chosen == viewer.user else chosen)
        st.query_params.pop("session", None)  # the last person's open session means nothing for the next
        st.session_state.pop("review_session", None)
        st.rerun()
    if viewer.read_only:
        st.caption("Read-only: you are looking at a candidate's data.")


main()

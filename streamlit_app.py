"""Streamlit entry point: loads the shared resources once (with a spinner), then runs the selected page."""

import streamlit as st

from app import services


def main() -> None:
    st.set_page_config(page_title="Interview Simulator", page_icon=":material/record_voice_over:", layout="wide")
    pages = [
        st.Page("pages/interview.py", title="Interview", icon=":material/record_voice_over:", default=True),
        st.Page("pages/review.py", title="Review", icon=":material/history:"),
        st.Page("pages/progress.py", title="Progress", icon=":material/monitoring:"),
        st.Page("pages/question_bank.py", title="Question bank", icon=":material/quiz:"),
        st.Page("pages/knowledge.py", title="Knowledge", icon=":material/menu_book:"),
        st.Page("pages/settings.py", title="Settings", icon=":material/settings:"),
    ]
    page = st.navigation(pages)
    try:
        services.warm_up()
        page.run()
    except (services.SettingsError, services.StorageUnavailable) as exc:
        # a setting or the database is unusable: say so in one sentence, never as a stack trace
        st.error(f"{exc} Nothing else was changed; fix this and reload the page.", icon=":material/error:")


main()

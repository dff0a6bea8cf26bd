"""Streamlit entry point: builds the page navigation."""

import streamlit as st


def main() -> None:
    st.set_page_config(page_title="Interview Simulator", page_icon=":material/record_voice_over:", layout="wide")
    pages = [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    ]
    st.navigation(pages).run()


main()

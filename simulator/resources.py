"""Shared, cached resources for the Streamlit pages. The only simulator module importing streamlit."""

from __future__ import annotations

import streamlit as st

from simulator import bank


@st.cache_resource(show_spinner="Loading the question bank…")
def content() -> bank.Bundle:
    return bank.load_bundle()

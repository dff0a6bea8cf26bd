"""The Streamlit app renders (AppTest runs the real script, no browser)."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")


def test_home_page_renders_the_bank_summary():
    app = AppTest.from_file(APP, default_timeout=60).run()
    assert not app.exception
    assert app.title[0].value == "Interview Simulator"
    summary = app.markdown[0].value
    assert summary.endswith("knowledge documents") and int(summary.split()[0]) >= 40

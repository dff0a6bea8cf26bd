"""What a new user sees, in Chromium at 1400×900 and at 390×844 (a phone): the first screen of a freshly started
server (something visible within 3 s, the start control within 12 s while the model loads in the background), a
grade card, the debrief and Progress. Screenshots go to test-artifacts/coaching-*.png.

Skipped on a developer machine without Chromium; with ``CI`` set a missing browser fails (see test_browser.py).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_browser import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    chromium,  # noqa: F401  (fixture)
    server_env,
    streamlit_server,
)

VISIBLE_WITHIN_S = 3.0
START_CONTROL_WITHIN_S = 12.0
STEP_MS = 120_000
DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
ANSWERS = [
    "RAG changes what the model can look up at answer time; fine-tuning changes the weights, so it shapes "
    "behaviour, tone and format. Use retrieval for fresh facts and citations, fine-tuning for consistent style.",
    "RAG is usually cheaper to start: no training run, and updating knowledge means re-indexing documents. "
    "Fine-tuning costs GPU time up front and again whenever the data changes, though a small tuned model can "
    "lower the cost per query at very high volume.",
    "Retrieval reduces hallucination on factual questions because the answer is grounded in passages it can cite; "
    "fine-tuning alone can make a model confidently wrong about facts it memorised badly.",
]


@pytest.fixture
def fresh_server(chromium: Path, warm_data_dir: Path, tmp_path: Path) -> Iterator[tuple[str, float]]:  # noqa: F811
    """A just-started server (nothing loaded in its process) over a copy of a warm data folder.
    Yields its URL and the moment it answered its health check."""
    env = server_env(tmp_path)
    env["SIMULATOR_DATA_DIR"] = str(shutil.copytree(warm_data_dir, tmp_path / "data"))
    with streamlit_server(env, tmp_path / "streamlit.log") as url:
        yield url, time.monotonic()


def settle(page, expect) -> None:
    """Wait until the script run is over and charts have had a moment to draw."""
    expect(page.get_by_test_id("stStatusWidget")).to_be_hidden(timeout=STEP_MS)
    page.wait_for_timeout(1500)


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"coaching-{name}.png"), full_page=True)


def answer_box(page):
    return page.get_by_placeholder(re.compile("answer", re.IGNORECASE))


def answer_until_the_end(page, expect) -> None:
    """Answer every question and follow-up; stop where the last grade card stays on screen."""
    debrief_button = page.get_by_role("button", name="See your debrief")
    asked = page.get_by_role("group", name="Chat message from assistant")
    for n in range(8):
        expect(answer_box(page).or_(debrief_button).first).to_be_visible(timeout=STEP_MS)
        if debrief_button.count():
            return
        before = asked.count()
        box = answer_box(page)
        box.fill(ANSWERS[n % len(ANSWERS)])
        box.press("Enter")
        mine = page.get_by_role("group", name="Chat message from user").nth(n)
        expect(mine).to_be_visible(timeout=STEP_MS)
        # settled: the next question or follow-up is on screen, or the interview is over
        next_turn = asked.nth(before)
        expect(next_turn.or_(debrief_button).first).to_be_visible(timeout=STEP_MS)
        expect(page.get_by_test_id("stStatusWidget")).to_be_hidden(timeout=STEP_MS)
    pytest.fail("the quick drill did not end after eight answers")


@pytest.mark.browser
@pytest.mark.slow
def test_first_screen_grade_card_debrief_and_progress_on_desktop_and_phone(chromium: Path, fresh_server):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    url, _ = fresh_server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        desktop = browser.new_context(viewport=DESKTOP)
        page = desktop.new_page()
        try:
            opened = time.monotonic()
            page.goto(url)
            first = page.get_by_text("Starting Interview Simulator").or_(page.get_by_text("How it works"))
            expect(first.first).to_be_visible(timeout=30_000)
            visible_after = time.monotonic() - opened
            drill = page.get_by_role("button", name=re.compile("Quick drill"))
            expect(drill).to_be_visible(timeout=30_000)
            start_after = time.monotonic() - opened
            print(f"[browser timing] first content {visible_after:.1f} s, start control {start_after:.1f} s")
            assert visible_after <= VISIBLE_WITHIN_S, f"nothing visible for {visible_after:.1f} s"
            assert start_after <= START_CONTROL_WITHIN_S, f"no start control for {start_after:.1f} s"
            shot(page, "first-screen-desktop")

            drill.click()
            expect(answer_box(page)).to_be_visible(timeout=STEP_MS)  # the model finishes loading behind a spinner
            answer_until_the_end(page, expect)
            expect(page.get_by_text(re.compile(r"\b(Strong|Solid|Partial|Weak)\b")).first).to_be_visible()
            shot(page, "grade-card-desktop")
            session_url = page.url

            page.get_by_role("button", name="See your debrief").click()
            expect(page.get_by_role("heading", name="Debrief")).to_be_visible(timeout=STEP_MS)
            expect(page.get_by_text("Gaps to work on")).to_be_visible()
            expect(page.get_by_role("button", name="See your debrief")).to_have_count(0, timeout=STEP_MS)
            shot(page, "debrief-desktop")
            page.get_by_test_id("stSidebar").get_by_role("link", name="Progress").click()
            expect(page.get_by_role("heading", name="Progress")).to_be_visible(timeout=STEP_MS)
            settle(page, expect)
            shot(page, "progress-desktop")

            phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
            phone.goto(url)
            expect(phone.get_by_role("button", name=re.compile("Quick drill"))).to_be_visible(timeout=30_000)
            shot(phone, "first-screen-phone")
            phone.goto(session_url)  # the finished interview opens on its debrief
            expect(phone.get_by_role("heading", name="Debrief")).to_be_visible(timeout=STEP_MS)
            scores = phone.get_by_text(re.compile(r"\d+\.\d / 10"))
            expect(scores.first).to_be_in_viewport()  # a score is readable without scrolling sideways
            shot(phone, "debrief-phone")
            session_id = re.search(r"session=(\d+)", session_url).group(1)
            phone.goto(f"{url}/review?session={session_id}")
            expect(phone.get_by_text("Next steps").first).to_be_visible(timeout=STEP_MS)  # the first card is open
            settle(phone, expect)
            shot(phone, "grade-card-phone")
            phone.goto(f"{url}/progress")
            expect(phone.get_by_role("heading", name="Progress")).to_be_visible(timeout=STEP_MS)
            settle(phone, expect)
            shot(phone, "progress-phone")
        except Exception:
            with contextlib.suppress(Exception):
                shot(page, "failure")
            raise
        finally:
            browser.close()

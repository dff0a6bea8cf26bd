"""The served app in a real browser: Debian's Chromium answers one interview question and sees it graded.

Skipped only on a developer machine without ``/usr/bin/chromium``; with ``CI`` set a missing or broken browser
is a failure, so CI cannot pass without this test having run (``.ci/run`` installs Chromium).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium's own connections are refused on closed networks and it stalls.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SERVER_START_S = 90
FIRST_LOAD_S = 300  # a fresh data folder: the model loads and every knowledge note is embedded
STEP_S = 120
ANSWER = ("Start with RAG when the knowledge changes often or answers must cite sources: retrieval keeps facts "
          "fresh without retraining. Fine-tune when you need a consistent style, format or behaviour that "
          "prompting cannot reach, and you have enough labelled examples. Often combine them: fine-tune for "
          "behaviour, retrieve for facts, and evaluate both on a held-out set.")


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium, checked before the server starts."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing, so the browser test cannot run in CI: install Debian's chromium "
                    "(`apt-get install -y chromium`; .ci/run does this).")
    pytest.skip(f"{CHROMIUM} is missing (install Debian's chromium to run the browser test)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIMULATOR_", "OPENAI_"))}
    env.update(
        SIMULATOR_DB_URL=f"sqlite:///{tmp_path / 'app.db'}",
        SIMULATOR_DATA_DIR=str(tmp_path / "data"),
        SIMULATOR_CUSTOM_QUESTIONS_DIR=str(tmp_path / "custom-questions"),
        SIMULATOR_CUSTOM_KNOWLEDGE_DIR=str(tmp_path / "custom-knowledge"),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    return env


@contextlib.contextmanager
def streamlit_server(env: dict[str, str], log_path: Path, *options: str, port: int | None = None) -> Iterator[str]:
    """``streamlit run`` of the app on 127.0.0.1 (a free port unless given) with ``env`` and extra ``options``;
    yields its URL once it answers its health check and stops it afterwards, whatever happened."""
    port = port or free_port()
    command = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1", *options]
    with log_path.open("w") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        timed("server start to /_stcore/health", lambda: wait_for_health(url, server, log_path))
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def served_app(tmp_path: Path) -> Iterator[str]:
    """The app on a free local port with temporary data; yields its URL, stops the server after."""
    with streamlit_server(server_env(tmp_path), tmp_path / "streamlit.log") as url:
        yield url


def wait_for_health(url: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"streamlit did not answer {url}/_stcore/health within {SERVER_START_S} s:\n"
                f"{log_path.read_text()[-3000:]}")


def timed(label: str, action: Callable[[], object]) -> None:
    """Run ``action`` and print how long it took (reported, never asserted: CI machines vary too much)."""
    started = time.perf_counter()
    action()
    print(f"[browser timing] {label}: {time.perf_counter() - started:.1f} s")


@pytest.mark.browser
@pytest.mark.slow
def test_one_answered_question_in_chromium(chromium: Path, served_app: str, tmp_path: Path):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch_persistent_context(
                tmp_path / "chromium-profile", executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 1000})
        except Exception as exc:  # Playwright raises its own Error subclasses; any of them means no browser
            pytest.fail(f"Chromium at {chromium} could not start: {exc}")
        page = browser.pages[0] if browser.pages else browser.new_page()
        start_button = page.get_by_role("button", name=re.compile("Quick drill"))
        try:
            timed("first load to the set-up form (model + index behind the spinner)",
                  lambda: (page.goto(served_app), expect(start_button).to_be_visible(timeout=FIRST_LOAD_S * 1000)))
            timed("reload to the set-up form (resources cached)",
                  lambda: (page.reload(), expect(start_button).to_be_visible(timeout=STEP_S * 1000)))
            answer_box = page.get_by_placeholder(re.compile("answer", re.IGNORECASE))
            timed("start interview to the first question",
                  lambda: (start_button.click(), expect(answer_box).to_be_visible(timeout=STEP_S * 1000)))
            answer_box.fill(ANSWER)
            score = page.get_by_test_id("stMetricLabel").filter(has_text=re.compile(r"^Score"))
            timed("answer to the grade card",
                  lambda: (answer_box.press("Enter"), expect(score.first).to_be_visible(timeout=STEP_S * 1000)))
            mine = page.get_by_role("group", name="Chat message from user").filter(has_text=ANSWER[:40])
            expect(mine.first).to_be_visible()
            expect(answer_box).to_be_enabled(timeout=STEP_S * 1000)  # the next turn is ready: the page has settled
            page.screenshot(path=str(ARTIFACTS / "browser-interview.png"), full_page=True)
        except Exception:
            with contextlib.suppress(Exception):  # keep the original error if the browser is gone too
                page.screenshot(path=str(ARTIFACTS / "browser-interview-failure.png"), full_page=True)
            raise
        finally:
            browser.close()

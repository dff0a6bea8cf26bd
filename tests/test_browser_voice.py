"""Answering by voice in a real Chromium: the recorder renders, a spoken answer recorded from Chromium's fake
microphone (playing a WAV spoken by espeak-ng) is transcribed into the editable box and sent, and with "Read
questions aloud" on, the browser's own speech synthesis is handed the next question.

Skipped on a developer machine without Chromium; with ``CI`` set a missing browser fails (see test_browser.py).
"""

from __future__ import annotations

import contextlib
import re
import shutil
from pathlib import Path

import pytest

from tests.speech_audio import espeak
from tests.test_browser import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    chromium,  # noqa: F401  (fixture)
    server_env,
    streamlit_server,
)

STEP_MS = 120_000
SPOKEN = ("I would use retrieval augmented generation when the facts change often, and fine tuning to change the "
          "tone and the format of the answers.")
# Records what the page asks the browser to say, then lets it speak as usual.
SPEECH_SPY = """
window.__spoken = [];
if (window.speechSynthesis) {
  const speak = window.speechSynthesis.speak.bind(window.speechSynthesis);
  window.speechSynthesis.speak = (utterance) => { window.__spoken.push(utterance.text); speak(utterance); };
}
"""


@pytest.fixture
def microphone_wav(tmp_path: Path) -> Path:
    """What the fake microphone plays (on a loop): the answer spoken by espeak-ng, as a 16-bit WAV."""
    path = tmp_path / "microphone.wav"
    espeak(SPOKEN, path, "-s", "150")
    return path


@pytest.mark.browser
@pytest.mark.slow
def test_record_transcribe_send_and_read_aloud_in_chromium(chromium: Path, microphone_wav: Path,  # noqa: F811
                                                           warm_data_dir: Path, tmp_path: Path):
    from playwright.sync_api import expect, sync_playwright

    env = server_env(tmp_path)
    env["SIMULATOR_DATA_DIR"] = str(shutil.copytree(warm_data_dir, tmp_path / "data"))
    microphone = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                  f"--use-file-for-fake-audio-capture={microphone_wav}"]
    ARTIFACTS.mkdir(exist_ok=True)
    with streamlit_server(env, tmp_path / "streamlit.log") as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            tmp_path / "chromium-profile", executable_path=str(chromium), headless=True,
            args=[*CHROMIUM_ARGS, *microphone], viewport={"width": 1280, "height": 1000},
            permissions=["microphone"])
        page = browser.pages[0] if browser.pages else browser.new_page()
        page.add_init_script(SPEECH_SPY)
        try:
            page.goto(url)
            page.get_by_role("button", name=re.compile("Quick drill")).click(timeout=STEP_MS)
            expect(page.get_by_placeholder(re.compile("answer", re.IGNORECASE))).to_be_visible(timeout=STEP_MS)

            page.get_by_text("Read questions aloud").click()
            page.get_by_text("Answer by voice").click()
            recorder = page.get_by_test_id("stAudioInput")
            expect(recorder).to_be_visible(timeout=STEP_MS)
            page.screenshot(path=str(ARTIFACTS / "voice-recorder.png"), full_page=True)

            recorder.get_by_role("button", name=re.compile("record", re.IGNORECASE)).click()
            page.wait_for_timeout(9000)  # the fake microphone plays the answer (about 7 s) into the recording
            recorder.get_by_role("button", name=re.compile("stop", re.IGNORECASE)).click()
            transcript = page.get_by_label(re.compile("What the speech model heard"))
            expect(transcript).to_be_visible(timeout=STEP_MS)
            heard = transcript.input_value().lower()
            assert "retrieval" in heard and "fine" in heard, heard
            page.screenshot(path=str(ARTIFACTS / "voice-transcript.png"), full_page=True)

            page.get_by_role("button", name="Send this answer").click()
            pace = page.get_by_test_id("stMetricLabel").filter(has_text=re.compile(r"^Pace"))
            expect(pace.first).to_be_visible(timeout=STEP_MS)
            expect(page.get_by_test_id("stMetricLabel").filter(has_text=re.compile(r"^Score")).first).to_be_visible()
            page.wait_for_function("window.__spoken.length > 0", timeout=STEP_MS)
            spoken = page.evaluate("window.__spoken")
            asked = page.get_by_role("group", name="Chat message from assistant").last.inner_text()
            assert spoken[-1].split()[:4] == asked.split()[-len(spoken[-1].split()):][:4] or spoken[-1] in asked
            page.screenshot(path=str(ARTIFACTS / "voice-graded.png"), full_page=True)
        except Exception:
            with contextlib.suppress(Exception):
                page.screenshot(path=str(ARTIFACTS / "voice-failure.png"), full_page=True)
            raise
        finally:
            browser.close()

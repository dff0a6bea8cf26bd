"""Login for real: a mock OpenID Connect provider, the served app with an ``[auth]`` section, Debian's Chromium.

One server and one provider serve the whole story: a stranger gets only the sign-in screen, Ann starts an
interview, Bob can neither list it nor open her ``?session=`` link, and the coach sees both, read-only.
tests/test_app_login.py covers the same rules with a seeded ``st.user``; this one goes through the real
redirects, cookies and ID tokens. Skipped like tests/test_browser.py without Chromium, and failing under ``CI``.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_browser import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    chromium,  # noqa: F401  (fixture)
    free_port,
    server_env,
    streamlit_server,
    timed,
)

STEP_MS = 60_000
COACH_EMAIL = "coach@example.com"
# Words only Ann ever types: if any of them reaches Bob's browser, her data leaked.
ANN_PROFILE = "ann-private-profile"
ANN_ANSWER = ("Ann-only marker: pick RAG when the facts change weekly and every answer must cite its source; "
              "fine-tune only for a fixed output style, then evaluate both on a held-out set.")
BOB_PROFILE = "bob-own-profile"


@pytest.fixture
def login_app(chromium: Path, warm_data_dir: Path, tmp_path: Path) -> Iterator[str]:  # noqa: F811
    """The mock provider on localhost and ``streamlit run`` with login configured; yields the app's URL.

    The app is opened as http://localhost:<port> (what the redirect URI names, so the auth cookie set by the
    callback is sent back); /etc/hosts and Chromium both take localhost to 127.0.0.1, where the server listens.
    """
    from oidc_provider_mock import User, run_server_in_thread

    users = [User(sub="ann", claims={"email": "ann@example.com", "name": "Ann"}),
             User(sub="bob", claims={"email": "bob@example.com", "name": "Bob"}),
             User(sub="coach", claims={"email": COACH_EMAIL, "name": "Coach"})]
    with run_server_in_thread(port=0, user_claims=users) as provider:
        port = free_port()
        url = f"http://localhost:{port}"
        secrets = tmp_path / "secrets.toml"
        secrets.write_text(
            "[auth]\n"
            f'redirect_uri = "{url}/oauth2callback"\n'
            f'cookie_secret = "{"c" * 48}"\n'
            'client_id = "interview-simulator"\n'
            'client_secret = "any-secret-the-mock-accepts"\n'
            f'server_metadata_url = "http://localhost:{provider.server_port}/.well-known/openid-configuration"\n')
        env = server_env(tmp_path)
        # A copy of the warm data folder: the served app loads the saved index instead of embedding every note.
        env["SIMULATOR_DATA_DIR"] = str(shutil.copytree(warm_data_dir, tmp_path / "data"))
        env["SIMULATOR_ADMIN_EMAILS"] = COACH_EMAIL
        env["NO_PROXY"] = env["no_proxy"] = "localhost,127.0.0.1"  # the server fetches the provider's metadata
        log_path = tmp_path / "streamlit.log"
        try:
            with streamlit_server(env, log_path, "--secrets.files", str(secrets), port=port):
                yield url
        finally:
            print(f"[streamlit log tail]\n{log_path.read_text()[-2000:]}")


def new_context(browser):
    # The provider's pages link a stylesheet on a CDN: refuse it at once so page loads never wait on the network.
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.route(re.compile(r"^https?://(?!localhost|127\.0\.0\.1)"), lambda route: route.abort())
    return context


def sign_in(page, app_url: str, sub: str, email: str) -> None:
    """From the app's sign-in screen through the provider's authorize form (its one-click user) and back."""
    from playwright.sync_api import expect

    page.goto(app_url)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name=sub, exact=True).click()  # the mock's predefined user
    page.wait_for_url(re.compile(rf"^{re.escape(app_url)}/?(\?.*)?$"), timeout=STEP_MS)
    expect(page.get_by_test_id("stSidebar").get_by_text(email, exact=True)).to_be_visible(timeout=STEP_MS)


def start_interview(page, profile: str) -> int:
    """A quick drill under ``profile``; returns the new session's id from the URL."""
    from playwright.sync_api import expect

    profile_box = page.get_by_role("textbox", name="Profile", exact=True)
    expect(profile_box).to_be_visible(timeout=STEP_MS)
    profile_box.fill(profile)
    profile_box.press("Enter")
    page.get_by_role("button", name=re.compile("Quick drill")).click()
    expect(answer_box(page)).to_be_visible(timeout=STEP_MS)
    match = re.search(r"[?&]session=(\d+)", page.url)
    assert match, f"no ?session= in {page.url}"
    return int(match.group(1))


def answer_box(page):
    return page.get_by_placeholder(re.compile("answer", re.IGNORECASE))


def only_sign_in_screen(page) -> None:
    """Nothing but the sign-in screen: its button, no set-up form, no chat, no page navigation."""
    from playwright.sync_api import expect

    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=STEP_MS)
    expect(page.get_by_role("button", name=re.compile("Quick drill"))).to_have_count(0)
    expect(page.get_by_role("textbox", name="Profile", exact=True)).to_have_count(0)
    expect(answer_box(page)).to_have_count(0)
    expect(page.get_by_test_id("stSidebar").get_by_role("link")).to_have_count(0)
    expect(page.get_by_role("link", name="Review")).to_have_count(0)


def open_page(page, name: str) -> None:
    """A page from the sidebar navigation (a click, so the browser session and its state stay)."""
    page.get_by_test_id("stSidebar").get_by_role("link", name=name).click()
    page.get_by_role("heading", name=name, exact=True).wait_for(timeout=STEP_MS)


def pick_coach_view(page, label: str) -> list[str]:
    """Choose ``label`` in the coach's picker; returns every option it offered."""
    from playwright.sync_api import expect

    page.get_by_test_id("stSidebar").get_by_label("Coach view: whose interviews").click()
    options = page.get_by_role("option")
    expect(options.first).to_be_visible(timeout=STEP_MS)
    offered = [text.strip() for text in options.all_inner_texts()]
    options.filter(has_text=re.compile(rf"^{re.escape(label)}$")).click()
    return offered


def review_choice(page):
    """The Review page's "Session to review" box (its value names the session, profile and answer count)."""
    return page.get_by_role("combobox", name="Session to review")


@pytest.mark.browser
@pytest.mark.slow
def test_sign_in_owns_data_and_coach_reads_all(chromium: Path, login_app: str):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        except Exception as exc:  # Playwright raises its own Error subclasses; any of them means no browser
            pytest.fail(f"Chromium at {chromium} could not start: {exc}")
        page = None
        try:
            # 1. A stranger: the sign-in screen only.
            stranger = new_context(browser)
            page = stranger.new_page()
            timed("first load to the sign-in screen", lambda: page.goto(login_app))
            only_sign_in_screen(page)
            page.screenshot(path=str(ARTIFACTS / "login-screen.png"), full_page=True)

            # 2. Ann signs in, starts an interview under a profile name only she uses, answers the first question.
            ann = new_context(browser)
            page = ann.new_page()
            timed("ann: sign in", lambda: sign_in(page, login_app, "ann", "ann@example.com"))
            expect(page.get_by_label("Coach view: whose interviews")).to_have_count(0)  # candidates get no picker
            ann_session = start_interview(page, ANN_PROFILE)
            box = answer_box(page)
            box.fill(ANN_ANSWER)
            box.press("Enter")
            score = page.get_by_test_id("stMetricLabel").filter(has_text=re.compile(r"^Score$"))
            expect(score.first).to_be_visible(timeout=STEP_MS)
            expect(box).to_be_enabled(timeout=STEP_MS)  # the next turn is waiting: the answer is stored
            # Signing out leaves through the provider's end-session page (the mock asks for a click) and lands
            # back on the sign-in screen, with her session link no longer usable in this browser.
            page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
            end_session = page.get_by_role("button", name="End session")
            sign_in_button = page.get_by_role("button", name="Sign in")
            expect(end_session.or_(sign_in_button)).to_be_visible(timeout=STEP_MS)
            if end_session.is_visible():
                end_session.click()
            expect(sign_in_button).to_be_visible(timeout=STEP_MS)
            page.goto(f"{login_app}/?session={ann_session}")
            only_sign_in_screen(page)
            ann.close()

            # 3. A stranger holding Ann's link sees the sign-in screen and nothing of hers.
            page = stranger.new_page()
            page.goto(f"{login_app}/?session={ann_session}")
            only_sign_in_screen(page)
            assert ANN_PROFILE not in page.content() and "Ann-only marker" not in page.content()
            stranger.close()

            # 4. Bob: no interviews of his own in Review, Ann's link refused, then his own interview.
            bob = new_context(browser)
            page = bob.new_page()
            timed("bob: sign in", lambda: sign_in(page, login_app, "bob", "bob@example.com"))
            open_page(page, "Review")
            expect(page.get_by_text("No interviews yet.")).to_be_visible(timeout=STEP_MS)
            expect(review_choice(page)).to_have_count(0)
            page.goto(f"{login_app}/?session={ann_session}")
            refused = page.get_by_test_id("stAlertContentError")
            expect(refused).to_contain_text(f"There is no interview #{ann_session} among yours.", timeout=STEP_MS)
            expect(page.get_by_role("button", name="Sign out")).to_be_visible()  # the run is drawn to its end
            expect(answer_box(page)).to_have_count(0)
            html = page.content()
            assert ANN_PROFILE not in html and "Ann-only marker" not in html, "Ann's interview reached Bob"
            page.screenshot(path=str(ARTIFACTS / "login-stolen-link.png"), full_page=True)
            page.goto(login_app)
            bob_session = start_interview(page, BOB_PROFILE)
            assert bob_session != ann_session
            bob.close()

            # 5. The coach: both candidates in the picker, each one's interview in Review, read-only.
            coach = new_context(browser)
            page = coach.new_page()
            timed("coach: sign in", lambda: sign_in(page, login_app, "coach", COACH_EMAIL))
            offered = pick_coach_view(page, "ann@example.com")
            assert offered[0] == f"{COACH_EMAIL} (me)", offered
            assert sorted(offered[1:]) == ["ann@example.com", "bob@example.com"], offered
            expect(page.get_by_text("Read-only: you are looking at a candidate's data.")).to_be_visible(
                timeout=STEP_MS)
            expect(page.get_by_role("button", name=re.compile("Quick drill"))).to_have_count(0)  # nothing in her name
            open_page(page, "Review")
            expect(review_choice(page)).to_have_value(
                re.compile(rf"^#{ann_session} · {ANN_PROFILE} · .* · 1 answer · "), timeout=STEP_MS)
            expect(page.get_by_text("Ann-only marker", exact=False).first).to_be_visible()
            expect(answer_box(page)).to_have_count(0)
            expect(page.get_by_text(BOB_PROFILE)).to_have_count(0)
            expect(page.get_by_role("button", name="Download Markdown")).to_be_visible()
            expect(page.get_by_test_id("stDataFrame")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "login-coach-review.png"), full_page=True)

            pick_coach_view(page, "bob@example.com")
            expect(review_choice(page)).to_have_value(
                re.compile(rf"^#{bob_session} · {BOB_PROFILE} · .* · 0 answers · "), timeout=STEP_MS)
            expect(page.get_by_text(ANN_PROFILE)).to_have_count(0)
            expect(page.get_by_text("Ann-only marker")).to_have_count(0)
            page.screenshot(path=str(ARTIFACTS / "login-coach-review-bob.png"), full_page=True)
            coach.close()
        except Exception:
            if page is not None:
                with contextlib.suppress(Exception):  # keep the original error if the browser is gone too
                    page.screenshot(path=str(ARTIFACTS / "login-failure.png"), full_page=True)
            raise
        finally:
            browser.close()

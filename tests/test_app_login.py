"""Login on (an ``[auth]`` section in the secrets): the sign-in screen is all a stranger sees, every user sees only
their own data, a stolen ``?session=`` link is refused, coaches see every candidate read-only and own the shared
settings and content. AppTest seeds ``st.user``; tests/test_browser_login.py signs in for real."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from simulator.config import SETTINGS_FILE
from simulator.storage.records import SessionSettings
from simulator.storage.store import Store

ROOT = Path(__file__).resolve().parent.parent
ISSUER = "https://id.example"
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 40, "client_id": "simulator",
        "client_secret": "s", "server_metadata_url": f"{ISSUER}/.well-known/openid-configuration"}
ANN = {"is_logged_in": True, "iss": ISSUER, "sub": "ann-sub", "email": "ann@example.com", "name": "Ann"}
BOB = {"is_logged_in": True, "iss": ISSUER, "sub": "bob-sub", "email": "bob@example.com", "name": "Bob"}
COACH = {"is_logged_in": True, "iss": ISSUER, "sub": "coach-sub", "email": "coach@example.com", "name": "Coach"}


def owner(user: dict) -> str:
    return f"{user['iss']}#{user['sub']}"


@pytest.fixture
def login_on(app_env, monkeypatch):
    monkeypatch.setenv("SIMULATOR_ADMIN_EMAILS", "Coach@Example.com")
    (Path(app_env["data_dir"]) / SETTINGS_FILE).unlink(missing_ok=True)
    return app_env


def open_as(user: dict | None, page: str = "pages/interview.py", session: int | None = None,
            state: dict | None = None) -> AppTest:
    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    for key, value in (state or {}).items():
        app.session_state[key] = value
    app.secrets["auth"] = AUTH
    app.user = user or {"is_logged_in": False}
    if session is not None:
        app.query_params["session"] = str(session)
    app.run()  # first through the entry point, so st.navigation (and its login gate) decides what exists
    assert not app.exception, app.exception
    if user and page != "pages/interview.py":  # the interview page is the default: already shown
        app.switch_page(page).run()
    return app


def stored_session(db_url: str, user: dict, profile: str = "candidate") -> int:
    with Store(db_url) as store:
        return store.scoped(owner(user)).create_session(profile, SessionSettings(), "offline", "offline", ["q"])


def test_before_signing_in_only_the_sign_in_screen_exists(login_on):
    session_id = stored_session(login_on["db_url"], ANN)
    for session in (None, session_id):
        app = open_as(None, session=session)
        assert [b.label for b in app.button] == ["Sign in"]
        assert not app.text_input and not app.dataframe and not app.chat_input
        assert all(str(session_id) not in m.value for m in app.markdown)


def resume_offer(app: AppTest, profile: str = "candidate") -> str:
    app.text_input(key="setup_profile").set_value(profile).run()
    return " ".join(m.value for m in app.markdown if "open interview" in m.value)


def test_each_user_sees_only_their_own_and_a_stolen_link_is_refused(login_on):
    ann_session = stored_session(login_on["db_url"], ANN)
    assert f"#{ann_session}" in resume_offer(open_as(ANN))
    assert resume_offer(open_as(BOB)) == ""  # the same profile name is Bob's own, empty profile

    stolen = open_as(BOB, session=ann_session)
    assert any(f"no interview #{ann_session} among yours" in e.value for e in stolen.error)
    assert not stolen.chat_input
    with Store(login_on["db_url"]) as store:
        assert store.scoped(owner(ANN)).session_detail(ann_session).status == "active"


def test_a_coach_sees_every_candidate_read_only(login_on):
    open_as(ANN), open_as(BOB)  # both have signed in once
    ann_session = stored_session(login_on["db_url"], ANN)
    assert not [s.key for s in open_as(ANN).selectbox if s.key == "coach_view"]  # candidates get no picker

    picker = open_as(COACH).selectbox(key="coach_view")
    assert picker.options == ["coach@example.com (me)", "ann@example.com", "bob@example.com"]

    # AppTest runs only the page on later runs, so the coach's choice is seeded as the picker would store it
    viewing = open_as(COACH, state={"viewing_owner": owner(ANN)})
    assert viewing.selectbox(key="coach_view").value == "ann@example.com"
    assert any("Read-only" in c.value for c in viewing.caption)
    assert any("looking at a candidate's data" in i.value for i in viewing.info)
    assert not [t for t in viewing.text_input if t.key == "setup_profile"]  # no interview in their name
    link = open_as(COACH, state={"viewing_owner": owner(ANN)}, session=ann_session)
    assert not link.chat_input, "a coach never answers in a candidate's session"

    candidate_spoofing = open_as(BOB, state={"viewing_owner": owner(ANN)})  # not a coach: the state is ignored
    assert candidate_spoofing.text_input(key="setup_profile") and not candidate_spoofing.info


def test_local_data_goes_to_the_first_coach(login_on):
    with Store(login_on["db_url"]) as store:
        local = store.create_session("old-me", SessionSettings(), "offline", "offline", ["q"])
    open_as(ANN)  # a candidate signing in takes nothing
    with Store(login_on["db_url"]) as store:
        assert [s.id for s in store.list_sessions()] == [local]
    open_as(COACH)
    with Store(login_on["db_url"]) as store:
        assert store.list_sessions() == []
        assert [s.id for s in store.scoped(owner(COACH)).list_sessions()] == [local]


def test_shared_settings_and_content_belong_to_coaches(login_on):
    def can_save_for_everyone(user: dict) -> bool:
        app = open_as(user)
        app.switch_page("pages/settings.py").run()  # AppTest runs a switched page on its own, as a direct load
        return not next(b for b in app.button if b.label == "Save for everyone").disabled

    with pytest.MonkeyPatch.context() as env:
        env.setenv("SIMULATOR_ALLOW_SHARED_SETTINGS", "1")  # login on: only coaches, whatever this says
        assert not can_save_for_everyone(ANN)
    assert can_save_for_everyone(COACH)


def test_candidates_cannot_add_shared_content_when_login_is_on(login_on):
    app = open_as(ANN)
    app.switch_page("pages/question_bank.py").run()
    assert all(b.disabled for b in app.button if b.key in ("save_pasted", "save_upload"))
    app.switch_page("pages/knowledge.py").run()
    assert all(b.disabled for b in app.button if b.key in ("add_document", "rebuild_index"))


@pytest.mark.parametrize("verified", [False, "false", "False"])
def test_an_unverified_coach_email_is_not_a_coach(login_on, verified):
    app = open_as({**COACH, "email_verified": verified})
    assert not [s for s in app.selectbox if s.key == "coach_view"]

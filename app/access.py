"""Who is using the app and whose data they see: the local single user, or a signed-in user of a team instance.

Login is Streamlit's own OIDC support (``st.login``, ``st.user``, ``st.logout``), switched on by an ``[auth]``
section in ``.streamlit/secrets.toml``. Without it the app is the single-user local tool and everything
belongs to the local owner (the empty string). With it, data belongs to the OIDC subject (issuer and ``sub``,
never the display name), and coaches (``SIMULATOR_ADMIN_EMAILS``) may look at any candidate, read-only.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from simulator.storage.tables import LOCAL_OWNER  # owner of everything stored while login is off

VIEWING_STATE = "viewing_owner"
"""``st.session_state`` key of the candidate a coach is looking at (their own data when absent)."""


@dataclass(frozen=True)
class Viewer:
    """The person at this browser and the data they are looking at."""

    owner: str
    """Whose data this session reads (and, when not read-only, writes)."""
    user: str
    """The signed-in user's own owner key (the local owner without login)."""
    label: str
    """How the signed-in user is shown (their email, else name, else subject)."""
    is_admin: bool
    """A coach: may look at every candidate and owns the shared settings."""
    login_on: bool
    """Whether the app runs with login."""

    @property
    def read_only(self) -> bool:
        """A coach looking at someone else's data may read it, never change it."""
        return self.owner != self.user


def login_configured() -> bool:
    """Whether ``[auth]`` is set in the secrets (then nothing but the login screen shows before signing in)."""
    try:
        section = st.secrets.get("auth")
    except Exception:  # no secrets file at all is the normal local case
        return False
    return bool(section) and "redirect_uri" in section and "cookie_secret" in section


def signed_in() -> bool:
    return bool(st.user.get("is_logged_in"))


def owner_key(claims: dict[str, object]) -> str:
    """The stable identity of a signed-in user: issuer and subject (display names and emails can change)."""
    subject = str(claims.get("sub") or "")
    if not subject:
        raise PermissionError("the identity provider sent no subject ('sub' claim); cannot tell users apart")
    issuer = str(claims.get("iss") or "")
    return f"{issuer}#{subject}" if issuer else subject


def current_viewer(admin_emails: frozenset[str]) -> Viewer:
    """The viewer of this run; call only after the login gate."""
    if not login_configured():
        return Viewer(owner=LOCAL_OWNER, user=LOCAL_OWNER, label="", is_admin=False, login_on=False)
    claims = st.user.to_dict()
    user = owner_key(claims)
    email = str(claims.get("email") or "").strip().lower()
    is_admin = bool(email) and _verified(claims.get("email_verified", True)) and email in admin_emails
    label = email or str(claims.get("name") or claims.get("sub"))
    owner = st.session_state.get(VIEWING_STATE, user) if is_admin else user
    return Viewer(owner=owner, user=user, label=label, is_admin=is_admin, login_on=True)


def _verified(flag: object) -> bool:
    """The ``email_verified`` claim; some providers send it as the text "false"."""
    return flag is not False and str(flag).strip().lower() not in ("false", "0", "no")


def view_as(owner: str | None) -> None:
    """A coach switches to a candidate's data (None: back to their own)."""
    if owner is None:
        st.session_state.pop(VIEWING_STATE, None)
    else:
        st.session_state[VIEWING_STATE] = owner

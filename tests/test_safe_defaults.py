"""Safe by default: the app as `make run` starts it listens on loopback only; other machines cannot connect."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.config import SavedSettings, Settings, SettingsError, llm_roles
from tests.test_browser import ROOT, free_port, server_env, wait_for_health


def _other_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.254", 9))  # no packet is sent: this only picks the outgoing interface
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_the_app_listens_on_loopback_only_unless_the_operator_opts_in(tmp_path: Path):
    other = _other_address()
    if other is None:
        pytest.skip("this machine has no non-loopback address to try")
    port = free_port()
    log_path = tmp_path / "streamlit.log"
    # no --server.address: the project's .streamlit/config.toml decides, as with `make run`
    command = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port)]
    with log_path.open("w") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=server_env(tmp_path), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_health(f"http://127.0.0.1:{port}", server, log_path)
        with pytest.raises(OSError), socket.create_connection((other, port), timeout=2):
            pass
    finally:
        server.terminate()
        server.wait(timeout=15)


def test_make_run_binds_loopback_and_takes_an_explicit_host():
    dry = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "--server.address 127.0.0.1" in dry
    exposed = subprocess.run(["make", "-n", "run", "HOST=0.0.0.0"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout
    assert "--server.address 0.0.0.0" in exposed


# ---------------------------------------------------------------- the operator's key goes to its own endpoint only

OPERATOR_KEY = "sk-operator-0000SECRET"


def _key_sent(environ: dict[str, str], saved: SavedSettings | None = None, typed: str | None = None,
              session: SavedSettings | None = None) -> str | None:
    judge = llm_roles(environ, saved or SavedSettings(), typed, session).judge
    assert judge is not None
    return judge.api_key.get_secret_value() if judge.api_key else None


def test_the_operator_key_follows_its_base_url_in_any_spelling():
    environ = {"SIMULATOR_LLM_BASE_URL": "https://API.example.com:443/v1/", "SIMULATOR_LLM_MODEL": "m",
               "SIMULATOR_LLM_API_KEY": OPERATOR_KEY}
    assert _key_sent(environ) == OPERATOR_KEY
    same = SavedSettings(llm_base_url="https://api.example.com/v1")
    assert _key_sent(environ, session=same) == OPERATOR_KEY


@pytest.mark.parametrize("elsewhere", ["https://api.example.com.evil.test/v1", "http://api.example.com/v1",
                                       "https://api.example.com:8443/v1", "https://api.example.com/v2",
                                       "http://127.0.0.1:9/v1"])
def test_the_operator_key_is_never_attached_to_another_endpoint(elsewhere):
    environ = {"SIMULATOR_LLM_BASE_URL": "https://api.example.com/v1", "SIMULATOR_LLM_MODEL": "m",
               "SIMULATOR_LLM_API_KEY": OPERATOR_KEY}
    typed_there = SavedSettings(llm_base_url=elsewhere)
    assert _key_sent(environ, session=typed_there) is None
    assert _key_sent(environ, saved=typed_there) is None  # even once saved as the shared default
    assert _key_sent(environ, session=typed_there, typed="sk-visitor") == "sk-visitor"


def test_a_key_with_no_base_url_beside_it_belongs_to_openai_only():
    environ = {"OPENAI_API_KEY": OPERATOR_KEY, "SIMULATOR_LLM_MODEL": "gpt-4o-mini"}
    assert _key_sent(environ, session=SavedSettings(llm_base_url="https://api.openai.com/v1")) == OPERATOR_KEY
    assert _key_sent(environ, session=SavedSettings(llm_base_url="http://localhost:11434/v1")) is None


def test_role_endpoints_set_by_the_operator_get_the_key():
    environ = {"SIMULATOR_LLM_BASE_URL": "http://localhost:11434/v1", "SIMULATOR_LLM_MODEL": "m",
               "SIMULATOR_JUDGE_LLM_BASE_URL": "https://judge.example.com/v1", "SIMULATOR_LLM_API_KEY": OPERATOR_KEY}
    assert _key_sent(environ) == OPERATOR_KEY


def test_shared_settings_flag_is_off_by_default_and_checked():
    assert Settings.load({}).allow_shared_settings is False
    assert Settings.load({"SIMULATOR_ALLOW_SHARED_SETTINGS": "1"}).allow_shared_settings is True
    with pytest.raises(SettingsError, match="SIMULATOR_ALLOW_SHARED_SETTINGS"):
        Settings.load({"SIMULATOR_ALLOW_SHARED_SETTINGS": "maybe"})

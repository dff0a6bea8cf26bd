"""Safe by default: the app as `make run` starts it listens on loopback only; other machines cannot connect."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

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

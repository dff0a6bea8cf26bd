"""The assembled simulator: a process that exits while the background warm-up runs still exits cleanly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

EXIT_WHILE_WARMING = """
import sys
from pathlib import Path
from simulator.config import Settings
from simulator.core import Simulator
simulator = Simulator(Settings(data_dir=Path(sys.argv[1])), warm_in_background=True)
_ = simulator.offline_judge
print("warming" if simulator._warming is not None and simulator._warming.is_alive() else "done", flush=True)
"""


def test_exit_during_the_background_warm_up_is_clean(tmp_path):
    # The process boundary is the point: a thread still inside the encoder at interpreter exit used to abort (134).
    result = subprocess.run([sys.executable, "-c", EXIT_WHILE_WARMING, str(tmp_path / "data")], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "warming"  # the thread really was running when the interpreter exited
    assert "terminate called" not in result.stderr

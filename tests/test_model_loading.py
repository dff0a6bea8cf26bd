"""The encoder and the claim model load at the same time in the app (two background threads); both must load."""

from __future__ import annotations

import subprocess
import sys

from simulator.config import CLAIM_MODEL_DIR, PROJECT_ROOT

# A fresh interpreter: transformers must not be imported yet, or the race this guards against cannot happen.
SCRIPT = f"""
import threading
from simulator.grading.claims import ClaimModel
from simulator.search.embeddings import Embedder
errors = []
def run(load):
    try:
        load()
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=run, args=(lambda: ClaimModel.load({str(CLAIM_MODEL_DIR)!r}),)),
           threading.Thread(target=run, args=(Embedder,))]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("ERRORS", errors)
"""


def test_the_encoder_and_the_claim_model_load_side_by_side():
    for _ in range(2):
        run = subprocess.run([sys.executable, "-c", SCRIPT], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             timeout=240, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin",
                                               "PYTHONPATH": str(PROJECT_ROOT)})
        assert run.returncode == 0, run.stderr[-2000:]
        assert "ERRORS []" in run.stdout, run.stdout[-2000:]

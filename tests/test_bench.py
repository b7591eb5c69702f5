"""The benchmark's equal-footing peer runner: the scorer's own peer code in one process per file."""
import importlib.util
import json
import subprocess
import sys

import pytest
from conftest import DEV_SET

SCORER = DEV_SET.parent / "score.py"


@pytest.mark.skipif(not SCORER.exists(), reason="needs ../shared/eval beside the checkout")
def test_peer_runner_gives_the_scorers_in_process_answer():
    spec = importlib.util.spec_from_file_location("score", SCORER)
    score = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(score)
    csv = DEV_SET / "e2_1000_00.csv"
    truth = json.loads(csv.with_suffix(".json").read_text())
    out = subprocess.run([sys.executable, "-m", "device.peer_run", "biosppy", str(SCORER), str(csv)],
                         capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    assert got == json.loads(json.dumps(score.peer_detect("biosppy", csv, truth)))
    assert got["contractions"]  # BioSPPy finds something on this EMG file


def test_peer_runner_refuses_bad_usage():
    out = subprocess.run([sys.executable, "-m", "device.peer_run", "matlab", "x", "y"], capture_output=True, text=True)
    assert out.returncode == 2 and "usage: python -m device.peer_run neurokit|biosppy" in out.stderr

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
    out = subprocess.run([sys.executable, "-m", "device.bench.peer_run", "biosppy", str(SCORER), str(csv)],
                         capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    assert got == json.loads(json.dumps(score.peer_detect("biosppy", csv, truth)))
    assert got["contractions"]  # BioSPPy finds something on this EMG file


def test_peer_runner_refuses_bad_usage():
    out = subprocess.run([sys.executable, "-m", "device.bench.peer_run", "matlab", "x", "y"], capture_output=True, text=True)
    assert out.returncode == 2 and "usage: python -m device.bench.peer_run neurokit|biosppy" in out.stderr
    out = subprocess.run([sys.executable, "-m", "device.bench.peer_run", "--in-process", "x"], capture_output=True, text=True)
    assert out.returncode == 2 and "--in-process SCORER.py DATA" in out.stderr


@pytest.mark.skipif(not SCORER.exists(), reason="needs ../shared/eval beside the checkout")
def test_pfmt_in_the_scorers_process_answers_as_pfmt_analyze(tmp_path):
    """The in-process timing runs the very analysis `pfmt analyze` runs: every figure but the
    speed is identical to the scorer's per-process run."""
    for name in ("p3_1000_00", "e2_1000_00"):
        for ext in (".csv", ".json", ".cal.json"):
            (tmp_path / (name + ext)).write_bytes((DEV_SET / (name + ext)).read_bytes())
    inside = subprocess.run([sys.executable, "-m", "device.bench.peer_run", "--in-process", str(SCORER), str(tmp_path)],
                            capture_output=True, text=True, check=True)
    per_file = subprocess.run([sys.executable, str(SCORER), str(tmp_path), "--cmd",
                               f"{sys.executable} -m device.cli analyze {{csv}} --calibration {{cal}} --json"],
                              capture_output=True, text=True, check=True)
    a, b = json.loads(inside.stdout), json.loads(per_file.stdout)
    assert a["recordings"] == 2 and a["truth"] > 0 and a["error_count"] == 0
    assert {k: v for k, v in a.items() if k != "realtime_factor"} == \
        {k: v for k, v in b.items() if k != "realtime_factor"}


def test_the_bench_measures_a_commands_own_peak_memory_not_its_own():
    """A child forked from the bench starts as a copy of it, and Linux carries that high-water
    mark across exec: ``wait4`` read 94 MB for every ``pfmt analyze`` (the bench's size), 35 MB
    being the command's own. ``device.bench.peak`` reads the exec'd image's VmHWM instead, so a
    bench holding 200 MB more still measures the command alone."""
    import os

    import numpy as np

    from device.bench.footprint import PFMT, _measure
    ballast = np.ones(200 * 2**20 // 8)  # the bench grown by 200 MB, touched
    cmd = PFMT + ["analyze", str(DEV_SET / "p1_1000_01.csv"), "--json"]
    m = _measure(cmd)
    assert m["rc"] == 0 and m["rss_own"] and json.loads(m["out"])["contractions"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, _, ru = os.wait4(p.pid, 0)
    assert ru.ru_maxrss / 1024 > 200 > m["rss_mb"], (ru.ru_maxrss / 1024, m["rss_mb"])  # the old figure, and the true one
    del ballast

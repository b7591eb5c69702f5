"""An EMG device end to end in the emulator (issue 17): the physio calibrates it, the patient
trains on it, the session is exported. An EMG-calibrated device once refused to train, and a
hand-written EMG configuration trained an emulated patient who produced pressure only."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from device.cli.train import TrainOptions, run

ROOT = Path(__file__).resolve().parents[1]
ANSWERS = {"new_pin": "bekken-2468-fysio", "new_pin_again": "bekken-2468-fysio", "accept": "y", "physio": "PT-7",
           "patient_code": "P-042", "retry": "n"}


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "device.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.mark.slow
def test_an_emg_device_is_calibrated_trained_and_exported(tmp_path):
    data, answers = tmp_path / "device", tmp_path / "answers.json"
    answers.write_text(json.dumps(ANSWERS))
    c = _cli("calibrate", "--modality", "emg", "--data", str(data), "--answers", str(answers), "--speed", "0")
    assert c.returncode == 0, c.stderr[-2000:]
    assert "µV" in c.stdout or "uV" in c.stdout
    good = run(TrainOptions(patient="correct", speed=0, seed=2, data_dir=data, view="quiet"))
    assert good["completed"] and good["calibrated"]
    reps = good["reps"]
    assert sum(r["detected"] for r in reps) == len(reps) and sum(r["good"] for r in reps) >= len(reps) - 1
    assert all(20 <= r["mvc_pct"] <= 100 for r in reps)  # the trainee is the patient calibrated
    weak = run(TrainOptions(patient="weak", speed=0, seed=2, data_dir=tmp_path / "device", view="quiet"))
    assert not any(r["good"] for r in weak["reps"])
    assert {r["reasons"][0] for r in weak["reps"]} <= {"too_weak", "too_short", "not_felt"}
    out = tmp_path / "out"
    e = _cli("export", "--data", str(data), "--to", str(out), "--formats", "edf,csv,png,json", "--all")
    assert e.returncode == 0, e.stderr
    files = {p.suffix for p in out.rglob("*") if p.is_file()}
    assert {".edf", ".csv", ".png", ".json"} <= files
    signal = [p for p in out.rglob("*.csv") if not p.name.endswith("_events.csv")]
    assert len(signal) == 2 and all(p.read_text().splitlines()[0] == "time_s,pelvic_uV,abdominal_uV" for p in signal)

"""Breath-holding (issue 17): seen on the abdominal pressure, warned and told like the other
faults; a trainee who breathes is never warned; without an abdominal pressure channel the
session says it cannot be seen."""
from __future__ import annotations

from pathlib import Path

import pytest

from device.cli.train import TrainOptions, run
from device.training.view import format_summary

ROOT = Path(__file__).resolve().parents[1]
SESSIONS = range(1, 10)  # 9 sessions × 8 reps: 54 held breaths judged (reps 3–8), 144 breathing reps


def _session(tmp_path, patient, seed, **kw):
    return run(TrainOptions(programme="norwegian_intensive", patient=patient, speed=0, seed=seed,
                            data_dir=tmp_path / f"{patient}-{seed}", view="quiet",
                            overrides={"reps": 8, "sets": 1, "hold_s": 6}, **kw))


@pytest.mark.slow
def test_a_held_breath_is_warned_within_2_s_and_breathing_never(tmp_path):
    """From the third rep on (two rests teach her breathing) every held breath is warned — most
    2 s after the hold cue, none later than 2.5 s — and told as the rep's result; trainees who
    breathe, correctly or too briefly, are never warned."""
    warned = held_reps = 0
    delays = []
    for seed in SESSIONS:
        s = _session(tmp_path, "holds_breath", seed)
        squeezes = [t for t, n in s["patterns"] if n == "squeeze"]
        w = {x["rep"]: x for x in s["warnings"] if x["pattern"] == "warning_breath_held"}
        for r in s["reps"][2:]:
            held_reps += 1
            assert r["rep"] in w, (seed, r["rep"])
            hold_cue = squeezes[r["rep"] - 1] + 1.0
            delays.append(w[r["rep"]]["time_s"] - hold_cue)
            assert 0 < delays[-1] <= 2.55, (seed, r["rep"])
            assert r["told"] == "rep_redo_breath_held"
            warned += 1
        for patient in ("correct", "short_hold"):
            b = _session(tmp_path, patient, seed)
            assert not [x for x in b["warnings"] if x["pattern"] == "warning_breath_held"], (patient, seed)
            assert not any("breath_held" in r["reasons"] for r in b["reps"])
    assert warned == held_reps == 54
    assert sorted(delays)[len(delays) * 9 // 10 - 1] <= 2.05  # 90 % within 2 s (a block's latency)


def test_without_an_abdominal_pressure_channel_it_says_so(tmp_path):
    # the reference build without its abdominal sensor (and the ADC it sat on)
    blocks = (ROOT / "examples" / "device.toml").read_text().split("\n\n")
    kept = [b for b in blocks if "address = 0x49" not in b and 'role = "abdominal"' not in b]
    assert len(kept) == len(blocks) - 2
    path = tmp_path / "device.toml"
    path.write_text("\n\n".join(kept))
    s = run(TrainOptions(programme="norwegian_intensive", patient="holds_breath", speed=0, seed=1,
                         data_dir=tmp_path / "d", view="quiet", config=str(path),
                         overrides={"reps": 2, "sets": 1}))
    assert s["breath_watch"] is None
    assert not [x for x in s["warnings"] if x["pattern"] == "warning_breath_held"]
    assert "breath-holding: cannot be seen on this device" in format_summary(s)

"""What she perceives after every rep, eyes closed: one result pattern in the rest after it — good,
or the one reason to redo it — and a set's and session's end cue that reflects how it went
(issue 17). Simulated trainees on the emulated rig, in virtual time."""
from __future__ import annotations

import pytest

from device.cli.train import TrainOptions, run
from drivers.feedback import PATTERNS

#: Each simulated trainee and what she must hear after every rep.
TOLD = {
    "correct": "rep_good",
    "weak": "rep_redo_too_weak",
    "bears_down": "rep_redo_bear_down",
    "forgets_to_relax": "rep_redo_not_relaxed",
    "short_hold": "rep_redo_too_short",
    "skips_quick_lifts": "rep_redo_quick_lifts_missing",
}
END_CUES = ("get_ready", "set_done", "set_done_fair", "set_done_poor",
            "session_done", "session_done_fair", "session_done_poor")


def _session(tmp_path, patient, seed=3, **kw):
    overrides = {"reps": 4, "sets": 2, "set_rest_s": 8.0, **kw}
    return run(TrainOptions(programme="norwegian_intensive", patient=patient, speed=0, seed=seed,
                            data_dir=tmp_path / patient, view="quiet", overrides=overrides))


def _duration(name: str) -> float:
    return sum(s.seconds for s in PATTERNS[name].steps)


@pytest.mark.parametrize("patient", list(TOLD))
def test_each_trainee_hears_her_result_after_every_rep(tmp_path, patient):
    s = _session(tmp_path, patient, **({"quick_lifts": 3} if patient == "skips_quick_lifts" else {}))
    assert s["completed"]
    reps = s["reps"]
    assert [r["told"] for r in reps] == [TOLD[patient]] * 8, [(r["told"], r["reasons"]) for r in reps]
    played = s["patterns"]
    for r in reps:
        # played when told (or straight after a warning playing then), and over before the next
        # rep's "get ready" (or the set's end) begins
        i, at = next((i, t) for i, (t, n) in enumerate(played) if n == r["told"] and t >= r["told_at_s"] - 1e-3)
        assert at - r["told_at_s"] < 1.0
        nxt = next(t for t, n in played[i + 1:] if n in END_CUES)
        assert at + _duration(r["told"]) <= nxt + 1e-6, (at, nxt)
        # and never before her squeeze was over
        assert r["onset_s"] is None or r["told_at_s"] > r["onset_s"] + r["hold_s"]


def test_every_result_pattern_is_distinct_to_the_ear():
    """Eyes closed she tells them apart by sound alone: no two result patterns share a rhythm
    and pitch sequence."""
    names = ["rep_good"] + [n for n in PATTERNS if n.startswith("rep_redo_")]
    sounds = {tuple((round(st.seconds, 2), st.tone_hz) for st in PATTERNS[n].steps) for n in names}
    assert len(sounds) == len(names)
    assert all(PATTERNS[n].steps[0].colour == "correct" for n in ["rep_good"])
    assert not any(st.colour == "correct" for n in names[1:] for st in PATTERNS[n].steps)


def test_a_failed_session_is_never_celebrated(tmp_path):
    weak = _session(tmp_path, "weak")
    assert sum(r["good"] for r in weak["reps"]) == 0
    heard = [n for _, n in weak["patterns"]]
    assert "set_done" not in heard and "session_done" not in heard
    assert [st["told"] for st in weak["sets"]] == ["set_done_poor", None]  # the last set ends the session
    assert weak["told"] == "session_done_poor"
    good = _session(tmp_path, "correct")
    assert [st["told"] for st in good["sets"]] == ["set_done", None] and good["told"] == "session_done"

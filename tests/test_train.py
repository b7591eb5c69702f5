"""End to end: simulated patients through every programme on the emulated ADC and mock pins,
in virtual time — judged reps against the simulated truth, warnings at the right moments,
progression, adherence and the stored summary."""
from __future__ import annotations

import datetime as dt
import subprocess

import numpy as np
import pytest

from device.cli.train import TrainOptions, run
from device.errors import InputError
from device.records.store import SessionStore
from device.training.programme import ProgrammeError, builtin_names, load_programme, parse_programme
from device.training.progress import Progress
from device.training.view import format_summary

BEHAVIOURS = ("correct", "weak", "bears_down", "forgets_to_relax")


def _session(tmp_path, programme, patient, seed=2, reps=4, sets=1, **kw):
    return run(TrainOptions(programme=programme, patient=patient, speed=0, seed=seed,
                            data_dir=tmp_path / f"{programme}-{patient}", view="quiet",
                            overrides={"reps": reps, "sets": sets, **kw}))


def _truth_for(s, rep_index):
    """The simulated squeeze planned for a rep (one per rep, in order)."""
    return s["truth"][rep_index]


#: Programmes whose four-rep session takes seconds of CPU each: in the full suite, not the fast tier.
LONG = {"danish_deep_core", "norwegian_back_pain", "hypopressive", "down_training"}


@pytest.mark.parametrize("programme", [pytest.param(n, marks=pytest.mark.slow) if n in LONG else n
                                       for n in builtin_names()])
@pytest.mark.parametrize("patient", BEHAVIOURS)
def test_patient_through_programme(tmp_path, programme, patient):
    s = _session(tmp_path, programme, patient)
    assert s["completed"]
    reps = s["reps"]
    ex = load_programme(programme)
    kind = reps[0]["exercise"] and ex.exercise(reps[0]["exercise"]).kind
    warnings = list(s["warnings"])
    if kind == "hypopressive":
        # Correct apnoea lowers the pelvic pressure; bearing down raises it and is warned.
        if patient == "correct":
            assert all(r["below_rest"] and r["good"] for r in reps)
        if patient == "bears_down":
            assert not any(r["good"] for r in reps)
            assert sum("warning_bear_down" in r["warnings"] for r in reps) >= len(reps) - 1
        return
    if patient == "correct":
        assert sum(r["good"] for r in reps) >= len(reps) - 1, reps
        assert not any(w["pattern"] == "warning_bear_down" for w in warnings)
        for i, r in enumerate(reps):
            t = _truth_for(s, i)
            if r["detected"]:
                assert abs(r["onset_s"] - t["onset_s"]) < 0.3
                assert r["kind"] == "lift"
    elif patient == "weak":
        assert not any(r["good"] for r in reps)
        assert all(not r["detected"] or r["reached"] is False or r["held"] is False for r in reps)
    elif patient == "bears_down":
        assert not any(r["good"] for r in reps)
        flagged = [r for r in reps if "warning_bear_down" in r["warnings"]]
        assert len(flagged) >= len(reps) - 1
        for w in warnings:
            if w["pattern"] == "warning_bear_down":
                i = next(k for k, r in enumerate(reps) if (r["set"], r["rep"], r["exercise"]) ==
                         (w["set"], w["rep"], w["exercise"]))
                # warned at once: within 2 s of the simulated bearing-down onset
                assert 0 < w["time_s"] - _truth_for(s, i)["onset_s"] < 2.0
    elif patient == "forgets_to_relax":
        assert sum(r["relaxed"] is False for r in reps) >= len(reps) - 1, reps
        assert sum(r["good"] for r in reps) <= 1
        for w in warnings:
            if w["pattern"] == "warning_not_relaxed":
                i = next(k for k, r in enumerate(reps) if (r["set"], r["rep"], r["exercise"]) ==
                         (w["set"], w["rep"], w["exercise"]))
                # during that rep's rest, after the release cue
                assert w["time_s"] - _truth_for(s, i)["offset_s"] < 5.0


@pytest.mark.slow
def test_full_default_session_with_quick_lifts_and_progression(tmp_path):
    """Norwegian intensive as prescribed (after the contact phase): 3 sets of holds with quick
    lifts, every rep judged, the summary stored, the targets progressed."""
    opts = TrainOptions(programme="norwegian_intensive", patient="correct", speed=0, seed=5,
                        data_dir=tmp_path, view="quiet")
    prog = load_programme("norwegian_intensive")
    p = Progress.load(tmp_path, prog, dt.date.today())
    p.state.update(current=1, targets={"intensive": {"hold_s": 6, "quick_lifts": 3}})
    p.save()
    s = run(opts)
    assert s["completed"] and len(s["reps"]) == 24 and len(s["sets"]) == 3
    assert sum(r["good"] for r in s["reps"]) >= 21
    assert sum(r["flicks"] == 3 for r in s["reps"]) >= 20
    with SessionStore(tmp_path) as db:
        row = db.session(s["session_id"])
        stored = row.info["summary"]
        assert row.info["status"] == "completed" and db.integrity() == "ok"
        assert len(db.reps(s["session_id"])) == 24
        t, v = db.samples(s["session_id"])
        assert row.info["samples"] == len(t) == len(v) and t[-1] - t[0] >= s["duration_s"] - 1
        assert np.all(np.diff(t) > 0)
    assert stored["dose"][0]["done"]["reps"] == 24
    assert (tmp_path / "pfmt.sqlite3").stat().st_mode & 0o077 == 0
    assert (tmp_path / "progress.json").stat().st_mode & 0o077 == 0  # health data: owner only
    # Second secure session: the hold grows and a rep is added.
    s2 = run(opts)
    assert any("hold 6 → 7 s" in c for c in s2["progression"]), s2["progression"]


def test_cues_follow_the_schedule(tmp_path):
    s = _session(tmp_path, "swedish", "correct", reps=3)
    names = [n for _, n in s["patterns"]]
    assert names[:2] == ["get_ready", "squeeze"]
    assert names.count("squeeze") == 3 and names.count("release") == 3 and names[-1] == "session_done"
    assert names.count("hold_tick") == 3 * 1  # a 2 s hold has one countdown tick


def test_progression_rules(tmp_path):
    prog = load_programme("norwegian_intensive")
    today = dt.date(2026, 1, 1)
    p = Progress.load(tmp_path, prog, today)
    p.state["current"] = 1
    good = {"completed": True, "dose": [{"exercise": "intensive"}],
            "reps": [{"exercise": "intensive", "good": True}] * 10}
    assert p.record(prog, good, dt.datetime(2026, 1, 1, 9)) == []  # secure once: needs two
    ch = p.record(prog, good, dt.datetime(2026, 1, 2, 9))
    assert ch == ["intensive: hold 6 → 7 s", "intensive: quick lifts 0 → 3 (holds of 6 s succeed)",
                  "intensive: reps 8 → 9"]
    bad = {"completed": True, "dose": [{"exercise": "intensive"}],
           "reps": [{"exercise": "intensive", "good": False}] * 10}
    assert p.record(prog, bad, dt.datetime(2026, 1, 3, 9)) == []
    # Intensive → maintenance after 26 weeks and 6 months symptom-free.
    p.state["symptom_free_since"] = "2026-01-10"
    assert p.record(prog, bad, dt.datetime(2026, 5, 1, 9)) == []
    ch = p.record(prog, bad, dt.datetime(2026, 7, 15, 9))
    assert ch and ch[-1].startswith("programme: norwegian_intensive → maintenance")


def test_swedish_moves_on_when_secure(tmp_path):
    prog = load_programme("swedish")
    p = Progress.load(tmp_path, prog, dt.date(2026, 1, 1))
    ten = {"completed": True, "dose": [{"exercise": "identification"}],
           "reps": [{"exercise": "identification", "good": g} for g in [False] + [True] * 10]}
    assert p.record(prog, ten, dt.datetime(2026, 1, 1)) == ["identification: hold 2 → 3 s"]
    assert p.record(prog, ten, dt.datetime(2026, 1, 2))[-1] == "next exercise: strength (identification is secure)"
    assert [e.name for e in p.exercises(prog)] == ["strength"]


def test_adherence_and_reminder(tmp_path):
    prog = load_programme("norwegian_intensive")
    p = Progress.load(tmp_path, prog, dt.date(2026, 1, 7))
    for d in (1, 2, 4, 6):
        p.state["sessions"].append({"date": f"2026-01-0{d}", "completed": True})
    a = p.adherence(prog, dt.date(2026, 1, 7))
    assert {k: a[k] for k in ("today_done", "due_today", "week_done", "week_prescribed", "week_adherence_pct")} == \
        {"today_done": 0, "due_today": 1, "week_done": 4, "week_prescribed": 7, "week_adherence_pct": 57}
    # 2026-01-07 is a Wednesday: of this week's 7, 3 were due so far; only Tuesday's was done
    # (the 4th was the Sunday before)
    assert a["this_week"] == {"from": "2026-01-05", "sessions": 1, "days_trained": 1, "expected_so_far": 3.0,
                              "pct": 33}
    m = load_programme("maintenance")
    pm = Progress.load(tmp_path / "m", m, dt.date(2026, 1, 7))
    pm.state["sessions"].append({"date": "2026-01-05", "completed": True})
    assert pm.adherence(m, dt.date(2026, 1, 7))["due_today"] == 1  # 1 of 1.5 a week
    pm.state["sessions"].append({"date": "2026-01-06", "completed": True})
    assert pm.adherence(m, dt.date(2026, 1, 7))["due_today"] == 0


def test_adherence_counts_days_and_sessions_against_the_prescription(tmp_path):
    """Five days a week, two sessions a day: after one session today the second is still due;
    three sessions on one day are that day's training, not 3/7 of the week; a session shorter
    than prescribed does not count."""
    prog = parse_programme({"name": "x", "title": "t", "source": "s", "days_per_week": 5, "sessions_per_day": 2,
                            "exercise": [{"name": "a", "title": "b"}]}, "x")
    p = Progress.load(tmp_path, prog, dt.date(2026, 1, 7))
    p.state["sessions"].append({"date": "2026-01-07", "completed": True})
    a = p.adherence(prog, dt.date(2026, 1, 7))
    assert a["today_done"] == 1 and a["due_today"] == 1
    one = load_programme("norwegian_intensive")
    q = Progress.load(tmp_path / "q", one, dt.date(2026, 1, 7))
    q.state["sessions"] += [{"date": "2026-01-07", "completed": True}] * 3
    q.state["sessions"].append({"date": "2026-01-06", "completed": True, "full_dose": False})
    a = q.adherence(one, dt.date(2026, 1, 7))
    assert a["week_done"] == 1 and a["week_days_trained"] == 1 and a["week_adherence_pct"] == 14


def test_a_one_rep_session_neither_secures_nor_counts(tmp_path):
    s = _session(tmp_path, "norwegian_intensive", "correct", reps=1, sets=1)
    assert s["completed"] and all(r["good"] for r in s["reps"]) and s["full_dose"] is False
    assert s["progression"] == [] and s["adherence"]["today_done"] == 0 and s["adherence"]["due_today"] == 1
    assert "shorter than prescribed does not count" in format_summary(s)
    p = Progress.load(tmp_path / "norwegian_intensive-correct", load_programme("norwegian_intensive"), dt.date.today())
    assert p.state["current"] == 0 and not p.state["secure"].get("contact")


@pytest.mark.parametrize("data, message", [
    ({"name": "x", "title": "t", "source": "s"}, "at least one [[exercise]]"),
    ({"name": "x", "title": "t", "source": "s", "exercise": [{"name": "a", "title": "b", "reps": 0}]}, "reps = 0 is outside 1…50"),
    ({"name": "x", "title": "t", "source": "s", "exercise": [{"name": "a", "title": "b", "hold": 3}]}, "unknown option 'hold'"),
    ({"name": "x", "title": "t", "source": "s", "exercise": [{"name": "a", "title": "b", "kind": "jump"}]}, "kind 'jump'; allowed: hold, relax, hypopressive"),
    ({"name": "x", "title": "t", "source": "s", "exercise": [{"name": "a", "title": "b", "hold_s": 8, "hold_max_s": 6}]}, "hold_max_s (6) is below hold_s (8)"),
    ({"name": "x", "title": "t", "source": "s", "mode": "random", "exercise": [{"name": "a", "title": "b"}]}, "mode 'random'"),
    ({"title": "t", "source": "s", "exercise": [{"name": "a", "title": "b"}]}, "name is required"),
])
def test_programme_validation(data, message):
    with pytest.raises(ProgrammeError) as e:
        parse_programme(data, "test.toml")
    assert message in str(e.value)


def test_unknown_programme_and_patient_are_clear_errors(tmp_path, pfmt_cmd):
    with pytest.raises(ProgrammeError, match="unknown programme 'kegel'; built in: danish_deep_core"):
        load_programme("kegel")
    with pytest.raises(InputError, match="unknown simulated patient"):
        run(TrainOptions(patient="lazy", speed=0, data_dir=tmp_path, view="quiet"))
    r = subprocess.run(pfmt_cmd + ["train", "--programme", "kegel", "--data", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "unknown programme" in r.stderr


def test_pfmt_train_cli_prints_the_summary(tmp_path, pfmt_cmd):
    r = subprocess.run(pfmt_cmd + ["train", "--speed", "0", "--reps", "2", "--sets", "1", "--data",
                                   str(tmp_path), "--patient", "bears_down", "--view", "lines"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "redo: bearing down" in r.stdout and "dose contact" in r.stdout and "adherence" in r.stdout
    assert "bear_down" not in r.stdout  # words for a person, not internal names


@pytest.mark.slow
def test_threaded_real_time_emulation_runs_a_session(tmp_path):
    """The device's own path: sampler and pattern player on threads against a (scaled) real clock.

    What must hold however busy the machine is: the session is cued and judged to the end, every
    frame the chips converted was either delivered (and stored) or counted in a gap, and the
    stored signal is in time order. How many frames a busy machine manages to read is throughput:
    ``pfmt bench --part sampler`` measures it."""
    s = run(TrainOptions(programme="maintenance", patient="correct", speed=4, seed=4, data_dir=tmp_path,
                         view="quiet", overrides={"reps": 1, "sets": 1}, threaded=True))
    assert s["completed"] and all(r["judged_at_s"] is not None for r in s["reps"])
    frames, skipped = s["sampler"]["frames"], s["sampler"]["skipped"]
    assert frames > 0
    with SessionStore(tmp_path, create=False) as db:
        t, values = db.samples(s["session_id"])
    # every frame the runner took is stored; the sampler may have delivered a few more after "done"
    assert 0 < len(t) <= frames and values.shape == (len(t), 2)
    assert np.all(np.diff(t) > 0)
    # the emulated chips convert at exactly 860 SPS on the device's clock: each conversion was
    # delivered or is counted in a gap, whatever the load
    converted = 860 * s["sampler"]["elapsed_s"]
    assert abs(frames + skipped - converted) <= 0.005 * converted + 5


def test_paced_emulation_is_lossless(tmp_path):
    s = run(TrainOptions(programme="maintenance", patient="correct", speed=50, seed=4, data_dir=tmp_path,
                         view="quiet", overrides={"reps": 1, "sets": 1}))
    assert s["sampler"]["skipped"] == 0 and s["completed"]


def test_button_pauses_and_resumes(tmp_path):
    """A short press pauses: nothing is cued or judged until the next press. A pause in a rest lets
    the rest run on; a pause inside a rep voids that attempt and the rep is cued again from "get
    ready". The simulated patient follows the moved timeline, so every rep is still good."""
    # contact: reps of get ready 2 + squeeze 1 + hold 3 + release 1 + rest 4 = 11 s from t = 2 s;
    # 12 s is in rep 1's rest, 40 s in rep 3's release (after the first pause moved it by 10 s).
    s = run(TrainOptions(programme="norwegian_intensive", patient="correct", speed=0, seed=3,
                         data_dir=tmp_path, view="quiet", overrides={"reps": 3, "sets": 1},
                         pauses=[(12.0, 10.0), (40.0, 5.0)]))
    assert s["completed"] and all(r["good"] for r in s["reps"]), s["reps"]
    assert [(round(p["at_s"]), round(p["for_s"])) for p in s["pauses"]] == [(12, 10), (40, 5)]
    assert s["pauses"][0]["restarted"] is None
    assert s["pauses"][1]["restarted"] == {"exercise": "contact", "set": 1, "rep": 3}
    assert abs(s["duration_s"] - (2 + 3 * 11 + 10 + 5 + 6)) < 0.5  # rep 3 redone from its get ready
    gets = [round(t, 1) for t, n in s["patterns"] if n == "get_ready"]
    assert len(gets) == 4 and abs(gets[-1] - 45.0) < 0.1
    assert [n for t, n in s["patterns"] if 12 <= t < 22] == ["paused"]  # silence while paused
    assert [r["onset_s"] > 45 for r in s["reps"]] == [False, False, True]
    with SessionStore(tmp_path) as db:
        ev = db.events(s["session_id"], ("paused", "resumed"))
        assert [e["type"] for e in ev] == ["paused", "resumed", "paused", "resumed"]
        assert ev[2]["phase"] == "release"


def test_holding_the_button_ends_the_session(tmp_path):
    s = run(TrainOptions(programme="norwegian_intensive", patient="correct", speed=0, seed=3,
                         data_dir=tmp_path, view="quiet", overrides={"reps": 4, "sets": 1}, stop_at_s=30.0))
    assert not s["completed"] and s["stopped_by_button"]
    assert abs(s["duration_s"] - 32.0) < 0.2  # held for 2 s
    assert s["patterns"][-1][1] == "stopped"
    with SessionStore(tmp_path) as db:
        assert db.session(s["session_id"]).info["status"] == "stopped"
        assert len(db.events(s["session_id"], ("stopped",))) == 1
    # Rep 3 was released (30 s) before the stop (32 s): judged and done, in the dose; rep 4 was
    # never cued: not judged, not done, not a failed attempt.
    assert [(r["judged_at_s"] is not None, r["done"], r["good"]) for r in s["reps"]] == \
        [(True, True, True)] * 3 + [(False, False, False)]
    assert s["dose"][0]["done"]["reps"] == 3 and s["dose"][0]["done"]["good_reps"] == 3
    assert s["sets"][0]["done"] == 3
    table = format_summary(s).splitlines()
    assert table[5].endswith("not reached") and "3/4 good (1 not done)" in table[6]


def test_a_stop_during_a_hold_is_not_a_rep_done(tmp_path):
    s = run(TrainOptions(programme="norwegian_intensive", patient="correct", speed=0, seed=3,
                         data_dir=tmp_path, view="quiet", overrides={"reps": 4, "sets": 1}, stop_at_s=26.5))
    # Rep 3's squeeze came at 26 s and the session ended at 28.5 s, before its release at 30 s.
    assert [(r["judged_at_s"] is not None, r["done"]) for r in s["reps"]] == \
        [(True, True), (True, True), (True, False), (False, False)]
    assert s["dose"][0]["done"]["reps"] == 2
    assert format_summary(s).splitlines()[4].split()[-1] == "stopped"


def test_contact_bounce_is_not_a_press(tmp_path, monkeypatch):
    import device.sim.scripted as train

    monkeypatch.setattr(train, "PRESS_S", 0.01)  # 10 ms closures: a bouncing contact, not a finger
    s = run(TrainOptions(programme="norwegian_intensive", patient="correct", speed=0, seed=3,
                         data_dir=tmp_path, view="quiet", overrides={"reps": 2, "sets": 1},
                         pauses=[(12.0, 3.0)]))
    assert s["pauses"] == [] and s["completed"]


@pytest.mark.parametrize("kw, fragment", [({"pauses": [(0.5, 5.0)]}, "must start within"),
                                          ({"pauses": [(12.0, 0.1)]}, "last at least"),
                                          ({"pauses": [(12.0, 5.0), (14.0, 5.0)]}, "previous pause"),
                                          ({"stop_at_s": 1e5}, "--stop-at")])
def test_bad_button_script_is_refused(tmp_path, kw, fragment):
    with pytest.raises(InputError, match=fragment):
        run(TrainOptions(programme="norwegian_intensive", speed=0, data_dir=tmp_path, view="quiet",
                         overrides={"reps": 2, "sets": 1}, **kw))


def test_the_symptom_diary_moves_intensive_to_maintenance(tmp_path):
    """"Symptom-free for 6 months → maintenance" needs a record of symptoms: the diary. Leakage
    after a dry spell restarts the count."""
    prog = load_programme("norwegian_intensive")
    p = Progress.load(tmp_path, prog, dt.date(2026, 1, 1))
    bad = {"completed": True, "dose": [], "reps": []}
    p.add_symptoms(dt.date(2026, 1, 5), 3, dt.date(2026, 1, 5))
    p.add_symptoms(dt.date(2026, 1, 20), 0, dt.date(2026, 1, 20))
    p.add_symptoms(dt.date(2026, 2, 10), 1, dt.date(2026, 2, 10))  # a leak: not dry since January
    p.add_symptoms(dt.date(2026, 3, 1), 0, dt.date(2026, 3, 1))
    assert p.symptom_free_since() == "2026-03-01"
    assert p.record(prog, bad, dt.datetime(2026, 8, 1, 9)) == []  # 26 weeks done, dry 5 months
    ch = p.record(prog, bad, dt.datetime(2026, 9, 2, 9))
    assert ch and ch[-1].startswith("programme: norwegian_intensive → maintenance")
    with pytest.raises(InputError, match="whole number from 0 to 100"):
        p.add_symptoms(dt.date(2026, 3, 2), -1, dt.date(2026, 3, 2))
    with pytest.raises(InputError, match="in the future"):
        p.add_symptoms(dt.date(2027, 3, 2), 0, dt.date(2026, 3, 2))

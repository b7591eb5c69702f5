"""The physiotherapist's workflow on the emulated device with simulated patients: the full run,
each rejection path, the profile store (versions, checksum, PIN) and its use by analyze and train."""
import json
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from calibration.console import ScriptedConsole
from calibration.emulated import Clinic, emulated_rig, emulated_sensors
from calibration.profile import Profile, ProfileStore
from calibration.workflow import Workflow
from device.config import default_config
from device.errors import Aborted, AccessError, CalibrationError
from device.pipeline.kinds import decide, fit
from device.sim.patient import SimulatedPatient
from device.sim.simulate import random_patient

ANSWERS = {"new_pin": "bekken-2468-fysio", "new_pin_again": "bekken-2468-fysio", "accept": "y", "physio": "PT-7",
           "patient_code": "P-042", "retry": "n"}


def config(modality="pressure", rate=250):
    cfg = default_config(modality, abdominal=True)
    if modality == "pressure":
        cfg = replace(cfg, rate_hz=float(rate), channels=tuple(replace(c, data_rate=rate) for c in cfg.channels))
    return cfg


def calibrate(tmp_path, modality="pressure", patient=None, answers=None, sensors=None, seed=3, steps=None,
              cfg=None):
    cfg = cfg or config(modality)
    pat = random_patient(seed, modality, atypical=True)
    pat.update(patient or {})
    sp = SimulatedPatient(modality, pat, seed=seed, drift_tau_s=40.0)
    sensors = sensors or emulated_sensors(cfg)
    rig = emulated_rig(cfg, sp, sensors, seed=seed)
    con = ScriptedConsole({**ANSWERS, **(answers or {})})
    store = ProfileStore(tmp_path)
    kw = {"steps": steps} if steps else {}
    wf = Workflow(rig, cfg, con, store, actor=Clinic(sp, seed), **kw)
    return wf, store, con, pat, sensors


def test_full_pressure_workflow_saves_a_checked_profile(tmp_path):
    wf, store, con, pat, sensors = calibrate(tmp_path)
    prof = wf.run()
    assert store.versions() == [1] and prof.version == 1 and prof.by == "PT-7"
    assert prof.changes == ["sensor", "patient", "prescription"] and prof.patient_code == "P-042"
    # the fitted transfer is the emulated sensor's real one, not the configured nominal one
    for role in ("pelvic", "abdominal"):
        assert prof.sensor[role].volts_per_unit == pytest.approx(sensors[role].volts_per_unit, rel=0.005)
        assert prof.sensor[role].offset_v == pytest.approx(sensors[role].offset_v, abs=0.003)
        assert prof.sensor[role].linearity_pct < 1.0
    assert prof.patient["zero"]["after_s"] >= 40
    assert prof.calibration.get("pelvic").mvc == pytest.approx(pat["pelvic_mvc"], rel=0.12)
    assert len([a for a in prof.patient["mvc_attempts"] if a]) == 3
    k = prof.calibration.kinds
    assert k is not None and k.examples == 6
    for e in prof.patient["examples"]:
        assert decide(e["features"], k) == e["kind"]
    path = store.path(1)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # health data: the device user only
    assert Profile.from_dict(json.loads(path.read_text()), "v1").version == 1
    assert any("Review" in line for line in con.transcript)


@pytest.mark.slow
def test_full_emg_workflow(tmp_path):
    wf, store, con, pat, sensors = calibrate(tmp_path, "emg", seed=4)
    prof = wf.run()
    s = prof.sensor["pelvic"]
    assert s.unit == "uV" and s.volts_per_unit == pytest.approx(sensors["pelvic"].volts_per_unit, rel=0.02)
    assert 0.1 < s.noise < 1.0  # the front end's own noise floor, µV RMS
    cal = prof.calibration
    assert cal.get("pelvic").rest == pytest.approx(pat["pelvic_rest"], rel=0.25)
    # the MVC is the envelope's peak (as every rep's peak is measured, so %MVC is like for like),
    # which rides above the squeeze's mean amplitude by the envelope's noise
    ratio = (cal.get("pelvic").mvc - cal.get("pelvic").rest) / (pat["pelvic_mvc"] - pat["pelvic_rest"])
    assert 0.95 < ratio < 1.4
    assert cal.kinds.feature == "abd_norm"


@pytest.mark.parametrize("case, setup, message", [
    # the ADC's range set too sensitive (±2.048 V) for a 250 cmH2O reference
    ("saturated", {"answers": {"reference_high": "250", "reference_mid": "125"}, "gain": 2},
     r"saturated at the high reference \(250 cmH2O\): the ADC is at its ±2.048 V limit"),
    ("span too small", {"answers": {"reference_high": "10", "reference_mid": "5"}}, "span too small"),
    ("leak", {"sensitivity": 0.2}, "span too small"),
    ("non-linear", {"curvature": 0.3}, "non-linear"),
])
def test_sensor_rejections(tmp_path, case, setup, message):
    cfg = config()
    cfg = replace(cfg, channels=tuple(replace(c, gain=setup.get("gain", c.gain)) for c in cfg.channels))
    sensors = emulated_sensors(cfg, curvature=setup.get("curvature", 0.0), sensitivity=setup.get("sensitivity"))
    wf, store, con, _, _ = calibrate(tmp_path, answers=setup.get("answers"), sensors=sensors, cfg=cfg)
    with pytest.raises(CalibrationError, match=message):
        wf.run()
    assert store.versions() == []  # nothing is saved until accepted


def test_mvc_below_noise_is_refused(tmp_path):
    wf, store, *_ = calibrate(tmp_path, patient={"pelvic_mvc": 0.4})
    with pytest.raises(CalibrationError, match="MVC below noise"):
        wf.run()
    assert store.versions() == []


def test_examples_the_classifier_cannot_separate_are_refused(tmp_path):
    # the abdominal reference barely sees her strain: lift and bear-down look the same there
    wf, store, *_ = calibrate(tmp_path, patient={"abd_transmission": 0.02})
    with pytest.raises(CalibrationError, match="cannot be separated|do not separate"):
        wf.run()
    assert store.versions() == []


@pytest.mark.slow
def test_a_refused_step_can_be_repeated(tmp_path):
    # the first span is refused (references too close), the physio repeats it with a proper one
    wf, store, con, *_ = calibrate(tmp_path, answers={"reference_high": ["10", "60"], "reference_mid": ["5", "30"],
                                                      "retry": "y"})
    prof = wf.run()
    assert prof.version == 1 and "span too small" in "\n".join(con.transcript)


def test_abort_and_not_accepting_save_nothing(tmp_path):
    wf, store, *_ = calibrate(tmp_path, answers={"accept": "n"})
    with pytest.raises(Aborted):
        wf.run()
    wf, store, *_ = calibrate(tmp_path, answers={"reference_low": "abort"})
    with pytest.raises(Aborted):
        wf.run()
    assert store.versions() == []


def _profile(tmp_path, **answers):
    wf, store, *_ = calibrate(tmp_path, answers=answers, steps=("sensor", "patient", "prescription"))
    return wf.run(), store


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    d = tmp_path_factory.mktemp("profile")
    prof, store = _profile(d, **{"intensive.reps": "9", "intensive.target_mvc": "65", "progression": "n"})
    return d, prof


def test_versions_pin_and_prescription_only_change(calibrated, tmp_path):
    d, prof = calibrated
    work = tmp_path / "data"
    (work / "profile").mkdir(parents=True)
    (work / "profile" / "v0001.json").write_bytes(ProfileStore(d).path(1).read_bytes())
    store = ProfileStore(work)
    # wrong PIN three times: refused before anything is measured
    wf, *_ = calibrate(work, answers={"pin": "0000-wrong-0000"}, steps=("prescription",))
    with pytest.raises(AccessError, match="wrong physio secret"):
        wf.run()
    # straight after, even the right one waits (the count is on the card, not in the process) ...
    right = {"pin": "bekken-2468-fysio", "programme": "swedish", "physio": "PT-9"}
    wf, *_ = calibrate(work, answers=right, steps=("prescription",))
    with pytest.raises(AccessError, match="next try is allowed in"):
        wf.run()
    attempts = work / "pin-attempts.json"
    st = json.loads(attempts.read_text())
    st["last_failure"] -= 6  # ... and once the wait is over, it opens
    attempts.write_text(json.dumps(st))
    # the right PIN: a new prescription, the calibration carried over, version 2 recorded
    wf, *_ = calibrate(work, answers=right, steps=("prescription",))
    p2 = wf.run()
    assert store.versions() == [1, 2] and p2.prescription.programme == "swedish" and p2.by == "PT-9"
    assert p2.changes == ["prescription"] and p2.calibration == prof.calibration and p2.pin == prof.pin
    # restoring writes version 3 as a copy of version 1
    p3 = store.restore(1, by="PT-9", secret="bekken-2468-fysio")
    assert p3.version == 3 and p3.prescription == prof.prescription and p3.changes == ["restored version 1"]


def test_corrupt_profile_is_refused_with_the_way_back(calibrated, tmp_path):
    d, prof = calibrated
    work = tmp_path / "data"
    (work / "profile").mkdir(parents=True)
    good = ProfileStore(d).path(1).read_bytes()
    (work / "profile" / "v0001.json").write_bytes(good)
    v2 = json.loads(good)
    v2["version"] = 2
    v2["prescription"]["programme"] = "maintenance"  # edited by hand: the checksum no longer matches
    (work / "profile" / "v0002.json").write_text(json.dumps(v2))
    with pytest.raises(CalibrationError, match=r"checksum mismatch.*Version 1 .* is intact.*profile restore 1"):
        ProfileStore(work).current()
    (work / "profile" / "v0002.json").write_bytes(good[: len(good) // 2])  # torn
    with pytest.raises(CalibrationError, match="unreadable"):
        ProfileStore(work).current()
    from device.cli.train import TrainOptions, run
    with pytest.raises(CalibrationError, match="profile restore 1"):
        run(TrainOptions(data_dir=work, speed=0, view="quiet"))


def test_invalid_profile_is_refused_on_save(calibrated, tmp_path):
    d, prof = calibrated
    bad = replace(prof, patient_code="Jane Doe")
    with pytest.raises(CalibrationError, match="patient_code"):
        ProfileStore(tmp_path).save(bad, "PT-7", ["prescription"], secret="bekken-2468-fysio")
    assert ProfileStore(tmp_path).versions() == []


@pytest.mark.slow
def test_training_follows_the_prescription_and_the_patient_cannot_change_it(calibrated, tmp_path):
    from device.cli.train import TrainOptions, run

    d, prof = calibrated
    work = tmp_path / "data"
    (work / "profile").mkdir(parents=True)
    (work / "profile" / "v0001.json").write_bytes(ProfileStore(d).path(1).read_bytes())
    with pytest.raises(AccessError, match="physiotherapist"):
        run(TrainOptions(data_dir=work, programme="swedish", speed=0, view="quiet"))
    with pytest.raises(AccessError, match="physiotherapist"):
        run(TrainOptions(data_dir=work, overrides={"reps": 2}, speed=0, view="quiet"))
    s = run(TrainOptions(data_dir=work, speed=0, view="quiet"))
    assert s["programme"] == "norwegian_intensive"
    assert {k: s["profile"][k] for k in ("version", "patient_code", "signature")} == \
        {"version": 1, "patient_code": "P-042", "signature": "verified"}  # the prescription, signed
    assert s["calibrated"]
    contact = [r for r in s["reps"] if r["exercise"] == "contact"]
    assert contact and all(r["target_mvc_pct"] == pytest.approx(30) for r in contact)
    assert s["progression"] == []  # progression is off in this prescription
    # the %MVC is measured through the calibrated sensor against the calibrated MVC
    good = [r for r in contact if r["mvc_pct"] is not None]
    assert good and all(20 < r["mvc_pct"] < 150 for r in good)


def test_analyze_accepts_a_profile_and_refuses_a_damaged_one(calibrated, tmp_path, pfmt_cmd):
    from device.sim.simulate import write_example

    d, prof = calibrated
    csv = write_example(tmp_path / "rec.csv", seed=5, modality="pressure", abdominal=True)
    path = ProfileStore(d).path(1)
    r = subprocess.run(pfmt_cmd + ["analyze", csv, "--calibration", str(path), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert all(c["mvc_pct"] is not None for c in json.loads(r.stdout)["contractions"])
    bad = tmp_path / "bad.json"
    d2 = json.loads(path.read_text())
    d2["calibration"]["pelvic"]["mvc"] = 99.0
    bad.write_text(json.dumps(d2))
    r = subprocess.run(pfmt_cmd + ["analyze", csv, "--calibration", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and "checksum mismatch" in r.stderr and "Traceback" not in r.stderr


def test_cli_calibrate_unattended_then_profile_show(tmp_path, pfmt_cmd):
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({**ANSWERS, "programme": "maintenance"}))
    cfg = tmp_path / "device.toml"
    text = (Path(__file__).resolve().parents[1] / "examples" / "device.toml").read_text()
    cfg.write_text(text.replace("rate_hz = 860", "rate_hz = 250").replace("data_rate = 860", "data_rate = 250"))
    r = subprocess.run(pfmt_cmd + ["calibrate", "--data", str(tmp_path / "d"), "--config", str(cfg), "--answers",
                                   str(answers), "--patient", "atypical"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "Saved profile version 1" in r.stdout
    r = subprocess.run(pfmt_cmd + ["profile", "show", "--data", str(tmp_path / "d")], capture_output=True, text=True)
    assert r.returncode == 0 and "prescription: maintenance" in r.stdout and "personal lift/bear-down" in r.stdout
    r = subprocess.run(pfmt_cmd + ["profile", "show", "--json", "--data", str(tmp_path / "d")], capture_output=True, text=True)
    assert "pin" not in json.loads(r.stdout)
    r = subprocess.run(pfmt_cmd + ["calibrate", "--steps", "sensor,bogus"], capture_output=True, text=True)
    assert r.returncode == 2 and "allowed: sensor, patient, prescription" in r.stderr


# --- the personal decision itself -----------------------------------------------------------
def _ex(kind, r):
    return (kind, {"abd_ratio": r, "abd_rise": 10 * r, "pel_rise": 10.0})


def test_fit_keeps_generic_thresholds_when_they_work():
    m = fit([_ex("lift", x) for x in (0.02, 0.04, 0.05)] + [_ex("bear_down", x) for x in (1.4, 1.6, 1.9)])
    assert (m.accessory_above, m.bear_down_above, m.scale) == (0.25, 0.95, 1.0)


def test_fit_moves_to_a_weak_reference():
    # her reference sees 0.4 of the abdomen: a strain reads 0.5–0.7, which the generic call accessory
    ex = [_ex("lift", x) for x in (0.01, 0.02, 0.015)] + [_ex("bear_down", x) for x in (0.55, 0.6, 0.7)]
    m = fit(ex)
    assert m.bear_down_above < 0.55 and m.accessory_above < 0.2
    assert decide({"abd_ratio": 0.6, "abd_rise": 6, "pel_rise": 10}) == "accessory"  # generic: wrong
    assert decide({"abd_ratio": 0.6, "abd_rise": 6, "pel_rise": 10}, m) == "bear_down"
    assert decide({"abd_ratio": 0.25, "abd_rise": 2.5, "pel_rise": 10}, m) == "accessory"


def test_fit_refuses_overlapping_or_too_few_examples():
    with pytest.raises(CalibrationError, match="cannot be separated"):
        fit([_ex("lift", x) for x in (0.1, 0.3, 0.5)] + [_ex("bear_down", x) for x in (0.4, 0.6, 0.7)])
    with pytest.raises(CalibrationError, match="needs 3 verified"):
        fit([_ex("lift", 0.1), _ex("bear_down", 1.5)])
    with pytest.raises(CalibrationError, match="no reference-channel"):
        fit([("lift", {})] * 3 + [("bear_down", {})] * 3)
    # one stray bear-down among the lifts' range: separable on medians but not when left out
    with pytest.raises(CalibrationError):
        fit([_ex("lift", x) for x in (0.02, 0.03, 0.04)] + [_ex("bear_down", x) for x in (0.05, 1.5, 1.6)])


def test_the_review_is_in_plain_numbers_with_units_and_the_targets(tmp_path):
    """The review once read "rest 0" straight after measuring the resting pressure, the MVC without
    a unit, and "programme days/week" instead of numbers, without the targets just entered."""
    wf, store, con, pat, sensors = calibrate(tmp_path)
    prof = wf.run()
    review = prof.summary()
    rest = prof.patient["rest"]["pelvic"]["mean"]
    assert f"resting level measured {rest:.2f} ± " in review and "cmH2O, the zero from now on" in review
    assert f"MVC {prof.calibration.get('pelvic').mvc:.1f} cmH2O above rest" in review
    assert "7 days a week, 1 session(s) a day" in review and "programme days" not in review
    assert "contact: target 30 %MVC, hold 3 s, 0 quick lifts, rest 4 s, 8 reps × 3 sets" in review
    assert "MVC attempts: " in review

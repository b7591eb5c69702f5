"""``pfmt bench --part calibration``: does the physio's calibration make the device more accurate?

For each simulated patient: run the whole workflow on the emulated device (sensors off their
specification, bench references, the patient acting on the cues, a scripted physio), then analyse
that patient's *later* sessions (same physiology, new contractions of every kind) three ways —
uncalibrated, with the measured rest/MVC only, and with the whole calibration including her own
lift / accessory / bear-down thresholds — and compare the kind balanced accuracy with the truth.
Typical patients are drawn as in the evaluation set; atypical ones have the wider coupling of
``simulate.random_patient(atypical=True)``, for whom a generic threshold is wrong.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import replace

import numpy as np

from calibration.console import ScriptedConsole
from calibration.emulated import Clinic, emulated_rig, emulated_sensors
from calibration.profile import ProfileStore
from calibration.workflow import Workflow
from device.config import default_config
from device.pipeline import analyze
from device.pipeline.calibration import Calibration
from device.pipeline.kinds import KINDS
from device.sim.patient import SimulatedPatient
from device.sim.simulate import random_patient, random_scenario, simulate

ONSET_TOL_S = 1.0
ANSWERS = {"new_pin": "bekken-2468-fysio", "new_pin_again": "bekken-2468-fysio", "accept": "y", "physio": "bench", "patient_code": "BENCH"}


def calibrate_patient(patient: dict, seed: int, rate_hz: float = 250.0, modality: str = "pressure"):
    """Run the whole emulated workflow for one patient; (profile, seconds of CPU, the sensors)."""
    cfg = default_config(modality, abdominal=True)
    if modality == "pressure":
        cfg = replace(cfg, rate_hz=rate_hz, channels=tuple(replace(c, data_rate=int(rate_hz)) for c in cfg.channels))
    sp = SimulatedPatient(modality, patient, seed=seed)
    sensors = emulated_sensors(cfg, serial=seed)
    rig = emulated_rig(cfg, sp, sensors, seed=seed)
    t0 = time.process_time()
    with tempfile.TemporaryDirectory() as d:
        prof = Workflow(rig, cfg, ScriptedConsole(dict(ANSWERS)), ProfileStore(d), actor=Clinic(sp, seed)).run()
    return prof, time.process_time() - t0, (cfg, sensors)


def kind_accuracy(recs: list[tuple], cal: Calibration | None) -> tuple[float, dict, dict]:
    """Balanced accuracy of lift / accessory / bear_down over the contractions detected and
    matched to the truth (classification proper), and the detection counts beside it."""
    conf = {k: dict.fromkeys(KINDS, 0) for k in KINDS}
    det_counts = {"truth": 0, "missed": 0, "false": 0}
    for rec, truth in recs:
        det = [c.to_dict() for c in analyze(rec, cal).contractions]
        used = set()
        for t in truth["contractions"]:
            det_counts["truth"] += 1
            best = min(((abs(d["onset_s"] - t["onset_s"]), j) for j, d in enumerate(det)
                        if j not in used and abs(d["onset_s"] - t["onset_s"]) <= ONSET_TOL_S), default=None)
            if best is None:
                det_counts["missed"] += 1
                continue
            used.add(best[1])
            if det[best[1]]["kind"] in KINDS:
                conf[t["kind"]][det[best[1]]["kind"]] += 1
        det_counts["false"] += len(det) - len(used)
    recalls = [conf[k][k] / sum(conf[k].values()) for k in KINDS if sum(conf[k].values())]
    return float(np.mean(recalls)), conf, det_counts


def reading_error_pct(cfg, sensors, prof, level: float = 40.0) -> tuple[float, float]:
    """How far a ``level`` squeeze reads through the nominal transfer and through the profile's."""
    c = cfg.channel("pelvic")
    v0, v1 = sensors["pelvic"].volts(0.0), sensors["pelvic"].volts(level)
    nominal = (v1 - v0) / c.volts_per_unit
    fitted = (v1 - v0) / prof.sensor["pelvic"].volts_per_unit
    return 100 * abs(nominal - level) / level, 100 * abs(fitted - level) / level


def run(patients: int = 12, sessions: int = 3, seed: int = 500) -> list[dict]:
    rows = []
    for i in range(patients):
        atypical = i % 4 != 0  # one typical patient in four
        s = seed + i
        pat = random_patient(s, "pressure", atypical=atypical)
        prof, cpu, (cfg, sensors) = calibrate_patient(pat, s)
        recs = []
        for k in range(sessions):
            sc = random_scenario(10_000 + 97 * s + k, "pressure", abdominal=True, sample_rate_hz=250.0,
                                 n_contractions=12, patient=pat)
            rec, truth, _ = simulate(sc, 10_000 + 97 * s + k)
            recs.append((rec, truth))
        full = prof.calibration
        rest_mvc = Calibration(full.channels)
        un, _, det_un = kind_accuracy(recs, None)
        rm, _, _ = kind_accuracy(recs, rest_mvc)
        ca, _, det_ca = kind_accuracy(recs, full)
        err_nom, err_fit = reading_error_pct(cfg, sensors, prof)
        rows.append(dict(patient=s, atypical=atypical, transmission=round(pat["abd_transmission"], 2),
                         co=round(float(np.mean(pat["lift_coactivation"])), 2),
                         follow=round(float(np.mean(pat["bear_follow"])), 2), uncalibrated=un, rest_mvc=rm,
                         calibrated=ca, personalised=full.kinds is not None and full.kinds.scale != 1.0,
                         det_uncalibrated=det_un, det_calibrated=det_ca, workflow_cpu_s=cpu, reading_err_nominal_pct=err_nom,
                         reading_err_calibrated_pct=err_fit, mvc_measured=full.get("pelvic").mvc,
                         mvc_true=pat["pelvic_mvc"]))
    return rows


def print_run(rows: list[dict]) -> None:
    print("calibration — on each patient's later sessions (3 × 12 contractions of every kind): kind balanced "
          "accuracy over the detected contractions, and detections missed / false")
    print(f"{'patient':>8s} {'type':8s} {'transm':>6s} {'co':>5s} {'follow':>6s} {'personal':>8s} {'uncal':>6s} "
          f"{'rest/MVC':>8s} {'calib':>6s} {'miss/false uncal':>16s} {'calib':>6s} {'MVC meas/true':>14s} "
          f"{'40 cmH2O read err':>18s}")
    for r in rows:
        du, dc = r["det_uncalibrated"], r["det_calibrated"]
        print(f"{r['patient']:8d} {'atypical' if r['atypical'] else 'typical':8s} {r['transmission']:6.2f} "
              f"{r['co']:5.2f} {r['follow']:6.2f} {'yes' if r['personalised'] else 'generic':>8s} "
              f"{r['uncalibrated']:6.3f} {r['rest_mvc']:8.3f} {r['calibrated']:6.3f} "
              f"{du['missed']:7d}/{du['false']:<8d} {dc['missed']:2d}/{dc['false']:<3d} "
              f"{r['mvc_measured']:6.1f}/{r['mvc_true']:5.1f}   {r['reading_err_nominal_pct']:5.1f} % → "
              f"{r['reading_err_calibrated_pct']:.2f} %")
    for label, sel in (("typical", [r for r in rows if not r["atypical"]]), ("atypical", [r for r in rows if r["atypical"]]),
                       ("all", rows)):
        if sel:
            du = {k: sum(r["det_uncalibrated"][k] for r in sel) for k in ("truth", "missed", "false")}
            dc = {k: sum(r["det_calibrated"][k] for r in sel) for k in ("truth", "missed", "false")}
            print(f"{label:9s}: kind accuracy uncalibrated {np.mean([r['uncalibrated'] for r in sel]):.3f}, rest/MVC "
                  f"only {np.mean([r['rest_mvc'] for r in sel]):.3f}, calibrated {np.mean([r['calibrated'] for r in sel]):.3f}"
                  f" (calibrated ≥ uncalibrated for {sum(r['calibrated'] >= r['uncalibrated'] for r in sel)}/{len(sel)}); "
                  f"of {du['truth']} contractions missed {du['missed']} → {dc['missed']}, false detections "
                  f"{du['false']} → {dc['false']}")
    print(f"workflow CPU per patient (emulated, 250 SPS × 2): {np.mean([r['workflow_cpu_s'] for r in rows]):.1f} s")

"""``pfmt bench``: accuracy on labelled recordings (ours beside NeuroKit2 and BioSPPy on the same
files, through the shared scorer) and speed as a multiple of real time, offline and live.

Numbers are printed, never asserted: timing on a shared machine is for reading, not for failing CI.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from device.bench.calibration import print_run
from device.bench.calibration import run as run_calibration
from device.bench.footprint import print_footprint
from device.bench.peak import own_peak_kb
from device.bench.sampler import main as sampler_main
from device.config import default_config, recorded_channels
from device.pipeline import Pipeline, analyze
from device.pipeline.calibration import Calibration, load_calibration
from device.recording import read_recording
from device.records.store import SessionStore
from device.sim.scripted import emulate, plan
from device.sim.simulate import random_scenario, simulate, write_dataset
from device.training.programme import load_programme, with_targets
from device.training.progress import Progress
from device.training.schedule import build
from device.training.session import SessionRunner
from device.training.train import SCHEDULE_START_S, SessionPlan, run_session
from drivers import rig as rigs
from drivers.clock import VirtualClock

KEYS = ("f1", "precision", "recall", "onset_med_ms", "onset_p90_ms", "hold_rel_med", "flicks_exact",
        "kind_balanced_acc", "relaxed_balanced_acc", "cough_false_positives", "realtime_factor",
        "realtime_factor_per_process", "realtime_factor_in_process")


def _score(scorer: Path, data: Path, *args: str) -> dict:
    return _run_json([sys.executable, str(scorer), str(data), *args])


def _run_json(cmd: list[str]) -> dict:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"}
    return json.loads(r.stdout)


def accuracy(scorer: Path, data: Path, peers: bool = True, equal_footing: bool = False) -> dict[str, dict]:
    """The scorer's figures for pfmt (one process per file) and the peers (in the scorer's
    process), and pfmt timed inside the scorer's process too (``realtime_factor_in_process``,
    through the scorer's own loop: ``device.bench.peer_run``). ``equal_footing`` also times each peer
    one process per file, start-up included (``realtime_factor_per_process``; slow for
    NeuroKit2, so the bench does it on the dev set only)."""
    py = shlex.quote(sys.executable)
    out = {"pfmt": _score(scorer, data, "--cmd", f"{py} -m device.cli analyze {{csv}} --calibration {{cal}} --json")}
    out["pfmt"]["realtime_factor_per_process"] = out["pfmt"].get("realtime_factor")
    inside = _run_json([sys.executable, "-m", "device.bench.peer_run", "--in-process", str(scorer), str(data)])
    out["pfmt"]["realtime_factor_in_process"] = inside.get("realtime_factor")
    if inside.get("f1") != out["pfmt"].get("f1"):  # the same analysis, so the same answers
        out["pfmt"]["error"] = f"in-process F1 {inside.get('f1')} differs from pfmt analyze's {out['pfmt'].get('f1')}"
    if peers:
        for peer in ("neurokit", "biosppy"):
            out[peer] = _score(scorer, data, "--peer", peer)
            out[peer]["realtime_factor_in_process"] = out[peer].get("realtime_factor")
            if equal_footing:
                cmd = f"{py} -m device.bench.peer_run {peer} {shlex.quote(str(scorer.resolve()))} {{csv}}"
                out[peer]["realtime_factor_per_process"] = _score(scorer, data, "--cmd", cmd).get("realtime_factor")
    # the tuned double-threshold peer, in the scorer's process (tuned on this same set: its
    # accuracy here is the best it can have, an upper bound; its speed is what is compared)
    out["threshold"] = _run_json([sys.executable, "-m", "device.bench.peer_run", "--in-process", str(scorer),
                                  str(data), "threshold", str(data)])
    out["threshold"]["realtime_factor_in_process"] = out["threshold"].get("realtime_factor")
    return out


def real_accuracy(scorer: Path, real: Path, dev: Path, peers: bool = True) -> dict[str, dict]:
    """The real recordings beside the dev set's figures: pfmt calibrated and uncalibrated, every
    peer at its defaults, and the tuned threshold peer (``threshold_peer``, tuned on ``dev``)."""
    py = shlex.quote(sys.executable)
    out = {"pfmt": _score(scorer, real, "--cmd", f"{py} -m device.cli analyze {{csv}} --calibration {{cal}} --json"),
           "pfmt-uncal": _run_json([sys.executable, "-m", "device.bench.peer_run", "--in-process", str(scorer),
                                    str(real), "pfmt-uncalibrated"])}
    if peers:
        for peer in ("neurokit", "biosppy"):
            out[peer] = _score(scorer, real, "--peer", peer)
    out["threshold"] = _run_json([sys.executable, "-m", "device.bench.peer_run", "--in-process", str(scorer),
                                  str(real), "threshold", str(dev)])
    return out


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def print_accuracy(title: str, res: dict[str, dict]) -> None:
    names = list(res)
    print(f"\n{title}")
    print(f"  {'figure':<28}" + "".join(f"{n:>12}" for n in names))
    for k in KEYS:
        print(f"  {k:<28}" + "".join(f"{_fmt(res[n].get(k)):>12}" for n in names))
    for n in names:
        if res[n].get("error") or res[n].get("error_count"):
            print(f"  {n}: {res[n].get('error') or res[n].get('errors')}")
    fg = res["pfmt"].get("f1_by_group")
    if fg:
        print("  pfmt F1 by group: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(fg.items())))


def speed(minutes: float = 10.0, fs: float = 860.0) -> dict:
    """Pipeline-only speed on a simulated 2-channel recording: whole file, and 0.1 s blocks."""

    sc = random_scenario(77, modality="pressure", abdominal=True, sample_rate_hz=fs)
    reps = max(1, int(minutes * 60 / sc.duration_s))
    rec, _, cal = simulate(sc, 77)
    c = Calibration.from_dict(cal)
    dur = rec.duration_s
    t0 = time.process_time()
    for _ in range(reps):
        analyze(rec, c)
    whole = reps * dur / (time.process_time() - t0)
    blk = int(fs * 0.1)
    t0 = time.process_time()
    for _ in range(reps):
        p = Pipeline(rec.channels, fs, c)
        for i in range(0, len(rec.time_s), blk):
            p.process(rec.time_s[i:i + blk], rec.data[i:i + blk])
        p.finish()
    live = reps * dur / (time.process_time() - t0)
    return {"recording_s": reps * dur, "offline_x_realtime": whole, "live_x_realtime": live}


def one_thread(code: str) -> dict:
    """Run ``code`` (which prints one JSON object) in a fresh interpreter with BLAS held to one
    thread: ``time.process_time`` sums every thread's CPU, so with two BLAS threads a "CPU time"
    would understate what one core does (issue 22)."""
    from device.bench.memory import ONE_THREAD

    r = subprocess.run([sys.executable, "-c", f"import json\n{code}"], capture_output=True, text=True,
                       env={**os.environ, **ONE_THREAD}, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def live_latency(data: Path) -> dict:
    """Median onset latency (known-at minus true onset) over a labelled set, by modality, and the
    early onsets withdrawn (``onset_cancelled``) per minute: over the set and on its worst recording."""

    out: dict[str, list] = {}
    withdrawn: dict[str, list[tuple[int, float]]] = {}
    for csv in sorted(Path(data).glob("*.csv")):
        truth = json.loads(csv.with_suffix(".json").read_text())
        rec = read_recording(csv)
        calp = csv.with_name(csv.stem + ".cal.json")
        p = Pipeline(rec.channels, rec.sample_rate_hz, load_calibration(calp) if calp.exists() else None)
        blk = max(1, int(p.fs * 0.05))
        for i in range(0, len(rec.time_s), blk):
            p.process(rec.time_s[i:i + blk], rec.data[i:i + blk])
        p.finish()
        for t in truth["contractions"]:
            m = [c for c in p.contractions if abs(c.onset_s - t["onset_s"]) <= 1.0]
            if m:
                out.setdefault(truth["modality"], []).append(m[0].onset_known_at_s - t["onset_s"])
        withdrawn.setdefault(truth["modality"], []).append(
            (sum(e.type == "onset_cancelled" for e in p.events), rec.duration_s / 60))
    res = {}
    for k, v in out.items():
        w = withdrawn.get(k, [])
        res[k] = {"median_ms": 1000 * float(np.median(v)), "p90_ms": 1000 * float(np.percentile(v, 90)), "n": len(v),
                  "withdrawn_per_min": sum(n for n, _ in w) / max(1e-9, sum(m for _, m in w)),
                  "withdrawn_worst_per_min": max((n / m for n, m in w if m > 0), default=0.0)}
    return res


def print_latency(data: Path) -> None:
    lat = live_latency(data)
    print("  live onset latency (known-at − true onset, 50 ms blocks): " +
          ", ".join(f"{k} median {v['median_ms']:.0f} ms / p90 {v['p90_ms']:.0f} ms (n={v['n']})"
                    for k, v in sorted(lat.items())))
    print("  early onsets withdrawn per minute (all / worst recording): " +
          ", ".join(f"{k} {v['withdrawn_per_min']:.2f} / {v['withdrawn_worst_per_min']:.2f}"
                    for k, v in sorted(lat.items())))


PARTS = ("accuracy", "speed", "memory", "sampler", "session", "calibration", "device")


def main(dev: Path, scorer: Path, unseen: int, peers: bool, minutes: float,
         parts: tuple[str, ...] = PARTS) -> int:
    print("pfmt bench — accuracy through the shared scorer, then speed (CPU time of one thread: BLAS pinned to one)")
    if "accuracy" in parts:
        _accuracy_part(dev, scorer, unseen, peers)
    if "speed" in parts:
        s = one_thread(f"from device.bench.run import speed; print(json.dumps(speed({minutes!r})))")
        print(f"\nspeed on {s['recording_s'] / 60:.1f} min of 860 SPS × 2 channels (one thread: BLAS pinned to one, "
              "so CPU time is one core's):")
        print(f"  offline (whole recording): {s['offline_x_realtime']:8.0f} × real time")
        print(f"  live (0.1 s blocks):       {s['live_x_realtime']:8.0f} × real time")
    if "memory" in parts:
        from device.bench.memory import memory, print_memory

        print_memory(memory())
    if "sampler" in parts:
        print()
        sampler_main()
    if "session" in parts:
        print_session()
    if "calibration" in parts:
        print()
        print_run(run_calibration())
    if "device" in parts:
        print_footprint()
    return 0


def _accuracy_part(dev: Path, scorer: Path, unseen: int, peers: bool) -> None:
    if dev.is_dir():
        print_accuracy(f"dev set ({dev})", accuracy(scorer, dev, peers, equal_footing=True))
        print("  (threshold: the double-threshold peer with hysteresis and a minimum duration, tuned on this "
              "set itself:\n   its accuracy here is an upper bound; on the real recordings below it is tuned on this set)")
        if peers:
            print("  (realtime_factor: the scorer runs the peers inside its own process, pfmt as one process "
                  "per file;\n   through the scorer's own loop and timer, every tool both ways: "
                  "realtime_factor_per_process,\n   one process per file, start-up included; "
                  "realtime_factor_in_process, inside the scorer's process)")
        print_latency(dev)
    else:
        print(f"\n(no dev set at {dev}; skipped)")
    real = dev.parent / "real"
    if real.is_dir() and dev.is_dir():
        print_accuracy(f"real recordings ({real})", real_accuracy(scorer, real, dev, peers))
        print("  (pfmt-uncal: no calibration; neurokit, biosppy: their defaults; threshold: rest mean + k·SD "
              "for a minimum duration, k and duration tuned on the dev set)")
    if unseen:
        with tempfile.TemporaryDirectory() as d:
            write_dataset(d, unseen, seed=9000)
            print_accuracy(f"{unseen} unseen simulated recordings (seed 9000)",
                           accuracy(scorer, Path(d), peers))
            print_latency(Path(d))
        with tempfile.TemporaryDirectory() as d:
            write_dataset(d, unseen, seed=5000, real=True)
            print_accuracy(f"{unseen} unseen real-like simulated recordings (seed 5000: force at 200 Hz, "
                           "8-bit and 250 Hz EMG, brief bursts)", accuracy(scorer, Path(d), peers))


# --- the training session: feedback latency, CPU and memory (issue 4) --------------------------
def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def session_resources(minutes: float = 30.0, data_dir: str | None = None, on_rig=None) -> dict:
    """A long session at 860 SPS × 2 channels on the emulated rig in virtual time, stored in the
    session database as on the device (into ``data_dir``, else a temporary one). ``on_rig(rig)``
    is called once the rig is up (the footprint times the emulated chips through it)."""




    prog = load_programme("norwegian_intensive")
    ex = with_targets(prog.exercise("intensive"), hold_s=10, quick_lifts=3, reps=12, sets=1)
    rep_s = build([ex])[1][-1].rest_end
    ex = with_targets(ex, sets=max(1, math.ceil(minutes * 60 / (rep_s + 60))))
    _, reps = build([ex], start=2.0)
    rec, _, cal = plan("correct", [ex], reps, reps[-1].rest_end + 5, seed=4)
    cfg = default_config("pressure", abdominal=True)
    clock = VirtualClock()
    rig = rigs.emulated(cfg, clock, {c.role: (rec.time_s, rec.data[:, i]) for i, c in enumerate(rec.channels)},
                        threaded=False)
    if on_rig is not None:
        on_rig(rig)
    rss: list[tuple[float, float]] = []

    def sample_memory(runner, now):
        if not rss or now - rss[-1][0] >= 60:
            rss.append((now, _rss_mb()))

    channels = recorded_channels(cfg)
    tmp = tempfile.TemporaryDirectory() if data_dir is None else None
    db = SessionStore(tmp.name if tmp is not None else str(data_dir))
    writer = db.begin(programme=prog.name, rate_hz=cfg.rate_hz, channels=channels, config=asdict(cfg),
                      calibration=cal.to_dict(), prescription=[asdict(ex)], patient_code="BENCH",
                      profile_version=None, simulated_patient="correct")
    runner = SessionRunner(prog, [ex], channels, cfg.rate_hz, rig, rig.feedback, clock, cal, view=sample_memory,
                           schedule_start=2.0, sink=writer)
    rig.start()
    c0 = time.process_time()
    s = runner.run()
    writer.finish(s, "completed")
    cpu = time.process_time() - c0
    rig.close()
    commits = np.array(writer.commit_s) * 1000
    stored = {"db_mb": sum(f.stat().st_size for f in db.dir.glob("pfmt.sqlite3*")) / 1e6,
              "commits": writer.commits, "commit_median_ms": float(np.median(commits)),
              "commit_p99_ms": float(np.percentile(commits, 99)), "stored_frames": writer.stored_samples,
              "integrity": db.integrity()}
    db.close()
    if tmp is not None:
        tmp.cleanup()
    half = [m for t, m in rss if t >= rss[-1][0] / 2]
    return {**stored, "session_s": s["duration_s"], "cpu_s": cpu, "cpu_pct": 100 * cpu / s["duration_s"],
            "peak_rss_mb": (own_peak_kb() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024,
            "rss_start_mb": rss[1][1] if len(rss) > 1 else rss[0][1], "rss_end_mb": rss[-1][1],
            "rss_second_half_growth_mb": half[-1] - half[0], "reps": len(s["reps"]),
            "good": sum(r["good"] for r in s["reps"]), "frames": rig.sampler.stats.frames}


def feedback_latency(seconds_per_rep: int = 2) -> dict:
    """Real time at 860 SPS: from a sample's arrival (its stamp) to the LED/buzzer update — the
    sampler and pattern threads running as on the device, a simulated patient on the emulated ADC."""
    prog = load_programme("swedish")
    now = dt.datetime.now()
    with tempfile.TemporaryDirectory() as d:
        progress = Progress.load(Path(d), prog, now.date())
        exercises = [with_targets(e, reps=seconds_per_rep, sets=1) for e in progress.exercises(prog)]
        cfg = default_config("pressure", abdominal=True)
        emulated = emulate("correct", exercises, cfg, seed=3, threaded=True, speed=1.0)
        session = SessionPlan(programme=prog, exercises=exercises, config=cfg, calibration=emulated.calibration,
                              now=now, started=now, simulated_patient="correct", schedule_start=SCHEDULE_START_S)
        s = run_session(session, emulated.rig, emulated.clock, SessionStore(d), progress)
    first = np.array([a for a, _ in s["latency_s"]]) * 1000
    last = np.array([b for _, b in s["latency_s"]]) * 1000
    return {"blocks": len(first), "first_median_ms": float(np.median(first)),
            "first_p99_ms": float(np.percentile(first, 99)), "last_median_ms": float(np.median(last)),
            "last_p99_ms": float(np.percentile(last, 99))}


def print_session(minutes: float = 30.0) -> None:
    print("\ntraining session (emulated ADC, mock pins, simulated patient):")
    lat = feedback_latency()
    print(f"  feedback latency at 860 SPS, real time ({lat['blocks']} blocks): sample arrival → LED/buzzer "
          f"update: oldest sample of a block median {lat['first_median_ms']:.1f} ms, p99 "
          f"{lat['first_p99_ms']:.1f} ms; newest sample median {lat['last_median_ms']:.1f} ms, p99 "
          f"{lat['last_p99_ms']:.1f} ms (targets: median ≤ 50, p99 ≤ 100)")
    # A fresh process, its peak memory read as VmHWM (its own since exec: ``wait4`` and
    # RUSAGE_SELF would carry the bench's size into it, see device/bench/peak.py).
    code = ("import json; from drivers.memory import limit_malloc_arenas; limit_malloc_arenas(); "
            f"from device.bench.run import session_resources; print(json.dumps(session_resources({minutes})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"  {r['session_s'] / 60:.1f}-minute session at 860 SPS × 2 in accelerated time: CPU {r['cpu_s']:.1f} s "
          f"= {r['cpu_pct']:.2f} % of one core (target ≤ 5 %; includes the emulated chips); "
          f"{r['good']}/{r['reps']} reps good")
    print(f"  memory: peak RSS {r['peak_rss_mb']:.0f} MB (target ≤ 120); RSS after 1 min {r['rss_start_mb']:.1f} MB, "
          f"at the end {r['rss_end_mb']:.1f} MB, growth over the second half {r['rss_second_half_growth_mb']:+.1f} MB")
    print(f"  storage (SQLite WAL, synchronous=FULL, in the figures above): {r['stored_frames']}/{r['frames']} frames "
          f"stored in {r['commits']} commits (median {r['commit_median_ms']:.1f} ms, p99 {r['commit_p99_ms']:.1f} ms "
          f"on this disk), database {r['db_mb']:.1f} MB, integrity_check {r['integrity']}")

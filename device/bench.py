"""``pfmt bench``: accuracy on labelled recordings (ours beside NeuroKit2 and BioSPPy on the same
files, through the shared scorer) and speed as a multiple of real time, offline and live.

Numbers are printed, never asserted: timing on a shared machine is for reading, not for failing CI.
"""
from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

KEYS = ("f1", "precision", "recall", "onset_med_ms", "onset_p90_ms", "hold_rel_med", "flicks_exact",
        "kind_balanced_acc", "relaxed_balanced_acc", "cough_false_positives", "realtime_factor")


def _score(scorer: Path, data: Path, *args: str) -> dict:
    r = subprocess.run([sys.executable, str(scorer), str(data), *args], capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"}
    return json.loads(r.stdout)


def accuracy(scorer: Path, data: Path, peers: bool = True) -> dict[str, dict]:
    cmd = f"{shlex.quote(sys.executable)} -m device.cli analyze {{csv}} --calibration {{cal}} --json"
    out = {"pfmt": _score(scorer, data, "--cmd", cmd)}
    if peers:
        for peer in ("neurokit", "biosppy"):
            out[peer] = _score(scorer, data, "--peer", peer)
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
    print(f"  {'figure':<22}" + "".join(f"{n:>12}" for n in names))
    for k in KEYS:
        print(f"  {k:<22}" + "".join(f"{_fmt(res[n].get(k)):>12}" for n in names))
    for n in names:
        if res[n].get("error") or res[n].get("error_count"):
            print(f"  {n}: {res[n].get('error') or res[n].get('errors')}")
    fg = res["pfmt"].get("f1_by_group")
    if fg:
        print("  pfmt F1 by group: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(fg.items())))


def speed(minutes: float = 10.0, fs: float = 860.0) -> dict:
    """Pipeline-only speed on a simulated 2-channel recording: whole file, and 0.1 s blocks."""
    from .calibration import Calibration
    from .pipeline import Pipeline, analyze
    from .simulate import random_scenario, simulate

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


def live_latency(data: Path) -> dict:
    """Median onset latency (known-at minus true onset) over a labelled set, by modality."""
    from .calibration import load_calibration
    from .pipeline import Pipeline
    from .recording import read_recording

    out: dict[str, list] = {}
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
    return {k: {"median_ms": 1000 * float(np.median(v)), "p90_ms": 1000 * float(np.percentile(v, 90)),
                "n": len(v)} for k, v in out.items()}


def print_latency(data: Path) -> None:
    lat = live_latency(data)
    print("  live onset latency (known-at − true onset): " +
          ", ".join(f"{k} median {v['median_ms']:.0f} ms / p90 {v['p90_ms']:.0f} ms (n={v['n']})"
                    for k, v in sorted(lat.items())))


PARTS = ("accuracy", "speed", "sampler")


def main(dev: Path, scorer: Path, unseen: int, peers: bool, minutes: float,
         parts: tuple[str, ...] = PARTS) -> int:
    print("pfmt bench — accuracy through the shared scorer, then speed (CPU time, one core)")
    if "accuracy" in parts:
        _accuracy_part(dev, scorer, unseen, peers)
    if "speed" in parts:
        s = speed(minutes)
        print(f"\nspeed on {s['recording_s'] / 60:.1f} min of 860 SPS × 2 channels:")
        print(f"  offline (whole recording): {s['offline_x_realtime']:8.0f} × real time")
        print(f"  live (0.1 s blocks):       {s['live_x_realtime']:8.0f} × real time")
    if "sampler" in parts:
        from drivers.bench import main as sampler_main

        print()
        sampler_main()
    return 0


def _accuracy_part(dev: Path, scorer: Path, unseen: int, peers: bool) -> None:
    if dev.is_dir():
        print_accuracy(f"dev set ({dev})", accuracy(scorer, dev, peers))
        print_latency(dev)
    else:
        print(f"\n(no dev set at {dev}; skipped)")
    if unseen:
        from .simulate import write_dataset
        with tempfile.TemporaryDirectory() as d:
            write_dataset(d, unseen, seed=9000)
            print_accuracy(f"{unseen} unseen simulated recordings (seed 9000)",
                           accuracy(scorer, Path(d), peers))
            print_latency(Path(d))

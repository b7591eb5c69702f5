"""Peak memory of ``pfmt analyze`` against a recording's length (issue 22): a recording is read in
blocks and fed to the live pipeline, so its memory is the pipeline's history and one block, not the
file. Each length is a fresh process of the real command on a file written for it, its peak RSS
its own VmHWM (``device.bench.peak``); BLAS is held to one thread, as on a Pi Zero 2 W's budget."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from device.bench.footprint import _measure
from device.sim.simulate import random_scenario, simulate

PFMT = [sys.executable, "-m", "device.cli"]
LENGTHS_MIN = (1, 10, 60, 180)
#: The recordings of the issue's table: two-channel sEMG at 1600 Hz, pressure at 250 Hz.
KINDS = {"emg 2 ch 1600 Hz": {"modality": "emg", "abdominal": True, "sample_rate_hz": 1600.0},
         "pressure 250 Hz": {"modality": "pressure", "abdominal": False, "sample_rate_hz": 250.0}}
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
TILE_S = 300.0  # a 5-minute simulated session, repeated to any length (time running on)


def write_long(path: Path, minutes: float, kind: dict, seed: int = 5) -> Path:
    """A CSV of ``minutes``: one simulated session tiled end to end, written block by block (the
    writer holds one tile, never the file)."""
    sc = random_scenario(seed, **kind)
    sc.duration_s = TILE_S
    rec, _, _ = simulate(sc, seed)
    n_total = int(minutes * 60 * rec.sample_rate_hz)
    step = 1.0 / rec.sample_rate_hz
    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join(["time_s"] + [c.name for c in rec.channels]) + "\n")
        done = 0
        while done < n_total:
            n = min(len(rec.time_s), n_total - done)
            t = (done + np.arange(n)) * step
            np.savetxt(f, np.column_stack([t, rec.data[:n]]), fmt=["%.6f"] + ["%.4f"] * len(rec.channels),
                       delimiter=",")
            done += n
    return path


def memory(lengths: tuple[float, ...] = LENGTHS_MIN) -> list[dict]:
    """Per kind and length: peak RSS, CPU and the file's size of one ``pfmt analyze --json``."""
    env = {**os.environ, **ONE_THREAD}
    out = []
    with tempfile.TemporaryDirectory() as d:
        for name, kind in KINDS.items():
            for minutes in lengths:
                f = write_long(Path(d) / "long.csv", minutes, kind)
                m = _measure(PFMT + ["analyze", str(f), "--json"], env=env)
                out.append({"kind": name, "minutes": minutes, "file_mb": f.stat().st_size / 1e6, "rc": m["rc"],
                            "rss_mb": m["rss_mb"], "cpu_s": m["cpu_s"], "x_realtime": minutes * 60 / max(m["cpu_s"], 1e-9)})
                f.unlink()
    return out


def print_memory(rows: list[dict]) -> None:
    print("\npfmt analyze, peak RSS against length (a fresh process each; BLAS one thread; target ≤ 150 MB on EMG, "
          "≤ 100 MB on pressure):")
    print(f"  {'recording':<20}{'minutes':>8}{'file MB':>9}{'peak RSS MB':>13}{'CPU s':>8}{'× real time':>13}")
    for r in rows:
        bad = "" if r["rc"] == 0 else f"  (exit {r['rc']})"
        print(f"  {r['kind']:<20}{r['minutes']:>8g}{r['file_mb']:>9.0f}{r['rss_mb']:>13.0f}{r['cpu_s']:>8.1f}"
              f"{r['x_realtime']:>13.0f}{bad}")

"""The tuned threshold peer (issue 16): what a careful engineer does with a classic onset
detector — rest mean + k·SD on a smoothed amplitude, a minimum duration — with k and the
duration chosen on the dev set, so pfmt is compared with the best of the simple method, not with
a peer at defaults that its authors never tuned for these signals.

Amplitude: EMG band-passed 20–450 Hz (within Nyquist), rectified, 50 ms moving average; pressure
the level, 50 ms moving average. Rest: the quietest 2 s of the recording (lowest SD). Uncalibrated
by design: it sees only the file.
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np

from device.pipeline import iir
from device.recording import read_recording

K_GRID = (2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 12.0)
MIN_S_GRID = (0.03, 0.05, 0.1, 0.2, 0.3)
DEFAULT = (3.0, 0.1)  # the "rest mean + 3 SD, 0.1 s"


def amplitude(x: np.ndarray, fs: float, emg: bool) -> np.ndarray:
    if emg:
        x = iir.sosfilt(iir.butter_bandpass(20.0, min(450.0, 0.45 * fs), fs), x - np.median(x))
        x = np.abs(x)
    w = max(1, int(0.05 * fs))
    return np.convolve(x, np.ones(w) / w, mode="same")


def detect(csv: Path, k: float, min_s: float) -> dict:
    rec = read_recording(csv)
    fs = rec.sample_rate_hz
    a = amplitude(rec.data[:, 0], fs, rec.channels[0].unit == "uV")
    w = max(2, int(2.0 * fs))
    starts = range(0, max(1, len(a) - w), max(1, w // 4))
    quiet = min(starts, key=lambda i: float(np.std(a[i:i + w])))
    rest = a[quiet:quiet + w]
    above = a > float(np.mean(rest)) + k * float(np.std(rest))
    edges = np.flatnonzero(np.diff(np.concatenate([[0], above.astype(np.int8), [0]])))
    out = []
    for on, off in zip(edges[::2], edges[1::2]):
        if (off - on) / fs >= min_s:
            t0, t1 = float(rec.time_s[on]), float(rec.time_s[min(off, len(a) - 1)])
            out.append({"onset_s": t0, "offset_s": t1, "hold_s": t1 - t0})
    return {"contractions": out}


def tune(scorer_match, data: Path) -> tuple[float, float]:
    """k and the minimum duration with the best F1 on the labelled set ``data``."""
    files = sorted(data.glob("*.csv"))
    truths = [json.loads(f.with_suffix(".json").read_text())["contractions"] for f in files]
    best = (-1.0, DEFAULT)
    for k, m in itertools.product(K_GRID, MIN_S_GRID):
        tp = fp = fn = 0
        for f, t in zip(files, truths):
            d = detect(f, k, m)["contractions"]
            n = len(scorer_match(t, d))
            tp, fp, fn = tp + n, fp + len(d) - n, fn + len(t) - n
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f1 > best[0]:
            best = (f1, (k, m))
    return best[1]

"""The tuned threshold peer (issues 16 and 22): what a careful engineer does with a classic onset
detector — a double threshold with hysteresis on a smoothed amplitude (on above rest mean + k·SD,
off below rest mean + h·k·SD; h = 1 is the single threshold) and a minimum duration — with k, h
and the duration chosen on the dev set, so pfmt is compared with the best of the simple method,
not with a peer at defaults that its authors never tuned for these signals.

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
H_GRID = (1.0, 0.6, 0.3)  # the off threshold as a share of the on threshold's k: 1 = no hysteresis
DEFAULT = (3.0, 0.1, 1.0)  # the "rest mean + 3 SD, 0.1 s"


def amplitude(x: np.ndarray, fs: float, emg: bool) -> np.ndarray:
    if emg:
        x = iir.sosfilt(iir.butter_bandpass(20.0, min(450.0, 0.45 * fs), fs), x - np.median(x))
        x = np.abs(x)
    w = max(1, int(0.05 * fs))
    return np.convolve(x, np.ones(w) / w, mode="same")


def prepared(csv: Path) -> tuple[np.ndarray, np.ndarray, float, float]:
    """The recording's times, its amplitude, and the amplitude's resting mean and SD (the quietest
    2 s): what every threshold setting reads, computed once per file."""
    rec = read_recording(csv)
    fs = rec.sample_rate_hz
    a = amplitude(rec.data[:, 0], fs, rec.channels[0].unit == "uV")
    w = max(2, int(2.0 * fs))
    starts = range(0, max(1, len(a) - w), max(1, w // 4))
    quiet = min(starts, key=lambda i: float(np.std(a[i:i + w])))
    rest = a[quiet:quiet + w]
    return rec.time_s, a, float(np.mean(rest)), float(np.std(rest))


def segments(prep: tuple[np.ndarray, np.ndarray, float, float], k: float, min_s: float, h: float = 1.0) -> dict:
    """Detections: on where the amplitude rises above mean + k·SD, off where it falls below
    mean + h·k·SD, kept when at least ``min_s`` long."""
    t, a, mean, sd = prep
    fs = (len(t) - 1) / max(1e-9, float(t[-1] - t[0]))
    on_idx = np.flatnonzero(a > mean + k * sd)
    off_idx = np.flatnonzero(a < mean + h * k * sd)
    out, pos = [], 0
    while True:
        j = int(np.searchsorted(on_idx, pos))
        if j >= len(on_idx):
            break
        on = int(on_idx[j])
        m = int(np.searchsorted(off_idx, on))
        off = int(off_idx[m]) if m < len(off_idx) else len(a)
        if (off - on) / fs >= min_s:
            t0, t1 = float(t[on]), float(t[min(off, len(a) - 1)])
            out.append({"onset_s": t0, "offset_s": t1, "hold_s": t1 - t0})
        pos = off + 1
    return {"contractions": out}


def detect(csv: Path, k: float, min_s: float, h: float = 1.0) -> dict:
    return segments(prepared(csv), k, min_s, h)


def tune(scorer_match, data: Path) -> tuple[float, float, float]:
    """k, the minimum duration and the hysteresis with the best F1 on the labelled set ``data``."""
    files = sorted(data.glob("*.csv"))
    truths = [json.loads(f.with_suffix(".json").read_text())["contractions"] for f in files]
    preps = [prepared(f) for f in files]
    best = (-1.0, DEFAULT)
    for k, m, h in itertools.product(K_GRID, MIN_S_GRID, H_GRID):
        tp = fp = fn = 0
        for p, t in zip(preps, truths):
            d = segments(p, k, m, h)["contractions"]
            n = len(scorer_match(t, d))
            tp, fp, fn = tp + n, fp + len(d) - n, fn + len(t) - n
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f1 > best[0]:
            best = (f1, (k, m, h))
    return best[1]

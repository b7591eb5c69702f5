"""Peak finding with prominence, window and width limits — ``scipy.signal.find_peaks`` semantics
for the arguments the flick counter uses, in numpy and a little Python (see ``iir.py`` for why not
scipy.signal on the device). Runs on one contraction's hold, a few hundred samples at most; the
tests check it against scipy on random signals."""
from __future__ import annotations

import math

import numpy as np


def _local_maxima(x: np.ndarray) -> np.ndarray:
    """Samples higher than both neighbours; a flat top counts once, at its middle (a plateau that
    touches either end is none). On runs of equal values, so a flat top is one run."""
    n = len(x)
    if n < 3:
        return np.zeros(0, dtype=np.intp)
    change = np.flatnonzero(x[1:] != x[:-1]) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change - 1, [n - 1]])
    v = x[starts]
    j = np.flatnonzero((v[1:-1] > v[:-2]) & (v[1:-1] > v[2:])) + 1
    return ((starts[j] + ends[j]) // 2).astype(np.intp)


def _by_distance(peaks: np.ndarray, heights: np.ndarray, distance: float) -> np.ndarray:
    """Keep the highest peaks first, dropping any closer than ``distance`` samples to a kept one."""
    d = math.ceil(distance)
    keep = np.ones(len(peaks), bool)
    for j in np.argsort(heights)[::-1]:
        if not keep[j]:
            continue
        k = j - 1
        while k >= 0 and peaks[j] - peaks[k] < d:
            keep[k] = False
            k -= 1
        k = j + 1
        while k < len(peaks) and peaks[k] - peaks[j] < d:
            keep[k] = False
            k += 1
    return keep


def _prominence(x: np.ndarray, p: int, wlen: int) -> tuple[float, int, int]:
    """Height above the higher of the lowest points on each side before a higher sample (within
    ``wlen``), with those points' indices."""
    lo, hi = 0, len(x) - 1
    if wlen >= 2:
        lo, hi = max(p - wlen // 2, lo), min(p + wlen // 2, hi)
    i, left_min, left = p, x[p], p
    while lo <= i and x[i] <= x[p]:
        if x[i] < left_min:
            left_min, left = x[i], i
        i -= 1
    i, right_min, right = p, x[p], p
    while i <= hi and x[i] <= x[p]:
        if x[i] < right_min:
            right_min, right = x[i], i
        i += 1
    return float(x[p] - max(left_min, right_min)), left, right


def _width(x: np.ndarray, p: int, prominence: float, left: int, right: int) -> float:
    """Width at half the prominence, interpolated, between the prominence's bases."""
    h = x[p] - 0.5 * prominence
    i = p
    while left < i and h < x[i]:
        i -= 1
    left_ip = float(i)
    if x[i] < h:
        left_ip += (h - x[i]) / (x[i + 1] - x[i])
    i = p
    while i < right and h < x[i]:
        i += 1
    right_ip = float(i)
    if x[i] < h:
        right_ip -= (h - x[i]) / (x[i - 1] - x[i])
    return right_ip - left_ip


def find_peaks(x: np.ndarray, prominence: float, wlen: float, max_width: float, distance: float) -> np.ndarray:
    """Indices of peaks at least ``distance`` apart (highest kept), at least ``prominence`` high
    within a ``wlen``-sample window, no wider than ``max_width`` samples at half prominence."""
    x = np.asarray(x, float)
    peaks = _local_maxima(x)
    if len(peaks) and distance > 1:
        peaks = peaks[_by_distance(peaks, x[peaks], distance)]
    w = math.ceil(wlen) if wlen > 1 else -1
    if len(peaks) and prominence > 0:
        # a peak's prominence is at most its height above the lowest sample of its window: only
        # those that clear it are worth the walk (the same peaks, in a tenth of the time)
        if w >= 2:
            half = w // 2
            padded = np.concatenate([np.full(half, np.inf), x, np.full(half, np.inf)])
            floor = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1).min(axis=1)[peaks]
        else:
            floor = np.full(len(peaks), x.min())
        peaks = peaks[x[peaks] - floor >= prominence]
    out = []
    for p in peaks:
        prom, left, right = _prominence(x, int(p), w)
        if prom >= prominence and _width(x, int(p), prom, left, right) <= max_width:
            out.append(p)
    return np.array(out, dtype=np.intp)

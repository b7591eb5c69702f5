"""The few IIR filters the device needs, as second-order sections, in numpy alone.

Why not ``scipy.signal``: importing it pulls in scipy.stats, optimize, interpolate and more —
about 100 MB of resident memory and a second of start-up here (≈ 15 s on a Pi Zero 2 W) for
five small functions. The designs below are the bilinear-transform formulas scipy uses
(``butter`` with pre-warping, ``iirnotch``); the tests check coefficients, steady states and
outputs against ``scipy.signal`` to rounding. Filtering is exact linear algebra on each section's
state space, a block at a time, so the state (scipy's ``zi``, direct form II transposed) carries
across blocks as with ``sosfilt``.
"""
from __future__ import annotations

import math

import numpy as np

CHUNK = 256  # samples per matrix step: long enough to amortise numpy calls, short enough for O(n²)


def butter_lowpass(fc: float, fs: float) -> np.ndarray:
    """2nd-order Butterworth low-pass at ``fc`` Hz (= ``butter(2, fc, fs=fs, output="sos")``)."""
    _check_band(fc, fs)
    k = math.tan(math.pi * fc / fs)
    n = 1.0 / (1.0 + math.sqrt(2.0) * k + k * k)
    b0 = k * k * n
    return np.array([[b0, 2.0 * b0, b0, 1.0, 2.0 * (k * k - 1.0) * n, (1.0 - math.sqrt(2.0) * k + k * k) * n]])


def butter_bandpass(lo: float, hi: float, fs: float) -> np.ndarray:
    """4th-order (2nd-order prototype) Butterworth band-pass, two sections
    (= ``butter(2, [lo, hi], btype="bandpass", fs=fs, output="sos")`` up to section order)."""
    _check_band(lo, fs)
    _check_band(hi, fs)
    if not lo < hi:
        raise ValueError(f"band-pass edges must rise: {lo:g} Hz to {hi:g} Hz")
    fs2 = 2.0 * fs
    w1, w2 = fs2 * math.tan(math.pi * lo / fs), fs2 * math.tan(math.pi * hi / fs)
    bw, w0 = w2 - w1, math.sqrt(w1 * w2)
    proto = complex(math.cos(3 * math.pi / 4), math.sin(3 * math.pi / 4))  # and its conjugate
    half = proto * bw / 2.0
    root = np.sqrt(complex(half * half - w0 * w0))
    analog = np.array([half + root, half - root])  # the other two are their conjugates
    poles = (fs2 + analog) / (fs2 - analog)
    all_analog = np.concatenate([analog, analog.conj()])
    gain = float(np.real(bw * bw * fs2 * fs2 / np.prod(fs2 - all_analog)))
    sos = np.zeros((2, 6))
    for i, p in enumerate(poles):
        sos[i] = [1.0, 0.0, -1.0, 1.0, -2.0 * p.real, abs(p) ** 2]  # zeros at +1 and -1
    sos[0, :3] *= gain
    return sos


def notch(f0: float, q: float, fs: float) -> np.ndarray:
    """Notch at ``f0`` Hz with quality ``q`` (= ``tf2sos(*iirnotch(f0, q, fs=fs))``)."""
    _check_band(f0, fs)
    w0 = 2.0 * math.pi * f0 / fs
    beta = math.tan(w0 / q / 2.0)
    g = 1.0 / (1.0 + beta)
    return np.array([[g, -2.0 * g * math.cos(w0), g, 1.0, -2.0 * g * math.cos(w0), 2.0 * g - 1.0]])


def _check_band(f: float, fs: float) -> None:
    if not 0.0 < f < fs / 2.0:
        raise ValueError(f"a filter edge of {f:g} Hz must lie between 0 and the Nyquist frequency "
                         f"({fs / 2.0:g} Hz at {fs:g} SPS)")


def _state_space(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) of one section in direct form II transposed: z' = A z + B x, y = z[0] + b0 x."""
    b0, b1, b2, _, a1, a2 = s / s[3]  # normalised: a0 = 1
    return np.array([[-a1, 1.0], [-a2, 0.0]]), np.array([b1 - a1 * b0, b2 - a2 * b0])


def sos_zi(sos: np.ndarray) -> np.ndarray:
    """Each section's state after a long run of ones (= ``sosfilt_zi``): scaled by the input's
    level, the cascade starts settled instead of ringing up from zero."""
    zi = np.zeros((len(sos), 2))
    scale = 1.0
    for i, s in enumerate(sos):
        a, b = _state_space(s)
        zi[i] = scale * np.linalg.solve(np.eye(2) - a, b)
        scale *= s[:3].sum() / s[3:].sum()
    return zi


class _System:
    """A linear system's block response, precomputed for blocks of up to CHUNK samples: state
    ``z`` (n,), ``z' = A z + B x``, ``y = C z + D x``. One biquad is n = 2; a cascade of biquads is
    one system of their stacked states (:func:`_cascade`), so a whole filter chain costs one
    Toeplitz product per chunk instead of one per section."""

    def __init__(self, a: np.ndarray, b: np.ndarray, c: np.ndarray, d: float) -> None:
        n = len(b)
        powers = np.empty((CHUNK + 1, n, n))
        powers[0] = np.eye(n)
        for m in range(CHUNK):
            powers[m + 1] = a @ powers[m]
        self.powers = powers                     # A^m
        self.free = powers[:CHUNK].transpose(0, 2, 1) @ c  # C A^m: the state's effect on output m
        self.drive = powers[:CHUNK] @ b          # A^m B: input j's effect on the state m steps on
        self.h = np.concatenate([[d], self.drive[:CHUNK - 1] @ c])  # impulse response
        self._toeplitz: np.ndarray | None = None  # built on the first long signal only

    def run(self, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = np.empty_like(x)
        start = 0
        full = len(x) // CHUNK
        if full >= 4:  # a long signal (offline analysis): every chunk's response in two matmuls
            start = full * CHUNK
            z = self._run_chunks(x[:start].reshape(full, CHUNK), z, y[:start].reshape(full, CHUNK))
        for a in range(start, len(x), CHUNK):
            xs = x[a:a + CHUNK]
            n = len(xs)
            y[a:a + n] = np.convolve(xs, self.h[:n])[:n] + self.free[:n] @ z
            z = self.powers[n] @ z + xs @ self.drive[n - 1::-1]
        return y, z

    def _run_chunks(self, xs: np.ndarray, z: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Whole chunks: zero-state responses through a lower-triangular Toeplitz matrix of the
        impulse response, the chunk-to-chunk state recursion in a short loop, then each chunk's
        free response from its starting state."""
        if self._toeplitz is None:
            i = np.arange(CHUNK)
            lag = i[:, None] - i[None, :]
            self._toeplitz = np.where(lag >= 0, self.h[np.clip(lag, 0, None)], 0.0)
        pushed = xs @ self.drive[::-1]  # each chunk's input carried into the state at its end
        starts = np.empty((len(xs), len(z)))
        a_n = self.powers[CHUNK]
        for c in range(len(xs)):
            starts[c] = z
            z = a_n @ z + pushed[c]
        np.matmul(xs, self._toeplitz.T, out=out)
        out += starts @ self.free.T
        return z


def _cascade(sos: np.ndarray) -> _System:
    """Biquads in series as one system. Section i's input is section i−1's output
    ``y = G z + E x`` (G, E built up section by section), so its state equation gains
    ``B_i G`` on the states before it; the states stacked are each section's own DF2T state."""
    n = 2 * len(sos)
    a = np.zeros((n, n))
    b = np.zeros(n)
    g = np.zeros(n)  # the running output's dependence on the states so far
    e = 1.0          # ... and on the input
    for i, s in enumerate(sos):
        ai, bi = _state_space(np.asarray(s, float))
        d = float(s[0] / s[3])
        k = 2 * i
        a[k:k + 2, :k] = np.outer(bi, g[:k])
        a[k:k + 2, k:k + 2] = ai
        b[k:k + 2] = bi * e
        g[:k] *= d
        g[k] = 1.0  # y_i = z_i[0] + d u_i
        e *= d
    return _System(a, b, g, e)


class SosFilter:
    """A cascade of second-order sections with its state kept between blocks, so a signal
    filtered in any chunking gives the same output (to rounding) as filtered whole."""

    def __init__(self, sos: np.ndarray) -> None:
        self.sos = np.atleast_2d(np.asarray(sos, float))
        self._system = _cascade(self.sos)
        self.zi: np.ndarray | None = None  # (sections, 2); None until set or first block

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, float)
        if self.zi is None:
            self.zi = np.zeros((len(self.sos), 2))
        if len(x) == 0:
            return x.copy()
        y, z = self._system.run(x, np.asarray(self.zi, float).reshape(-1))
        self.zi = z.reshape(len(self.sos), 2)
        return y


def sosfilt(sos: np.ndarray, x: np.ndarray, zi: np.ndarray | None = None) -> np.ndarray:
    """Filter a whole signal (from rest, or from ``zi``)."""
    f = SosFilter(sos)
    if zi is not None:
        f.zi = np.asarray(zi, float)
    return f(x)

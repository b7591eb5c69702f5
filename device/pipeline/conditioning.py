"""Causal, stateful conditioning of one channel: raw samples in, a slow 'activity' signal out.

Every conditioner carries its filter state (``iir.SosFilter``) and decimation phase between blocks,
so feeding a recording in any chunking gives exactly the same output as feeding it whole. The
output runs at ``fs / q`` (about 100 Hz), fast enough for 10 ms onset resolution and slow enough
that the detector's per-sample logic costs little on a Pi Zero.

Named after NeuroKit2's ``emg_clean``/``emg_amplitude`` steps, but causal: the live path cannot
look ahead, and offline analysis must give the live answer.
"""
from __future__ import annotations

import math

import numpy as np

from device.errors import N_, InputError
from device.pipeline import iir

#: Target rate of the activity signal the detector works on.
ACTIVITY_RATE_HZ = 100.0
#: Pressure/displacement low-pass: keeps quick flicks (0.3–0.6 s), removes sensor noise.
PRESSURE_LOWPASS_HZ = 8.0
#: EMG band and RMS-envelope smoothing (resolves flicks, ~35 ms group delay).
EMG_BAND_HZ = (20.0, 450.0)
EMG_ENVELOPE_HZ = 6.0
EMG_MIN_RATE_HZ = 100.0
MAINS_HZ = (50.0, 60.0)


def decimation_factor(fs: float) -> int:
    return max(1, int(round(fs / ACTIVITY_RATE_HZ)))


def _lowpass_delay(fc: float) -> float:
    """Low-frequency group delay of a 2nd-order Butterworth low-pass (√2 / 2πfc)."""
    return math.sqrt(2.0) / (2.0 * math.pi * fc)


class Conditioner:
    """Base: holds the decimator; subclasses fill ``_filter`` (block in, full-rate activity out)."""

    delay_s: float = 0.0

    def __init__(self, fs: float):
        self.fs = float(fs)
        self.q = decimation_factor(fs)
        self._phase = 0  # index in the next block of the next sample to keep

    def process(self, x: np.ndarray) -> np.ndarray:
        y = self._filter(np.asarray(x, dtype=float))
        out = y[self._phase::self.q]
        self._phase = (self._phase - len(y)) % self.q
        return out

    def keep_index(self, n: int) -> np.ndarray:
        """Indices (within a block of n raw samples) that ``process`` keeps — same phase rule."""
        return np.arange(self._phase, n, self.q)

    def _filter(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class _SosChain(iir.SosFilter):
    """A cascade of second-order sections with its state kept across blocks, started settled at
    the first value (no start-up transient) unless a state is set first."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.zi is None and len(x):
            self.zi = iir.sos_zi(self.sos) * x[0]
        return super().__call__(x)


class PressureConditioner(Conditioner):
    """Pressure (or displacement): anti-alias low-pass and decimate; the level itself is kept."""

    def __init__(self, fs: float):
        super().__init__(fs)
        fc = min(PRESSURE_LOWPASS_HZ, 0.3 * self.fs)  # at 8 SPS the Nyquist limit wins
        self.delay_s = _lowpass_delay(fc)
        self._lp = _SosChain(iir.butter_lowpass(fc, self.fs))

    def _filter(self, x: np.ndarray) -> np.ndarray:
        return self._lp(x)


def emg_band_sos(fs: float) -> np.ndarray:
    """The surface-EMG band (20–450 Hz, within Nyquist) with notches at the mains and its
    harmonics: what is muscle in a raw recording (the live envelope and the assessments' measures)."""
    nyq = fs / 2
    hi = min(EMG_BAND_HZ[1], 0.9 * nyq)
    sos = [iir.butter_bandpass(EMG_BAND_HZ[0], hi, fs)]
    for f0 in MAINS_HZ:
        for h in (1, 2, 3):  # hum and its harmonics within the band
            f = f0 * h
            if f < 0.95 * nyq and f <= hi:
                sos.append(iir.notch(f, 30.0, fs))
    return np.vstack(sos)


class EmgConditioner(Conditioner):
    """Raw sEMG → band-pass 20–450 Hz (within Nyquist) → mains notches → RMS envelope."""

    def __init__(self, fs: float):
        super().__init__(fs)
        if self.fs < EMG_MIN_RATE_HZ:
            raise InputError(N_("raw EMG sampled at {fs:.4g} Hz cannot be analysed: its band starts at 20 Hz, so at "
                                "least {emg_min_rate_hz:g} SPS is needed"), fs=self.fs, emg_min_rate_hz=EMG_MIN_RATE_HZ)
        self._band = _SosChain(emg_band_sos(self.fs))
        self._env = _SosChain(iir.butter_lowpass(EMG_ENVELOPE_HZ, self.fs))
        self.delay_s = _lowpass_delay(EMG_ENVELOPE_HZ)

    def _filter(self, x: np.ndarray) -> np.ndarray:
        if self._band.zi is None and len(x):
            self._band.zi = np.zeros((self._band.sos.shape[0], 2))  # band-pass starts from zero
        y = self._band(x)
        if self._env.zi is None and len(x):
            self._env.zi = np.zeros((self._env.sos.shape[0], 2))
        p = self._env(y * y)
        return np.sqrt(np.maximum(p, 0.0))


def make_conditioner(modality: str, fs: float) -> Conditioner:
    if modality == "emg":
        return EmgConditioner(fs)
    return PressureConditioner(fs)

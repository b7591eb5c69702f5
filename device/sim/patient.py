"""A simulated patient at the physiotherapist's side, acting when cued, for the emulated device.

The signal cannot be planned up front (the workflow waits for drift to settle, repeats what the
physio rejects), so it is rendered on demand in short chunks, in time order, from the cues given
so far: before :meth:`SimulatedPatient.insert` the probes sit on the physio's bench reference
(a water column or manometer; for EMG a signal calibrator), afterwards they are in the patient at
rest — resting pressure, balloon-warming drift, respiration, noise — plus every squeeze, strain and
cough she was cued to make. The physiology is the simulator's (``simulate.py``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from device.errors import InputError
from device.pipeline import iir
from device.sim.simulate import (
    PATIENT_KEYS,
    Scenario,
    Squeeze,
    _cough,
    _raised_cosine,
    squeeze_envelopes,
    squeeze_pressures,
    squeeze_profile,
)

CHUNK_S = 0.05
RENDER_HZ = {"pressure": 250.0, "emg": 2000.0}
REACTION_S = 0.4        # from a cue to the start of the action (never inside a rendered chunk)
BENCH_SETTLE_S = 0.5    # the reference pressure is reached this long after it is applied
EMG_REF_HZ = 100.0      # the calibrator's sine
AMP_NOISE_UV = 0.4      # the EMG front end's own noise (inputs shorted), µV RMS


@dataclass
class _Action:
    start: float
    end: float
    kind: str           # squeeze | valsalva | cough
    squeeze: Squeeze | None = None

    @property
    def squeezed(self) -> Squeeze:
        """The squeeze of a squeeze or Valsalva action (a cough has none)."""
        assert self.squeeze is not None, f"a {self.kind} action has no squeeze"
        return self.squeeze
    seed: int = 0
    amp: float = 0.0
    width: float = 0.0


class SimulatedPatient:
    """``signal(role)`` gives each channel's value (in its unit) as a function of time, for
    ``drivers.rig.emulated``; the cue methods make her act ``REACTION_S`` after ``now``."""

    def __init__(self, modality: str = "pressure", patient: dict | None = None, seed: int = 1,
                 roles: tuple[str, ...] = ("pelvic", "abdominal"), drift_tau_s: float | None = None) -> None:
        self.modality, self.roles, self.seed = modality, tuple(roles), seed
        self.sc = Scenario(modality=modality, abdominal="abdominal" in roles)
        for k, v in (patient or {}).items():
            if k not in PATIENT_KEYS:
                raise InputError(f"unknown patient key {k!r}; allowed: {', '.join(PATIENT_KEYS)}")
            setattr(self.sc, k, v)
        self.rng = np.random.default_rng(seed)
        self.fs = RENDER_HZ[modality]
        self.drift_tau_s = drift_tau_s or float(self.rng.uniform(60, 150))
        self.resp_hz = float(self.rng.uniform(0.15, 0.35))
        self.resp_phase = float(self.rng.uniform(0, 2 * math.pi))
        self.mains_amp = float(self.rng.uniform(2, 8))
        self.reference: list[tuple[float, float]] = [(-1.0, 0.0)]
        self.inserted_at: float | None = None
        self.actions: list[_Action] = []
        self._chunks: dict[int, dict[str, np.ndarray]] = {}
        self._next_chunk = 0
        self._noise_rng = np.random.default_rng(seed + 1)
        hi = min(250.0, 0.45 * self.fs)
        self._band = {r: iir.SosFilter(iir.butter_bandpass(20.0, hi, self.fs)) for r in self.roles}
        self._gain = math.sqrt(self.fs / 2 / (hi - 20.0))  # white unit noise → ~unit RMS in band

    # --- cues -------------------------------------------------------------------------------
    def apply_reference(self, value: float, now: float) -> None:
        """Bench: the reference on every probe — pressure in the channel's unit, or for EMG the
        calibrator's sine amplitude in µV RMS (0 = inputs shorted)."""
        self.reference.append((now + REACTION_S, float(value)))

    def insert(self, now: float) -> None:
        """The probes go in; the patient lies at rest (the balloon starts warming)."""
        self.inserted_at = now + REACTION_S

    def squeeze(self, now: float, kind: str = "lift", strength: float = 0.8, hold_s: float = 3.0) -> Squeeze:
        """A contraction of ``kind`` (lift, accessory, bear_down) at ``strength`` × MVC."""
        sq = Squeeze(onset_s=now + REACTION_S + float(self.rng.uniform(0.0, 0.3)), hold_s=hold_s,
                     strength=strength, rise_s=float(self.rng.uniform(0.4, 0.9)),
                     release_s=float(self.rng.uniform(0.3, 0.6)), kind=kind,
                     fatigue=float(self.rng.uniform(0.05, 0.2)))
        self.actions.append(_Action(sq.onset_s, sq.end_s, "squeeze", sq, int(self.rng.integers(1 << 31))))
        return sq

    def valsalva(self, now: float, hold_s: float = 3.0) -> Squeeze:
        """A maximal strain: the abdomen at 92–100 % of its maximum (the abdominal reference)."""
        sq = Squeeze(onset_s=now + REACTION_S, hold_s=hold_s, strength=1.0, rise_s=0.8, release_s=0.6,
                     kind="bear_down", fatigue=0.05)
        self.actions.append(_Action(sq.onset_s, sq.end_s, "valsalva", sq, int(self.rng.integers(1 << 31)),
                                    amp=float(self.rng.uniform(0.92, 1.0))))
        return sq

    # --- rendering --------------------------------------------------------------------------
    def signal(self, role: str):
        """The channel's value at time t (sampled from the rendered chunk holding t)."""
        if role not in self.roles:
            raise InputError(f"no {role!r} channel; this patient has {', '.join(self.roles)}")

        def value(t: float) -> float:
            c = int(t // CHUNK_S)
            x = self._chunk(c)[role]
            return float(x[min(int((t - c * CHUNK_S) * self.fs), len(x) - 1)])
        return value

    def _chunk(self, c: int) -> dict[str, np.ndarray]:
        while self._next_chunk <= c:
            self._chunks[self._next_chunk] = self._render(self._next_chunk)
            self._chunks.pop(self._next_chunk - 40, None)
            self._next_chunk += 1
        if c not in self._chunks:  # far in the past (never happens in time order): re-render
            return self._render(c)
        return self._chunks[c]

    def _render(self, c: int) -> dict[str, np.ndarray]:
        n = int(round(CHUNK_S * self.fs))
        t = c * CHUNK_S + np.arange(n) / self.fs
        if self.modality == "emg":
            return self._render_emg(t)
        sc = self.sc
        bench = self._bench(t)
        out = {}
        body = self.inserted_at is not None and t[-1] >= self.inserted_at
        if body:
            assert self.inserted_at is not None
            since = np.maximum(t - self.inserted_at, 0.0)
            resp = sc.respiration_amp * np.sin(2 * np.pi * self.resp_hz * t + self.resp_phase)
            pel = sc.pelvic_rest + sc.drift * (1.0 - np.exp(-since / self.drift_tau_s)) + resp
            abd = resp * 1.0
            for a in self._live(t):
                rng = np.random.default_rng(a.seed)
                if a.kind == "squeeze":
                    p_, a_, _, _ = squeeze_pressures(t, a.squeezed, sc, rng)
                elif a.kind == "valsalva":
                    prof = squeeze_profile(t, a.squeezed, a.amp * sc.abdominal_mvc)
                    p_, a_ = float(rng.uniform(*sc.bear_follow)) * prof, prof
                else:
                    a_ = a.amp * _cough(t, a.start + 0.3, a.width)
                    p_ = 0.7 * a_
                pel = pel + p_
                abd = abd + a_
            abd = sc.abdominal_rest + sc.abd_transmission * abd
            inside = t >= self.inserted_at
        for role in self.roles:
            x = bench + 0.3 * sc.noise * self._noise_rng.standard_normal(n)
            if body:
                x = np.where(inside, (pel if role == "pelvic" else abd)
                             + sc.noise * self._noise_rng.standard_normal(n), x)
            out[role] = x
        return out

    def _bench(self, t: np.ndarray) -> np.ndarray:
        """The reference level: each new value reached over BENCH_SETTLE_S (raised cosine)."""
        y = np.full_like(t, self.reference[0][1])
        for (_, prev), (ts, v) in zip(self.reference, self.reference[1:]):
            y = np.where(t >= ts, prev + (v - prev) * _raised_cosine((t - ts) / BENCH_SETTLE_S), y)
        return y

    def _live(self, t: np.ndarray) -> list[_Action]:
        return [a for a in self.actions if a.start <= t[-1] and a.end + 1.0 >= t[0]]

    def _render_emg(self, t: np.ndarray) -> dict[str, np.ndarray]:
        sc = self.sc
        n = len(t)
        body = self.inserted_at is not None and t[-1] >= self.inserted_at
        env = {"pelvic": np.full(n, sc.pelvic_rest), "abdominal": np.full(n, sc.abdominal_rest)}
        for a in self._live(t) if body else ():
            rng = np.random.default_rng(a.seed)
            if a.kind == "squeeze":
                p_, a_, _ = squeeze_envelopes(t, a.squeezed, sc, rng)
            elif a.kind == "valsalva":
                a_ = squeeze_profile(t, a.squeezed, a.amp * (sc.abdominal_mvc - sc.abdominal_rest))
                p_ = 0.03 * a_
            else:
                a_ = float(rng.uniform(100, 250)) * _cough(t, a.start + 0.3, a.width * 0.7)
                p_ = 0.1 * a_
            env["pelvic"] = env["pelvic"] + p_
            env["abdominal"] = env["abdominal"] + a_
        # the calibrator on the bench (amplitude in µV RMS), rendered with its own phase
        ref = self._bench(t) * math.sqrt(2) * np.sin(2 * np.pi * EMG_REF_HZ * t)
        hum = self.mains_amp * np.sin(2 * np.pi * sc.mains_hz * t)
        out = {}
        for role in self.roles:
            w = self._noise_rng.standard_normal(n)
            bp = self._band[role](w)  # from rest, state carried across chunks
            muscle = env[role] * bp * self._gain + hum
            amp_noise = AMP_NOISE_UV * self._noise_rng.standard_normal(n)
            x = ref + amp_noise
            if body:
                x = np.where(t >= self.inserted_at, muscle + amp_noise, x)
            out[role] = x
        return out

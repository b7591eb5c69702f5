"""The calibration's maths, apart from the dialogue: pure functions of what was measured, each
refusing a result that cannot be trusted with a :class:`CalibrationError` that says why and what
to check. ``calibration.workflow`` asks, measures and reports; these decide.

- :func:`fit_pressure` — the two-point span of a pressure sensor (gain and offset) against a
  reference, checked for saturation-free span, sensitivity and the middle point's linearity;
- :func:`fit_emg` — an EMG front end's gain from a sine calibrator at two amplitudes and its noise
  floor with the inputs shorted;
- :func:`drift_per_s` and :data:`DRIFT_SETTLED` — whether balloon warming has settled;
- :func:`best_mvc` — the MVC as the best valid attempt, refused under the noise;
- the personal lift / bear-down model is :func:`device.pipeline.kinds.fit`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from calibration.profile import SensorTransfer
from device.config import ChannelConfig
from device.errors import N_, CalibrationError
from drivers.ads import FULL_SCALE_V

MIN_REF_SPAN = {"cmH2O": 20.0, "mmHg": 15.0}   # a squeeze reaches 30–50 cmH2O; calibrate over most of it
MIN_STEP_LSB = 200          # the span must move the ADC by at least this many codes
SENSITIVITY_RANGE = (0.5, 2.0)  # measured / specified sensitivity
LINEARITY_PCT = 2.0         # middle point's deviation from the two-point line, % of the span
EMG_MIN_REF_UV = 50.0
EMG_MAX_NOISE_UV = 3.0      # a relaxed pelvic floor reads < 4 µV: the amplifier must be quieter
DRIFT_SETTLED = {"cmH2O": 0.03, "mmHg": 0.022}  # per second (≈ 1.8 cmH2O/min)
MVC_MIN_SPREADS = 6.0       # an MVC must rise this many resting spreads above rest ...
EMG_MVC_MIN_NOISE = 3.0     # ... and (EMG) this many times the noise floor


@dataclass(frozen=True)
class Reference:
    """One reference applied to every channel: its value, and per channel the median and the
    standard deviation of the volts read while it was held."""

    value: float
    volts: np.ndarray
    sd: np.ndarray


@dataclass(frozen=True)
class Sine:
    """The sine calibrator at one amplitude (µV RMS): per channel the variance of the volts read
    (its power, the inputs' noise included)."""

    amplitude_uv: float
    var_v2: np.ndarray


@dataclass(frozen=True)
class Fitted:
    """One channel's fitted transfer and how it compares with the channel's specification."""

    transfer: SensorTransfer
    relative: float  # measured / specified sensitivity


def fit_pressure(low: Reference, high: Reference, middle: Reference, channels: Sequence[ChannelConfig],
                 unit: str) -> dict[str, Fitted]:
    """Gain and offset per channel from the low and high references; the middle one checks the
    line. Refused: a span too small (in the unit, in ADC codes, or under half the specified
    sensitivity: a leak or a closed tap), a sensitivity over twice the specification (a wrong
    reference value), a middle reference not well between, or more than LINEARITY_PCT off."""
    p_lo, p_hi, p_mid = low.value, high.value, middle.value
    if p_hi - p_lo < MIN_REF_SPAN[unit]:
        raise CalibrationError(N_("span too small: the references are {value:g} {unit} apart; at least {value2:g} "
                                  "{unit} is needed (a squeeze reaches 30–50 cmH2O)"),
                               value=p_hi - p_lo, unit=unit, value2=MIN_REF_SPAN[unit])
    if not p_lo + 0.2 * (p_hi - p_lo) <= p_mid <= p_hi - 0.2 * (p_hi - p_lo):
        raise CalibrationError(N_("the middle reference ({p_mid:g} {unit}) must lie well between the low ({p_lo:g}) "
                                  "and the high ({p_hi:g}) ones to check linearity"),
                               p_mid=p_mid, unit=unit, p_lo=p_lo, p_hi=p_hi)
    out: dict[str, Fitted] = {}
    for i, c in enumerate(channels):
        v_lo, v_hi, v_mid = low.volts[i], high.volts[i], middle.volts[i]
        vpu = float((v_hi - v_lo) / (p_hi - p_lo))
        lsb = FULL_SCALE_V[c.gain] / 32768
        rel = vpu / c.volts_per_unit
        if abs(v_hi - v_lo) < MIN_STEP_LSB * lsb or rel < SENSITIVITY_RANGE[0]:
            raise CalibrationError(
                N_("{role}: span too small: {value:g} {unit} moved the sensor by only {value2:.1f} mV ({rel:.2f}× "
                   "its specified {value3:.2f} mV/{unit}); check for a leak, a closed tap or a wrong reference value"),
                role=c.role, value=p_hi - p_lo, unit=unit, value2=1000 * (v_hi - v_lo), rel=rel,
                value3=1000 * c.volts_per_unit)
        if rel > SENSITIVITY_RANGE[1]:
            raise CalibrationError(N_("{role}: the sensor responds {rel:.2f}× its specification ({value:.2f} vs "
                                      "{value2:.2f} mV/{unit}); check the reference values entered"),
                                   role=c.role, rel=rel, value=1000 * vpu, value2=1000 * c.volts_per_unit, unit=unit)
        off = float(v_lo - vpu * p_lo)
        mid_read = (v_mid - off) / vpu
        dev = 100 * abs(mid_read - p_mid) / (p_hi - p_lo)
        if dev > LINEARITY_PCT:
            raise CalibrationError(N_("{role}: non-linear: the middle reference {p_mid:g} {unit} reads "
                                      "{mid_read:.1f} {unit}, {dev:.1f} % of the span off the line (allowed "
                                      "{linearity_pct:g} %); check the reference and the sensor"),
                                   role=c.role, p_mid=p_mid, unit=unit, mid_read=mid_read, dev=dev,
                                   linearity_pct=LINEARITY_PCT)
        refs = (low, high, middle)
        noise = float(max(r.sd[i] for r in refs) / abs(vpu))
        out[c.role] = Fitted(SensorTransfer(unit, vpu, off, round(dev, 3), round(noise, 4),
                                            [[float(r.value), round(float(r.volts[i]), 6)] for r in refs]), rel)
    return out


def fit_emg(shorted_mean: np.ndarray, shorted_sd: np.ndarray, high: Sine, middle: Sine,
            channels: Sequence[ChannelConfig]) -> dict[str, Fitted]:
    """Gain per channel in V/µV from the calibrator's RMS at the high amplitude (the shorted
    noise taken off in quadrature), checked at the middle one; the offset and the noise floor from
    the shorted inputs (their mean and standard deviation in volts)."""
    a_hi, a_mid = high.amplitude_uv, middle.amplitude_uv
    if a_hi < EMG_MIN_REF_UV or a_mid >= a_hi:
        raise CalibrationError(N_("span too small: the high amplitude must be at least {emg_min_ref_uv:g} µV and "
                                  "above the middle one (got {a_hi:g} and {a_mid:g} µV)"),
                               emg_min_ref_uv=EMG_MIN_REF_UV, a_hi=a_hi, a_mid=a_mid)
    r_hi = np.sqrt(np.maximum(high.var_v2 - shorted_sd ** 2, 0.0))
    r_mid = np.sqrt(np.maximum(middle.var_v2 - shorted_sd ** 2, 0.0))
    out: dict[str, Fitted] = {}
    for i, c in enumerate(channels):
        vpu = float(r_hi[i] / a_hi)
        rel = vpu / c.volts_per_unit
        if rel < SENSITIVITY_RANGE[0] or r_hi[i] < 10 * shorted_sd[i]:
            raise CalibrationError(N_("{role}: span too small: {a_hi:g} µV read as {value:.1f} µV ({rel:.2f}× the "
                                      "specified gain); check the calibrator leads"),
                                   role=c.role, a_hi=a_hi, value=r_hi[i] / c.volts_per_unit, rel=rel)
        if rel > SENSITIVITY_RANGE[1]:
            raise CalibrationError(N_("{role}: the gain is {rel:.2f}× its specification; check the amplitude entered"),
                                   role=c.role, rel=rel)
        dev = 100 * abs(r_mid[i] / vpu - a_mid) / a_hi
        if dev > LINEARITY_PCT:
            raise CalibrationError(N_("{role}: non-linear: {a_mid:g} µV reads {value:.1f} µV, {dev:.1f} % of the "
                                      "span off (allowed {linearity_pct:g} %)"),
                                   role=c.role, a_mid=a_mid, value=r_mid[i] / vpu, dev=dev, linearity_pct=LINEARITY_PCT)
        floor = float(shorted_sd[i] / vpu)
        if floor > EMG_MAX_NOISE_UV:
            raise CalibrationError(N_("{role}: noise floor {floor:.2f} µV RMS is too high (allowed ≤ "
                                      "{emg_max_noise_uv:g}; a relaxed pelvic floor reads < 4 µV); check the cable "
                                      "and the ground"), role=c.role, floor=floor, emg_max_noise_uv=EMG_MAX_NOISE_UV)
        out[c.role] = Fitted(SensorTransfer("uV", vpu, float(shorted_mean[i]), round(dev, 3), round(floor, 4),
                                            [[0.0, 0.0], [a_mid, round(float(r_mid[i]), 7)],
                                             [a_hi, round(float(r_hi[i]), 7)]]), rel)
    return out


def drift_per_s(t: np.ndarray, x: np.ndarray) -> float:
    """The level's drift in its unit per second: the least-squares slope over the window."""
    return float(np.polyfit(t - t[0], x, 1)[0])


def best_mvc(peaks: Sequence[float], rest_sd: float, unit: str, emg: bool = False,
             noise_floor: float | None = None) -> float:
    """The MVC as a rise above rest: the best of the valid attempts' peaks (bear-downs left out by
    the caller). Refused when it is not clearly above the resting noise: MVC_MIN_SPREADS resting
    spreads and, for EMG with a measured noise floor, EMG_MVC_MIN_NOISE times that floor."""
    need = MVC_MIN_SPREADS * rest_sd
    if emg and noise_floor is not None:
        need = max(need, EMG_MVC_MIN_NOISE * noise_floor)
    best = max(peaks, default=0.0)
    if best <= need:
        why = N_("MVC below noise: the best squeeze rose {best:.2f} {unit} above rest; at least {need:.2f} {unit} is "
                 "needed ({spreads:g}× the resting spread {rest_sd:.2f}, 3× the EMG noise floor). Check the probe's "
                 "contact and coach the squeeze, then repeat") if emg else \
            N_("MVC below noise: the best squeeze rose {best:.2f} {unit} above rest; at least {need:.2f} {unit} is "
               "needed ({spreads:g}× the resting spread {rest_sd:.2f}). Check the probe's contact and coach the "
               "squeeze, then repeat")
        raise CalibrationError(why, best=best, unit=unit, need=need, spreads=MVC_MIN_SPREADS, rest_sd=rest_sd)
    return best

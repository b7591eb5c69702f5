"""The calibration maths on their own (``calibration.fit``): known inputs, exact answers, and each
refusal with the reason the physiotherapist reads."""
from __future__ import annotations

import numpy as np
import pytest

from calibration.fit import LINEARITY_PCT, Reference, Sine, best_mvc, drift_per_s, fit_emg, fit_pressure
from device.config import default_config
from device.errors import CalibrationError
from device.pipeline.kinds import decide, fit

PRESSURE = default_config("pressure", abdominal=True).channels
EMG = default_config("emg", abdominal=True).channels


def _ref(value: float, vpu: tuple[float, ...], off: tuple[float, ...], sd: float = 1e-4, bend: float = 0.0) -> Reference:
    """What a sensor with this transfer reads at ``value`` (``bend``: volts added, non-linearity)."""
    volts = np.array([o + v * value + bend for v, o in zip(vpu, off)])
    return Reference(value, volts, np.full(len(vpu), sd))


def test_pressure_fit_recovers_gain_offset_and_linearity():
    vpu, off = (0.009, 0.0095), (0.21, 0.19)
    got = fit_pressure(_ref(0, vpu, off), _ref(60, vpu, off), _ref(30, vpu, off, bend=0.0054 * 0.5),
                       PRESSURE, "cmH2O")
    for f, v, o, spec in zip(got.values(), vpu, off, (c.volts_per_unit for c in PRESSURE)):
        t = f.transfer
        assert t.unit == "cmH2O" and t.volts_per_unit == pytest.approx(v) and t.offset_v == pytest.approx(o)
        assert f.relative == pytest.approx(v / spec)
        assert t.points[0] == [0.0, pytest.approx(o)] and len(t.points) == 3
        assert t.noise == pytest.approx(1e-4 / v, abs=1e-4)  # stored to 4 decimals
    # 2.7 mV off at the middle: 0.3 cmH2O on channel 1, 0.5 % of the 60 cmH2O span
    assert got["pelvic"].transfer.linearity_pct == pytest.approx(100 * 0.0027 / 0.009 / 60, abs=1e-3)


@pytest.mark.parametrize("refs, message", [
    ((0, 15, 8), "span too small: the references are 15 cmH2O apart"),
    ((0, 60, 5), "must lie well between"),
])
def test_pressure_fit_refuses_bad_references(refs, message):
    vpu, off = (0.009, 0.009), (0.2, 0.2)
    with pytest.raises(CalibrationError, match=message):
        fit_pressure(*(_ref(r, vpu, off) for r in refs), PRESSURE, "cmH2O")


def test_pressure_fit_refuses_a_leak_a_wrong_value_and_a_bent_sensor():
    spec = PRESSURE[0].volts_per_unit
    leak = (0.3 * spec, spec)
    with pytest.raises(CalibrationError, match="pelvic: span too small.*leak"):
        fit_pressure(_ref(0, leak, (0.2, 0.2)), _ref(60, leak, (0.2, 0.2)), _ref(30, leak, (0.2, 0.2)), PRESSURE, "cmH2O")
    steep = (spec, 2.5 * spec)
    with pytest.raises(CalibrationError, match=r"abdominal: the sensor responds 2\.50× its specification"):
        fit_pressure(_ref(0, steep, (0.2, 0.2)), _ref(60, steep, (0.2, 0.2)), _ref(30, steep, (0.2, 0.2)), PRESSURE, "cmH2O")
    vpu = (spec, spec)
    bend = (LINEARITY_PCT + 0.5) / 100 * 60 * spec  # just over the limit at the middle point
    with pytest.raises(CalibrationError, match="pelvic: non-linear"):
        fit_pressure(_ref(0, vpu, (0.2, 0.2)), _ref(60, vpu, (0.2, 0.2)), _ref(30, vpu, (0.2, 0.2), bend=bend),
                     PRESSURE, "cmH2O")


def _sine(amp: float, vpu: float, noise_v: float) -> Sine:
    return Sine(amp, np.full(2, (vpu * amp) ** 2 + noise_v ** 2))


def test_emg_fit_takes_the_noise_off_in_quadrature():
    vpu, noise_v = 0.00105, 1e-3  # 1.05 mV/µV; 1 mV RMS of noise = 0.95 µV
    got = fit_emg(np.full(2, 1.65), np.full(2, noise_v), _sine(500, vpu, noise_v), _sine(100, vpu, noise_v), EMG)
    t = got["pelvic"].transfer
    assert t.volts_per_unit == pytest.approx(vpu) and t.offset_v == pytest.approx(1.65)
    assert t.noise == pytest.approx(noise_v / vpu, abs=1e-4) and t.linearity_pct == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize("noise_v, high, message", [
    (1e-3, 40, "the high amplitude must be at least 50"),
    (4e-3, 500, r"noise floor 4\.00 µV RMS is too high"),
])
def test_emg_fit_refusals(noise_v, high, message):
    with pytest.raises(CalibrationError, match=message):
        fit_emg(np.full(2, 1.65), np.full(2, noise_v), _sine(high, 0.001, noise_v), _sine(20, 0.001, noise_v), EMG)


def test_drift_is_the_least_squares_slope():
    t = np.arange(0, 20, 0.01)
    x = 40 + 0.05 * t + 0.3 * np.cos(2 * np.pi * 0.25 * t)  # whole breaths: no slope of their own
    assert drift_per_s(t + 100, x) == pytest.approx(0.05, abs=2e-3)


def test_mvc_is_the_best_attempt_above_the_noise():
    assert best_mvc([31.0, 36.5, 30.0], rest_sd=0.4, unit="cmH2O") == 36.5
    with pytest.raises(CalibrationError, match=r"MVC below noise: the best squeeze rose 2\.00 cmH2O .* at least 2\.40"):
        best_mvc([2.0], rest_sd=0.4, unit="cmH2O")
    with pytest.raises(CalibrationError, match="3× the EMG noise floor"):  # the floor, not the spread, decides
        best_mvc([5.0], rest_sd=0.1, unit="uV", emg=True, noise_floor=2.0)
    with pytest.raises(CalibrationError):
        best_mvc([], rest_sd=0.1, unit="cmH2O")


def test_kind_model_fit_separates_her_examples():
    """The personal model (``kinds.fit``) moves to a patient whose reference sees little."""
    lifts = [("lift", {"abd_ratio": r, "abd_rise": 1.0, "pel_rise": 30.0}) for r in (0.02, 0.05, 0.04)]
    bears = [("bear_down", {"abd_ratio": r, "abd_rise": 20.0, "pel_rise": 20.0}) for r in (0.6, 0.7, 0.65)]
    model = fit(lifts + bears)
    assert [decide(f, model) for _, f in lifts + bears] == ["lift"] * 3 + ["bear_down"] * 3
    assert [decide(f) for _, f in bears] != ["bear_down"] * 3  # the generic rule would miss her bear-downs

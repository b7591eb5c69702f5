"""Issue 20: each assessment parameter measured on a recording made with that value known."""
import numpy as np
import pytest

from device.records import assessment as A
from device.records.assessment import Signal, Window

RATE = 1000.0


def _t(seconds: float, rate: float = RATE) -> np.ndarray:
    return np.arange(int(seconds * rate)) / rate


def test_rms_envelope_of_a_sine_is_its_amplitude_over_root_two():
    t = _t(2)
    env = A.rms_envelope(30.0 * np.sin(2 * np.pi * 80 * t), RATE)
    assert np.median(env[200:-200]) == pytest.approx(30 / np.sqrt(2), rel=0.01)


def test_median_frequency_and_its_slope_through_a_fatiguing_contraction():
    t = _t(2)
    assert A.median_frequency(np.sin(2 * np.pi * 120 * t), RATE) == pytest.approx(120, abs=1.5)
    # a chirp from 150 Hz falling 1 Hz/s over 60 s: the fatigue index is −1 Hz/s
    t = _t(60)
    phase = 2 * np.pi * (150 * t - 0.5 * t * t)
    ts, fs = A.mdf_series(t, np.sin(phase), RATE)
    assert np.polyfit(ts, fs, 1)[0] == pytest.approx(-1.0, abs=0.03)
    assert fs[0] == pytest.approx(149.5, abs=2)


def test_rise_recovery_time_above_and_rises_counted():
    t = _t(6, 100)
    level = np.interp(t, [0, 1, 2, 4, 4.5, 6], [0, 0, 10, 10, 0, 0])  # a 1 s ramp, held, 0.5 s down
    assert A.rise_time(t, level, 0.0) == pytest.approx(0.8, abs=0.02)  # 10 → 90 % of a linear 1 s rise
    assert A.recovery_time(t, level, 0.0, 10.0, 4.0) == pytest.approx(0.45, abs=0.02)
    assert A.time_above(t, level, 5.0) == pytest.approx(2.5 + 0.25, abs=0.02)
    bumps = np.concatenate([np.interp(_t(1, 100), [0, 0.3, 0.6, 1], [0, 10, 0, 0]) for _ in range(7)])
    assert A.count_rises(bumps, 5.0, 2.5) == 7
    jitter = np.array([0, 6, 4.9, 6, 0, 6, 0])  # dips that do not fall below the low mark count once
    assert A.count_rises(jitter, 5.0, 2.5) == 2


def _w(kind, ex, rep, a, b, s=1):
    return Window(kind, ex, s, rep, a, b)


def _emg(levels: list[tuple[float, float, float]], seconds: float) -> Signal:
    """Raw EMG as a 120 Hz carrier whose RMS is ``rms`` over each (start, end, rms) span: its
    envelope is exact, so every level, time and frequency is known."""
    t = _t(seconds)
    rms = np.full(len(t), 1e-3)
    for a, b, r in levels:
        rms[(t >= a) & (t < b)] = r
    raw = np.sqrt(2) * rms * np.sin(2 * np.pi * 120 * t)
    return Signal(t, raw, A.rms_envelope(raw, RATE), RATE, True, "uV", 0.0)


def test_glazer_parameters_from_a_recording_with_known_levels():
    # pre-baseline 4 µV, 5 phasic peaks of 40 µV, 5 tonic holds of 30 µV, endurance 20 µV, post 5 µV
    ws, levels, t = [], [], 0.0
    ws.append(_w("baseline", "pre_baseline", 0, 0, 60))
    levels.append((0, 60, 4.0))
    t = 60
    for r in range(1, 6):
        ws += [_w("get_ready", "phasic", r, t, t + 2), _w("squeeze", "phasic", r, t + 2, t + 3),
               _w("hold", "phasic", r, t + 3, t + 3.5), _w("release", "phasic", r, t + 3.5, t + 4.5),
               _w("rest", "phasic", r, t + 4.5, t + 14.5)]
        levels += [(t + 2.3, t + 3.3, 40.0), (t + 3.3, t + 14.5, 4.0)]
        t += 14.5
    for r in range(1, 6):
        ws += [_w("get_ready", "tonic", r, t, t + 2), _w("squeeze", "tonic", r, t + 2, t + 3),
               _w("hold", "tonic", r, t + 3, t + 13), _w("release", "tonic", r, t + 13, t + 14),
               _w("rest", "tonic", r, t + 14, t + 24)]
        levels += [(t, t + 2.3, 4.0), (t + 2.3, t + 13.1, 30.0), (t + 13.1, t + 24, 4.0)]
        t += 24
    ws += [_w("get_ready", "endurance", 1, t, t + 2), _w("squeeze", "endurance", 1, t + 2, t + 3),
           _w("hold", "endurance", 1, t + 3, t + 63), _w("release", "endurance", 1, t + 63, t + 64),
           _w("rest", "endurance", 1, t + 64, t + 69)]
    levels += [(t + 2.3, t + 63.1, 20.0), (t + 63.1, t + 69, 4.0)]
    t += 69
    ws.append(_w("baseline", "post_baseline", 0, t, t + 60))
    levels.append((t, t + 60, 5.0))
    sig = _emg(levels, t + 61)
    g = A.glazer(sig, ws)
    assert g["pre_baseline"]["mean_uV"] == pytest.approx(4.0, rel=0.03)
    assert g["post_baseline"]["mean_uV"] == pytest.approx(5.0, rel=0.03)
    assert g["phasic"]["n"] == 5 and g["phasic"]["mean_peak_uV"] == pytest.approx(40, rel=0.01)
    assert g["tonic"]["n"] == 5 and g["tonic"]["mean_uV"] == pytest.approx(30, rel=0.03)
    assert g["endurance"]["mean_uV"] == pytest.approx(20, rel=0.03)
    assert g["tonic"]["cv_pct"] < 2 and g["endurance"]["cv_pct"] < 2  # steady holds
    assert g["endurance"]["median_frequency_start_hz"] == pytest.approx(120, abs=1.5)
    assert g["endurance"]["median_frequency_slope_hz_per_s"] == pytest.approx(0.0, abs=0.01)
    # a step up: 10 → 90 % across the RMS window's 0.1 s; down 0.1 s after "let go" plus the window
    assert g["tonic"]["rise_s"] == pytest.approx(0.1, abs=0.02)
    assert g["tonic"]["recovery_s"] == pytest.approx(0.1 + 0.06, abs=0.03)


def test_pressure_assessment_from_a_recording_with_known_values():
    rate = 100.0
    pts_t, pts_v = [0.0], [8.0]  # resting pressure 8 cmH2O

    def seg(a: float, b: float, rise: float) -> None:  # a squeeze from a to b, 0.3 s up and down
        pts_t.extend([a, a + 0.3, b - 0.3, b])
        pts_v.extend([8.0, 8.0 + rise, 8.0 + rise, 8.0])

    ws = [_w("baseline", "resting", 0, 0, 30)]
    t = 30.0
    for r, peak in zip((1, 2, 3), (30.0, 35.0, 32.0)):
        ws += [_w("squeeze", "power", r, t, t + 1), _w("hold", "power", r, t + 1, t + 4),
               _w("release", "power", r, t + 4, t + 5), _w("rest", "power", r, t + 5, t + 15)]
        seg(t + 0.5, t + 4.5, peak)
        t += 15
    ws += [_w("squeeze", "endurance", 1, t, t + 1), _w("hold", "endurance", 1, t + 1, t + 21),
           _w("release", "endurance", 1, t + 21, t + 22), _w("rest", "endurance", 1, t + 22, t + 32)]
    pts_t.extend([t + 0.5, t + 0.6, t + 12.6, t + 12.7])  # above half of 35 for exactly 12 s
    pts_v.extend([8.0, 30.0, 30.0, 8.0])
    t += 32
    for r in range(1, 11):
        ws += [_w("squeeze", "repetitions", r, t, t + 1), _w("hold", "repetitions", r, t + 1, t + 11),
               _w("release", "repetitions", r, t + 11, t + 12), _w("rest", "repetitions", r, t + 12, t + 16)]
        held = 9.0 if r <= 7 else 4.0  # 7 holds kept ≥ 8 s (80 % of 10 s), 3 given up
        pts_t.extend([t + 0.9, t + 1.0, t + 1.0 + held, t + 1.1 + held])
        pts_v.extend([8.0, 30.0, 30.0, 8.0])
        t += 16
    ws += [_w("get_ready", "fast", 0, t, t + 2), _w("free", "fast", 0, t + 2, t + 12),
           _w("release", "fast", 0, t + 12, t + 13), _w("rest", "fast", 0, t + 13, t + 18)]
    for k in range(8):  # 8 fast squeezes in the 10 s
        a = t + 2.2 + 1.2 * k
        pts_t.extend([a, a + 0.25, a + 0.45, a + 0.7])
        pts_v.extend([8.0, 33.0, 33.0, 8.0])
    t += 18
    pts_t.append(t)
    pts_v.append(8.0)
    tt = _t(t, rate)
    raw = np.interp(tt, pts_t, pts_v)
    p = A.pressure(Signal(tt, raw, raw - 8.0, rate, False, "cmH2O", 8.0), ws)
    assert p["resting"]["pressure"] == pytest.approx(8.0)
    assert p["power"]["max"] == pytest.approx(35.0, abs=0.1) and p["power"]["peaks"] == [30.0, 35.0, 32.0]
    assert p["endurance"]["seconds"] == pytest.approx(12.0 + 0.1, abs=0.05)
    assert p["repetitions"]["count"] == 7 and p["repetitions"]["of"] == 10
    assert p["fast"]["count"] == 8


def test_work_rest_statistics_from_a_session_with_known_timing():
    rate = 100.0
    ws, pts_t, pts_v, t = [], [0.0], [0.0], 0.0
    for r in range(1, 6):
        ws += [_w("get_ready", "x", r, t, t + 2), _w("squeeze", "x", r, t + 2, t + 3),
               _w("hold", "x", r, t + 3, t + 9), _w("release", "x", r, t + 9, t + 10), _w("rest", "x", r, t + 10, t + 16)]
        # up from 0 to 20 over 0.8 s starting 0.1 s after "squeeze"; down over 0.5 s at "let go"
        pts_t.extend([t + 2.1, t + 2.9, t + 9.0, t + 9.5])
        pts_v.extend([0.0, 20.0, 20.0, 0.0])
        t += 16
    pts_t.append(t)
    pts_v.append(0.0)
    tt = _t(t, rate)
    raw = np.interp(tt, pts_t, pts_v) + 8.0  # resting at 8 cmH2O
    wr = A.work_rest(Signal(tt, raw, raw - 8.0, rate, False, "cmH2O", 8.0), ws)
    assert wr["work_average"] == pytest.approx(20.0, abs=0.01) and wr["rest_average"] == pytest.approx(0.0, abs=0.01)
    assert wr["onset_s"] == pytest.approx(0.1 + 0.75 * 0.8, abs=0.02)  # 75 % of 20 on a 0.8 s linear rise
    assert wr["release_s"] == pytest.approx(0.5 * (1 - 0.375), abs=0.02)  # 37.5 % on a 0.5 s fall
    assert wr["work_deviation_pct"] == pytest.approx(0.0, abs=0.5)

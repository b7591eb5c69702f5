"""The numpy filters and peak finder the device runs on, against scipy.signal (the reference,
installed for the benchmarks): same coefficients, same steady state, same output in any chunking."""
import numpy as np
import pytest
from scipy import signal

from device.pipeline import iir, peaks


@pytest.mark.parametrize("fs", [8.0, 64.0, 250.0, 860.0, 3300.0])
def test_designs_match_scipy(fs):
    fc = min(8.0, 0.3 * fs)
    assert np.allclose(iir.butter_lowpass(fc, fs), signal.butter(2, fc, fs=fs, output="sos"), rtol=1e-10, atol=1e-14)
    if fs >= 100:
        hi = min(450.0, 0.45 * fs)
        ours, ref = iir.butter_bandpass(20.0, hi, fs), signal.butter(2, [20.0, hi], btype="bandpass", fs=fs, output="sos")
        w, h_ours = signal.sosfreqz(ours, worN=2048, fs=fs)
        _, h_ref = signal.sosfreqz(ref, worN=2048, fs=fs)
        assert np.allclose(h_ours, h_ref, rtol=1e-9, atol=1e-12)  # the same filter (sections may pair differently)
        assert np.allclose(np.sort(np.roots(np.poly1d(ours[0, 3:]) * np.poly1d(ours[1, 3:]))),
                           np.sort(np.roots(np.poly1d(ref[0, 3:]) * np.poly1d(ref[1, 3:]))), atol=1e-10)
        f0 = 50.0
        assert np.allclose(iir.notch(f0, 30.0, fs), signal.tf2sos(*signal.iirnotch(f0, 30.0, fs=fs)), rtol=1e-10)


def test_steady_state_matches_scipy():
    sos = np.vstack([iir.butter_bandpass(20, 400, 1000), iir.notch(50, 30, 1000), iir.butter_lowpass(6, 1000)])
    assert np.allclose(iir.sos_zi(sos), signal.sosfilt_zi(sos), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n", [1, 7, 255, 256, 257, 5000])
def test_filtering_matches_scipy_in_any_chunking(n):
    rng = np.random.default_rng(n)
    sos = np.vstack([iir.butter_bandpass(20, 400, 860), iir.notch(50, 30, 860), iir.notch(150, 30, 860)])
    x = rng.standard_normal(n) * 30 + 5
    zi = iir.sos_zi(sos) * x[0]
    ref, zf_ref = signal.sosfilt(sos, x, zi=zi)
    f = iir.SosFilter(sos)
    f.zi = zi.copy()
    out, i = [], 0
    while i < n:
        k = int(rng.integers(1, 400))
        out.append(f(x[i:i + k]))
        i += k
    assert np.allclose(np.concatenate(out), ref, rtol=1e-9, atol=1e-9)
    assert np.allclose(f.zi, zf_ref, rtol=1e-9, atol=1e-9)
    assert np.allclose(iir.sosfilt(sos, x, zi), ref, rtol=1e-9, atol=1e-9)


def test_slow_low_pass_stays_accurate_over_long_signals():
    """Poles near the unit circle (2 Hz at 3300 SPS) over a million samples: no drift from scipy."""
    sos = iir.butter_lowpass(2.0, 3300.0)
    x = np.random.default_rng(1).standard_normal(1_000_000).cumsum() * 0.01
    assert np.allclose(iir.sosfilt(sos, x), signal.sosfilt(sos, x), rtol=1e-8, atol=1e-8)


def test_bad_edges_are_refused():
    with pytest.raises(ValueError, match="Nyquist"):
        iir.butter_lowpass(50.0, 64.0)
    with pytest.raises(ValueError, match="rise"):
        iir.butter_bandpass(100.0, 50.0, 1000.0)


@pytest.mark.parametrize("seed", range(40))
def test_peaks_match_scipy(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 400))
    x = np.cumsum(rng.standard_normal(n)) + 3 * np.sin(np.arange(n) / rng.uniform(2, 20))
    if seed % 4 == 0:
        x = np.round(x)  # flat tops and ties
    prom, wlen, wmax, dist = rng.uniform(0.1, 3), int(rng.integers(3, 120)), rng.uniform(2, 60), rng.uniform(1, 25)
    ref, _ = signal.find_peaks(x, prominence=prom, wlen=wlen, width=(None, wmax), distance=dist)
    assert list(peaks.find_peaks(x, prom, wlen, wmax, dist)) == list(ref)


def test_device_path_does_not_import_scipy():
    """The live pipeline, storage and session runner load without scipy (memory and start-up)."""
    import subprocess
    import sys

    code = ("import sys, device.training.session, device.records.store, device.training.train, drivers.rig, device.cli.main; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'); print(bad); sys.exit(bool(bad))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

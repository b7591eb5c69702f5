"""What an assessment measured, and the work/rest statistics of every session, from the stored
signal and the cues the device gave (each phase begins at its ``cue`` event and ends at the next).

Everything here is computed from what is stored, never kept beside it: the report, ``pfmt
sessions show`` and the tests all get the same figures from the same samples.

Definitions (the numbers a physiotherapist compares with the literature):

- **EMG amplitude** is the RMS envelope of the raw signal (its DC removed) over ``RMS_WINDOW_S``;
  a phase's *mean* is the envelope's mean over the phase, its *peak* the envelope's maximum, its
  *variability* the coefficient of variation (SD / mean, %) of the envelope over the phase.
- **Rise time**: from the first crossing of 10 % to the first crossing of 90 % of the rise from
  the pre-contraction baseline to the peak. **Recovery time**: from the "let go" cue (the peak for
  a quick contraction) to the first return below baseline + 10 % of the rise.
- **Median frequency** (EMG): the frequency halving the power of the raw signal (Hann-windowed
  FFT over 1 s windows, 0.5 s apart); through the endurance contraction its least-squares slope
  (Hz/s) is the fatigue index.
- **Pressure**: a rise above the resting pressure (the resting phase's mean); *maximal squeeze*
  the best peak of the three; *endurance* how long the endurance squeeze stays at or above
  ``ENDURANCE_FRACTION`` of that maximum; *repetitions* how many of the held squeezes stay there
  for at least ``REPETITION_SHARE`` of the hold asked; *fast contractions* the squeezes in the
  10 s window that rise above half the maximum (each counted once: it must fall below a quarter
  before the next counts).
- **Work/rest** (every session, as clinical EMG units report them): *work average* the mean level
  over the holds, *rest average* over the rests; *onset time* from the "squeeze" cue to 75 % of
  the work average, *release time* from the "let go" cue to 37.5 % of it (medians over the reps);
  *work* and *rest deviation* the SD over those phases as a % of their own average (EMG) or of
  the work average (pressure, whose rest is its zero).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from device.i18n import N_
from device.pipeline.conditioning import emg_band_sos
from device.pipeline.iir import sosfilt
from device.records.store import SessionData, SessionStore

RMS_WINDOW_S = 0.125
MDF_WINDOW_S = 1.0
ENDURANCE_FRACTION = 0.5
REPETITION_SHARE = 0.8
ONSET_FRACTION = 0.75  # of the work average
RELEASE_FRACTION = 0.375


@dataclass
class Window:
    """One phase of the session on its signal: [start, end) seconds, what it was."""

    kind: str
    exercise: str
    set: int
    rep: int
    start: float
    end: float


def windows(events: list[dict]) -> list[Window]:
    """Every phase of a session from its stored cue events (each ends where the next begins)."""
    cues = [e for e in events if e.get("type") == "cue"]
    out = []
    for a, b in zip(cues, cues[1:] + [None]):
        end = b["time_s"] if b is not None else a["time_s"]
        out.append(Window(a["phase"], a["exercise"], int(a.get("set") or 0), int(a.get("rep") or 0),
                          float(a["time_s"]), float(end)))
    return out


# --- signal measures ------------------------------------------------------------------------
def emg_band(x: np.ndarray, rate_hz: float) -> np.ndarray:
    """Raw EMG in the surface-EMG band with the mains notched (as the live pipeline conditions
    it): drift, DC and hum are not muscle and would dominate the spectrum at rest."""
    x = np.asarray(x, dtype=float)
    if len(x) < 8:
        return x - (float(np.mean(x)) if len(x) else 0.0)
    return sosfilt(emg_band_sos(rate_hz), x - float(x[0]))


def rms_envelope(x: np.ndarray, rate_hz: float, window_s: float = RMS_WINDOW_S) -> np.ndarray:
    """Moving RMS (centred, same length) of ``x`` with its median removed."""
    x = np.asarray(x, dtype=float) - float(np.median(x)) if len(x) else np.asarray(x, dtype=float)
    n = max(1, int(round(window_s * rate_hz)))
    c = np.concatenate([[0.0], np.cumsum(x * x)])
    lo = np.clip(np.arange(len(x)) - n // 2, 0, len(x))
    hi = np.clip(lo + n, 0, len(x))
    return np.sqrt((c[hi] - c[lo]) / np.maximum(hi - lo, 1))


def median_frequency(x: np.ndarray, rate_hz: float) -> float | None:
    """The frequency below which half the power of ``x`` lies (Hann window, DC removed)."""
    if len(x) < 16:
        return None
    x = np.asarray(x, dtype=float) - float(np.mean(x))
    p = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    f = np.fft.rfftfreq(len(x), 1.0 / rate_hz)
    p[0] = 0.0
    total = float(p.sum())
    if total <= 0:
        return None
    return float(f[int(np.searchsorted(np.cumsum(p), total / 2))])


def mdf_series(t: np.ndarray, x: np.ndarray, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """(window centre time, median frequency) over 1 s windows 0.5 s apart."""
    n = int(MDF_WINDOW_S * rate_hz)
    step = max(1, n // 2)
    ts, fs = [], []
    for i in range(0, len(x) - n + 1, step):
        mdf = median_frequency(x[i:i + n], rate_hz)
        if mdf is not None:
            ts.append(float(t[i + n // 2]))
            fs.append(mdf)
    return np.array(ts), np.array(fs)


def rise_time(t: np.ndarray, level: np.ndarray, baseline: float) -> float | None:
    """10–90 % rise time of ``level`` from ``baseline`` to its peak (None: no rise)."""
    if len(level) == 0:
        return None
    k = int(np.argmax(level))
    rise = float(level[k]) - baseline
    if rise <= 0:
        return None
    up = level[:k + 1]
    i10 = int(np.argmax(up >= baseline + 0.1 * rise))
    i90 = int(np.argmax(up >= baseline + 0.9 * rise))
    return round(float(t[i90] - t[i10]), 3)


def recovery_time(t: np.ndarray, level: np.ndarray, baseline: float, peak: float, from_s: float) -> float | None:
    """From ``from_s`` to the first return below baseline + 10 % of the rise (None: never)."""
    below = (t >= from_s) & (level <= baseline + 0.1 * (peak - baseline))
    if not below.any():
        return None
    return round(float(t[int(np.argmax(below))] - from_s), 3)


def time_above(t: np.ndarray, level: np.ndarray, threshold: float) -> float:
    """How long ``level`` stays at or above ``threshold`` from its first crossing (0: never)."""
    above = level >= threshold
    if not above.any():
        return 0.0
    i = int(np.argmax(above))
    rest = ~above[i:]
    j = i + (int(np.argmax(rest)) if rest.any() else len(above) - i)
    return round(float(t[min(j, len(t) - 1)] - t[i]), 2)


def count_rises(level: np.ndarray, high: float, low: float) -> int:
    """Upward crossings of ``high``, each counted once until ``level`` falls below ``low``."""
    n, armed = 0, True
    for v in level:
        if armed and v >= high:
            n, armed = n + 1, False
        elif not armed and v < low:
            armed = True
    return n


def _cv(x: np.ndarray) -> float | None:
    m = float(np.mean(x)) if len(x) else 0.0
    return round(100.0 * float(np.std(x)) / m, 1) if m > 0 else None


def _r(v: float | None, nd: int = 2) -> float | None:
    return None if v is None or not np.isfinite(v) else round(float(v), nd)


def _median(xs: list[float | None]) -> float | None:
    xs2 = [x for x in xs if x is not None]
    return round(float(np.median(xs2)), 3) if xs2 else None


# --- a session's signal ---------------------------------------------------------------------
@dataclass
class Signal:
    t: np.ndarray
    raw: np.ndarray       # the pelvic channel as stored (EMG: in its band, mains notched)
    level: np.ndarray     # EMG: the RMS envelope; pressure: the rise above the rest zero
    rate_hz: float
    emg: bool
    unit: str
    zero: float           # pressure: what the level is measured from (0 for EMG)

    def part(self, start: float, end: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m = (self.t >= start) & (self.t < end)
        return self.t[m], self.raw[m], self.level[m]


def pelvic_signal(store: SessionStore, s: SessionData, zero: float | None = None) -> Signal:
    """The pelvic channel of a stored session as the measures need it."""
    t, v = store.samples(s.id)
    i = next((k for k, c in enumerate(s.channels) if c.role == "pelvic"), 0)
    ch = s.channels[i]
    raw = v[:, i] if len(t) else np.zeros(0)
    emg = ch.unit == "uV"
    if emg:
        band = emg_band(raw, s.info["rate_hz"])
        return Signal(t, band, rms_envelope(band, s.info["rate_hz"]), s.info["rate_hz"], True, ch.unit, 0.0)
    if zero is None:
        cal = (s.info.get("calibration") or {}).get("pelvic") or {}
        zero = float(cal["rest"]) if isinstance(cal.get("rest"), (int, float)) else \
            float(np.median(raw[: max(1, int(s.info["rate_hz"]))])) if len(raw) else 0.0
    return Signal(t, raw, raw - zero, s.info["rate_hz"], False, ch.unit, zero)


# --- the assessments ------------------------------------------------------------------------
def glazer(sig: Signal, ws: list[Window]) -> dict:
    """The Glazer protocol's parameters per phase (µV, s, %, Hz)."""
    def phase(name: str, kinds: tuple[str, ...]) -> list[Window]:
        return [w for w in ws if w.exercise == name and w.kind in kinds]

    out: dict = {}
    for name in ("pre_baseline", "post_baseline"):
        for w in phase(name, ("baseline",)):
            _, raw, env = sig.part(w.start, w.end)
            out[name] = {"mean_uV": _r(float(np.mean(env))), "cv_pct": _cv(env),
                         "median_frequency_hz": _r(median_frequency(raw, sig.rate_hz), 1)}
    base = (out.get("pre_baseline") or {}).get("mean_uV") or 0.0
    # phasic: each quick contraction from its "squeeze" cue to the end of its rest
    peaks, rises, recs = [], [], []
    for w in phase("phasic", ("squeeze",)):
        end = next((x.end for x in ws if x.exercise == "phasic" and x.rep == w.rep and x.kind == "rest"), w.end)
        t, _, env = sig.part(w.start, end)
        if len(env):
            k = int(np.argmax(env))
            peaks.append(float(env[k]))
            rises.append(rise_time(t, env, base))
            recs.append(recovery_time(t, env, base, float(env[k]), float(t[k])))
    if peaks:
        out["phasic"] = {"peaks_uV": [_r(p) for p in peaks], "mean_peak_uV": _r(float(np.mean(peaks))),
                         "max_uV": _r(max(peaks)), "cv_pct": _cv(np.array(peaks)),
                         "rise_s": _median(rises), "recovery_s": _median(recs), "n": len(peaks)}
    # tonic: the holds (mean over each 10 s, variability within), rise from the cue, recovery after "let go"
    means, cvs, rises, recs, mdfs = [], [], [], [], []
    for w in phase("tonic", ("hold",)):
        rel = next((x for x in ws if x.exercise == "tonic" and x.rep == w.rep and x.kind == "release"), None)
        t, raw, env = sig.part(w.start, rel.start if rel else w.end)
        if not len(env):
            continue
        means.append(float(np.mean(env)))
        cvs.append(_cv(env))
        mdfs.append(median_frequency(raw, sig.rate_hz))
        sq = next((x for x in ws if x.exercise == "tonic" and x.rep == w.rep and x.kind == "squeeze"), w)
        tr, _, er = sig.part(sq.start, w.end)
        rises.append(rise_time(tr, er, base))
        if rel is not None:
            rest_end = next((x.end for x in ws if x.exercise == "tonic" and x.rep == w.rep and x.kind == "rest"), rel.end)
            tt, _, ee = sig.part(rel.start, rest_end)
            recs.append(recovery_time(tt, ee, base, float(np.max(env)), rel.start))
    if means:
        out["tonic"] = {"means_uV": [_r(m) for m in means], "mean_uV": _r(float(np.mean(means))),
                        "cv_pct": _median(cvs), "rise_s": _median(rises), "recovery_s": _median(recs),
                        "median_frequency_hz": _r(_median(mdfs), 1), "n": len(means)}
    # endurance: the 60 s hold: its mean, variability, and the median frequency's start and slope
    for w in phase("endurance", ("hold",)):
        rel = next((x for x in ws if x.exercise == "endurance" and x.kind == "release"), None)
        t, raw, env = sig.part(w.start, rel.start if rel else w.end)
        if not len(env):
            continue
        ts, fs = mdf_series(t, raw, sig.rate_hz)
        slope = float(np.polyfit(ts - ts[0], fs, 1)[0]) if len(ts) >= 3 else None
        tenth = max(1, len(env) // 6)
        out["endurance"] = {
            "mean_uV": _r(float(np.mean(env))), "cv_pct": _cv(env),
            "first_10s_uV": _r(float(np.mean(env[:tenth]))), "last_10s_uV": _r(float(np.mean(env[-tenth:]))),
            "median_frequency_start_hz": _r(float(np.mean(fs[:3])) if len(fs) else None, 1),
            "median_frequency_slope_hz_per_s": _r(slope, 3), "duration_s": _r(float(t[-1] - t[0]), 1)}
    return out


def pressure(sig: Signal, ws: list[Window]) -> dict:
    """The pressure assessment: resting pressure, maximal squeeze, endurance, repetitions, fast."""
    out: dict = {}
    rest = [w for w in ws if w.exercise == "resting" and w.kind == "baseline"]
    zero = sig.zero
    if rest:
        _, raw, _ = sig.part(rest[0].start, rest[0].end)
        if len(raw):
            zero = float(np.mean(raw))
            out["resting"] = {"pressure": _r(zero), "sd": _r(float(np.std(raw))), "unit": sig.unit}
    level = sig.raw - zero

    def part(a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
        m = (sig.t >= a) & (sig.t < b)
        return sig.t[m], level[m]

    def rep_span(name: str, rep: int) -> tuple[float, float] | None:
        sq = [x for x in ws if x.exercise == name and x.rep == rep and x.kind == "squeeze"]
        rs = [x for x in ws if x.exercise == name and x.rep == rep and x.kind == "rest"]
        return (sq[0].start, rs[0].start) if sq and rs else None

    peaks = []
    for rep in sorted({w.rep for w in ws if w.exercise == "power" and w.rep}):
        span = rep_span("power", rep)
        if span:
            _, lv = part(*span)
            if len(lv):
                peaks.append(float(np.max(lv)))
    if not peaks:
        return out
    mvc = max(peaks)
    out["power"] = {"peaks": [_r(p, 1) for p in peaks], "max": _r(mvc, 1), "mean": _r(float(np.mean(peaks)), 1),
                    "unit": sig.unit}
    span = rep_span("endurance", 1)
    if span:
        t, lv = part(*span)
        out["endurance"] = {"seconds": time_above(t, lv, ENDURANCE_FRACTION * mvc),
                            "fraction_of_max": ENDURANCE_FRACTION,
                            "mean_while_held": _r(float(np.mean(lv[lv >= ENDURANCE_FRACTION * mvc])), 1)
                            if (lv >= ENDURANCE_FRACTION * mvc).any() else None}
    held, asked = [], None
    for rep in sorted({w.rep for w in ws if w.exercise == "repetitions" and w.rep}):
        span = rep_span("repetitions", rep)
        hold = [x for x in ws if x.exercise == "repetitions" and x.rep == rep and x.kind == "hold"]
        if span and hold:
            asked = hold[0].end - hold[0].start
            t, lv = part(*span)
            held.append(time_above(t, lv, ENDURANCE_FRACTION * mvc))
    if held and asked:
        out["repetitions"] = {"count": sum(h >= REPETITION_SHARE * asked for h in held), "of": len(held),
                              "hold_asked_s": _r(asked, 1), "held_s": held}
    free = [w for w in ws if w.exercise == "fast" and w.kind == "free"]
    if free:
        t, lv = part(free[0].start, free[0].end + 0.5)  # the last squeeze may end just after the tone
        out["fast"] = {"count": count_rises(lv, 0.5 * mvc, 0.25 * mvc),
                       "window_s": _r(free[0].end - free[0].start, 1)}
    return out


def work_rest(sig: Signal, ws: list[Window]) -> dict | None:
    """The work/rest statistics of a training session (None when it had no hold)."""
    holds = [w for w in ws if w.kind == "hold" and w.rep]
    rests = [w for w in ws if w.kind == "rest" and w.rep]
    if not holds:
        return None
    if not sig.emg and rests:  # pressure: measured from this session's own resting level
        rest_raw = np.concatenate([sig.part(w.start, w.end)[1] for w in rests])
        if len(rest_raw):
            zero = float(np.median(rest_raw))
            sig = Signal(sig.t, sig.raw, sig.raw - zero, sig.rate_hz, False, sig.unit, zero)
    work = np.concatenate([sig.part(w.start, w.end)[2] for w in holds])
    rest = np.concatenate([sig.part(w.start, w.end)[2] for w in rests]) if rests else np.zeros(0)
    if not len(work):
        return None
    work_avg = float(np.mean(work))
    rest_avg = float(np.mean(rest)) if len(rest) else None
    onsets, releases = [], []
    for w in holds:
        sq = next((x for x in ws if x.kind == "squeeze" and (x.exercise, x.set, x.rep) == (w.exercise, w.set, w.rep)), None)
        rel = next((x for x in ws if x.kind == "release" and (x.exercise, x.set, x.rep) == (w.exercise, w.set, w.rep)), None)
        if sq is not None:
            t, _, lv = sig.part(sq.start, w.end)
            hit = lv >= ONSET_FRACTION * work_avg
            onsets.append(round(float(t[int(np.argmax(hit))] - sq.start), 3) if hit.any() else None)
        if rel is not None:
            end = next((x.end for x in rests if (x.exercise, x.set, x.rep) == (w.exercise, w.set, w.rep)), rel.end)
            t, _, lv = sig.part(rel.start, end)
            hit = lv <= RELEASE_FRACTION * work_avg
            releases.append(round(float(t[int(np.argmax(hit))] - rel.start), 3) if hit.any() else None)
    basis = N_("own average") if sig.emg else N_("work average")
    rest_ref = rest_avg if sig.emg else work_avg
    return {"unit": sig.unit, "level": N_("RMS envelope") if sig.emg else N_("rise above the rest zero"),
            "work_average": _r(work_avg), "rest_average": _r(rest_avg),
            "onset_s": _median(onsets), "release_s": _median(releases),
            "work_deviation_pct": _r(100 * float(np.std(work)) / work_avg, 1) if work_avg > 0 else None,
            "rest_deviation_pct": _r(100 * float(np.std(rest)) / rest_ref, 1)
            if len(rest) and rest_ref is not None and rest_ref > 0 else None,
            "deviation_basis": basis, "holds": len(holds), "rests": len(rests)}


def measure(store: SessionStore, s: SessionData, sig: Signal | None = None) -> dict:
    """A stored session's measures: ``assessment`` (its kind's parameters, when it was one) and
    ``work_rest`` (when it had holds). ``sig``: its pelvic signal when the caller has it already."""
    sig = sig if sig is not None else pelvic_signal(store, s)
    ws = windows(store.events(s.id, ("cue",)))
    kind = (s.info.get("summary") or {}).get("assessment")
    out: dict = {"assessment": kind, "work_rest": work_rest(sig, ws)}
    if kind == "glazer" and sig.emg:
        out["results"] = glazer(sig, ws)
    elif kind == "pressure" and not sig.emg:
        out["results"] = pressure(sig, ws)
    elif kind is not None:
        out["results"] = {}
        out["note"] = N_("a Glazer assessment needs the EMG probe") if kind == "glazer" else \
            N_("a pressure assessment needs the pressure probe")
    return out

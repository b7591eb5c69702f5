"""Measuring a closed contraction: onset, offset, hold, peak, flicks, relaxation, kind.

Definitions follow the analysis contract: the onset is back-dated to where the rise begins, the
hold is the time between the first upward and the last downward crossing of half the peak rise,
the peak is the largest rise above the pre-onset level.

Rises and releases are smooth (muscle force builds over ~0.3–1 s). Their start is estimated from
the 10/50/90 % crossings with a raised-cosine model — robust to noise, unlike "last sample at
baseline", and unbiased where the intersecting-tangent method is late by a fifth of the rise.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from device.pipeline import kinds
from device.pipeline.peaks import find_peaks
from device.pipeline.types import Contraction, Episode, Kind
from device.recording import CMH2O_PER_MMHG

if TYPE_CHECKING:  # the detector calls into this module; only its type is needed here
    from device.pipeline.detect import Detector

MIN_PEAK_FRAC = 0.08      # a contraction must reach this fraction of the calibrated MVC span: light
                          # squeezes of 10–30 % MVC are prescribed, and whether a rep reached its
                          # target is the session's judgement, not the detector's

#: For a raised-cosine edge, (start → 50 %) = RC_K · (30 % → 70 %).
RC_K = 0.5 / (math.acos(-0.4) / math.pi - math.acos(0.4) / math.pi)
MAX_EDGE_S = 1.0          # half of the slowest physiological rise or release
REST_BAND_SPREADS = 0.5   # an onset is never placed where the signal is still this close to rest
# Brief events. A cough is recognised by evidence of a cough, never by being brief: quick lifts
# are as brief (0.3–0.6 s in all, 0.1–0.3 s at half height on EMG).
MIN_HOLD_S = {"pressure": 0.3, "emg": 0.38}  # briefer than this at half height = a brief event
EMG_SPIKE_S = 0.092       # an impulse (electrode pop, a lone QRS) is 0.085–0.09 s wide on the
                          # envelope; the briefest voluntary burst (≈ 50 ms) 0.10 s
BRIEF_MIN_SPREADS = 12.0  # a brief EMG burst stands this far above the resting noise ...
BRIEF_MIN_REST_X = 3.0    # ... and, uncalibrated, rises to this many times the resting RMS (a quick
                          # lift: 30–80 µV over a rest of 2–7 µV); a calibrated one to MIN_PEAK_FRAC
COUGH_MIN_SLOPE = {"cmH2O": 150.0, "mmHg": 150.0 / CMH2O_PER_MMHG}  # pressure: a transmitted cough
                          # spike (25–150 cmH2O in 0.1–0.25 s) rises faster than a squeeze can
                          # (≈ 30 cmH2O/s; a quick lift to MVC in 0.3 s: ≤ 150 cmH2O/s at half height)
COUGH_ABD_RATIO = 0.5     # pressure: the abdominal channel rose at least this share with it
COUGH_MAX_HOLD_S = 0.55   # EMG: a short event with a strong abdominal burst is a cough ...
COUGH_ABD_NORM = 0.3      # ... if the abdominal rise exceeds this fraction of its maximum
QUIET_ABD_NORM = 0.1      # EMG: a brief pelvic burst with the abdominals above this is a cough
PLATEAU_MIN_FRAC_EMG = 0.3  # EMG: the first second after the rise holds at least this share of the
                            # peak (squeezes ≥ 0.38, envelope noise on a raised level 0.07–0.29)
PLATEAU_MIN_SPREADS = 3.0   # ... and stands this far above the resting noise (a light squeeze held
                            # is seen by its level, a noise bump only by its peak)
RELAX_FRAC = 0.2          # post-release level above pre-onset, as a fraction of the peak
FLICK_MIN_FRAC = 0.12     # flick prominence as a fraction of the peak rise ...
FLICK_MIN_FRAC_EMG = 0.25
FLICK_MIN_SPREADS = 3.0   # ... and in resting spreads ...
FLICK_MIN_RIPPLES = 4.0   # ... and in the hold's own ripple (a flick stands out from it)
FLICK_TRAIN_FRAC = 0.5     # EMG: a bump this share of the prominence counts when it continues a set ...
FLICK_TRAIN_GAP_S = (0.25, 0.65)  # ... at a quick lift's spacing from a counted one (a heartbeat on the
                                  # EMG, ≤ 90 bpm, is slower) ...
FLICK_TRAIN_END_S = 0.5   # ... and the set so grown ends the hold, its last lift this close to the release
FLICK_ZONE_S = 3.5        # 3–4 quick lifts of 0.3–0.6 s at the end of the hold
FLICK_MAX_WIDTH_S = 0.6   # quick lifts; slower bumps are respiration or drift
FLICK_WLEN_S = 1.2
# Breathing moves the pressure ±1–3 cmH2O at 0.15–0.35 Hz, in phase on both pressure channels.
# It is recognised from breathing context, calibrated or not, never from one swell's size alone
# (a light squeeze is as small): a swell is breathing when it is breath-sized, rises no faster than
# a breath, carries no set of quick lifts, and either the abdominal channel swelled with it (a lift
# leaves the abdomen within a few cmH2O) or, with the pelvic channel alone, it is one of a train of
# similar swells at breathing rate. At the very start of a recording, before a train can have been
# seen, a breath-sized swell rising as slowly as a breath (≥ BREATH_SLOW_RISE_S to half) is breathing.
# Breathing goes on through a squeeze: right after one, before a new train can show, a swell like
# the last train's (within BREATH_SIMILAR of its size, and BREATH_CONTEXT_S of rest after it) is
# still breathing, unless it reaches BREATH_MAX_FRAC of the MVC.
BREATH_MAX_CMH2O = 6.0    # the largest swing breathing transmits (2 × 3 cmH2O); above it a squeeze
BREATH_MAX_FRAC = 0.6     # of the MVC span: stronger is a squeeze, unless a train shows breathing
                          # (a weak patient's breaths can reach 60 % of her MVC)
BREATH_SIMILAR = 0.4      # the train's swells rise at least this share of this one: a squeeze more
                          # than 2.5 times the size of the breaths around it is no breath
BREATH_MAX_HOLD_S = 3.3   # half a breath at 0.15 Hz
BREATH_MAX_FLICKS = 1     # one bump is a breath's irregularity; quick lifts come in sets of 3–4
BREATH_MIN_RISE_S = 0.35  # start → half: a breath's inhalation is no faster than this
BREATH_SLOW_RISE_S = 0.5
BREATH_ABD_RATIO = 0.5    # in phase: the abdominal channel rose at least this share with it
BREATH_PERIOD_S = (2.4, 8.0)   # 0.12–0.4 Hz, a little wider than resting breathing
BREATH_CONTEXT_S = 20.0   # how far back the train of swells is looked for
BREATH_MIN_SWELLS = 2     # earlier swells of the train (this one is the third)


def _cross_up(t: np.ndarray, d: np.ndarray, level: float, i0: int) -> tuple[float | None, int | None]:
    """Interpolated time of the first upward crossing of ``level`` at or after index i0."""
    idx = np.flatnonzero(d[i0:] >= level)
    if len(idx) == 0:
        return None, None
    i = i0 + int(idx[0])
    if i == 0 or d[i - 1] >= level:
        return float(t[i]), i
    f = (level - d[i - 1]) / (d[i] - d[i - 1])
    return float(t[i - 1] + f * (t[i] - t[i - 1])), i


def _cross_down_before(t: np.ndarray, d: np.ndarray, level: float, i1: int) -> tuple[float | None, int | None]:
    """Interpolated time of the last downward crossing of ``level`` before index i1."""
    idx = np.flatnonzero(d[:i1] >= level)
    if len(idx) == 0:
        return None, None
    i = int(idx[-1])
    if i + 1 >= len(d) or d[i + 1] >= d[i]:
        return float(t[i]), i
    f = (d[i] - level) / (d[i] - d[i + 1])
    return float(t[i] + f * (t[i + 1] - t[i])), i


def _last_below_before(t: np.ndarray, d: np.ndarray, level: float, i1: int) -> float:
    """Interpolated time of the last upward crossing of ``level`` before index i1 (walking back)."""
    idx = np.flatnonzero(d[:i1] < level)
    if len(idx) == 0:
        return float(t[0])
    i = int(idx[-1])
    if i + 1 >= len(d) or d[i + 1] <= d[i]:  # the end of the search, not a crossing
        return float(t[i])
    f = (level - d[i]) / (d[i + 1] - d[i])
    return float(t[i] + f * (t[i + 1] - t[i]))


def edge_start(t: np.ndarray, d: np.ndarray, top: float, i_mid: int, rising: bool = True) -> float:
    """Start (rising) or end (falling) of an edge from 0 to ``top`` whose 50 % point is near
    index ``i_mid``, from its 30/50/70 % crossings (the 30 % point is the last one below it
    before i_mid, the 70 % point the first one above it after, so noise on the baseline or the
    plateau does not stretch the edge). Never more than MAX_EDGE_S before the 50 % point."""
    if not rising:
        j = len(d) - 1 - i_mid
        return -edge_start(-t[::-1], d[::-1], top, j, True)
    t30 = _last_below_before(t, d, 0.3 * top, i_mid + 1)
    t50 = _last_below_before(t, d, 0.5 * top, i_mid + 1)
    t70, _ = _cross_up(t, d, 0.7 * top, i_mid)
    if t70 is None:
        t70 = float(t[-1])
    return max(min(t50 - RC_K * (t70 - t30), t30), t50 - MAX_EDGE_S)


def measure(det: Detector, c: Episode, k_now: int) -> Contraction | None:
    """Measure the contraction of the closed episode ``c``; None if it is an artifact (the reason
    in ``c.reject``)."""
    p = det.p
    rate = p.rate
    k_cross, k_end = c.k_cross, c.k_end
    assert k_end is not None, "measured before the release was found"
    a = max(p.hist.start, k_cross - int(2.0 * rate))
    t = p.hist.t(a, k_now + 1)
    x = p.hist.x(a, k_now + 1, det.ch)
    L0 = c.pre[det.ch]
    d = x - L0
    ic, ie = k_cross - a, min(k_end - a, len(d) - 1)
    seg = d[ic:ie + 1]
    if len(seg) == 0:
        c.reject = "empty"
        return None
    ipk = ic + int(np.argmax(seg))
    P = float(d[ipk])
    # the rise begins at the lowest point shortly before the threshold crossing (after a
    # not-relaxed contraction the tone drops first, then the new squeeze rises from there)
    i0 = max(0, ic - int(1.5 * rate), det.free_from - a)  # never into the contraction before
    i0 += int(np.argmin(d[i0:ic + 1]))
    t_up, i_up = _cross_up(t, d, 0.5 * P, i0)
    t_dn, i_dn = _cross_down_before(t, d, 0.5 * P, ie + 1)
    if t_up is None or t_dn is None or i_up is None or i_dn is None or i_dn < i_up:
        c.reject = "no half-peak crossing"  # (or the last fall below half comes before the rise)
        return None
    hold = t_dn - t_up
    kind, feats = classify(det, a + i_up, a + i_dn + 1, c.pre)
    possible_cough = False
    if hold < MIN_HOLD_S[det.modality]:
        c.reject, possible_cough = _brief(det, c, feats, hold, P)
        if c.reject:
            return None
    # a strain moves the pelvic channel only passively: its rise is not held against the MVC
    if max(1.2 * c.thr, MIN_PEAK_FRAC * det.span if det.span and kind != "bear_down" else 0.0) > P:
        c.reject = f"too small ({P:.3g} {det.channel.unit})"
        return None
    # onset: the initial rise up to its first plateau, whose level is a median (robust to EMG
    # envelope noise and to flicks at the end of the hold)
    lo, hi = i_up + int(0.3 * rate), min(ie, i_up + int(1.5 * rate))
    if det.modality == "emg" and hi - lo >= 2 and not possible_cough and hold >= MIN_HOLD_S["emg"]:
        level = float(np.median(d[lo:hi]))
        if level < max(PLATEAU_MIN_FRAC_EMG * P, PLATEAU_MIN_SPREADS * det.spread()):
            # a "peak" the level never holds: envelope noise on a raised level (tone left after
            # an unrelaxed squeeze), not a squeeze
            c.reject = f"no plateau (level {level:.3g} {det.channel.unit} after the rise, peak {P:.3g})"
            return None
    top = _plateau(d, lo, hi, P)
    modelled = edge_start(t[i0:], d[i0:], top, i_up - i0, rising=True) - det.delay_s
    # never where the signal is still inside its resting band: real squeezes rise fast and then
    # creep, and the edge model would back-date them into a trace that is still flat
    onset = max(modelled, _last_below_before(t, d, REST_BAND_SPREADS * det.spread(), i_up + 1) - det.delay_s)
    # offset: the release, from the end of the hold to the post-release level
    n_post = len(d) - 1 - i_dn
    post_a = i_dn + min(int(0.6 * rate), max(n_post // 2, 1))
    post = float(np.median(d[post_a:])) if post_a < len(d) else float(d[-1])
    rel = d - post
    top_end = _plateau(rel, max(i_up, i_dn - int(1.2 * rate)), i_dn - int(0.3 * rate), P - post)
    offset = edge_start(t, rel, top_end, i_dn, rising=False) - det.delay_s
    relaxed = post < RELAX_FRAC * P
    flicks = count_flicks(det, d, i_up, i_dn, P)
    if det.modality == "emg" and hold < COUGH_MAX_HOLD_S and _abdominal_burst(feats):
        c.reject = f"cough (short, with an abdominal burst; width {hold:.2f} s)"
        return None
    rise_s, fall_s = t_up - det.delay_s - onset, offset - (t_dn - det.delay_s)
    # how the swell rises as a whole (the edge model's start → half), for telling breaths
    breath = _breathing(det, c, P, hold, t_up - det.delay_s - modelled, flicks, feats, k_now)
    if breath:
        c.reject = breath
        return None
    feats.update(post_frac=post / P if P else 0.0, plateau=top, rise_s=rise_s, fall_s=fall_s)
    mvc_pct = 100.0 * P / det.span if det.span else None
    return Contraction(onset_s=onset, offset_s=min(max(offset, t_dn - det.delay_s), float(t[-1]) - det.delay_s),
                       hold_s=hold, peak=P,
                       flicks=flicks, kind=kind, relaxed=bool(relaxed), mvc_pct=mvc_pct,
                       possible_cough=possible_cough, features=feats)


def _brief(det: Detector, c: Episode, feats: dict, hold: float, P: float) -> tuple[str | None, bool]:
    """A brief event (under ``MIN_HOLD_S`` at half height): (why it is no contraction, or None;
    whether it may be a cough nothing could rule out). A cough is named only on evidence of one —
    the abdominals firing with it, or a pressure spike steeper than any squeeze — and on a pelvic
    channel alone a brief burst is a quick lift, flagged as a possible cough."""
    unit = det.channel.unit
    if det is not det.p.pelvic:  # the abdominal EMG detector: a brief abdominal burst is a cough
        return f"cough or spike (half-height width {hold:.2f} s)", False
    has_abd = "abdominal" in det.p.roles
    if det.modality == "emg":
        if hold < EMG_SPIKE_S:
            return f"spike (half-height width {hold:.2f} s: an impulse, briefer than any contraction)", False
        least = BRIEF_MIN_SPREADS * det.spread()
        if not det.span:
            least = max(least, BRIEF_MIN_REST_X * max(c.rest, det.floor))
        if least > P:
            return f"too small for a quick lift ({P:.3g} {unit}, needs {least:.3g})", False
        if feats.get("abd_norm") is not None:
            fired = feats["abd_norm"] > QUIET_ABD_NORM
        elif "abd_rise" in feats and det.p.channels[det.p.roles["abdominal"]].modality == "emg":
            fired = feats["abd_rise"] > kinds.EMG_RATIO[0] * max(feats["pel_rise"], 1e-9)
        else:
            fired = False
        if fired:
            return f"cough (brief, with an abdominal burst; width {hold:.2f} s)", False
        return None, not has_abd
    if "abd_ratio" in feats:
        if feats["abd_ratio"] >= COUGH_ABD_RATIO and feats.get("abd_rise", 0.0) > kinds.ABD_FEW_CMH2O:
            return f"cough (brief, transmitted from the abdomen; width {hold:.2f} s)", False
        return None, False
    slope = COUGH_MIN_SLOPE.get(unit)
    if slope is not None and (P / max(hold, 1e-3) > slope or (det.span and det.span < P)):
        return (f"cough (a spike of {P:.3g} {unit} {hold:.2f} s wide at half height: steeper than a "
                f"squeeze rises{' and above the MVC' if det.span and det.span < P else ''})"), False
    return None, True


def _breathing(det: Detector, c: Episode, P: float, hold: float, rise_s: float, flicks: int,
               feats: dict, k_now: int) -> str | None:
    """Why this swell is breathing (see BREATH_*), or None: a contraction."""
    unit = det.channel.unit
    if det.modality != "pressure" or det is not det.p.pelvic or flicks > BREATH_MAX_FLICKS or \
            hold > BREATH_MAX_HOLD_S:
        return None
    biggest = BREATH_MAX_CMH2O / (CMH2O_PER_MMHG if unit == "mmHg" else 1.0)
    if biggest < P or rise_s < BREATH_MIN_RISE_S:
        return None
    what = f"a {P:.2g} {unit} swell held {hold:.1f} s, rising in {rise_s:.2f} s to half"
    if "abd_ratio" in feats:
        if feats["abd_ratio"] >= BREATH_ABD_RATIO:
            return f"breathing ({what}, in phase on the abdominal channel)"
        return None
    h, rate = det.p.hist, det.p.rate
    a = c.k_cross - int(BREATH_CONTEXT_S * rate)
    if a < h.start and h.start == 0 and rise_s >= BREATH_SLOW_RISE_S and \
            not (det.span and BREATH_MAX_FRAC * det.span <= P):
        # the recording is too young for a whole train of breaths to have been seen
        return f"breathing ({what}, as slowly as a breath, before a train of them could be seen)"
    a = max(a, h.start)
    x = h.x(a, k_now + 1, det.ch)  # to now: the swell's own fall is part of its prominence
    train = _breath_train(x, P, rate) if len(x) >= 3 else None
    rest_clock = c.t_cross - det.busy_s
    if train is not None:
        det.breath_seen = (rest_clock, P)
        return f"breathing ({what}, one of {train[0]} swells every {train[1]:.1f} s)"
    if det.breath_seen is not None and not (det.span and BREATH_MAX_FRAC * det.span <= P):
        seen_at, seen_p = det.breath_seen
        if rest_clock - seen_at <= BREATH_CONTEXT_S and BREATH_SIMILAR * seen_p <= P <= seen_p / BREATH_SIMILAR:
            return f"breathing ({what}, like the breaths before the last contraction)"
    return None


def _breath_train(x: np.ndarray, P: float, rate: float) -> tuple[int, float] | None:
    """The train of breath-sized swells at breathing rate in ``x`` that the last swell (of rise
    ``P``) belongs to: (swells, median period), or None."""
    pk = find_peaks(x, BREATH_SIMILAR * P, int(BREATH_PERIOD_S[1] * rate), 2.0 * BREATH_MAX_HOLD_S * rate,
                    max(1, int(BREATH_PERIOD_S[0] * rate * 0.6)))
    times = pk / rate
    if len(times) < BREATH_MIN_SWELLS + 1:
        return None
    gaps = np.diff(times)
    if gaps[-1] > BREATH_PERIOD_S[1] or not BREATH_PERIOD_S[0] <= float(np.median(gaps)) <= BREATH_PERIOD_S[1]:
        return None
    return len(times), float(np.median(gaps))


def _abdominal_burst(feats: dict) -> bool:
    """A calibrated abdominal EMG rise well above rest (uncalibrated EMG has no such measure)."""
    return (feats.get("abd_norm") or 0.0) > COUGH_ABD_NORM


def _plateau(d: np.ndarray, a: int, b: int, fallback: float) -> float:
    """Median level of d over [a, b): the plateau a rise reaches or a release starts from."""
    if b - a < 2:
        return fallback
    return max(float(np.median(d[a:b])), 0.5 * fallback)


def _ripple(det: Detector, d: np.ndarray, i_up: int, i_dn: int) -> float:
    """The hold's own ripple: robust SD of its level about a 1 s running mean (EMG on the 0.2 s
    smoothed envelope). A steady EMG hold ripples far more than the resting noise, and its bumps
    were counted as quick lifts that were never made."""
    rate = det.p.rate
    a, b = i_up + int(0.3 * rate), i_dn
    w = int(rate)
    if b - a < 2 * w:
        return 0.0
    y = d[a:b]
    if det.modality == "emg":
        k = max(1, int(0.2 * rate))
        y = np.convolve(y, np.ones(k) / k, mode="valid")
    if len(y) < 2 * w:
        return 0.0
    resid = y[w // 2:len(y) - w + w // 2 + 1] - np.convolve(y, np.ones(w) / w, mode="valid")
    return robust_sd(resid)


def robust_sd(x: np.ndarray) -> float:
    """The SD of ``x`` from its median absolute deviation (× 1.4826, the normal's ratio): a
    bump or a spike in the window barely moves it."""
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def count_flicks(det: Detector, d: np.ndarray, i_up: int, i_dn: int, P: float) -> int:
    """Quick lifts riding on the end of the hold: narrow, prominent peaks in its last seconds.

    EMG bursts are counted on the envelope smoothed over 0.2 s (the contraction is closed, so a
    centred window is allowed here): the raw 6 Hz envelope has noise peaks as tall as flicks. On
    EMG a set is followed from its clearest lift: bumps half as prominent count when they continue
    it at a quick lift's spacing (on held-out recordings, sets of 3–4 were mostly counted 0–2)."""
    rate = det.p.rate
    a = max(i_up + int(0.8 * rate), i_dn - int(FLICK_ZONE_S * rate))
    b = min(len(d), i_dn + int(0.3 * rate))
    if b - a < 3:
        return 0
    y = d[a:b]
    frac = FLICK_MIN_FRAC
    if det.modality == "emg":
        w = max(1, int(0.2 * rate))
        y = np.convolve(d[max(0, a - w):b + w], np.ones(w) / w, mode="same")[a - max(0, a - w):][:b - a]
        frac = FLICK_MIN_FRAC_EMG
    prom = max(frac * P, FLICK_MIN_SPREADS * det.spread(), FLICK_MIN_RIPPLES * _ripple(det, d, i_up, i_dn))
    args = (max(3, int(FLICK_WLEN_S * rate)), FLICK_MAX_WIDTH_S * rate, max(1, int(0.2 * rate)))
    pk = find_peaks(y, prom, *args)
    if det.modality != "emg" or not len(pk):
        return int(len(pk))
    # Quick lifts come in sets: a weaker bump (envelope noise takes a share of each burst) counts
    # when it continues the set, at a lift's spacing from one already counted.
    weak = find_peaks(y, FLICK_TRAIN_FRAC * prom, *args)
    lo, hi = FLICK_TRAIN_GAP_S[0] * rate, FLICK_TRAIN_GAP_S[1] * rate
    counted = {int(i) for i in pk}  # (weak bumps alone are not enough: envelope noise makes sets of those)
    grew = True
    while grew:
        grew = False
        for i in weak:
            if int(i) not in counted and any(lo <= abs(int(i) - j) <= hi for j in counted):
                counted.add(int(i))
                grew = True
    end = i_dn - a  # the release: a set of quick lifts ends the hold, the last of them just before it
    if len(counted) > len(pk) and end - max(counted) > FLICK_TRAIN_END_S * rate:
        return int(len(pk))
    return len(counted)


# ---------------------------------------------------------------------------- classification
def classify(det: Detector, a: int, b: int, pre: list[float]) -> tuple[Kind | None, dict[str, float]]:
    """Decide lift / accessory / bear_down over samples [a, b) (``kinds.decide``, with the
    patient's own thresholds when the calibration has them); None with the pelvic channel alone."""
    p = det.p
    feats: dict = {}
    ab = p.roles.get("abdominal")
    dp = p.roles.get("displacement")
    if ab is None and dp is None:
        return None, feats
    P = max(float(np.mean(p.hist.x(a, b, 0))) - pre[0], 1e-9)
    few = kinds.ABD_FEW_CMH2O
    if ab is not None:
        ch = p.channels[ab]
        A = float(np.mean(p.hist.x(a, b, ab))) - pre[ab]
        feats.update(abd_rise=A, pel_rise=P)
        if ch.modality == "emg":
            cal, pcal = p.cal.get("abdominal"), p.cal.get("pelvic")
            if cal and pcal:
                feats.update(abd_norm=A / cal.span("emg"), pel_norm=P / pcal.span("emg"))
        else:
            feats.update(abd_ratio=A / P)
            few /= CMH2O_PER_MMHG if ch.unit == "mmHg" else 1.0
    if dp is not None:
        feats.update(disp_mm=float(np.mean(p.hist.x(a, b, dp))) - pre[dp])
    return kinds.decide(feats, p.cal.kinds, few), feats

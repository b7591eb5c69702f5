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

import numpy as np
from scipy.signal import find_peaks

from ..recording import CMH2O_PER_MMHG

#: For a raised-cosine edge, (start → 50 %) = RC_K · (10 % → 90 %).
RC_K = 0.5 / 0.5904
MIN_HOLD_S = {"pressure": 0.3, "emg": 0.3}   # coughs are 0.1–0.25 s at half height
RELAX_FRAC = 0.2          # post-release level above pre-onset, as a fraction of the peak
FLICK_MIN_FRAC = 0.12     # flick prominence as a fraction of the peak rise ...
FLICK_MIN_SPREADS = 3.0   # ... and in resting spreads
FLICK_MAX_WIDTH_S = 0.6   # quick lifts; slower bumps are respiration or drift
FLICK_WLEN_S = 1.2


def _cross_up(t, d, level, i0):
    """Interpolated time of the first upward crossing of ``level`` at or after index i0."""
    idx = np.flatnonzero(d[i0:] >= level)
    if len(idx) == 0:
        return None, None
    i = i0 + int(idx[0])
    if i == 0 or d[i - 1] >= level:
        return float(t[i]), i
    f = (level - d[i - 1]) / (d[i] - d[i - 1])
    return float(t[i - 1] + f * (t[i] - t[i - 1])), i


def _cross_down_before(t, d, level, i1):
    """Interpolated time of the last downward crossing of ``level`` before index i1."""
    idx = np.flatnonzero(d[:i1] >= level)
    if len(idx) == 0:
        return None, None
    i = int(idx[-1])
    if i + 1 >= len(d):
        return float(t[i]), i
    f = (d[i] - level) / (d[i] - d[i + 1])
    return float(t[i] + f * (t[i + 1] - t[i])), i


def _last_below_before(t, d, level, i1):
    """Interpolated time of the last upward crossing of ``level`` before index i1 (walking back)."""
    idx = np.flatnonzero(d[:i1] < level)
    if len(idx) == 0:
        return float(t[0])
    i = int(idx[-1])
    if i + 1 >= len(d):
        return float(t[i])
    f = (level - d[i]) / (d[i + 1] - d[i])
    return float(t[i] + f * (t[i + 1] - t[i]))


def edge_start(t, d, top, i_top, rising=True):
    """Start (rising) or end (falling) of an edge of height ``top`` that reaches it at i_top."""
    if rising:
        t90 = _last_below_before(t, d, 0.9 * top, i_top + 1)
        t50 = _last_below_before(t, d, 0.5 * top, i_top + 1)
        t10 = _last_below_before(t, d, 0.1 * top, i_top + 1)
        return min(t50 - RC_K * (t90 - t10), t10)
    r = d[::-1]
    tr = -t[::-1]
    j = len(d) - 1 - i_top
    return -edge_start(tr, r, top, j, True)


def measure(p, c: dict, k_now: int):
    """Measure the contraction described by detector state ``c``; None if it is an artifact."""
    from .detect import Contraction

    rate = p.rate
    k_cross, k_end = c["k_cross"], c["k_end"]
    a = max(p.hist.start, k_cross - int(2.0 * rate))
    t = p.hist.t(a, k_now + 1)
    x = p.hist.x(a, k_now + 1)
    L0 = c["pre"][0]
    d = x - L0
    ic, ie = k_cross - a, min(k_end - a, len(d) - 1)
    seg = d[ic:ie + 1]
    if len(seg) == 0:
        c["reject"] = "empty"
        return None
    ipk = ic + int(np.argmax(seg))
    P = float(d[ipk])
    t_up, i_up = _cross_up(t, d, 0.5 * P, max(0, ic - int(1.0 * rate)))
    t_dn, i_dn = _cross_down_before(t, d, 0.5 * P, ie + 1)
    if t_up is None or t_dn is None:
        c["reject"] = "no half-peak crossing"
        return None
    hold = t_dn - t_up
    modality = p.pelvic.modality
    if hold < MIN_HOLD_S[modality]:
        c["reject"] = f"cough or spike (half-height width {hold:.2f} s)"
        return None
    # onset: the initial rise, up to its first plateau (not the flicks at the end)
    i_rise_end = min(ie, i_up + int(1.5 * rate))
    i_p1 = i_up + int(np.argmax(d[i_up:i_rise_end + 1]))
    onset = edge_start(t, d, float(d[i_p1]), i_p1, rising=True) - p.delay_s
    # offset: the release, from its top to the post-release level
    n_post = len(d) - 1 - i_dn
    post_a = i_dn + min(int(0.6 * rate), max(n_post // 2, 1))
    post = float(np.median(d[post_a:])) if post_a < len(d) else float(d[-1])
    i_top = max(i_up, i_dn - int(1.0 * rate))
    i_rel_top = i_top + int(np.argmax(d[i_top:i_dn + 1]))
    rel = d[i_rel_top:] - post
    offset = edge_start(t[i_rel_top:], rel, float(rel[0]), 0, rising=False) - p.delay_s
    relaxed = post < RELAX_FRAC * P
    flicks = count_flicks(p, t, d, i_up, i_dn, P)
    kind, feats = classify(p, a + i_up, a + i_dn + 1, c["pre"], P)
    feats.update(post_frac=post / P if P else 0.0, rise_s=float(t[i_p1]) - onset - p.delay_s)
    mvc_pct = 100.0 * P / p.span if p.span else None
    return Contraction(onset_s=onset, offset_s=max(offset, t_dn - p.delay_s), hold_s=hold, peak=P,
                       flicks=flicks, kind=kind, relaxed=bool(relaxed), mvc_pct=mvc_pct,
                       features=feats)


def count_flicks(p, t, d, i_up, i_dn, P) -> int:
    """Quick lifts riding on the end of the hold: narrow, prominent peaks in its last part."""
    a = i_up + int(0.8 * p.rate)
    b = min(len(d), i_dn + int(0.3 * p.rate))
    if b - a < 3:
        return 0
    spread = math.sqrt(max(p._var, 0.0))
    prom = max(FLICK_MIN_FRAC * P, FLICK_MIN_SPREADS * spread)
    pk, props = find_peaks(d[a:b], prominence=prom, wlen=max(3, int(FLICK_WLEN_S * p.rate)),
                           width=(None, FLICK_MAX_WIDTH_S * p.rate), distance=max(1, int(0.2 * p.rate)))
    return int(len(pk))


# ---------------------------------------------------------------------------- classification
#: Pressure: abdominal rise as a fraction of the pelvic rise. Bearing down pushes the abdomen
#: (vaginal follows passively at 0.4–0.9×, i.e. ratio > 1.1); a correct lift leaves it within a
#: few cmH2O; accessory effort lies between.
ABD_RATIO_BEAR = 0.95
ABD_RATIO_ACCESSORY = 0.25
ABD_FEW_CMH2O = 3.0
DISP_MM = 0.3            # probe drawn inward (+) on a lift, pushed outward (−) on bearing down


def classify(p, a: int, b: int, pre: list[float], pelvic_rise: float):
    """Decide lift / accessory / bear_down over samples [a, b); None with the pelvic channel alone."""
    feats: dict = {}
    ab = p.roles.get("abdominal")
    dp = p.roles.get("displacement")
    if ab is None and dp is None:
        return None, feats
    P = max(float(np.mean(p.hist.x(a, b, 0))) - pre[0], 1e-9)
    votes = []
    if ab is not None:
        ch = p.channels[ab]
        A = float(np.mean(p.hist.x(a, b, ab))) - pre[ab]
        cal = p.cal.get("abdominal")
        pcal = p.cal.get("pelvic")
        if ch.modality == "emg":
            a_span = cal.span("emg") if cal else None
            p_span = pcal.span("emg") if pcal else None
            an = A / a_span if a_span else None
            pn = P / p_span if p_span else None
            feats.update(abd_rise=A, abd_norm=an, pel_norm=pn)
            votes.append(_emg_vote(A, P, an, pn))
        else:
            few = ABD_FEW_CMH2O / (CMH2O_PER_MMHG if ch.unit == "mmHg" else 1.0)
            r = A / P
            feats.update(abd_rise=A, abd_ratio=r)
            if r > ABD_RATIO_BEAR:
                votes.append("bear_down")
            elif r > ABD_RATIO_ACCESSORY and A > few:
                votes.append("accessory")
            else:
                votes.append("lift")
    if dp is not None:
        D = float(np.mean(p.hist.x(a, b, dp))) - pre[dp]
        feats.update(disp_mm=D)
        if D < -DISP_MM:
            votes.append("bear_down")
        elif ab is None:
            votes.append("lift")
    if "bear_down" in votes:
        return "bear_down", feats
    return votes[0], feats


EMG_ABD_BEAR = 0.5       # abdominal RMS rise, fraction of its maximal effort span
EMG_ABD_ACCESSORY = 0.12


def _emg_vote(A, P, an, pn):
    if an is None:  # uncalibrated: abdominal rise against the pelvic rise
        r = A / P
        return "bear_down" if r > 6 else "accessory" if r > 1.5 else "lift"
    return "bear_down" if an > EMG_ABD_BEAR else "accessory" if an > EMG_ABD_ACCESSORY else "lift"

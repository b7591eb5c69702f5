"""The streaming contraction detector and the pipeline that feeds it.

``Pipeline.process(t, block)`` takes raw sample blocks (rows × channels) and returns the events
they revealed; ``Pipeline.finish()`` flushes the end of the recording. Offline analysis is the same
object fed the whole file, so the live device and ``pfmt analyze`` cannot disagree.

The detector runs on the pelvic activity signal (pressure level or EMG RMS envelope at ~100 Hz):

REST     track the resting level (drift-following, frozen during contractions) and its spread;
         a rise above ``max(K·spread, F·MVC)`` opens a contraction and emits ``onset`` at once.
ACTIVE   follow the peak; emit the provisional ``kind`` once the rise is over; the contraction
         ends when the signal stays under half its peak rise for ``END_BELOW_S``.
SETTLE   wait for the post-release level (did the muscle relax?), then measure the contraction
         (``measure.py``), reject coughs and posture shifts, emit ``contraction``.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from device.errors import N_, InputError
from device.pipeline import measure
from device.pipeline.calibration import Calibration
from device.pipeline.conditioning import make_conditioner
from device.pipeline.history import History
from device.pipeline.types import Contraction, Episode, Event, EventType
from device.recording import CMH2O_PER_MMHG, Channel, Recording, Stream

__all__ = ["Contraction", "Detector", "Episode", "Event", "Pipeline", "analyze"]

WARMUP_S = 1.5          # resting level learnt before anything is detected (then the warm-up is
                        # run through the detector: a contraction in it is still reported)
WARMUP_SKIP_S = {"pressure": 0.05, "emg": 0.3}  # the filters' start-up, left out of the warm-up
WARMUP_Q_SPAN = 0.6071  # (q25 − q10) of a normal distribution, in SDs: the quiet part is learnt
                        # from the lowest quarter, so a contraction may fill most of the warm-up
WARMUP_Q25_Z = 0.6745   # its median lies this many SDs above q25
UNDER_WAY_S = 0.1       # a crossing this soon after watching began: the recording began inside it
K_ON = 3.5              # onset threshold in resting spreads ...
F_ON = 0.08             # ... or as a fraction of the calibrated MVC span, whichever is larger
                        # (light squeezes of 10–30 % MVC are prescribed and must be seen)
# Early onset (calibrated pressure): a squeeze is announced as soon as the level is a little up AND
# rising faster than breathing can move it; it is confirmed when the onset threshold is crossed,
# or withdrawn (``onset_cancelled``). Detection and measurement are unchanged by it — it only
# makes the ``onset`` event earlier (DESIGN: rise ≈ 30 cmH2O/s; respiration ±1–3 cmH2O at
# 0.15–0.35 Hz, i.e. at most ~7 cmH2O/s).
EARLY = {"pressure": True, "emg": False}
F_EARLY = 0.03          # level: this fraction of the MVC span above rest (and the sensor floor) ...
K_EARLY = 2.0           # ... and this many resting spreads
SLOPE_EARLY = 0.3       # rising at this fraction of the MVC span per second ...
SLOPE_EARLY_MIN = 8.0   # ... and at least this many units per second (faster than any breath)
SLOPE_WINDOW_S = 0.05   # slope measured over this window of the activity signal
EARLY_CONFIRM_S = 1.0   # withdrawn unless the onset threshold is crossed this soon
# The onset cue must not flicker (issue 22): an early onset is announced only while a withdrawal
# can be afforded — a budget of EARLY_BUDGET withdrawals, refilled at EARLY_REFILL_PER_MIN — and
# not within EARLY_QUIET_S of the last withdrawal (never twice for one rise). A noisy or slowly
# sampled signal then falls back to the threshold's onset instead of withdrawing every second.
EARLY_BUDGET = 1.0
EARLY_REFILL_PER_MIN = 0.25
EARLY_QUIET_S = 3.0
TROUGH_TAU_S = 1.0      # the early level is measured from the recent trough when the signal sits
                        # below its resting level (tone let go just before the next squeeze)
END_BELOW_S = 0.6       # under half the peak this long = released ...
END_REST_S = 0.2        # ... or back at rest this long (quick contractions a second apart are
END_REST_FRAC = 0.15    # separate: between them the level falls to rest, between flicks it does not)
SETTLE_S = 1.6          # post-release window that decides "relaxed"
KIND_AFTER_S = 1.0      # provisional kind once the rise is (usually) complete
RISE_BACK_S = 2.5       # a measured onset lies at most this far before its crossing (measure: the rise
                        # is looked for 1.5 s back, and its edge model reaches MAX_EDGE_S before that)
COACTIVE_FRAC = 0.5     # abdominal effort with a pelvic squeeze over at least this share of it is the
                        # squeeze's co-activity; less (a squeeze starting as a strain ends, the tone
                        # left after it) and the effort was a strain
MAX_ACTIVE_S = 240.0    # longer than any prescribed hold: a posture shift, not a contraction
PRE_WINDOW_S = (1.2, 0.25)   # pre-onset level: median over [cross-1.2 s, cross-0.25 s]
BASELINE_TAU_UP_S = 4.0
BASELINE_TAU_FAST_S = 0.15   # after a drop of more than a threshold
BASELINE_TAU_SLOW_S = 30.0   # while the signal sits between half and full threshold
BASELINE_TAU_DOWN_S = {"pressure": 2.5, "emg": 0.3}  # pressure: centred on respiration
SPREAD_TAU_S = 8.0
DIP_MEMORY_S = 40.0      # where falls are expected (a hypopressive apnoea), a fall below rest is
                         # remembered this long: climbing back to that rest is a return, not a
                         # contraction. Only there: in the signal alone, a posture step down and a
                         # squeeze back up to the old level look the same as an apnoea and its end
DIP_SETTLED_S = 3.0      # ... if that rest had settled this long, without falling (after a release
                         # the level still falls: that tail is not a rest to return to)
SPREAD_DROP_FRAC = 0.7   # the spread learns only from samples above −this × threshold: a level
                         # falling (posture step, tone let go) is not noise, and learning it
                         # raised the threshold until the next squeeze went unseen

#: Smallest onset threshold per unit (sensor resolution, not physiology).
THRESHOLD_FLOOR = {"cmH2O": 1.0, "mmHg": 1.0 / CMH2O_PER_MMHG, "uV": 1.5, "mm": 0.2}

_WARMUP, _REST, _ACTIVE, _SETTLE = range(4)


class Detector:
    """The REST → ACTIVE → SETTLE state machine on one channel's activity signal."""

    def __init__(self, pipe: Pipeline, ch: int) -> None:
        self.p = pipe
        self.ch = ch
        self.channel = pipe.channels[ch]
        self.modality = self.channel.modality
        self.delay_s = pipe.cond[ch].delay_s
        cal = pipe.cal.get(self.channel.role)
        self.span = cal.span(self.modality) if cal else None
        self.floor = THRESHOLD_FLOOR[self.channel.unit]
        self._thr_min = max(self.floor, F_ON * self.span) if self.span else self.floor
        def alpha(tau_s: float) -> float:  # per-sample weight of an EMA with time constant tau
            return 1.0 - math.exp(-1.0 / (tau_s * pipe.rate))

        self._au = alpha(BASELINE_TAU_UP_S)
        self._ad = alpha(BASELINE_TAU_DOWN_S[self.modality])
        self._av = alpha(SPREAD_TAU_S)
        self._aslow = alpha(BASELINE_TAU_SLOW_S)
        self._afast = alpha(BASELINE_TAU_FAST_S)
        # An RMS envelope's noise grows with its level (it is multiplicative), so for EMG the
        # spread is tracked relative to the resting level; pressure noise is additive.
        self._relative = self.modality == "emg"
        self.state = _WARMUP
        self._b = 0.0
        self._var = 0.0
        self._thr = self.floor
        self._early_on = bool(EARLY[self.modality] and self.span)
        self._thr_early = math.inf
        self._early_floor = max(F_EARLY * self.span, self.floor) if self.span else math.inf
        self._slope_early = max(SLOPE_EARLY * self.span, SLOPE_EARLY_MIN) * SLOPE_WINDOW_S if self.span else math.inf
        self._slope_lag = max(1, int(round(SLOPE_WINDOW_S * pipe.rate)))
        self._early: tuple[int, float, float] | None = None  # (index, time, from level) of an announced onset
        self._budget = EARLY_BUDGET  # withdrawals affordable now
        self._budget_at = -math.inf  # when it was last brought up to date
        self._quiet_until = -math.inf
        self._atrough = alpha(TROUGH_TAU_S)
        # Uncalibrated, the spread is the threshold's only guard against breathing troughs and
        # noise (no MVC floor): it keeps learning from them.
        self._drop_frac = SPREAD_DROP_FRAC if self.span else math.inf
        self._trough = 0.0  # recent minimum, relaxing upward
        self.falls_expected = False  # set while the session cues hypopressive apnoeas
        self._dip: tuple[float, float] | None = None  # (resting level before a fall, time of the fall)
        self._rest_since = math.inf  # settled since then (the warm-up's end, the last release or fall)
        self._rest_before = math.inf  # the resting level before the last contraction
        self._known_floor = -math.inf  # nothing is known before the warm-up ends
        self._watch_from = -math.inf   # the first sample the detector watched
        self.free_from = 0  # history index after the last contraction closed: the next rise starts here
        self.episode: Episode | None = None
        # Breathing goes on through a contraction: the last train of breaths seen (the rest clock
        # then, the swell's rise), so the first breaths after a squeeze, before a new train can
        # show, are still known for breaths. The rest clock is time less the time spent in
        # contractions (and posture shifts): what a train of breaths could have been seen in.
        self.busy_s = 0.0
        self.breath_seen: tuple[float, float] | None = None
        self._keep_s = 3.0 + (measure.BREATH_CONTEXT_S if self.modality == "pressure" else 0.0)

    @property
    def busy(self) -> bool:
        return self.state in (_ACTIVE, _SETTLE)

    @property
    def warming_up(self) -> bool:
        """Still learning the resting level (nothing is detected yet)."""
        return self.state == _WARMUP

    @property
    def resting_level(self) -> float:
        """The resting level the detector follows (frozen during a contraction)."""
        return self._b

    @property
    def rest_before_dip(self) -> float:
        """The resting level before a fall still remembered (the level a hypopressive apnoea is
        judged against), else the resting level."""
        return self._dip[0] if self._dip is not None and not self.busy else self._b

    def reference_level(self) -> float:
        """The level rises are measured from now: the open contraction's pre-onset level, else
        the resting level."""
        return self.episode.pre[self.ch] if self.episode is not None else self._b

    def spread(self) -> float:
        """Resting spread of the activity signal, in its unit, at the current level."""
        s = math.sqrt(max(self._var, 0.0))
        return s * max(self._b, self.floor) if self._relative else s

    def threshold(self) -> float:
        """Current onset threshold above the resting level, in the channel's unit."""
        return max(K_ON * self.spread(), self._thr_min)

    def _set_thresholds(self) -> None:
        self._thr = self.threshold()
        if self._early_on:
            self._thr_early = max(K_EARLY * self.spread(), self._early_floor)

    def _early_check(self, k: int, t: float, v: float, ref: float) -> None:
        """REST only: announce an onset early (level a little up from ``ref`` — the resting level,
        or the recent trough below it — and rising fast), or withdraw one the threshold did not
        confirm in time."""
        if self._early is not None:
            if v - self._early[2] < 0.5 * self._thr_early or t - self._early[1] > EARLY_CONFIRM_S:
                self.p._emit("onset_cancelled", self._early[1] - self.delay_s, t, self)
                self._early = None
                self._refill(t)
                self._budget -= 1.0
                self._quiet_until = t + EARLY_QUIET_S
        elif v - ref > self._thr_early and k - self._slope_lag >= self.p.hist.start and t >= self._quiet_until:
            window = self.p.hist.x(k - self._slope_lag, k + 1, self.ch)
            if window[-1] - window[0] > self._slope_early and self._refill(t) >= 1.0:
                self._early = (k, t, ref)
                self.p._emit("onset", t - self.delay_s, t, self, threshold=self._thr_early, early=True)

    def _refill(self, t: float) -> float:
        """The withdrawal budget at time ``t`` (refilled since it was last brought up to date)."""
        if self._budget_at > -math.inf:
            self._budget = min(EARLY_BUDGET, self._budget + (t - self._budget_at) * EARLY_REFILL_PER_MIN / 60.0)
        self._budget_at = t
        return self._budget

    def run(self, start: int, ts: list[float], xs: list[float]) -> None:
        """The state machine over samples ``start …`` (times ``ts``, activity ``xs``).

        REST is the hot path (most samples), kept inline with its state in locals: the resting
        level ``b``, its variance ``var``, the thresholds ``thr`` and ``te`` and the trough ``lo``.
        They are written back before any method that reads them is called, and read again after
        any that may change them, so the result is the attribute-for-attribute loop's exactly."""
        k = start
        au, ad, av, rel, floor = self._au, self._ad, self._av, self._relative, self.floor
        aslow, afast, atrough, drop = self._aslow, self._afast, self._atrough, self._drop_frac
        thr_min, early_on, early_floor, sqrt = self._thr_min, self._early_on, self._early_floor, math.sqrt
        b, var, thr, te, lo = self._b, self._var, self._thr, self._thr_early, self._trough
        st = self.state
        for tt, v in zip(ts, xs):
            if st == _REST:
                d = v - b
                if early_on:
                    lo = v if v < lo else lo + atrough * (v - lo)
                    ref = lo if lo < b else b
                    dip = self._dip
                    if dip is not None and ref < dip[0]:
                        ref = dip[0]  # a return to the rest before a fall is not an onset
                    if (self._early is not None or v - ref > te) and d <= thr:
                        self._thr_early = te
                        self._early_check(k, tt, v, ref)
                if d > 0.5 * thr and self._dip is not None and self._returning_at(tt, v, b, thr):
                    b += afast * d  # climbing back to the rest before a fall: follow it
                elif d > thr:
                    self._b, self._var, self._thr, self._thr_early, self._trough = b, var, thr, te, lo
                    self._open(k, tt)
                    st = self.state
                elif d > 0.5 * thr:  # maybe a slow rise starting: learn (almost) nothing
                    b += aslow * d
                elif d < -thr:  # a level drop (tone let go, posture): follow, not noise
                    if self.falls_expected and self._dip is None and tt - self._rest_since >= DIP_SETTLED_S:
                        # never above the rest before the last contraction (a level left
                        # raised after it, not relaxed, is not a rest to return to)
                        self._dip = (min(b, self._rest_before + thr), tt)
                    self._rest_since = tt  # still falling: not a settled rest
                    b += afast * d
                else:
                    b += (au if d > 0 else ad) * d
                    if d > -drop * thr:  # a falling level is not noise
                        r = d / (b if b > floor else floor) if rel else d
                        var = var + av * (r * r - var)
                        # _set_thresholds(), inline: the hot path's one per-sample cost
                        s = sqrt(var) if var > 0.0 else 0.0
                        if rel:
                            s *= b if b > floor else floor
                        thr = K_ON * s
                        thr = thr if thr > thr_min else thr_min
                        if early_on:
                            te = K_EARLY * s
                            te = te if te > early_floor else early_floor
            else:
                if st == _ACTIVE:
                    self._active(k, tt, v)
                elif st == _SETTLE:
                    self._settle(k, tt, v)
                elif self.p._t0 is not None and tt - self.p._t0 >= WARMUP_S:
                    self._init_rest(k)
                st = self.state
                if st == _REST:  # back at rest (rebased, or the warm-up learnt): its state anew
                    b, var, thr, te, lo = self._b, self._var, self._thr, self._thr_early, self._trough
            k += 1
        if st == _REST:
            self._b, self._var, self._thr, self._thr_early, self._trough = b, var, thr, te, lo

    def _returning_at(self, t: float, v: float, b: float, thr: float) -> bool:
        """:meth:`_returning` with the hot path's resting level and threshold written back first."""
        self._b, self._thr = b, thr
        return self._returning(t, v)

    def _returning(self, t: float, v: float) -> bool:
        """REST, above half the threshold with a fall remembered: is this the climb back to the
        rest before the fall (not above it by a threshold)? Forgets the fall once back there,
        past it, or after ``DIP_MEMORY_S``."""
        assert self._dip is not None
        before, since = self._dip
        if t - since > DIP_MEMORY_S or v > before + self._thr:
            self._dip = None
            return False
        if self._b >= before - 0.5 * self._thr:
            self._dip = None  # back at the old rest: what follows is measured from here
        return True

    def finish(self) -> None:
        if self.busy and self.p.hist.n:
            k = self.p.hist.end - 1
            c = self._open_episode()
            if self.state == _ACTIVE:
                c.k_end = c.k_below if c.k_below is not None else k
                if c.t_below is None:
                    c.t_below = self.p.hist.time_at(c.k_end)
            self._finalize(k)

    def _open_episode(self) -> Episode:
        """The open episode (ACTIVE or SETTLE always have one)."""
        assert self.episode is not None, "ACTIVE/SETTLE without an episode"
        return self.episode

    def _init_rest(self, k: int) -> None:
        """End of the warm-up: learn the resting level and spread from its quiet part, then run the
        warm-up's samples through the detector, so a contraction already under way (or over) is
        found and reported — late, known at this sample, but with its own times."""
        h = self.p.hist
        a0 = min(h.start + int(WARMUP_SKIP_S[self.modality] * self.p.rate), (h.start + k) // 2)
        x = h.x(a0, k + 1, self.ch)
        # the quiet part: robust to a contraction filling up to about half the warm-up
        q10, q25 = (float(v) for v in np.quantile(x, (0.1, 0.25)))
        sigma = (q25 - q10) / WARMUP_Q_SPAN
        self._b = q25 + WARMUP_Q25_Z * sigma
        if self._relative:
            sigma /= max(self._b, self.floor)
        self._var = sigma * sigma
        self._trough = self._b
        self._rest_since = h.time_at(a0)
        self._rest_before = self._b
        self.state = _REST
        self._set_thresholds()
        self._known_floor = h.time_at(k)
        self._watch_from = h.time_at(a0)
        self.run(a0, h.t(a0, k + 1).tolist(), x.tolist())

    def _open(self, k: int, t: float, rest: float | None = None) -> None:
        h = self.p.hist
        a = k - int(PRE_WINDOW_S[0] * self.p.rate)
        b = k - int(PRE_WINDOW_S[1] * self.p.rate)
        pre = [float(np.median(h.x(a, b, ch))) if b > max(a, h.start) else
               float(h.x(k, k + 1, ch)[0]) for ch in range(len(self.p.channels))]
        if self.state == _REST:  # the resting level follows a dip just before the rise
            pre[self.ch] = min(pre[self.ch], self._b)
        self._dip = None
        self._rest_before = pre[self.ch]
        self.episode = Episode(k_cross=k, t_cross=t, pre=pre, thr=self._thr, t_known=t,
                               rest=self._b if rest is None else rest)
        self.state = _ACTIVE
        if self.p.pelvic is self:
            self.p._pelvic_open = (k, t - self.delay_s)
        if self._early is not None:  # announced already: confirmed now
            self.episode.t_known = self._early[1]
            self._early = None
        else:
            self.p._emit("onset", t - self.delay_s, t, self, threshold=self._thr)

    def _active(self, k: int, t: float, v: float) -> None:
        c = self.episode  # per sample: narrowed inline, not through _open_episode()
        assert c is not None, "ACTIVE without an episode"
        d = v - c.pre[self.ch]
        if d > c.pmax:
            c.pmax = d
        if not c.kind_sent and t - c.t_cross >= KIND_AFTER_S:
            c.kind_sent = True
            kind, _ = measure.classify(self, c.k_cross, k + 1, c.pre)
            c.kind_at = t
            self.p._emit("kind", c.t_cross - self.delay_s, t, self, kind=kind)
        if d >= 0.5 * c.pmax:
            c.k_below = c.t_rest = None
        elif c.k_below is None:
            c.k_below, c.t_below = k, t
        if c.k_below is not None and d < END_REST_FRAC * c.pmax:
            if c.t_rest is None:
                c.t_rest = t
        else:
            c.t_rest = None
        if c.t_below is not None and c.k_below is not None and (
                t - c.t_below >= END_BELOW_S or (c.t_rest is not None and t - c.t_rest >= END_REST_S)):
            c.k_end, c.t_offset_known, c.settle_min = c.k_below, t, v
            self.state = _SETTLE
            self.p._emit("offset", c.t_below - self.delay_s, t, self)
        if t - c.t_cross > MAX_ACTIVE_S:
            self.p._emit("posture_shift", c.t_cross - self.delay_s, t, self, level_change=c.pmax)
            self.busy_s += t - c.t_cross
            if self.p.pelvic is self:
                self.p._pelvic_log(k, t, None)
                self.p._resolve_pending()
            self._rebase(k)

    def _settle(self, k: int, t: float, v: float) -> None:
        c = self.episode  # per sample: narrowed inline, not through _open_episode()
        assert c is not None and c.t_below is not None and c.t_offset_known is not None, "SETTLE before the release"
        if v < c.settle_min:
            c.settle_min = v
        if t - c.t_below >= SETTLE_S:
            self._finalize(k)
        elif v - c.settle_min > c.thr and \
                t - c.t_offset_known > 0.2:  # a new squeeze before the settle finished
            rest = c.rest
            self._finalize(k - 1)
            self._open(k, t, rest)  # its rest is the one before the first, not its own rise

    def _finalize(self, k: int) -> None:
        c = self._open_episode()
        known = self.p.hist.time_at(k)
        if c.t_cross - self._watch_from < UNDER_WAY_S:
            res, c.reject = None, "under way when the recording began (its start was never seen)"
        else:
            res = measure.measure(self, c, k)
        if self.p.pelvic is self:
            self.p._pelvic_log(k, known, res)
            self.report(c, res, known)
            self.p._resolve_pending()
        elif res is None:
            self.report(c, None, known)
        else:
            if res.relaxed and self._pelvic_tone_left(c, k):
                res.relaxed = False
            self.p._judge(self, c, res, k, known)
        self._rebase(k)

    def _pelvic_tone_left(self, c: Episode, k: int) -> bool:
        """A secondary detection closed at ``k``: is the pelvic floor left tense after it (its level
        after the release above its level before by more than an onset threshold)? Whether she
        relaxed after a strain is the pelvic floor's answer, not the abdomen's. The threshold is
        the pelvic channel's calibrated floor or its spread before the strain, read from the
        history (not the pelvic detector's live state, which is wherever its block ended)."""
        pel, h, rate = self.p.pelvic, self.p.hist, self.p.rate
        assert c.k_end is not None, "judged before the release"
        a = max(c.k_end + int(0.6 * rate), h.start)
        if a > k:
            return False
        before = h.x(max(h.start, c.k_cross - int(PRE_WINDOW_S[0] * rate)), c.k_cross - int(PRE_WINDOW_S[1] * rate), pel.ch)
        noise = measure.robust_sd(before) if len(before) >= 10 else 0.0
        return float(np.median(h.x(a, k + 1, pel.ch))) - c.pre[pel.ch] > max(pel._thr_min, K_ON * noise)

    def report(self, c: Episode, res: Contraction | None, known: float) -> None:
        """Emit the closed episode ``c``: the contraction ``res`` measured from it, known at
        ``known``, or (None) an artifact with its reason."""
        if res is None:
            self.p._emit("artifact", c.t_cross - self.delay_s, known, self, reason=c.reject or "artifact")
            return
        floor = self._known_floor
        res.onset_known_at_s = max(c.t_known, floor)
        res.kind_known_at_s = max(c.kind_at if c.kind_at is not None else known, floor)
        res.offset_known_at_s = max(c.t_offset_known if c.t_offset_known is not None else known, floor)
        self.busy_s += known - c.t_cross
        self.p.contractions.append(res)
        self.p._emit("contraction", res.onset_s, known, self, **res.to_dict())

    def _rebase(self, k: int) -> None:
        """Back to REST, taking the current level as the new resting level."""
        self.free_from = k + 1
        recent = self.p.hist.x(k - int(0.4 * self.p.rate), k + 1, self.ch)
        self._b = self._trough = float(np.median(recent))
        self._rest_since = self.p.hist.time_at(k)
        self.state = _REST
        self._set_thresholds()
        self.episode = None

    def keep_from(self) -> int:
        """Oldest history index this detector still needs: 3 s before the open episode (its
        pre-onset level and rise), and on pressure the breathing context before that."""
        back = int(self._keep_s * self.p.rate)
        if self.episode is not None:
            return self.episode.k_cross - back
        return self.p.hist.end - back


class Pipeline:
    """Raw sample blocks in, events out; causal, with all state carried between blocks.

    The pelvic channel drives detection. With an abdominal EMG channel a second detector watches
    the abdominals: effort there with no pelvic squeeze at all is bearing down (straining), which
    the pelvic EMG alone may barely show.

    ``events`` holds every event so far, unless ``keep`` says which to hold once their block is
    returned: an hour of EMG makes some 15 000 (9 MB), which a session that handles each block's
    events, or a long file's analysis that reports only some, need not hold.
    """

    def __init__(self, channels: tuple[Channel, ...] | list[Channel], fs: float,
                 calibration: Calibration | None = None, keep: Callable[[Event], bool] | None = None):
        self.keep = keep
        self.channels = tuple(channels)
        if not self.channels or self.channels[0].role != "pelvic":
            raise InputError(N_("the pipeline needs the pelvic channel first"))
        self.fs = float(fs)
        self.cal = calibration or Calibration()
        self.cond = [make_conditioner(c.modality, fs) for c in self.channels]
        self.q = self.cond[0].q
        self.rate = self.fs / self.q
        self.hist = History(len(self.channels))
        self.roles = {c.role: i for i, c in enumerate(self.channels)}
        self.pelvic = Detector(self, 0)
        self.detectors = [self.pelvic]
        ab = self.roles.get("abdominal")
        if ab is not None and self.channels[ab].modality == "emg" and self.pelvic.modality == "emg":
            self.detectors.append(Detector(self, ab))
        self.contractions: list[Contraction] = []
        self.events: list[Event] = []
        # The pelvic detector's open episode (sample index, onset time) and its closed ones
        # (opened, closed, onset time, close time, contraction onset/offset or None): what the
        # secondary detector's decisions rest on.
        self._pelvic_open: tuple[int, float] | None = None
        self._pelvic_episodes: list[tuple[int, int, float, float, float | None, float | None]] = []
        # secondary detections waiting for the outcome of a pelvic episode open when they closed
        self._pending: list[tuple[Detector, Episode, Contraction, int, float]] = []
        self._t0: float | None = None

    @property
    def delay_s(self) -> float:
        return self.pelvic.delay_s

    def process(self, t: np.ndarray, block: np.ndarray) -> list[Event]:
        """Feed raw samples ``block`` (n × channels) stamped ``t`` (n,); return new events."""
        block = np.asarray(block, dtype=float)
        if block.ndim == 1:
            block = block[:, None]
        if len(t) == 0:
            return []
        keep = self.cond[0].keep_index(len(t))
        acts = [c.process(block[:, i]) for i, c in enumerate(self.cond)]
        tk = np.asarray(t, dtype=float)[keep]
        if len(tk) == 0:
            return []
        if self._t0 is None:
            self._t0 = float(tk[0])
        start = self.hist.end
        self.hist.append(tk, np.column_stack(acts))
        n_before = len(self.events)
        ts = tk.tolist()
        for det in self.detectors:
            det.run(start, ts, acts[det.ch].tolist())
        self.hist.trim_before(min(d.keep_from() for d in self.detectors))
        return self._returned(n_before)

    def finish(self) -> list[Event]:
        """End of recording: close any open contraction with what data there is."""
        n_before = len(self.events)
        for det in self.detectors:
            det.finish()
        self.contractions.sort(key=lambda c: c.onset_s)
        return self._returned(n_before)

    def _returned(self, n_before: int) -> list[Event]:
        """The events since ``n_before``, and ``events`` cut down to what ``keep`` holds."""
        new = self.events[n_before:]
        if self.keep is not None:
            self.events = [e for e in self.events if self.keep(e)]
        return new

    def _pelvic_log(self, k: int, t: float, res: Contraction | None) -> None:
        """The pelvic detector closed the episode it opened at sample ``k`` (time ``t``): note
        when, and the contraction it measured, for the secondary detector's decisions."""
        assert self._pelvic_open is not None, "the pelvic detector closes only what it opened"
        (k_open, t_open), self._pelvic_open = self._pelvic_open, None
        self._pelvic_episodes.append((k_open, k, t_open, t, res.onset_s if res else None,
                                      res.offset_s if res else None))

    def _judge(self, det: Detector, c: Episode, res: Contraction, k: int, known: float) -> None:
        """A secondary (abdominal) detection closed at sample ``k``: effort there with no pelvic
        squeeze over most of it is bearing down; with one, it is the pelvic squeeze's co-activity.
        The pelvic episodes that matter are those opened by ``k``; while one of them is still
        open, its outcome (a squeeze, or an artifact such as the strain's own crosstalk) is not
        known, and the decision waits for it (``_resolve_pending``), unless even its earliest
        possible onset could not cover enough of the strain. The detectors run one after the
        other over a block, so the decision never depends on how far the pelvic detector has got:
        any chunking (live blocks, one-shot analysis) gives the same answer, known at the same
        time."""
        need = COACTIVE_FRAC * (res.offset_s - res.onset_s)

        def may_cover(t_open: float) -> bool:  # could a pelvic episode opened then cover enough of it?
            return res.offset_s - max(res.onset_s, t_open - RISE_BACK_S) >= need

        if self._pelvic_open is not None and self._pelvic_open[0] <= k and may_cover(self._pelvic_open[1]):
            self._pending.append((det, c, res, k, known))
            return
        horizon = res.onset_s - MAX_ACTIVE_S - 60.0
        while self._pelvic_episodes and (self._pelvic_episodes[0][5] or self._pelvic_episodes[0][2]) < horizon:
            self._pelvic_episodes.pop(0)  # long over: cannot overlap anything still to come
        for k_open, k_close, t_open, t_close, on, off in self._pelvic_episodes:
            if k_open > k:
                break  # opened after this decision
            if k_close > k and may_cover(t_open):
                known = max(known, t_close)  # open at k: the decision waited for its outcome
            if on is not None and off is not None and min(off, res.offset_s) - max(on, res.onset_s) >= need:
                c.reject = "co-activity of a detected pelvic contraction"
                det.report(c, None, known)
                return
        res.kind = "bear_down"
        det.report(c, res, known)

    def _resolve_pending(self) -> None:
        """The pelvic detector closed an episode: decide the secondary detections that waited."""
        pending, self._pending = self._pending, []
        for det, c, res, k, known in pending:
            self._judge(det, c, res, k, known)

    def _emit(self, type_: EventType, time_s: float, known_at_s: float, det: Detector, **data: object) -> None:
        data["channel"] = det.channel.role
        self.events.append(Event(type_, time_s, max(known_at_s, det._known_floor), data))


def analyze_stream(stream: Stream, calibration: Calibration | None = None,
                   keep: Callable[[Event], bool] | None = None) -> Pipeline:
    """Run the pipeline over a recording read in blocks (``device.recording.open_recording``):
    memory is the pipeline's own history and a block, whatever the file's length. The pipeline is
    causal and carries its state between blocks, so this is :func:`analyze`'s answer exactly.
    ``keep``: the events ``p.events`` holds (default all; :class:`Pipeline`)."""
    p = Pipeline(stream.channels, stream.sample_rate_hz, calibration, keep)
    for t, x in stream.blocks():
        p.process(t, x)
    p.finish()
    return p


def analyze(recording: Recording, calibration: Calibration | None = None,
            block_s: float | None = None) -> Pipeline:
    """Run the pipeline over a whole recording (optionally in blocks of ``block_s`` seconds)."""
    p = Pipeline(recording.channels, recording.sample_rate_hz, calibration)
    n = len(recording.time_s)
    step = n if not block_s else max(1, int(block_s * p.fs))
    for a in range(0, n, step):
        p.process(recording.time_s[a:a + step], recording.data[a:a + step])
    p.finish()
    return p

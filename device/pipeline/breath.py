"""Is she still breathing? Breath-holding, one of the four faults the programmes warn about, seen
on the abdominal pressure: breathing swings it up and down every 3–7 s; while the breath is held
the swing stops and the pressure stays where breathing stopped.

How well breathing can be told from a held breath depends on how much of a breath is watched: a
short window can fall on a breath's turning point, where breathing is briefly still. So each
window length (2.0–3.5 s) is compared with the smallest swing her own resting breathing shows in
windows of that length (learnt in the rests between squeezes), and with the signal's jitter: a
held breath is flat to within a few jitters, breathing is not. Windows are fixed at the hold's
start: the verdict comes 2 s after it (2.5–3.5 s when a slow breath's turning point leaves the
first window in doubt).
"""
from __future__ import annotations

from collections import deque

import numpy as np

from device.pipeline.detect import Pipeline

SMOOTH_S = 0.4        # moving mean: the breathing band (≤ 1 Hz) kept, sensor noise cut ~3×
WINDOWS_S = (2.0, 2.5, 3.0, 3.5)  # the window lengths asked from the hold's start, the shortest
                      # first (a breath's own pause after breathing out lasts up to 1.5–2 s)
SMALLEST_Q = 0.02     # "the smallest swing" her resting windows of a length show: this quantile
HELD_FRAC = 0.5       # held: the swing in the window under this share of that smallest one
HELD_NOISE_X = 5.0    # ... and under this many times the signal's jitter (simulated trainees:
                      # held ≤ 3.9×; breathing ≥ 6.5× in 2 s windows, ≥ 10× in 2.5 s)
MIN_SWING_X = 6.0     # a window length is asked only if her smallest resting swing in it stands
                      # this far above the jitter (shallow, slow breathing: only longer windows)
MIN_WINDOWS = 20      # resting windows of a length needed before it is asked ...
MIN_RESTS = 2         # ... from this many rests (one short rest sees only part of a slow breath)
KEPT = 400            # resting windows remembered per length
STEP_S = 0.1          # window stride when learning
LEARN_EVERY_S = 1.0   # learning runs this often (its cost stays off the feedback loop's budget)


def _spread(x: np.ndarray) -> float:
    """The swing in a window: its interquartile range, which a cough or a sigh (a tenth of the
    window) barely moves, where the SD of a window holding a 60 cmH2O cough spike is 30 times
    that of breathing."""
    q25, q75 = np.quantile(x, (0.25, 0.75))
    return float(q75 - q25)


def _smooth(x: np.ndarray, n: int) -> np.ndarray:
    if n <= 1 or len(x) < n:
        return x
    c = np.cumsum(np.concatenate(([0.0], x)))
    return (c[n:] - c[:-n]) / n


class BreathWatch:
    """Learns the resting breathing on the abdominal pressure channel from the quiet stretches
    between squeezes, then tells whether the breath has been held since a given time.
    ``available`` is False without such a channel: breath-holding cannot be seen then, and the
    session says so."""

    def __init__(self, pipe: Pipeline) -> None:
        self.p = pipe
        i = pipe.roles.get("abdominal")
        self.ch = i if i is not None and pipe.channels[i].modality == "pressure" else None
        self._swings: dict[float, deque[float]] = {w: deque(maxlen=KEPT) for w in WINDOWS_S}
        self._rests: dict[float, set[float]] = {w: set() for w in WINDOWS_S}  # the rests they came from
        self._noise: deque[float] = deque(maxlen=KEPT)
        self._done_until = -np.inf  # resting windows ending before this were learnt
        self._learnt_at = -np.inf
        self._ratios: deque[float] = deque(maxlen=20)  # abdominal rise / pelvic rise of her lifts
        self._asked: tuple[float, dict[float, bool]] = (-np.inf, {})  # (since, window → its verdict)

    @property
    def available(self) -> bool:
        return self.ch is not None

    @property
    def learnt(self) -> bool:
        """Her resting breathing is known (and clear of the noise) for the shortest window."""
        return self._swing(WINDOWS_S[0]) is not None

    def _swing(self, w: float) -> float | None:
        """The smallest swing (interquartile range, ``SMALLEST_Q`` quantile) resting windows of
        length ``w`` show, if it stands clear of the jitter; else None (not asked)."""
        swings = self._swings[w]
        if len(swings) < MIN_WINDOWS or len(self._rests[w]) < MIN_RESTS:
            return None
        low = float(np.quantile(np.array(swings), SMALLEST_Q))
        return low if low > MIN_SWING_X * self._jitter() else None

    def note_lift(self, abd_ratio: float) -> None:
        """A lift's abdominal rise as a share of its pelvic rise (what a squeeze transmits to the
        abdomen): taken out of the abdominal pressure, so a squeeze letting go while a breath
        rises cannot cancel into a flat trace."""
        if 0.0 <= abd_ratio <= 1.0:
            self._ratios.append(float(abd_ratio))

    @property
    def transmission(self) -> float:
        return float(np.median(np.array(self._ratios))) if self._ratios else 0.0

    def _jitter(self) -> float:
        return float(np.median(np.array(self._noise))) if self._noise else 0.0

    def _x(self, t0: float, t1: float) -> tuple[np.ndarray, float] | None:
        """The smoothed abdominal pressure over [t0, t1] and the time of its first value."""
        h = self.p.hist
        if self.ch is None or h.end - h.start < 2:
            return None
        last = h.time_at(h.end - 1)
        rate = self.p.rate
        a = max(h.start, h.end - 1 - int((last - t0) * rate))
        b = h.end - max(0, int((last - t1) * rate))
        n = max(1, int(SMOOTH_S * rate))
        if b - a < n + 1:
            return None
        x = h.x(a, b, self.ch)
        co = self.transmission
        if co > 0:  # the squeeze's share taken out (the pelvic channel carries it, and breathing)
            x = x - co * h.x(a, b, 0)
        return _smooth(x, n), h.time_at(a) + (n - 1) / rate

    def learn(self, since: float, now: float, force: bool = False) -> None:
        """Called while she rests (nothing squeezed since ``since``): the swing of each resting
        window of each length, and the jitter (at most every ``LEARN_EVERY_S``, unless
        ``force``: the rest is ending)."""
        if not force and now - self._learnt_at < LEARN_EVERY_S:
            return
        self._learnt_at = now
        got = self._x(since, now)
        if got is None:
            return
        x, t0 = got
        rate = self.p.rate
        step = max(1, int(STEP_S * rate))
        for w in WINDOWS_S:
            n = int(w * rate)
            for i in range(0, len(x) - n + 1, step):
                if t0 + (i + n) / rate > self._done_until:
                    self._swings[w].append(_spread(x[i:i + n]))
                    if len(self._rests[w]) < MIN_RESTS:
                        self._rests[w].add(since)
        k = max(1, int(0.1 * rate))
        if len(x) > 2 * k:  # what the smoothed signal jitters by, a breath's slope taken out
            self._noise.append(float(np.median(np.abs(x[2 * k:] - 2 * x[k:-k] + x[:-2 * k]))))
        self._done_until = t0 + len(x) / rate

    def held(self, since: float, now: float) -> bool | None:
        """Has the breath been held since ``since``? The windows from ``since`` of each length
        that has passed are asked, the shortest first, against the smallest swing her resting
        breathing shows in a window of that length and against the jitter. Each window is fixed
        at ``since``: asking a trailing window at every block would ask hundreds of windows per
        hold, and one of them would fall on a breath's turning point. None while it cannot be
        told (no abdominal pressure, breathing not learnt or not clear of the noise in windows
        of any length that has passed)."""
        if self._asked[0] != since:
            self._asked = (since, {})
        verdicts = self._asked[1]  # a fixed window, once answered, is not computed again
        answer: bool | None = None
        for w in WINDOWS_S:
            if now - since < w:
                break
            if w not in verdicts:
                swing = self._swing(w)
                got = self._x(since, since + w) if swing is not None else None
                if swing is None or got is None or len(got[0]) < 0.6 * w * self.p.rate:
                    continue
                spread = _spread(got[0])
                verdicts[w] = spread < HELD_FRAC * swing and spread < HELD_NOISE_X * self._jitter()
            if verdicts[w]:
                return True
            answer = False
        return answer

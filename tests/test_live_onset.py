"""Issue 22: the live onset cue does not flicker. An early onset is announced only while a
withdrawal can be afforded (a budget refilled at 0.25 a minute), and never twice for one rise."""
import numpy as np

from device.pipeline import Pipeline
from device.pipeline.calibration import Calibration
from device.pipeline.detect import EARLY_BUDGET, EARLY_REFILL_PER_MIN
from device.recording import Channel


def _live(t, x, fs, cal):
    p = Pipeline((Channel("pelvic", "cmH2O"),), fs, cal)
    blk = max(1, int(0.05 * fs))
    for i in range(0, len(t), blk):
        p.process(t[i:i + blk], x[i:i + blk, None])
    p.finish()
    return p


def _twitchy(fs: float, minutes: float, seed: int = 1):
    """A calibrated pressure channel at rest whose noise twitches up fast every ~3 s — past the
    early-onset level and slope, never to the onset threshold: each twitch a would-be flicker."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(minutes * 60 * fs)) / fs
    x = 20 + rng.normal(0, 0.05, len(t))
    centres = np.arange(5.0, t[-1] - 1, 3.0)
    for c in centres + rng.uniform(0, 0.5, len(centres)):
        x += 2.4 * np.exp(-0.5 * ((t - c) / 0.06) ** 2)
    return t, x


def test_a_twitchy_signal_withdraws_at_most_what_the_budget_allows():
    for fs in (64.0, 250.0):  # slowly sampled, and the usual
        minutes = 10.0
        t, x = _twitchy(fs, minutes)
        p = _live(t, x, fs, Calibration.from_dict({"pelvic": {"rest": 20.0, "mvc": 60.0}}))
        early = [e for e in p.events if e.type == "onset" and e.data.get("early")]
        cancelled = [e for e in p.events if e.type == "onset_cancelled"]
        assert len(cancelled) <= EARLY_BUDGET + EARLY_REFILL_PER_MIN * minutes, (fs, len(cancelled))
        assert len(early) >= 1  # the twitches do reach the early level: the budget is what holds them
        assert not p.contractions  # and none of them is a contraction


def test_never_two_early_onsets_for_one_rise():
    fs = 250.0
    t, x = _twitchy(fs, 3.0, seed=2)
    p = _live(t, x, fs, Calibration.from_dict({"pelvic": {"rest": 20.0, "mvc": 60.0}}))
    times = [e.time_s for e in p.events if e.type == "onset" and e.data.get("early")]
    assert all(b - a >= 3.0 for a, b in zip(times, times[1:]))  # EARLY_QUIET_S apart at least

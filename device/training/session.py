"""The session runner: sample blocks → pipeline → judgement → feedback, in real time.

It walks the schedule (cues at each phase), shows live strength against the target on the bar,
judges every repetition from the pipeline's contraction — held long enough, reached the target
%MVC, quick lifts done, relaxed afterwards, a correct lift — and warns at once: bearing down or
accessory effort as soon as the pipeline knows the kind (about 1 s into the squeeze), failure to
relax as soon as the release is overdue. The same loop runs on the Pi and on emulated hardware;
only the block source, the feedback object and the clock differ.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal, Protocol

import numpy as np

from device.pipeline.breath import BreathWatch
from device.pipeline.calibration import Calibration
from device.pipeline.detect import Event, Pipeline
from device.pipeline.measure import RELAX_FRAC
from device.recording import Channel
from device.records.summary import SUMMARY_VERSION, DoseSummary, SessionSummary, SetSummary
from device.training import schedule as sched
from device.training.programme import Exercise, Programme

LATENCY_KEPT = 20_000  # blocks of feedback latency kept for the benchmark (~7 min at 20 ms)
HOLD_OK = 0.9  # a hold counts when it lasts this share of the prescribed hold
NOT_RELAXED_AFTER_S = 1.5  # still above RELAXED_BELOW of the rep's peak this long after "release" ...
HELD_ON_S = 0.8  # ... having stayed there this long without a break
REST_CREEP_PER_MIN = 0.05  # share of the MVC span the resting reference may rise per minute
RELAXED_BELOW = RELAX_FRAC  # relaxed = back under this share of the peak, as the pipeline judges it
MATCH_EARLY_S = 1.0  # a contraction may start this long before the "squeeze" cue
BUTTON_MIN_S = 0.05  # a press shorter than this is contact bounce, not a finger
BUTTON_STOP_S = 2.0  # holding the button this long ends the session (a short press pauses)
RESULT_AFTER_S = NOT_RELAXED_AFTER_S + HELD_ON_S  # a rep's result is told once relaxing is known ...
RESULT_NOTHING_S = 2.5  # ... (with no contraction seen, this long after "release") ...
RESULT_LEAD_S = 0.8     # ... and at the latest this long before the rest ends, so it is heard
                        # in the rest it belongs to, before the next "get ready"
SET_GOOD_SHARE = 0.8    # a set (or session) with this share of good reps is celebrated ...
SET_FAIR_SHARE = 0.5    # ... this share gets a plain "done", fewer a calm "done" with no green
QUIET_AFTER_S = 1.0    # breathing is learnt from this long into a rest (the release is over)
BREATH_FROM_S = 0.0    # breath-holding is watched from the hold cue (the rise is over by then)
MVC_RECHECK_PCT = 110  # a rep above this share of the measured MVC: the MVC should be measured again
SENSOR_GIVE_UP_S = 10.0  # the pelvic sensor (or the bus) faulty this long without a break ends the session
GAP_SPOILS_S = 0.1  # this much signal lost inside a rep (I2C faults, lateness, overflow) spoils it: the device's fault

#: Why a rep is to be redone, in the order one is told (the first that applies is played).
Reason = Literal["sensor_fault", "bear_down", "accessory", "breath_held", "not_felt", "too_weak",
                 "too_short", "quick_lifts_missing", "not_relaxed", "not_below_rest"]
REASONS: tuple[Reason, ...] = ("sensor_fault", "bear_down", "accessory", "breath_held", "not_felt",
                               "too_weak", "too_short", "quick_lifts_missing", "not_relaxed", "not_below_rest")


class BlockSource(Protocol):
    def next_block(self): ...


class SessionSink(Protocol):
    """Where the runner hands what it produces for storage (``store.SessionWriter``): calls must
    be cheap — a queue put — because they run in the feedback loop."""

    def samples(self, t: np.ndarray, values: np.ndarray) -> None: ...

    def event(self, type_: str, time_s: float, known_at_s: float | None, data: dict) -> None: ...

    def rep(self, idx: int, result: dict) -> None: ...


@dataclass
class RepResult:
    exercise: str
    set: int
    rep: int
    prescribed_hold_s: float
    prescribed_quick_lifts: int
    target_mvc_pct: float
    detected: bool = False
    onset_s: float | None = None
    hold_s: float | None = None
    peak: float | None = None
    mvc_pct: float | None = None
    flicks: int | None = None
    kind: str | None = None
    relaxed: bool | None = None
    held: bool | None = None
    reached: bool | None = None
    quick_lifts_done: bool | None = None
    correct: bool | None = None
    good: bool = False
    below_rest: bool | None = None  # hypopressive: did the pressure fall below rest
    warnings: list[str] = field(default_factory=list)
    sensor_fault: bool = False  # spoiled by the device (sensor, bus, lost signal): neither for nor against her
    lost_s: float = 0.0  # signal lost inside it (the sampler's gaps)
    judged_at_s: float | None = None
    done: bool = False  # its hold was over before the session ended: it counts in the dose
    reasons: list[str] = field(default_factory=list)  # why it is to be redone (REASONS order)
    told: str | None = None  # the result pattern she heard in the rest after it (None: not told)
    told_at_s: float | None = None


#: What the runner warns of during a rep (each one a feedback pattern of that name).
WarningKind = Literal["warning_bear_down", "warning_accessory", "warning_not_relaxed", "warning_breath_held"]
#: The warning for a contraction of the wrong kind.
KIND_WARNING: dict[str, WarningKind] = {"bear_down": "warning_bear_down", "accessory": "warning_accessory"}


@dataclass
class RepWatch:
    """What the runner watches of one rep while it is live, from its "squeeze" cue through its
    rest: the rise reached against the session's resting level, the mean rise over the hold (the
    hypopressive apnoea), and since when the level has stayed up after the release."""

    pre: float | None        # the session's resting reference when the squeeze was cued
    peak: float = 0.0        # largest level above ``pre``
    total: float = 0.0       # sum of the live rise over the hold ...
    n: int = 0               # ... and its number of blocks
    above_since: float | None = None  # the level has been above the relaxed share since then


@dataclass
class Warning_:
    time_s: float
    pattern: str
    exercise: str
    set: int
    rep: int
    known_from_s: float  # when the evidence became available in signal time


def _handled(e: Event) -> bool:
    """What the session's pipeline holds of an event once returned: nothing, as each block's
    events are handled and stored by the session (``Pipeline.keep``)."""
    return False


class SessionRunner:
    def __init__(self, programme: Programme, exercises: list[Exercise], channels: tuple[Channel, ...],
                 fs: float, source: BlockSource, feedback, clock, calibration: Calibration | None = None,
                 view: Callable[[SessionRunner, float], None] | None = None,
                 schedule_start: float | None = None, sink: SessionSink | None = None,
                 heartbeat: Callable[[], None] | None = None) -> None:
        self.sink = sink
        self.heartbeat = heartbeat  # called at every block: the service's watchdog is fed from here
        self.programme, self.exercises = programme, exercises
        self.channels, self.fs = channels, fs
        self.source, self.feedback, self.clock = source, feedback, clock
        self.cal = calibration or Calibration()
        self.pipeline = Pipeline(channels, fs, self.cal, keep=_handled)  # each block's events are handled and stored here
        self.breath = BreathWatch(self.pipeline)
        self._quiet_from: float | None = None  # resting (breathing learnt) since then
        # an apnoea lowers the pressure and its end brings it back: not a contraction
        self.pipeline.pelvic.falls_expected = any(e.kind == "hypopressive" for e in exercises)
        pel = self.cal.get("pelvic")
        self.span = pel.span(channels[0].modality) if pel else None
        self.view = view
        self.schedule_start = schedule_start  # None: one second after the first sample
        self.phases: list[sched.Phase] = []
        self.reps: list[sched.Rep] = []
        self.results: list[RepResult] = []
        self.warnings: list[Warning_] = []
        self.sensor_events: list[dict] = []
        self.told: dict[tuple[int, int] | None, str] = {}  # end-of-set ((exercise, set)) and session (None) cues
        self.phase_i = -1
        self.rise = 0.0
        self.level = 0.0
        self.rest_ref: float | None = None
        self.peak_seen = 0.0
        self.faulty: set[str] = set()
        self.blocks = 0
        self.samples = 0
        # (oldest-sample age, newest-sample age) at output: a ring of the last LATENCY_KEPT blocks
        # in one array (320 kB), so a long session cannot grow and no tuple is made per block
        self._latency = np.zeros((LATENCY_KEPT, 2))
        self._latency_n = 0
        self.t0: float | None = None
        self._open: dict[int, RepWatch] = {}
        self._first_live = 0  # reps before this are judged and over
        self._ticks: list[float] = []  # countdown ticks still due in the current hold
        self.paused_at: float | None = None
        self.pauses: list[dict] = []  # {"at_s", "for_s", "restarted"}: each pause, for the summary
        self.stopped_at: float | None = None  # ended early: the patient held the button, or the sensor failed
        self.stopped_by: Literal["button", "sensor", "card_full"] | None = None
        self._fault_since: float | None = None  # the pelvic sensor or the bus faulty since
        self._index0: int | None = None  # the sampler's frame index of the first sample
        self._pressed_at: float | None = None
        self._held: list[Event] = []  # pipeline events that arrived during a pause
        self.started_wall = time.time()

    # --- the loop ----------------------------------------------------------------------------
    def run(self) -> SessionSummary:
        while True:
            block = self.source.next_block()
            if block is None:
                break
            if self.step(block):
                break
        return self.summary()

    def step(self, block) -> bool:
        """Handle one block; True when the session is over."""
        if len(block.t) == 0 and not block.events:
            return False
        now = float(block.t[-1]) if len(block.t) else self.clock.now()
        if self.t0 is None and len(block.t):
            self.t0 = float(block.t[0])
            self._index0 = int(block.index[0]) if len(block.index) else 0
            ex = self.exercises
            start = self.t0 + 1.0 if self.schedule_start is None else self.schedule_start
            self.phases, self.reps = sched.build(ex, start=start)
            self.results = [RepResult(ex[r.exercise].name, r.set, r.rep, ex[r.exercise].hold_s,
                                      ex[r.exercise].quick_lifts, 100 * ex[r.exercise].target_mvc)
                            for r in self.reps]
        self.blocks += 1
        self.samples += len(block.t)
        if self.sink is not None:
            self.sink.samples(block.t, block.values)
        for e in block.events:
            self._sensor_event(e)
        for g in block.gaps:
            self._gap(g)
        events = self.pipeline.process(block.t, block.values) if len(block.t) else []
        if self.sink is not None:
            for ev in events:
                self.sink.event(ev.type, ev.time_s, ev.known_at_s, ev.data)
        self.level, self.rise = self._live_level()
        self._track_rest(block)
        if self._button(now) or self._sensor_gone(now) or self._card_full(now):
            done = True
        elif self.paused_at is None:
            for ev in events:
                self._pipeline_event(ev)
            done = self._advance(now)
            self._check_relaxation(now)
            self._check_breathing(now)
            self._finalise_due(now)
        else:  # paused: still sampled, stored and conditioned, but nothing is cued or judged
            self._held.extend(events)  # judged after the resume, on the moved timeline
            done = False
        target = self._target_level()
        if target:
            self.feedback.strength(self.rise / target)
        self.feedback.player.tick(now)
        if len(block.t):
            out = self.clock.now()
            self._latency[self._latency_n % LATENCY_KEPT] = (out - float(block.t[0]), out - float(block.t[-1]))
            self._latency_n += 1
        if self.view is not None:
            self.view(self, now)
        if self.heartbeat is not None:
            self.heartbeat()
        return done

    def _sensor_gone(self, now: float) -> bool:
        """The pelvic sensor (or the bus) has been faulty for SENSOR_GIVE_UP_S: nothing can be
        judged, so the session ends (stored as stopped by the sensor) rather than cue on blind."""
        if self._fault_since is None or now - self._fault_since < SENSOR_GIVE_UP_S:
            return False
        self.stopped_at, self.stopped_by = now, "sensor"
        self.feedback.player.play("cannot_train_sensor")
        if self.sink is not None:
            self.sink.event("stopped", now, now, {"by": "sensor", "faulty": sorted(self.faulty)})
        return True

    def _card_full(self, now: float) -> bool:
        """The card filled during the session: nothing more can be stored, so it ends here (the
        store kept room for its summary) with the card-full pattern, as a press would be refused."""
        if not getattr(self.sink, "full", False):
            return False
        self.stopped_at, self.stopped_by = now, "card_full"
        self.feedback.player.play("cannot_train_card_full")
        return True

    @property
    def latency(self) -> list[tuple[float, float]]:
        """The kept (oldest-sample, newest-sample) ages at output, oldest block first."""
        n = self._latency_n
        ring = self._latency[:n] if n <= LATENCY_KEPT else np.roll(self._latency, -(n % LATENCY_KEPT), axis=0)
        return [tuple(r) for r in ring.tolist()]

    # --- schedule and cues -------------------------------------------------------------------
    def current_phase(self) -> sched.Phase | None:
        return self.phases[self.phase_i] if 0 <= self.phase_i < len(self.phases) else None

    def _advance(self, now: float) -> bool:
        while self.phase_i + 1 < len(self.phases) and self.phases[self.phase_i + 1].start <= now:
            self.phase_i += 1
            p = self.phases[self.phase_i]
            if p.kind == "done":
                for i in range(len(self.results)):
                    self._judge(i, now)
            cue = self._graded(p) if p.kind in ("set_rest", "done") else p.cue
            if cue:
                self.feedback.player.play(cue)
            if self.sink is not None:
                self.sink.event("cue", p.start, now, {"phase": p.kind, "exercise": self.exercises[p.exercise].name,
                                                      "set": p.set, "rep": p.rep, "cue": p.cue})
            if p.kind == "hold":
                self._ticks = [p.start + k for k in range(1, int(p.end - p.start) + 1) if p.start + k < p.end]
            if p.kind == "done":
                return True
        cur = self.current_phase()
        if cur is not None and cur.kind == "hold":
            while self._ticks and self._ticks[0] <= now:
                self._ticks.pop(0)
                self.feedback.player.play("hold_tick")  # the countdown, one tick a second
        return False

    def _graded(self, p: sched.Phase) -> str | None:
        """The end-of-set or end-of-session cue as it went: the celebration only for a good one."""
        if p.cue is None:
            return None
        if p.kind == "set_rest":
            rs = [r for r, rp in zip(self.results, self.reps) if rp.exercise == p.exercise and rp.set == p.set]
        else:
            rs = [r for r in self.results if r.judged_at_s is not None]
        if not rs:  # after an assessment's baseline or free window: nothing was judged
            return p.cue
        share = sum(r.good for r in rs) / len(rs)
        cue = p.cue if share >= SET_GOOD_SHARE else f"{p.cue}_fair" if share >= SET_FAIR_SHARE else f"{p.cue}_poor"
        self.told[(p.exercise, p.set) if p.kind == "set_rest" else None] = cue
        return cue

    # --- the button: a short press pauses or resumes, a long hold ends the session ------------
    def _button(self, now: float) -> bool:
        """Act on the button's changes since the last block; True when the patient ended the
        session. Judged on the device's clock so accelerated emulation behaves as the Pi does."""
        changes = self.feedback.button_changes
        while changes:
            t, pressed = changes.popleft()
            if pressed:
                self._pressed_at = t
            elif self._pressed_at is not None:
                held = t - self._pressed_at
                self._pressed_at = None
                if BUTTON_MIN_S <= held < BUTTON_STOP_S:
                    self._toggle_pause(now)
        if self._pressed_at is not None and now - self._pressed_at >= BUTTON_STOP_S:
            self._pressed_at = None
            self.stopped_at, self.stopped_by = now, "button"
            self.feedback.player.play("stopped")
            if self.sink is not None:
                self.sink.event("stopped", now, now, {"by": "button"})
            return True
        return False

    def _toggle_pause(self, now: float) -> None:
        if self.paused_at is None:
            phase = self.current_phase()
            if phase is None or phase.kind == "done":
                return  # nothing to pause before the first cue
            self.paused_at = now
            self.feedback.player.play("paused")
            self._ticks = []
            if self.sink is not None:
                self.sink.event("paused", now, now, {"phase": phase.kind})
            return
        first, rep_i = sched.resume(self.phases, self.reps, self.phase_i, self.paused_at, now)
        self.pauses.append(self._pause_record(now, None if rep_i is None else
                                              {"exercise": self.results[rep_i].exercise,
                                               "set": self.reps[rep_i].set, "rep": self.reps[rep_i].rep}))
        if rep_i is not None:  # the interrupted attempt is void: judged afresh when redone
            old = self.results[rep_i]
            self.results[rep_i] = RepResult(old.exercise, old.set, old.rep, old.prescribed_hold_s,
                                            old.prescribed_quick_lifts, old.target_mvc_pct)
            self._open.pop(rep_i, None)
            self.phase_i = first - 1  # "get ready" is cued again at once
        else:
            self.feedback.player.play("rest")
        if self.sink is not None:
            self.sink.event("resumed", now, now, self.pauses[-1])
        self.paused_at = None
        held, self._held = self._held, []
        for ev in held:  # a squeeze made during the pause now falls outside every repetition
            self._pipeline_event(ev)

    def _pause_record(self, now: float, restarted: dict | None) -> dict:
        """The current pause for the summary: when, how long so far, which rep it voided."""
        assert self.paused_at is not None, "not paused"
        return {"at_s": round(self.paused_at, 3), "for_s": round(now - self.paused_at, 3), "restarted": restarted}

    def remaining_in_phase(self, now: float) -> float:
        p = self.current_phase()
        return max(0.0, p.end - now) if p else 0.0

    # --- live signal -------------------------------------------------------------------------
    def _live_level(self) -> tuple[float, float]:
        """The conditioned pelvic level now, and its rise above the resting level."""
        p = self.pipeline
        h = p.hist
        if h.end <= h.start:
            return 0.0, 0.0
        v = float(h.x(h.end - 1, h.end, 0)[0])
        return v, v - p.pelvic.reference_level()

    def _track_rest(self, block) -> None:
        """The lowest resting level, allowed to creep up slowly (balloon warming drift)."""
        det = self.pipeline.pelvic
        if det.busy or self.pipeline.hist.end <= self.pipeline.hist.start or det.warming_up:
            return
        creep = REST_CREEP_PER_MIN * (self.span or max(self.peak_seen, 1.0)) / 60.0
        dt_s = float(block.t[-1] - block.t[0]) if len(block.t) > 1 else 0.0
        rest = det.resting_level
        self.rest_ref = rest if self.rest_ref is None else min(self.rest_ref + creep * dt_s, rest)

    def _target_level(self) -> float | None:
        """The current exercise's target rise in the channel's unit (None until known)."""
        p = self.current_phase()
        if p is None:
            return None
        ex = self.exercises[p.exercise]
        if self.span:
            return ex.target_mvc * self.span
        self.peak_seen = max(self.peak_seen, self.rise)
        return ex.target_mvc * self.peak_seen if self.peak_seen > 0 else None

    # --- events ------------------------------------------------------------------------------
    def _rep_at(self, t: float) -> int | None:
        """Index of the repetition whose squeeze window contains signal time t."""
        for i, r in enumerate(self.reps):
            if r.squeeze_at - MATCH_EARLY_S <= t < r.release_at:
                return i
        return None

    def _pipeline_event(self, ev: Event) -> None:
        if ev.type == "kind":
            i = self._rep_at(ev.time_s)
            warning = KIND_WARNING.get(ev.data.get("kind") or "")
            if i is not None and warning is not None:
                self._warn(i, warning, ev.known_at_s)
        elif ev.type == "contraction":
            i = self._rep_at(ev.time_s)
            if i is None:
                return
            res = self.results[i]
            if res.judged_at_s is not None:
                return  # told already: what she heard is the result
            if res.detected and (res.hold_s or 0) >= (ev.data.get("hold_s") or 0):
                return  # keep the main contraction of the rep, not a later small one
            d = ev.data
            ratio = next((c.features.get("abd_ratio") for c in reversed(self.pipeline.contractions)
                          if abs(c.onset_s - d["onset_s"]) < 1e-3), None)  # this event's contraction
            if d["kind"] == "lift" and ratio is not None:
                self.breath.note_lift(float(ratio))
            res.detected = True
            res.onset_s, res.hold_s, res.peak = d["onset_s"], d["hold_s"], d["peak"]
            res.mvc_pct, res.flicks, res.kind, res.relaxed = d.get("mvc_pct"), d["flicks"], d["kind"], d["relaxed"]
            warning = KIND_WARNING.get(d["kind"] or "")
            if warning is not None and warning not in res.warnings:
                self._warn(i, warning, ev.known_at_s)
            if not d["relaxed"] and "warning_not_relaxed" not in res.warnings:
                self._warn(i, "warning_not_relaxed", ev.known_at_s)

    def _sensor_event(self, e) -> None:
        self.sensor_events.append({"kind": e.kind, "time_s": float(e.t), "channel": e.channel,
                                   "detail": e.detail})
        if self.sink is not None:
            self.sink.event("sensor", float(e.t), float(e.t), self.sensor_events[-1])
        key = e.channel or "bus"
        if e.kind in ("saturated", "unplugged", "i2c_error", "stuck"):
            self.faulty.add(key)
            self.feedback.player.play("sensor_fault")
            i = self._rep_at(float(e.t))
            if i is not None:
                self.results[i].sensor_fault = True
        elif e.kind in ("sensor_ok", "i2c_ok"):
            self.faulty.discard(key)
        vital = {self.channels[0].name, "bus"} & self.faulty
        if not vital:
            self._fault_since = None
        elif self._fault_since is None:
            self._fault_since = float(e.t)

    def _gap(self, g) -> None:
        """Frames the sampler lost (their reason is the device's): charged to the rep they fall in."""
        if self._index0 is None or self.t0 is None:
            return
        start = self.t0 + (g.index - self._index0) / self.fs
        end = start + g.count / self.fs
        for r, res in zip(self.reps, self.results):
            overlap = min(end, r.release_at) - max(start, r.squeeze_at - MATCH_EARLY_S)
            if overlap > 0:
                res.lost_s = round(res.lost_s + overlap, 4)
                if res.lost_s >= GAP_SPOILS_S:
                    res.sensor_fault = True

    def _warn(self, i: int, pattern: WarningKind, known_from: float) -> None:
        res = self.results[i]
        if pattern in res.warnings:
            return
        res.warnings.append(pattern)
        if res.judged_at_s is not None:  # warned after the result: the result follows the warning
            if pattern == "warning_not_relaxed":
                res.relaxed = False
            self._verdict(res, self.exercises[self.reps[i].exercise])
            if self.sink is not None:
                self.sink.rep(i, asdict(res))  # stored again (the store replaces the rep's row)
        self.feedback.player.play(pattern)
        self.warnings.append(Warning_(self.clock.now(), pattern, res.exercise, res.set, res.rep, known_from))
        if self.sink is not None:
            self.sink.event("warning", known_from, self.clock.now(), asdict(self.warnings[-1]))

    def _check_breathing(self, now: float) -> None:
        """Learn her breathing while she rests; warn when it stopped during a hold (from the hold
        cue on: the breath caught at the squeeze itself is the fault the leaflets name)."""
        if not self.breath.available:
            return
        p = self.current_phase()
        if p is None:
            return
        if self.pipeline.pelvic.warming_up:
            return  # the filters are still settling: their start-up is not breathing
        if p.kind in ("rest", "get_ready", "set_rest"):
            # learnt from the rests (a squeeze made in one only adds large swings, which the
            # smallest-swing statistic ignores)
            if self._quiet_from is None:
                self._quiet_from = now + QUIET_AFTER_S
            elif now > self._quiet_from:
                self.breath.learn(self._quiet_from, now)
            return
        if self._quiet_from is not None and now > self._quiet_from:
            self.breath.learn(self._quiet_from, now, force=True)  # the rest's last second too
        self._quiet_from = None
        if p.kind not in ("hold", "quick_lift") or not p.rep:
            return
        i = self._rep_at(now)
        if i is None or self.exercises[self.reps[i].exercise].kind != "hold" or \
                {"warning_breath_held", "warning_bear_down"} & set(self.results[i].warnings):
            return  # warned once; bearing down (straining, often on a held breath) says it already
        if self.breath.held(self.reps[i].hold_from + BREATH_FROM_S, now):
            self._warn(i, "warning_breath_held", now)

    def _check_relaxation(self, now: float) -> None:
        """Warn during the rest if the squeeze has not been let go: the level stays above half
        the rep's peak for ``HELD_ON_S`` without a break (a cough is far shorter)."""
        for i in self._live_reps(now):
            r = self.reps[i]
            if r.squeeze_at <= now < r.release_at:
                if i not in self._open:
                    # Judged against the session's true resting level: a patient who never lets go
                    # starts every squeeze from a raised level, which the pipeline re-bases on.
                    self._open[i] = RepWatch(pre=self.rest_ref)
                st = self._open[i]
                if st.pre is not None:
                    st.peak = max(st.peak, self.level - st.pre)
                if now >= r.hold_from:
                    if self.exercises[r.exercise].kind == "hypopressive":
                        # below the rest before the apnoea's fall, which the detector follows down
                        st.total += self.level - self.pipeline.pelvic.rest_before_dip
                    else:
                        st.total += self.rise
                    st.n += 1
            elif r.release_at + NOT_RELAXED_AFTER_S - HELD_ON_S <= now < r.rest_end:
                res, watch = self.results[i], self._open.get(i)
                if watch is None or watch.pre is None or "warning_not_relaxed" in res.warnings or \
                        self.exercises[r.exercise].kind == "hypopressive" or watch.peak <= 0:
                    continue
                if self.level - watch.pre > RELAXED_BELOW * watch.peak:
                    if watch.above_since is None:
                        watch.above_since = now
                    if now - watch.above_since >= HELD_ON_S and now >= r.release_at + NOT_RELAXED_AFTER_S:
                        self._warn(i, "warning_not_relaxed", now)
                else:
                    watch.above_since = None

    def _live_reps(self, now: float) -> range:
        """Reps that have started and may still change: the window only moves forward (reps are
        in time order), so each block looks at one or two reps, not the whole session."""
        while self._first_live < len(self.reps) and \
                self.results[self._first_live].judged_at_s is not None and \
                now >= self.reps[self._first_live].rest_end:
            self._first_live += 1
        end = self._first_live
        while end < len(self.reps) and self.reps[end].squeeze_at <= now:
            end += 1
        return range(self._first_live, end)

    def _finalise_due(self, now: float) -> None:
        """Judge each rep in the rest after it and tell her the result: once relaxing is known
        (and its contraction reported, or none seen), at the latest shortly before the rest ends."""
        for i in self._live_reps(now):
            r, res = self.reps[i], self.results[i]
            if res.judged_at_s is not None or now < r.release_at:
                continue
            after = now - r.release_at
            if (after >= RESULT_AFTER_S and (res.detected or after >= RESULT_NOTHING_S)) or \
                    now >= r.rest_end - RESULT_LEAD_S:
                self._judge(i, now, tell=now < r.rest_end)

    # --- judgement ---------------------------------------------------------------------------
    def _judge(self, i: int, now: float, tell: bool = False) -> None:
        res = self.results[i]
        if res.judged_at_s is not None:
            return
        self._judge_rep(i, now)
        if tell:
            # an assessment measures: she is told the squeeze was recorded, never to redo it
            res.told = "rep_recorded" if self.programme.assessment else \
                "rep_good" if res.good else f"rep_redo_{res.reasons[0]}"
            res.told_at_s = now
            self.feedback.player.play(res.told)
        if self.sink is not None:
            self.sink.rep(i, asdict(res))

    def _judge_rep(self, i: int, now: float) -> None:
        res = self.results[i]
        ex = self.exercises[self.reps[i].exercise]
        res.judged_at_s = now
        res.done = now >= self.reps[i].release_at
        st = self._open.get(i)
        res.correct = res.kind not in ("bear_down", "accessory")
        if ex.kind == "hypopressive":
            mean = st.total / st.n if st is not None and st.n else 0.0
            res.below_rest = mean < 0.0
        elif res.detected:
            res.held = res.hold_s is not None and res.hold_s >= HOLD_OK * ex.hold_s
            if res.mvc_pct is not None:
                res.reached = res.mvc_pct >= 100 * ex.target_mvc
            res.quick_lifts_done = (res.flicks or 0) >= ex.quick_lifts if ex.quick_lifts else None
        if "warning_not_relaxed" in res.warnings:
            res.relaxed = False  # the live check saw the level held up through the rest
        self._verdict(res, ex)

    @staticmethod
    def _verdict(res: RepResult, ex: Exercise) -> None:
        """good, or the reasons to redo it, from what was measured and warned."""
        why: set[str] = set()
        if res.sensor_fault:
            why.add("sensor_fault")
        if res.kind in ("bear_down", "accessory"):
            why.add(res.kind)
        if "warning_breath_held" in res.warnings:
            why.add("breath_held")
        if ex.kind == "hypopressive":
            if not res.below_rest:
                why.add("not_below_rest")
        elif not res.detected:
            why.add("not_felt")
        else:
            if res.reached is False:
                why.add("too_weak")
            if res.held is False:
                why.add("too_short")
            if res.quick_lifts_done is False:
                why.add("quick_lifts_missing")
            if res.relaxed is False:
                why.add("not_relaxed")
        res.reasons = [r for r in REASONS if r in why]
        res.good = not res.reasons

    # --- summary -----------------------------------------------------------------------------
    def summary(self) -> SessionSummary:
        """What the session was and what came of it, so far (``records.summary`` for the keys)."""
        if self.t0 is None:
            return {"version": SUMMARY_VERSION, "programme": self.programme.name, "completed": False,
                    "reps": [], "sets": [], "dose": [], "warnings": []}
        now = self.clock.now()
        for i, r in enumerate(self.reps):
            # Ended early (button, Ctrl-C): reps never cued stay unjudged — not done, not failed
            # attempts; a rep cut off mid-hold is judged but not done.
            if r.squeeze_at <= now:
                self._judge(i, now)
        done_phase = self.current_phase()
        completed = done_phase is not None and done_phase.kind == "done"
        sets: list[SetSummary] = []
        for ei, ex in enumerate(self.exercises):
            for s in range(1, ex.sets + 1):
                rs = [r for r, rp in zip(self.results, self.reps) if rp.exercise == ei and rp.set == s]
                holds = [r.hold_s for r in rs if r.hold_s is not None]
                sets.append({"exercise": ex.name, "set": s, "reps": len(rs),
                             "done": sum(r.done for r in rs), "good": sum(r.good for r in rs),
                             "detected": sum(r.detected for r in rs),
                             "mean_hold_s": round(float(np.mean(holds)), 2) if holds else None,
                             "mean_mvc_pct": _mean([r.mvc_pct for r in rs]),
                             "bear_down": sum(r.kind == "bear_down" for r in rs),
                             "accessory": sum(r.kind == "accessory" for r in rs),
                             "not_relaxed": sum(r.relaxed is False for r in rs),
                             "spoiled_by_device": sum(r.sensor_fault for r in rs),
                             "told": self.told.get((ei, s))})
        dose: list[DoseSummary] = []
        for ei, ex in enumerate(self.exercises):
            pairs = [(r, rp) for r, rp in zip(self.results, self.reps) if rp.exercise == ei]
            done = [(r, rp) for r, rp in pairs if r.done]
            dose.append({"exercise": ex.name, "title": ex.title, "kind": ex.kind,
                         "prescribed": {"reps": ex.reps, "sets": ex.sets, "hold_s": ex.hold_s,
                                        "quick_lifts": ex.quick_lifts, "rest_s": ex.rest_s,
                                        "set_rest_s": ex.set_rest_s, "target_mvc_pct": 100 * ex.target_mvc},
                         "done": {"reps": len(done), "sets": len({rp.set for _, rp in done}),
                                  "good_reps": sum(r.good for r, _ in done),
                                  "spoiled_by_device": sum(r.sensor_fault for r, _ in done),
                                  "total_hold_s": round(sum(r.hold_s or 0.0 for r, _ in done), 1)}})
        return {
            "version": SUMMARY_VERSION,
            "programme": self.programme.name, "programme_title": self.programme.title,
            "programme_titles": {c: self.programme.text("title", c) for c in self.programme.translation},
            "completed": completed, "duration_s": round(now - self.t0, 1),
            "stopped_by_button": self.stopped_by == "button", "stopped_by": self.stopped_by,
            "pauses": self.pauses + ([self._pause_record(now, None)] if self.paused_at is not None else []),
            "calibrated": self.span is not None,
            "reps": [asdict(r) for r in self.results],
            "sets": sets, "dose": dose, "told": self.told.get(None),
            "breath_watch": ({"channel": "abdominal pressure", "learnt": self.breath.learnt}
                             if self.breath.available else None),
            "warnings": [asdict(w) for w in self.warnings],
            "sensor_events": self.sensor_events,
        }


def _mean(xs) -> float | None:
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return round(float(np.mean(xs)), 1) if xs else None

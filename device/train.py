"""``pfmt train``: a whole guided session — on the Pi's hardware, or on the emulated ADC and
mock pins with a simulated trainee — then the summary, the stored session and the progression."""
from __future__ import annotations

import datetime as dt
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import AccessError, InputError
from .programme import load_programme, with_targets
from .progress import Progress
from .recording import Channel
from .reports import dash, rep_done
from .store import SessionStore
from .schedule import build
from .session import SessionRunner
from .trainee import plan

SCHEDULE_START_S = 2.0  # the first cue, on the session clock (time to learn the resting level)


DEFAULT_PROGRAMME = "norwegian_intensive"


@dataclass
class TrainOptions:
    programme: str | None = None  # None: the prescription, else the default programme
    trainee: str = "correct"
    speed: float = 20.0  # × real time; 0 = as fast as possible (virtual clock)
    seed: int = 1
    data_dir: Path = Path("pfmt-data")
    config: str | None = None
    calibration: str | None = None
    hardware: bool = False
    overrides: dict = field(default_factory=dict)  # reps/sets/hold_s for a short session
    view: str = "auto"  # auto | live | lines | quiet
    threaded: bool = False  # emulate with the real-time threads (sampler, player) instead of lock-step
    today: dt.date | None = None
    # emulation only: the simulated trainee presses the button — (at_s, for_s) pauses and a
    # hold that ends the session at stop_at_s — and follows the moved timeline
    pauses: list[tuple[float, float]] = field(default_factory=list)
    stop_at_s: float | None = None


PRESS_S = 0.2  # a simulated short press


def run(opts: TrainOptions) -> dict:
    """Run one session; returns the stored summary (with the trainee's truth when simulated)."""
    from drivers.clock import ScaledClock, VirtualClock
    from drivers.config import default_config, load_config
    from drivers import rig as rigs

    from calibration.profile import ProfileStore
    from calibration.workflow import apply_sensor

    profile = ProfileStore(opts.data_dir).current()  # a damaged profile is refused, with the way back
    sessions = SessionStore(opts.data_dir)  # also marks a session cut off by power loss as interrupted
    if profile is not None:
        rx = profile.prescription
        if opts.programme is not None and load_programme(opts.programme).name != rx.programme or opts.overrides:
            raise AccessError(f"the physiotherapist prescribed {rx.programme} with its targets (profile "
                              f"v{profile.version}); changing the programme or its reps, sets or holds is for the "
                              "physiotherapist (`pfmt calibrate --steps prescription`, PIN)")
        programme = rx.load()
    else:
        programme = load_programme(opts.programme or DEFAULT_PROGRAMME)
    now = dt.datetime.now()
    today = opts.today or now.date()
    progress = Progress.load(opts.data_dir, programme, today)
    if progress.state["programme"] != programme.name:  # intensive → maintenance happened
        programme = rx.load() if profile is not None and progress.state["programme"] == rx.programme \
            else load_programme(progress.state["programme"])
    exercises = [with_targets(e, **opts.overrides) for e in progress.exercises(programme)]
    base_config = load_config(opts.config) if opts.config else default_config("pressure", abdominal=True)
    config = apply_sensor(base_config, profile) if profile is not None else base_config
    channels = tuple(Channel.parse(c.name) for c in config.channels)
    truth = None
    if opts.hardware and (opts.pauses or opts.stop_at_s is not None):
        raise InputError("--pause and --stop-at press the emulated button; on the device, press the "
                         "button itself (short press: pause/resume, hold 2 s: end the session)")
    if opts.hardware:  # pragma: no cover - needs a Pi
        if profile is None and not opts.calibration:
            raise InputError("training on the device needs the physiotherapist's calibration "
                             "(`pfmt calibrate`, or --calibration CAL.json)")
        from .calibration import load_calibration
        cal = load_calibration(opts.calibration) if opts.calibration else profile.calibration
        from drivers.clock import RealClock
        clock = RealClock()
        rig = rigs.hardware(config, clock)
        start = None
    else:
        phases, reps = build(exercises, start=SCHEDULE_START_S)
        presses = _plan_button(opts, phases, reps)
        duration = reps[-1].rest_end + 15.0 if reps else 10.0
        rec, truth, cal = plan(opts.trainee, exercises, reps, duration, seed=opts.seed)
        transducers = None
        if opts.calibration:
            from .calibration import load_calibration
            cal = load_calibration(opts.calibration)
        elif profile is not None:
            from calibration.emulated import emulated_sensors

            cal = profile.calibration
            if profile.sensor:  # the emulated device's own sensors, which the profile calibrated
                transducers = emulated_sensors(base_config)
        signals = {c.role: (rec.time_s, rec.data[:, i]) for i, c in enumerate(rec.channels)}
        if opts.threaded:
            clock = ScaledClock(opts.speed or 1.0)
        else:
            clock = VirtualClock()
        rig = rigs.emulated(config, clock, signals, threaded=opts.threaded, seed=opts.seed,
                            pace=0.0 if opts.threaded else opts.speed, transducers=transducers,
                            button_presses=presses)
        start = SCHEDULE_START_S
    view = make_view(opts.view, opts.speed)
    try:
        writer = sessions.begin(
            programme=programme.name, rate_hz=config.rate_hz, channels=channels, config=asdict(config),
            calibration=cal.to_dict() if cal is not None else None, prescription=[asdict(e) for e in exercises],
            patient_code=profile.patient_code if profile is not None else None,
            profile_version=profile.version if profile is not None else None,
            trainee=None if opts.hardware else opts.trainee,
            started=now if opts.today is None else dt.datetime.combine(today, now.time()))
    except BaseException:
        rig.close()
        sessions.close()
        raise
    runner = SessionRunner(programme, exercises, channels, config.rate_hz, rig, rig.feedback, clock,
                           cal, view=view, schedule_start=start, sink=writer)
    rig.start()
    try:
        summary = runner.run()
    except BaseException:  # Ctrl-C or a fault: keep what was recorded, marked as stopped
        try:
            writer.finish(runner.summary(), "stopped")
        finally:
            sessions.close()
        raise
    finally:
        rig.close()
        if view is not None:
            view.close()
    summary["started_at"] = now.isoformat(timespec="seconds")
    summary["trainee"] = None if opts.hardware else opts.trainee
    summary["sampler"] = {"frames": rig.sampler.stats.frames, "skipped": rig.sampler.stats.skipped,
                          "overflows": rig.sampler.stats.overflows}
    changes = progress.record(programme, summary, now if opts.today is None else
                              dt.datetime.combine(today, now.time()),
                              progression=profile.prescription.progression if profile is not None else True)
    summary["profile"] = None if profile is None else {"version": profile.version, "patient_code": profile.patient_code}
    summary["progression"] = changes
    summary["adherence"] = progress.adherence(programme, today)
    summary["patterns"] = [(round(t, 3), n) for t, n in rig.feedback.player.started]
    summary["session_id"] = writer.id
    try:
        writer.finish(summary, "completed" if summary["completed"] else "stopped")
    finally:
        sessions.close()
    progress.save()
    summary["stored_at"] = f"{sessions.path} (session {writer.id})"
    if truth is not None:
        summary["truth"] = truth["contractions"]
    summary["latency_s"] = list(runner.latency)
    return summary


def _plan_button(opts: TrainOptions, phases, reps) -> list[tuple[float, float]]:
    """The simulated finger on the button: (press, release) times, and the timeline moved for each
    pause in place — through ``schedule.resume``, as the device will move it — so the simulated
    trainee follows the cues the device gives after a pause."""
    from .schedule import resume

    presses = []
    end = phases[-1].start
    for at, length in sorted(opts.pauses):
        if not phases[0].start <= at < end or length < 2 * PRESS_S:
            raise InputError(f"pause at {at:g} s for {length:g} s: a pause must start within the session's "
                             f"cues ({phases[0].start:g}–{end:g} s) and last at least {2 * PRESS_S:g} s")
        if presses and at - PRESS_S <= presses[-1][1]:
            raise InputError(f"pause at {at:g} s starts before the previous pause has ended")
        paused_in = max(k for k, p in enumerate(phases) if p.start <= at)
        resume(phases, reps, paused_in, at, at + length)
        presses += [(at - PRESS_S, at), (at + length - PRESS_S, at + length)]
        end = phases[-1].start
    if opts.stop_at_s is not None:
        if not 0 < opts.stop_at_s < end or (presses and opts.stop_at_s <= presses[-1][1]):
            raise InputError(f"--stop-at {opts.stop_at_s:g} s: must fall within the session (before "
                             f"{end:g} s) and after the last pause")
        presses.append((opts.stop_at_s, opts.stop_at_s + 2.5))
    return presses


# --- the terminal view -------------------------------------------------------------------------
class LiveView:
    """One status line redrawn in place: the LED bar, status LED, buzzer, phase and signal."""

    COLOUR_MARK = {"off": "·", "guide": "B", "correct": "G", "warning": "R", "caution": "A", "rest": "b", "paused": "P"}

    def __init__(self, live: bool, every_s: float = 0.1) -> None:
        self.live, self.every_s = live, every_s
        self._last = -1.0
        self._phase = None
        self._paused = False

    def __call__(self, runner: SessionRunner, now: float) -> None:
        p = runner.current_phase()
        fb = runner.feedback
        if not self.live:
            paused = runner.paused_at is not None
            if paused != self._paused:
                self._paused = paused
                print(f"t={now - (runner.t0 or 0):6.1f}s " + ("paused (button)" if paused else "resumed"))
            if p is not None and (p.kind, p.exercise, p.set, p.rep) != self._phase and p.kind in ("get_ready", "set_rest", "done"):
                self._phase = (p.kind, p.exercise, p.set, p.rep)
                self._line(runner, now, p)
            return
        if now - self._last < self.every_s:
            return
        self._last = now
        n = len(fb.bar)
        lit = max(0, fb._lit)
        bar = "█" * lit + "░" * (n - lit)
        colour, tone = fb.player._state
        ex = runner.exercises[p.exercise] if p else None
        phase = (f"{'paused':10s} {now - runner.paused_at:4.0f}s" if runner.paused_at is not None else
                 f"{p.kind:10s} {runner.remaining_in_phase(now):4.1f}s" if p else "starting")
        where = f"{ex.name} set {p.set}/{ex.sets} rep {p.rep}/{ex.reps}" if p and p.rep else (ex.name if ex else "")
        sound = f"♪{tone:5.0f}Hz" if tone else "       "
        warn = runner.warnings[-1].pattern.replace("warning_", "⚠ ") if runner.warnings and now - runner.warnings[-1].time_s < 2 else ""
        sys.stdout.write(f"\r[{bar}] {self.COLOUR_MARK.get(colour, '?')} {sound} {phase} {where:32s} "
                         f"rise {runner.rise:5.1f} {warn:16s}")
        sys.stdout.flush()

    def _line(self, runner, now, p) -> None:
        ex = runner.exercises[p.exercise]
        judged = [r for r in runner.results if r.judged_at_s is not None]
        good = sum(r.good for r in judged)
        print(f"t={now - (runner.t0 or 0):6.1f}s {p.kind:9s} {ex.name} set {p.set}/{ex.sets}"
              + (f" rep {p.rep}/{ex.reps}" if p.rep else "") + f"  judged {len(judged)}, good {good}, "
              f"warnings {len(runner.warnings)}")

    def close(self) -> None:
        if self.live:
            sys.stdout.write("\n")


def make_view(kind: str, speed: float) -> LiveView | None:
    if kind == "quiet":
        return None
    if kind == "auto":
        kind = "live" if sys.stdout.isatty() and speed != 0 else "lines"
    return LiveView(kind == "live")


def _result(r: dict) -> str:
    """good / redo for a rep whose hold was over; "stopped" if the session ended during it, "—"
    if it was never cued."""
    if rep_done(r):
        return "good" if r["good"] else "redo"
    return "stopped" if r.get("judged_at_s") is not None else "—"


def format_summary(s: dict) -> str:
    ended = "completed" if s["completed"] else \
        "ended early with the button" if s.get("stopped_by_button") else "stopped early"
    lines = [f"{s['programme_title']} — {ended} in "
             f"{s['duration_s']:.0f} s" + ("" if s["calibrated"] else " (uncalibrated: %MVC unknown)")]
    lines.append(f"{'exercise':14s} {'set':>3s} {'rep':>3s} {'hold':>6s} {'peak':>6s} {'%MVC':>5s} "
                 f"{'flicks':>6s} {'kind':9s} {'relaxed':7s} {'result':7s} warnings")
    for r in s["reps"]:
        lines.append(f"{r['exercise']:14s} {r['set']:3d} {r['rep']:3d} {dash(r['hold_s'], '{:5.1f}s'):>6s} "
                     f"{dash(r['peak'], '{:6.1f}'):>6s} {dash(r['mvc_pct'], '{:5.0f}'):>5s} "
                     f"{dash(r['flicks'], '{:d}'):>6s} "
                     f"{str(r['kind'] or '—'):9s} {dash(r['relaxed'], '{}'):7s} {_result(r):7s} "
                     f"{', '.join(w.replace('warning_', '') for w in r['warnings'])}")
    for st in s["sets"]:
        undone = st["reps"] - st.get("done", st["reps"])
        lines.append(f"set {st['set']} of {st['exercise']}: {st['good']}/{st['reps']} good"
                     + (f" ({undone} not done)" if undone else "") + ", mean hold "
                     f"{dash(st['mean_hold_s'], '{:g} s')}, mean %MVC {dash(st['mean_mvc_pct'], '{:g}')}, "
                     f"bear-down {st['bear_down']}, accessory {st['accessory']}, not relaxed {st['not_relaxed']}")
    for d in s["dose"]:
        p, dn = d["prescribed"], d["done"]
        lines.append(f"dose {d['exercise']}: prescribed {p['sets']}×{p['reps']} reps, hold {p['hold_s']:g} s, "
                     f"{p['quick_lifts']} quick lifts, rest {p['rest_s']:g} s, target {p['target_mvc_pct']:.0f} %MVC; "
                     f"done {dn['reps']} reps in {dn['sets']} sets, {dn['good_reps']} good, {dn['total_hold_s']:g} s held")
    if s.get("pauses"):
        lines.append("pauses: " + "; ".join(
            f"{p['for_s']:.0f} s at {p['at_s']:.0f} s" + (f" ({p['restarted']['exercise']} set {p['restarted']['set']} "
                                                           f"rep {p['restarted']['rep']} redone)" if p["restarted"] else "")
            for p in s["pauses"]))
    lines.append("progression: " + ("; ".join(s["progression"]) if s["progression"] else "none this session"))
    a = s["adherence"]
    lines.append(f"adherence: today {a['today_done']} done, {a['due_today']} still due; last 7 days "
                 f"{a['week_done']}/{a['week_prescribed']:g} ({a['week_adherence_pct']:.0f} %)")
    lines.append(f"stored: {s['stored_at']}")
    return "\n".join(lines)

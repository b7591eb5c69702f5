"""The scripted patient for ``pfmt train`` without a Pi: a simulated patient who follows the cues of a
session's schedule — correctly, weakly, bearing down, forgetting to relax, holding too briefly or
leaving out the quick lifts — rendered by the physiological simulator. The schedule is known before the session (the device paces it), so
the whole signal is planned up front and its truth is kept for the tests."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from device.config import DeviceConfig
from device.errors import InputError
from device.pipeline.calibration import Calibration
from device.recording import Recording
from device.sim.simulate import Squeeze, random_scenario, simulate
from device.training.programme import Exercise
from device.training.schedule import Phase, Rep, build, resume
from device.training.train import SCHEDULE_START_S
from drivers import rig as rigs
from drivers.clock import Clock, ScaledClock, VirtualClock
from drivers.emulator import Transducer
from drivers.feedback import Feedback

#: How the scripted patient trains: as told, too weakly, bearing down, never letting go, letting
#: go halfway through the hold, leaving out the quick lifts at its end, or holding her breath
#: from the "squeeze" cue until she lets go (the squeeze itself as told).
BEHAVIOURS = ("correct", "weak", "bears_down", "forgets_to_relax", "short_hold", "skips_quick_lifts",
              "holds_breath")
PRESS_S = 0.2  # a simulated short press


def plan(behaviour: str, exercises: list[Exercise], reps: list[Rep], duration_s: float, seed: int = 1,
         sample_rate_hz: float = 100.0, coughs: bool = True,
         modality: str = "pressure", calibrated: Calibration | None = None,
         free: list[tuple[float, float]] | None = None) -> tuple[Recording, dict, Calibration]:
    """The patient's pelvic and abdominal pressure (or surface EMG, raw at ``sample_rate_hz``)
    over the whole session (time from 0). With the physio's calibration, the patient is the one
    calibrated: her resting level and MVC, so %MVC and the targets mean what they say. In each
    ``free`` window (an assessment's "as many fast squeezes as you can") she squeezes fast and
    hard, about one a second."""
    if behaviour not in BEHAVIOURS:
        raise InputError(f"unknown simulated patient {behaviour!r} (--patient); allowed: {', '.join(BEHAVIOURS)}")
    rng = np.random.default_rng(seed)
    sc = random_scenario(seed, modality, abdominal=True, sample_rate_hz=sample_rate_hz, n_contractions=1)
    if modality == "pressure":
        sc.pelvic_mvc = float(rng.uniform(25, 45))
        sc.respiration_amp = float(rng.uniform(0.3, 0.8))
        sc.noise = float(rng.uniform(0.05, 0.15))
        sc.drift = float(rng.uniform(0, 2))
    pel = calibrated.get("pelvic") if calibrated is not None else None
    if pel is not None:
        sc.pelvic_mvc = pel.mvc  # pressure: the rise above the zero; EMG: the level (as calibrated)
        if modality == "emg":
            sc.pelvic_rest = pel.rest
    sc.squeezes, sc.coughs, sc.posture_steps = [], [], []
    sc.duration_s = duration_s
    for r in reps:
        ex = exercises[r.exercise]
        react = float(rng.uniform(0.25, 0.5))
        rise = float(rng.uniform(0.4, 0.7))
        onset = r.squeeze_at + react
        plateau = max(0.3, r.release_at - ex.quick_lifts * 1.0 - (onset + rise)) + ex.quick_lifts * 0.55
        strength = float(min(1.0, ex.target_mvc + rng.uniform(0.12, 0.25)))
        kind, relaxed, flicks = "lift", True, ex.quick_lifts
        if ex.kind == "hypopressive":
            strength, flicks = -float(rng.uniform(0.12, 0.2)), 0
        if behaviour == "weak":
            # Well short of the target (and, for gentle targets, below what counts as a squeeze).
            strength = ex.target_mvc * float(rng.uniform(0.5, 0.75)) * (1 if strength > 0 else -0.1)
            plateau *= float(rng.uniform(0.4, 0.6))
            flicks = 0
        elif behaviour == "bears_down":
            kind, flicks, strength = "bear_down", 0, max(abs(strength), 0.6)
        elif behaviour == "forgets_to_relax" and ex.kind != "hypopressive":
            relaxed = False
        elif behaviour == "short_hold" and ex.kind != "hypopressive":
            plateau = max(0.3, (r.release_at - onset - rise) * float(rng.uniform(0.35, 0.55)))
            flicks = 0
        elif behaviour == "skips_quick_lifts":
            flicks = 0
        elif behaviour == "holds_breath":
            sc.breath_holds.append((r.squeeze_at, r.release_at + 0.3))
        sc.squeezes.append(Squeeze(onset_s=round(onset, 3), hold_s=plateau, strength=strength, rise_s=rise,
                                   release_s=float(rng.uniform(0.3, 0.5)), flicks=flicks, kind=kind,
                                   relaxed=relaxed, fatigue=float(rng.uniform(0.05, 0.15))))
        if coughs and rng.random() < 0.15 and ex.rest_s >= 4:
            sc.coughs.append(round(r.release_at + 1.0 + float(rng.uniform(1.5, ex.rest_s - 0.5)), 3))
    for start, end in free or []:
        t = start + float(rng.uniform(0.3, 0.5))
        while t + 0.8 < end:
            sc.squeezes.append(Squeeze(onset_s=round(t, 3), hold_s=0.15, strength=float(rng.uniform(0.55, 0.8)),
                                       rise_s=0.25, release_s=0.3, flicks=0, kind="lift", relaxed=True,
                                       fatigue=0.0))
            t += float(rng.uniform(0.9, 1.3))
    rec, truth, cal = simulate(sc, seed=seed)
    return rec, truth, Calibration.from_dict(cal)


def plan_button(pauses: list[tuple[float, float]], stop_at_s: float | None, phases: list[Phase],
                reps: list[Rep]) -> list[tuple[float, float]]:
    """The simulated finger on the button: (press, release) times for each (at, for) pause and a
    hold that ends the session at ``stop_at_s``, and the timeline moved for each pause in place —
    through ``schedule.resume``, as the device will move it — so the simulated patient follows
    the cues the device gives after a pause."""
    presses: list[tuple[float, float]] = []
    end = phases[-1].start
    for at, length in sorted(pauses):
        if not phases[0].start <= at < end or length < 2 * PRESS_S:
            raise InputError(f"pause at {at:g} s for {length:g} s: a pause must start within the session's "
                             f"cues ({phases[0].start:g}–{end:g} s) and last at least {2 * PRESS_S:g} s")
        if presses and at - PRESS_S <= presses[-1][1]:
            raise InputError(f"pause at {at:g} s starts before the previous pause has ended")
        paused_in = max(k for k, p in enumerate(phases) if p.start <= at)
        resume(phases, reps, paused_in, at, at + length)
        presses += [(at - PRESS_S, at), (at + length - PRESS_S, at + length)]
        end = phases[-1].start
    if stop_at_s is not None:
        if not 0 < stop_at_s < end or (presses and stop_at_s <= presses[-1][1]):
            raise InputError(f"--stop-at {stop_at_s:g} s: must fall within the session (before "
                             f"{end:g} s) and after the last pause")
        presses.append((stop_at_s, stop_at_s + 2.5))
    return presses


@dataclass
class EmulatedSession:
    """The emulated device with the scripted patient on it, ready for ``training.train.run_session``."""

    rig: rigs.Rig
    clock: Clock
    calibration: Calibration  # the simulated patient's own rest and MVC
    truth: dict               # what she did (the simulator's labelled contractions)


def emulate(behaviour: str, exercises: list[Exercise], config: DeviceConfig, *, seed: int = 1,
            threaded: bool = False, speed: float = 0.0, pauses: list[tuple[float, float]] | None = None,
            stop_at_s: float | None = None, transducers: dict[str, Transducer] | None = None,
            calibrated: Calibration | None = None, clock: Clock | None = None,
            feedback: Feedback | None = None, finger: rigs.Finger | None = None,
            unplugged: list[tuple[float, float]] | None = None, lead_s: float = 0.0) -> EmulatedSession:
    """The whole session planned up front on the schedule the device will pace (first cue at
    ``SCHEDULE_START_S``), her finger on the button, and the emulated chips and mock pins fed with
    it. Lock-step on a virtual clock paced at ``speed`` × real time (0: as fast as possible), or
    ``threaded``: the sampler and pattern threads on a clock scaled by ``speed``, as on the device.

    The appliance's loop brings its own ``clock`` (the session then starts at its ``now()``: the
    first cue ``SCHEDULE_START_S`` later), its ``feedback`` and the ``finger`` on its button; and
    ``unplugged`` (from, to) times on that clock, when the pelvic probe is out of its socket;
    ``lead_s``: the session starts that much later (the device reads the probe first)."""
    t0 = (clock.now() if clock is not None else 0.0) + lead_s
    phases, reps = build(exercises, start=SCHEDULE_START_S)
    presses = [(a + t0, b + t0) for a, b in plan_button(pauses or [], stop_at_s, phases, reps)]
    duration = phases[-1].start + 15.0
    modality = "emg" if config.channels[0].unit == "uV" else "pressure"
    # EMG is rendered raw at the ADC's rate (its band reaches 450 Hz); pressure at 100 Hz, interpolated
    rate = config.rate_hz if modality == "emg" else 100.0
    rec, truth, cal = plan(behaviour, exercises, reps, duration, seed=seed, sample_rate_hz=rate, modality=modality,
                           calibrated=calibrated, free=[(p.start, p.end) for p in phases if p.kind == "free"])
    signals: dict[str, rigs.Signal] = {c.role: (rec.time_s + t0, rec.data[:, i]) for i, c in enumerate(rec.channels)}
    if clock is None:
        clock = ScaledClock(speed or 1.0) if threaded else VirtualClock()
    rig = rigs.emulated(config, clock, signals, threaded=threaded, seed=seed, pace=0.0 if threaded else speed,
                        transducers=transducers, button_presses=presses, feedback=feedback, finger=finger,
                        unplugged={"pelvic": list(unplugged or [])})
    return EmulatedSession(rig, clock, cal, truth)

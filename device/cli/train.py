"""``pfmt train``: compose one guided session — the physiotherapist's prescription (or a programme
when none is prescribed), the device configuration with her fitted sensor transfers, the Pi's
hardware or the emulated device with a simulated patient — and run it (``device.training``)."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from calibration.emulated import emulated_sensors
from calibration.profile import Profile, ProfileStore
from calibration.workflow import apply_sensor
from device.cli.args import DEFAULT_DATA, calibration_file, number, pause, positive_int, speed
from device.config import default_config, load_config
from device.errors import AccessError, InputError
from device.pipeline.calibration import Calibration
from device.records.store import SessionStore
from device.records.summary import SessionSummary
from device.sim.scripted import BEHAVIOURS, emulate
from device.training.programme import Programme, load_programme, with_targets
from device.training.progress import Progress
from device.training.train import SCHEDULE_START_S, SessionPlan, run_session
from device.training.view import format_summary, make_view
from drivers import rig as rigs
from drivers.bus import on_raspberry_pi
from drivers.clock import Clock, RealClock

DEFAULT_PROGRAMME = "norwegian_intensive"


@dataclass
class TrainOptions:
    programme: str | None = None  # None: the prescription, else the default programme
    patient: str = "correct"      # the simulated patient's behaviour (emulation only)
    speed: float = 20.0  # × real time; 0 = as fast as possible (virtual clock)
    seed: int = 1
    data_dir: Path = Path(DEFAULT_DATA)
    config: str | None = None
    calibration: str | None = None
    hardware: bool = False
    overrides: dict = field(default_factory=dict)  # reps/sets/hold_s for a short session
    view: str = "auto"  # auto | live | lines | quiet
    view_to_stderr: bool = False  # stdout carries the machine-readable summary (--json)
    threaded: bool = False  # emulate with the real-time threads (sampler, player) instead of lock-step
    today: dt.date | None = None
    # emulation only: the simulated patient presses the button — (at_s, for_s) pauses and a
    # hold that ends the session at stop_at_s — and follows the moved timeline
    pauses: list[tuple[float, float]] = field(default_factory=list)
    stop_at_s: float | None = None


def _programme(opts: TrainOptions, profile: Profile | None) -> Programme:
    """The prescribed programme — which the patient cannot change — else the one asked for."""
    if profile is None:
        return load_programme(opts.programme or DEFAULT_PROGRAMME)
    rx = profile.prescription
    if (opts.programme is not None and load_programme(opts.programme).name != rx.programme) or opts.overrides:
        raise AccessError(f"the physiotherapist prescribed {rx.programme} with its targets (profile "
                          f"v{profile.version}); changing the programme or its reps, sets or holds is for the "
                          "physiotherapist (`pfmt calibrate --steps prescription`, PIN)")
    return rx.load()


def run(opts: TrainOptions) -> SessionSummary:
    """Run one session; returns the stored summary (with the simulated patient's truth when simulated)."""
    profile = ProfileStore(opts.data_dir).current()  # a damaged profile is refused, with the way back
    sessions = SessionStore(opts.data_dir)  # also marks a session cut off by power loss as interrupted
    try:
        programme = _programme(opts, profile)
        now = dt.datetime.now()
        today = opts.today or now.date()
        started = now if opts.today is None else dt.datetime.combine(today, now.time())
        progress = Progress.load(opts.data_dir, programme, today)
        if progress.state["programme"] != programme.name:  # intensive → maintenance happened
            programme = profile.prescription.load() if profile is not None and \
                progress.state["programme"] == profile.prescription.programme else load_programme(progress.state["programme"])
        prescribed = progress.exercises(programme)
        exercises = [with_targets(e, **opts.overrides) for e in prescribed]
        full_dose = all(e.reps >= p.reps and e.sets >= p.sets and e.hold_s >= p.hold_s and
                        e.quick_lifts >= p.quick_lifts for e, p in zip(exercises, prescribed))
        # without a configuration, the reference build of the probe the physio calibrated
        probe = "emg" if profile is not None and profile.sensor.get("pelvic") is not None and \
            profile.sensor["pelvic"].unit == "uV" else "pressure"
        base_config = load_config(opts.config) if opts.config else default_config(probe, abdominal=True)
        config = apply_sensor(base_config, profile) if profile is not None else base_config
        truth = None
        if opts.hardware and (opts.pauses or opts.stop_at_s is not None):
            raise InputError("--pause and --stop-at press the emulated button; on the device, press the "
                             "button itself (short press: pause/resume, hold 2 s: end the session)")
        cal: Calibration | None
        clock: Clock
        if opts.hardware:  # pragma: no cover - needs a Pi
            if profile is None and not opts.calibration:
                raise InputError("training on the device needs the physiotherapist's calibration "
                                 "(`pfmt calibrate`, or --calibration CAL.json)")
            cal = calibration_file(opts.calibration) if opts.calibration else \
                profile.calibration if profile is not None else None
            clock = RealClock()
            rig = rigs.hardware(config, clock)
            start = None
        else:
            # the physio's calibration when there is one (read before any pin is claimed), else
            # the simulated patient's own
            cal = calibration_file(opts.calibration) if opts.calibration else \
                profile.calibration if profile is not None else None
            transducers = None
            if opts.calibration is None and profile is not None and profile.sensor:
                # the emulated device's own sensors, which the profile calibrated
                transducers = emulated_sensors(base_config)
            emulated = emulate(opts.patient, exercises, config, seed=opts.seed, threaded=opts.threaded,
                               speed=opts.speed, pauses=opts.pauses, stop_at_s=opts.stop_at_s,
                               transducers=transducers, calibrated=cal)
            rig, clock, truth = emulated.rig, emulated.clock, emulated.truth
            if cal is None:
                cal = emulated.calibration
            start = SCHEDULE_START_S
        session = SessionPlan(
            programme=programme, exercises=exercises, config=config, calibration=cal, now=now, started=started,
            patient_code=profile.patient_code if profile is not None else None,
            profile_version=profile.version if profile is not None else None,
            progression=profile.prescription.progression if profile is not None else True, full_dose=full_dose,
            simulated_patient=None if opts.hardware else opts.patient, schedule_start=start)
    except BaseException:  # nothing began: leave the database as it was found
        sessions.close()
        raise
    summary = run_session(session, rig, clock, sessions, progress, make_view(opts.view, opts.speed,
                                                                              sys.stderr if opts.view_to_stderr else None))
    if truth is not None:
        summary["truth"] = truth["contractions"]
    return summary




def add_arguments(tr: argparse.ArgumentParser) -> None:
    tr.add_argument("--programme", default=None,
                    help="built-in programme name or a .toml file (default: the physiotherapist's "
                    "prescription, else norwegian_intensive)")
    tr.add_argument("--patient", default="correct", choices=BEHAVIOURS,
                    help="how the simulated patient trains (emulation only)")
    tr.add_argument("--trainee", dest="patient", choices=BEHAVIOURS, help=argparse.SUPPRESS)  # the old name
    tr.add_argument("--speed", type=speed, default=20.0,
                    help="emulation speed, × real time (0 = as fast as possible; default 20)")
    tr.add_argument("--seed", type=int, default=1)
    tr.add_argument("--data", default=DEFAULT_DATA, metavar="DIR", help="where sessions and progress are kept")
    tr.add_argument("--config", metavar="DEVICE.toml", help="device configuration (default: the reference build)")
    tr.add_argument("--calibration", metavar="CAL.json", help="the physiotherapist's calibration")
    tr.add_argument("--reps", type=positive_int, help="override the prescribed reps (a short session)")
    tr.add_argument("--sets", type=positive_int, help="override the prescribed sets")
    tr.add_argument("--hold", type=float, metavar="S", help="override the prescribed hold (seconds)")
    tr.add_argument("--view", choices=("auto", "live", "lines", "quiet"), default="auto",
                    help="what the terminal shows while it runs: live (a status line redrawn in place, with a "
                    "line for each instruction, result and warning), lines (those lines only), quiet "
                    "(default: live on a terminal, else lines; with --json on standard error)")
    tr.add_argument("--pause", type=pause, action="append", default=[], metavar="AT:SECONDS",
                    help="the simulated patient pauses the session at AT s for SECONDS s with the button "
                    "(repeatable; emulation only)")
    tr.add_argument("--stop-at", type=lambda v: number(v, 0, 86400, " s"), metavar="S",
                    help="the simulated patient holds the button at S s to end the session (emulation only)")
    tr.add_argument("--emulate", action="store_true", help="emulate even on a Pi")
    tr.add_argument("--json", action="store_true",
                    help="print the stored summary as JSON, alone on standard output")


def main(args: argparse.Namespace) -> int:
    overrides = {k: v for k, v in (("reps", args.reps), ("sets", args.sets), ("hold_s", args.hold)) if v is not None}
    s = run(TrainOptions(programme=args.programme, patient=args.patient, speed=args.speed, seed=args.seed,
                         data_dir=Path(args.data), config=args.config, calibration=args.calibration,
                         hardware=on_raspberry_pi() and not args.emulate, overrides=overrides, view=args.view,
                         view_to_stderr=args.json,
                         pauses=args.pause, stop_at_s=args.stop_at))
    if args.json:
        s.pop("latency_s", None)
        print(json.dumps(s, default=str))
    else:
        print(format_summary(s))
    return 0

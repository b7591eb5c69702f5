"""``pfmt calibrate``: the physiotherapist's guided workflow, on the Pi's hardware or on the
emulated device with a simulated patient."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from calibration.console import Console, ScriptedConsole, TerminalConsole
from calibration.emulated import Clinic, emulated_rig
from calibration.profile import ProfileStore
from calibration.workflow import STEPS, Workflow
from device.cli.args import add_lang, default_data, read_answers, reader_language, speed
from device.config import default_config, load_config
from device.errors import Aborted
from device.files import clean_partials
from device.sim.patient import SimulatedPatient
from device.sim.simulate import random_patient
from drivers import rig as rigs
from drivers.bus import on_raspberry_pi
from drivers.clock import RealClock, VirtualClock


def steps(v: str) -> tuple[str, ...]:
    chosen = tuple(x.strip() for x in v.split(",") if x.strip())
    bad = [x for x in chosen if x not in STEPS]
    if bad or not chosen:
        raise argparse.ArgumentTypeError(f"{bad[0] if bad else v!r} is not a step; allowed: {', '.join(STEPS)}")
    return chosen


def add_arguments(cal: argparse.ArgumentParser) -> None:
    cal.add_argument("--steps", type=steps, default=None, metavar="S,S",
                     help="sensor,patient,prescription (default: all; the others are kept from the profile)")
    cal.add_argument("--data", default=default_data(), metavar="DIR", help="where the profile is kept")
    cal.add_argument("--config", metavar="DEVICE.toml", help="device configuration (default: the reference build)")
    cal.add_argument("--answers", metavar="ANSWERS.json",
                     help="answer the questions from this file (by key) instead of the terminal")
    cal.add_argument("--patient", choices=("typical", "atypical"), default="typical",
                     help="the simulated patient (emulation only)")
    cal.add_argument("--modality", choices=("pressure", "emg"), default="pressure",
                     help="the emulated probe when no --config is given")
    cal.add_argument("--seed", type=int, default=1, help="simulated patient's seed")
    cal.add_argument("--speed", type=speed, default=0.0, help="emulation speed × real time (0 = as fast as possible)")
    cal.add_argument("--emulate", action="store_true", help="emulate even on a Pi")
    add_lang(cal, "the physiotherapist's language for the dialogue")


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config) if args.config else default_config(args.modality, abdominal=True)
    tr = reader_language(args)
    console: Console = ScriptedConsole(read_answers(args.answers), echo=True, tr=tr) if args.answers else \
        TerminalConsole(tr=tr)
    actor = None
    if on_raspberry_pi() and not args.emulate:  # pragma: no cover - needs a Pi
        rig = rigs.hardware(config, RealClock())
    else:
        modality = "emg" if config.channels[0].unit == "uV" else "pressure"
        sp = SimulatedPatient(modality, random_patient(args.seed, modality, args.patient == "atypical"),
                              seed=args.seed, roles=tuple(c.role for c in config.channels))
        rig = emulated_rig(config, sp, clock=VirtualClock(), pace=args.speed, seed=args.seed)
        actor = Clinic(sp, args.seed)
    clean_partials(args.data)  # what a killed calibration left (its profile versions are cleaned at save)
    try:
        Workflow(rig, config, console, ProfileStore(Path(args.data)), actor=actor, steps=args.steps or STEPS).run()
    except Aborted as e:
        print(f"pfmt calibrate: {e.localized(tr)}", file=sys.stderr)
        return 1
    return 0

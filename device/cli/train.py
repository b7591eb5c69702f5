"""``pfmt train``: one guided session — the physiotherapist's prescription (or a programme when
none is prescribed) on the Pi's hardware, or on the emulated device with a simulated patient. The
options are parsed here; the session is composed and run by ``device.appliance.compose``."""
from __future__ import annotations

import argparse
from pathlib import Path

from device.appliance.compose import TrainOptions, run
from device.cli.args import default_data, number, pause, positive_int, speed
from device.files import json_out
from device.i18n import LANGUAGES, language
from device.sim.scripted import BEHAVIOURS
from device.training.view import format_summary, terminal_width
from drivers.bus import on_raspberry_pi

__all__ = ["TrainOptions", "add_arguments", "main", "run"]


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
    tr.add_argument("--data", default=default_data(), metavar="DIR", help="where sessions and progress are kept")
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
    tr.add_argument("--lang", choices=sorted(LANGUAGES), help="her language for this session (default: the one "
                    "prescribed, else the device's [voice] language)")
    tr.add_argument("--speech-out", type=Path, metavar="CUES.wav",
                    help="emulation: the spoken cues, mixed at their times into this WAV (after `pfmt speech render`)")
    tr.add_argument("--json", action="store_true",
                    help="print the stored summary as JSON, alone on standard output")


def main(args: argparse.Namespace) -> int:
    overrides = {k: v for k, v in (("reps", args.reps), ("sets", args.sets), ("hold_s", args.hold)) if v is not None}
    s = run(TrainOptions(programme=args.programme, patient=args.patient, speed=args.speed, seed=args.seed,
                         data_dir=Path(args.data), config=args.config, calibration=args.calibration,
                         hardware=on_raspberry_pi() and not args.emulate, overrides=overrides, view=args.view,
                         view_to_stderr=args.json,
                         pauses=args.pause, stop_at_s=args.stop_at, language=args.lang,
                         speech_out=args.speech_out))
    if args.json:
        s.pop("latency_s", None)
        print(json_out(s, default=str))
    else:
        print(format_summary(s, language(str(s.get("language") or "en")), terminal_width()))
    return 0

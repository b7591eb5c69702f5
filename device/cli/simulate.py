"""``pfmt simulate``: labelled recordings from the physiological simulator."""
from __future__ import annotations

import argparse

from device.cli.args import positive_int, rate
from device.sim.simulate import write_dataset, write_example


def add_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("out", help="output CSV path (truth and calibration written beside it), or a "
                   "directory with --set")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--modality", choices=("pressure", "emg"), default="pressure")
    s.add_argument("--abdominal", action="store_true", help="add the abdominal reference channel")
    s.add_argument("--displacement", action="store_true", help="add the probe displacement channel")
    s.add_argument("--hard", action="store_true", help="weak squeezes, drift, noise, posture steps")
    s.add_argument("--rate", type=rate, default=None, metavar="HZ", help="sample rate (8–3300)")
    s.add_argument("--contractions", type=positive_int, default=None, metavar="N")
    s.add_argument("--unit", choices=("cmH2O", "mmHg"), default="cmH2O")
    s.add_argument("--set", action="store_true", help="write a mixed evaluation set into OUT/")
    s.add_argument("--count", type=positive_int, default=24, help="recordings in a --set")


def main(args: argparse.Namespace) -> int:
    if args.set:
        paths = write_dataset(args.out, args.count, args.seed)
        print(f"wrote {len(paths)} labelled recordings to {args.out}")
        return 0
    csv = write_example(args.out, seed=args.seed, modality=args.modality, abdominal=args.abdominal,
                        displacement=args.displacement, hard=args.hard, sample_rate_hz=args.rate,
                        n_contractions=args.contractions, unit=args.unit)
    print(f"wrote {csv} (+ .json truth, .cal.json calibration)")
    return 0

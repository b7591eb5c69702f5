"""``pfmt bench``: accuracy beside the peers, speed, the sampler, a session, calibration."""
from __future__ import annotations

import argparse
from pathlib import Path

from device.bench.run import PARTS
from device.bench.run import main as bench_main


def add_arguments(b: argparse.ArgumentParser) -> None:
    b.add_argument("--dev", default="../shared/eval/dev", help="labelled dev set directory")
    b.add_argument("--scorer", default="../shared/eval/score.py", help="the shared scorer")
    b.add_argument("--unseen", type=int, default=27, metavar="N",
                   help="also score N freshly simulated recordings (0 = skip)")
    b.add_argument("--no-peers", action="store_true", help="skip NeuroKit2 and BioSPPy")
    b.add_argument("--minutes", type=float, default=10.0, help="length of the speed test")
    b.add_argument("--part", action="append", choices=PARTS,
                   help="run only this part (repeatable; default: all)")


def main(args: argparse.Namespace) -> int:
    parts = tuple(args.part) if args.part else PARTS
    return bench_main(Path(args.dev), Path(args.scorer), args.unseen, not args.no_peers, args.minutes, parts)

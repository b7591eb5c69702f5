"""``pfmt live``: replay a recording (or a fresh simulated one) block by block, as the sampler would
deliver it, and print each event the moment the live pipeline knows it."""
from __future__ import annotations

import argparse
import time

from device.cli.args import calibration_file
from device.pipeline import Event, Pipeline
from device.pipeline.calibration import Calibration
from device.recording import open_recording
from device.sim.simulate import random_scenario, simulate


def add_arguments(lv: argparse.ArgumentParser) -> None:
    lv.add_argument("recording", nargs="?", help="CSV or EDF+ recording (default: simulate one)")
    lv.add_argument("--calibration", metavar="CAL.json")
    lv.add_argument("--speed", type=float, default=10.0,
                    help="replay speed as a multiple of real time (0 = as fast as possible)")
    lv.add_argument("--seed", type=int, default=1, help="simulated patient's seed")


def main(args: argparse.Namespace) -> int:
    cal: Calibration | None
    if args.recording:  # read in blocks, as analyze does: a recording of any length replays in bounded memory
        stream = open_recording(args.recording)
        cal = calibration_file(args.calibration) if args.calibration else None
        channels, fs, blocks = stream.channels, stream.sample_rate_hz, stream.blocks()
    else:
        sc = random_scenario(args.seed, modality="pressure", abdominal=True, displacement=True,
                             sample_rate_hz=250.0, n_contractions=6)
        rec, _, cd = simulate(sc, args.seed)
        cal = Calibration.from_dict(cd)
        print(f"simulated patient (seed {args.seed}): pelvic + abdominal pressure + displacement, "
              f"{rec.duration_s:.0f} s at 250 SPS")
        channels, fs, blocks = rec.channels, rec.sample_rate_hz, iter([(rec.time_s, rec.data)])
    p = Pipeline(channels, fs, cal)
    blk = max(1, int(p.fs * 0.1))
    start, t0 = time.monotonic(), None
    for tb, xb in blocks:
        for i in range(0, len(tb), blk):  # the sampler's 0.1 s blocks
            t = tb[i:i + blk]
            t0 = float(t[0]) if t0 is None else t0
            if args.speed > 0:
                delay = (t[-1] - t0) / args.speed - (time.monotonic() - start)
                if delay > 0:
                    time.sleep(delay)
            for e in p.process(t, xb[i:i + blk]):
                print(describe(e), flush=True)
    for e in p.finish():
        print(describe(e), flush=True)
    print(f"{len(p.contractions)} contraction(s)")
    return 0


def describe(e: Event) -> str:
    d = e.data
    head = f"[{e.known_at_s:7.2f} s] {e.type:<13}"
    if e.type == "contraction":
        pct = f" ({d['mvc_pct']:.0f} %MVC)" if d.get("mvc_pct") is not None else ""
        return (f"{head} onset {d['onset_s']:.2f} s, hold {d['hold_s']:.1f} s, peak {d['peak']:.1f}"
                f"{pct}, flicks {d['flicks']}, {d['kind'] or 'kind unknown'}, "
                f"{'relaxed' if d['relaxed'] else 'DID NOT RELAX'}")
    if e.type == "kind":
        return f"{head} {d['kind'] or 'unknown'} (contraction began {e.time_s:.2f} s)"
    if e.type == "artifact":
        return f"{head} rejected: {d['reason']}"
    if e.type == "onset" and d.get("early"):
        return f"{head} at {e.time_s:.2f} s ({d.get('channel')}; early: rising fast, to be confirmed)"
    if e.type == "onset_cancelled":
        return f"{head} the early onset at {e.time_s:.2f} s was not confirmed ({d.get('channel')})"
    return f"{head} at {e.time_s:.2f} s ({d.get('channel')})"

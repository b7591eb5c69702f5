"""``pfmt analyze``: detect and measure every contraction of a recording (the analysis contract)."""
from __future__ import annotations

import argparse
import sys

from device.cli.args import calibration_file
from device.files import json_out
from device.pipeline import Pipeline, analyze_stream
from device.recording import Stream, open_recording


def add_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("recording", help="recording: CSV (time_s,<role>_<unit>,...) or EDF+")
    a.add_argument("--calibration", metavar="CAL.json", help="the physiotherapist's rest/MVC per channel")
    a.add_argument("--json", action="store_true", help="print one JSON object (the analysis contract)")
    a.add_argument("--detail", action="store_true", help="add live timing and classifier features")


def main(args: argparse.Namespace) -> int:
    cal = calibration_file(args.calibration) if args.calibration else None
    stream = open_recording(args.recording)  # read in blocks: memory is a block's, whatever the length
    p = analyze_stream(stream, cal, keep=lambda e: e.type == "artifact")  # what the result lists besides contractions
    out = result(str(args.recording), stream, p, cal is not None and bool(cal.channels), args.detail)
    if args.json:
        sys.stdout.write(json_out(out) + "\n")
    else:
        print(format_table(out))
    return 0


def result(name: str, stream: Stream, p: Pipeline, calibrated: bool, detail: bool = False) -> dict:
    """The analysis contract's JSON object of a recording the pipeline ``p`` has run over."""
    return {
        "recording": name,
        "sample_rate_hz": round(stream.sample_rate_hz, 3),
        "duration_s": round(stream.duration_s, 3),
        "channels": [c.name for c in stream.channels],
        "calibrated": calibrated,
        "contractions": [c.to_dict(detail=detail) for c in p.contractions],
        # in time order: the detectors of a block run one after the other, so the events' own order
        # depends on where the blocks fall; what they say does not
        "artifacts": sorted(({"time_s": round(e.time_s, 3), "reason": e.data.get("reason")}
                             for e in p.events if e.type == "artifact"), key=lambda a: (a["time_s"], str(a["reason"]))),
    }


def format_table(out: dict) -> str:
    unit = out["channels"][0].split("_", 1)[1]
    lines = [f"{out['recording']}: {out['duration_s']:.1f} s at {out['sample_rate_hz']:g} Hz, "
             f"channels {', '.join(out['channels'])}",
             f"{'#':>3} {'onset s':>8} {'offset s':>8} {'hold s':>7} {'peak ' + unit:>11} "
             f"{'%MVC':>5} {'flicks':>6} {'kind':>10} {'relaxed':>7}"]
    for i, c in enumerate(out["contractions"], 1):
        pct = f"{c['mvc_pct']:.0f}" if c.get("mvc_pct") is not None else "-"
        lines.append(f"{i:>3} {c['onset_s']:>8.2f} {c['offset_s']:>8.2f} {c['hold_s']:>7.2f} "
                     f"{c['peak']:>11.1f} {pct:>5} {c['flicks']:>6} {c['kind'] or '-'!s:>10} "
                     f"{'yes' if c['relaxed'] else 'NO':>7}")
    lines.append(f"{len(out['contractions'])} contraction(s); {len(out['artifacts'])} artifact(s) "
                 "rejected (coughs, spikes)")
    return "\n".join(lines)

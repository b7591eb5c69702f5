"""Equal footing for the speed comparison with the peers, through the shared scorer's own code.

The shared scorer times pfmt as one ``pfmt analyze`` process per file (Python and numpy start-up
included) but runs the peers inside its own, already started process. ``pfmt bench`` therefore
times every tool both ways, with the scorer's own loop and timer:

- ``python -m device.bench.peer_run neurokit|biosppy SCORER.py REC.csv`` — one peer on one recording in
  its own process (the scorer's ``peer_detect``); the scorer's ``--cmd`` times it per process.
- ``python -m device.bench.peer_run --in-process SCORER.py DATA`` — the scorer's whole run with pfmt
  inside its process, as it runs the peers: its ``peer_detect`` learns the name ``pfmt``, which
  analyses the recording and its calibration in-process (pfmt's own import is timed on the
  first file, as the peers' imports are). Prints the scorer's JSON.

Accuracy is the same either way; only the real-time factor differs.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

IN_PROCESS = ("pfmt", "pfmt-uncalibrated", "threshold")
USAGE = ("usage: python -m device.bench.peer_run neurokit|biosppy SCORER.py REC.csv\n"
         "       python -m device.bench.peer_run --in-process SCORER.py DATA [pfmt|pfmt-uncalibrated|threshold [TUNE_ON]]")


def _load_scorer(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("pfmt_shared_score", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: not a Python file the scorer can be loaded from")
    score = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(score)
    return score


def pfmt_detect(csv: Path) -> dict:
    """What ``pfmt analyze CSV --calibration CAL --json`` prints, computed in this process.

    Imported here, not at the top: a peer timed in a process of its own must not pay for pfmt's
    start-up."""
    from device.pipeline import analyze
    from device.pipeline.calibration import load_calibration
    from device.recording import read_recording

    cal_path = csv.with_name(csv.stem + ".cal.json")
    cal = load_calibration(cal_path) if cal_path.exists() else None
    return {"contractions": [c.to_dict() for c in analyze(read_recording(csv), cal).contractions]}


def pfmt_detect_uncalibrated(csv: Path) -> dict:
    """``pfmt analyze CSV --json``, no calibration, in this process."""
    from device.pipeline import analyze
    from device.recording import read_recording

    return {"contractions": [c.to_dict() for c in analyze(read_recording(csv)).contractions]}


def score_in_process(scorer: Path, data: Path, name: str = "pfmt", tune_on: Path | None = None) -> int:
    """The scorer's run with ``name`` in its process: ``pfmt``, ``pfmt-uncalibrated``, or
    ``threshold`` (the tuned threshold peer, its k and duration chosen on ``tune_on``)."""
    score = _load_scorer(scorer)
    peers = score.peer_detect
    if name == "threshold":
        from device.bench import threshold_peer
        k, m, h = threshold_peer.tune(score.match, tune_on or data)
        print(json.dumps({"k": k, "min_s": m, "hysteresis": h}), file=sys.stderr)

    def peer_detect(peer, csv, truth):
        if peer == "pfmt":
            return pfmt_detect(Path(csv))
        if peer == "pfmt-uncalibrated":
            return pfmt_detect_uncalibrated(Path(csv))
        if peer == "threshold":
            return threshold_peer.detect(Path(csv), k, m, h)
        return peers(peer, csv, truth)

    score.peer_detect = peer_detect  # type: ignore[attr-defined]  # the scorer's hook, replaced
    sys.argv = [str(scorer), str(data), "--peer", name]
    return score.main() or 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) >= 3 and args[0] == "--in-process":  # --in-process SCORER DATA [NAME [TUNE_ON]]
        if len(args) > 5 or (len(args) > 3 and args[3] not in IN_PROCESS):
            print(USAGE, file=sys.stderr)
            return 2
        name = args[3] if len(args) > 3 else "pfmt"
        return score_in_process(Path(args[1]), Path(args[2]), name, Path(args[4]) if len(args) > 4 else None)
    if len(args) != 3 or args[0] not in ("neurokit", "biosppy"):
        print(USAGE, file=sys.stderr)
        return 2
    name, scorer, csv = args[0], Path(args[1]), Path(args[2])
    truth = json.loads(csv.with_suffix(".json").read_text())  # the peers need the sample rate only
    print(json.dumps(_load_scorer(scorer).peer_detect(name, csv, {"sample_rate_hz": truth["sample_rate_hz"]})))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

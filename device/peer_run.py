"""One peer library on one recording, in its own process: ``python -m device.peer_run NAME CSV``.

The shared scorer times pfmt as one ``pfmt analyze`` process per file (start-up included) but runs
the peers inside its own process, so their real-time factor has no start-up in it. ``pfmt bench``
also scores the peers through this runner — the scorer's own peer code, one process per file —
so the speed figures can be read on equal footing. Accuracy is the same either way.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3 or args[0] not in ("neurokit", "biosppy"):
        print("usage: python -m device.peer_run neurokit|biosppy SCORER.py REC.csv", file=sys.stderr)
        return 2
    name, scorer, csv = args[0], Path(args[1]), Path(args[2])
    spec = importlib.util.spec_from_file_location("pfmt_shared_score", scorer)
    score = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(score)
    truth = json.loads(csv.with_suffix(".json").read_text())  # the peers need the sample rate only
    print(json.dumps(score.peer_detect(name, csv, {"sample_rate_hz": truth["sample_rate_hz"]})))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

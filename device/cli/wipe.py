"""``pfmt wipe``: the hand-over of a loaned device — every session, the symptom diary, the
profile (calibration, prescription, the physio's secret) and the logs, overwritten and removed."""
from __future__ import annotations

import argparse
from pathlib import Path

from calibration.console import TerminalConsole
from calibration.profile import PinGuard, ProfileStore
from calibration.workflow import require_pin
from device.cli.args import default_data
from device.errors import N_, InputError
from device.records import store


def add_arguments(wp: argparse.ArgumentParser) -> None:
    wp.add_argument("--data", default=default_data(), metavar="DIR")


def main(args: argparse.Namespace) -> int:
    data = Path(args.data)
    if not data.is_dir():
        raise InputError(N_("{data}: no data directory here (--data)"), data=data)
    con = TerminalConsole()
    holder = ProfileStore(data).pin_holder()
    require_pin(con, holder, PinGuard(data))
    code = holder.patient_code if holder is not None else "WIPE"
    con.say(f"This removes everything of patient {code} from {data}: sessions, symptom diary, profile "
            "(calibration, prescription, the physio secret) and logs. Export first (`pfmt export --all`).")
    if con.ask(f"Type {code} to wipe", "confirm") != code:
        print("nothing was wiped")
        return 1
    gone = store.wipe(data)
    print(f"wiped {data} ({len(gone)} entries): the device is ready for the next patient's calibration")
    return 0

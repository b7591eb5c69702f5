"""``pfmt wipe``: the hand-over of a loaned device — every session, the symptom diary, the
profile (calibration, prescription, the physio's secret) and the logs, overwritten and removed."""
from __future__ import annotations

import argparse
from pathlib import Path

from calibration.console import TerminalConsole
from calibration.profile import PinGuard, ProfileStore
from calibration.workflow import require_pin
from device.cli.args import add_lang, default_data, reader_language
from device.errors import N_, InputError
from device.records import store


def add_arguments(wp: argparse.ArgumentParser) -> None:
    wp.add_argument("--data", default=default_data(), metavar="DIR")
    add_lang(wp)


def main(args: argparse.Namespace) -> int:
    tr = reader_language(args)
    data = Path(args.data)
    if not data.is_dir():
        raise InputError(N_("{data}: no data directory here (--data)"), data=data)
    con = TerminalConsole(tr=tr)
    holder = ProfileStore(data).pin_holder()
    require_pin(con, holder, PinGuard(data))
    code = holder.patient_code if holder is not None else "WIPE"
    con.say(N_("This removes everything of patient {code} from {data}: sessions, symptom diary, profile "
               "(calibration, prescription, the physio secret) and logs. Export first (`pfmt export --all`)."),
            code=code, data=data)
    if con.ask(tr(N_("Type {code} to wipe")).format(code=code), "confirm") != code:
        print(tr("nothing was wiped"))
        return 1
    gone = store.wipe(data)
    print(tr("wiped {data} ({n_gone} entries): the device is ready for the next patient's calibration").format(
              data=data, n_gone=len(gone)))
    return 0

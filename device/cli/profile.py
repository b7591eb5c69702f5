"""``pfmt profile``: the profile in force, its history, or an earlier version brought back (PIN)."""
from __future__ import annotations

import argparse
from pathlib import Path

from calibration.console import TerminalConsole
from calibration.profile import PinGuard, ProfileStore
from calibration.workflow import ask_physio, require_pin
from device.cli.args import default_data, positive_int
from device.errors import N_, CalibrationError
from device.files import json_out


def add_arguments(pr: argparse.ArgumentParser) -> None:
    pr.add_argument("action", choices=("show", "history", "restore"))
    pr.add_argument("version", nargs="?", type=positive_int, help="version to show or restore")
    pr.add_argument("--data", default=default_data(), metavar="DIR")
    pr.add_argument("--json", action="store_true", help="print the profile as JSON (show)")


def main(args: argparse.Namespace) -> int:
    store = ProfileStore(Path(args.data))
    if args.action == "history":
        vs = store.versions()
        if not vs:
            print(f"no profile in {store.dir}")
        for v in vs:
            try:
                p = store.load(v)
                print(f"v{v}: {p.created_at} by {p.by or '—'}: {', '.join(p.changes)} "
                      f"(patient {p.patient_code}, {p.prescription.programme})")
            except CalibrationError as e:
                print(f"v{v}: DAMAGED — {e}")
        return 0
    if args.action == "show":
        shown = store.load(args.version) if args.version else store.current()
        if shown is None:
            raise CalibrationError(N_("no profile in {dir}: the physiotherapist runs `pfmt calibrate` first"),
                                   dir=store.dir)
        if args.json:
            d = shown.to_dict()
            d.pop("pin", None)
            print(json_out(d, indent=1))
        else:
            print(shown.summary())
            print(f"prescription {shown.signature_state}" + (f", signed with key {shown.key_fingerprint}" if
                  shown.key_fingerprint else " (made before profiles were signed)")
                  + (" — a different key from the version before" if store.key_changed(shown) else ""))
            n, log = PinGuard(Path(args.data)).failures_since_login()
            if log:
                print(f"wrong physio secrets: {n} since the last correct login; the log's last "
                      f"{min(len(log), 10)} of {len(log)}: " + ", ".join(f"{e['at']} ({e['where']})" for e in log[-10:]))
            if shown.weak_pin:
                print("the physio PIN is an old short one: the next `pfmt calibrate` asks for a passphrase")
        return 0
    if args.version is None:
        raise CalibrationError(N_("restore needs the version number (see `pfmt profile history`)"))
    con = TerminalConsole()
    secret = require_pin(con, store.pin_holder(), PinGuard(Path(args.data)))
    p = store.restore(args.version, by=ask_physio(con), secret=secret)
    print(f"restored version {args.version} as version {p.version}")
    return 0

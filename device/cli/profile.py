"""``pfmt profile``: the profile in force, its history, or an earlier version brought back (PIN)."""
from __future__ import annotations

import argparse
from pathlib import Path

from calibration.console import TerminalConsole
from calibration.profile import PinGuard, ProfileStore
from calibration.workflow import ask_physio, require_pin
from device.cli.args import add_lang, default_data, positive_int, reader_language
from device.errors import N_, CalibrationError
from device.files import json_out
from device.records.report import SIGNATURE


def add_arguments(pr: argparse.ArgumentParser) -> None:
    pr.add_argument("action", choices=("show", "history", "restore"))
    pr.add_argument("version", nargs="?", type=positive_int, help="version to show or restore")
    pr.add_argument("--data", default=default_data(), metavar="DIR")
    add_lang(pr)
    pr.add_argument("--json", action="store_true", help="print the profile as JSON (show)")


def main(args: argparse.Namespace) -> int:
    tr = reader_language(args)
    store = ProfileStore(Path(args.data))
    if args.action == "history":
        vs = store.versions()
        if not vs:
            print(tr("no profile in {dir}").format(dir=store.dir))
        for v in vs:
            try:
                p = store.load(v)
                print(tr("v{v}: {created_at} by {value}: {items} (patient {patient_code}, {programme})").format(
                          v=v, created_at=p.created_at, value=p.by or '—', items=', '.join(p.changes),
                          patient_code=p.patient_code, programme=p.prescription.programme))
            except CalibrationError as e:
                print(tr("v{v}: DAMAGED — {e}").format(v=v, e=e))
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
            print(shown.summary(tr))
            state = tr(SIGNATURE[shown.signature_state]) if shown.signature_state in SIGNATURE else shown.signature_state
            print(tr("prescription {state}").format(state=state)
                  + (tr(", signed with key {key}").format(key=shown.key_fingerprint) if shown.key_fingerprint
                     else " " + tr("(made before profiles were signed)"))
                  + (" — " + tr("a different key from the version before") if store.key_changed(shown) else ""))
            n, log = PinGuard(Path(args.data)).failures_since_login()
            if log:
                print(tr("wrong physio secrets: {n} since the last correct login; the log's last {value} "
                         "of {n_log}: {items}").format(
                          n=n, value=min(len(log), 10), n_log=len(log),
                          items=", ".join(f"{e['at']} ({e['where']})" for e in log[-10:])))
            if shown.weak_pin:
                print(tr("the physio PIN is an old short one: the next `pfmt calibrate` asks for a passphrase"))
        return 0
    if args.version is None:
        raise CalibrationError(N_("restore needs the version number (see `pfmt profile history`)"))
    con = TerminalConsole(tr=tr)
    secret = require_pin(con, store.pin_holder(), PinGuard(Path(args.data)))
    p = store.restore(args.version, by=ask_physio(con), secret=secret)
    print(tr("restored version {version} as version {version2}").format(version=args.version, version2=p.version))
    return 0

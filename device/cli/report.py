"""``pfmt report``: the physiotherapist's report — one self-contained HTML file (``records.report``)."""
from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from calibration.profile import ProfileStore
from device import installed_version
from device.cli.args import add_lang, default_data, iso_date, positive_int, reader_language
from device.errors import N_, InputError, StorageError
from device.files import atomic_write, printable
from device.records.export import select
from device.records.report import build
from device.records.store import SessionStore


def add_arguments(rp: argparse.ArgumentParser) -> None:
    rp.add_argument("ids", nargs="*", type=positive_int, metavar="ID",
                    help="sessions to report (default: every session of the current patient)")
    rp.add_argument("--since", metavar="YYYY-MM-DD", help="only sessions from this date on")
    rp.add_argument("--out", metavar="REPORT.html", help="where to write it (default: report-<code>.html here)")
    rp.add_argument("--data", default=default_data(), metavar="DIR")
    add_lang(rp, "the language to write it in")


def main(args: argparse.Namespace) -> int:
    tr = reader_language(args)
    profiles = ProfileStore(Path(args.data))
    holder = profiles.pin_holder()
    damaged: dict[int, str] = {}
    with SessionStore(args.data, create=False) as db:
        chosen = select(db, args.ids or None, iso_date(args.since, '--since'), damaged)
        if not args.ids and holder is not None:  # the current patient's, never an earlier one's
            chosen = [s for s in chosen if s.info["patient_code"] == holder.patient_code]
        codes = sorted({s.info["patient_code"] or "unassigned" for s in chosen})
        if not chosen:
            raise InputError(N_("no session to report; `pfmt sessions` lists them"))
        if len(codes) > 1:
            raise InputError(N_("these sessions belong to {n_codes} patient codes ({items}); a report is one "
                                "patient's: choose her sessions by id"), n_codes=len(codes), items=', '.join(codes))
        history = [h for h in profiles.history() if h.get("patient_code") in (codes[0], None)]
        page = build(db, chosen, history, generated=dt.datetime.now(), version=installed_version(), tr=tr)
    out = Path(args.out or f"report-{codes[0]}.html")
    try:
        with atomic_write(out) as f:
            f.write(page.encode("utf-8"))
    except OSError as e:
        raise StorageError(N_("{out}: the report cannot be written ({strerror})"),
                           out=out, strerror=e.strerror) from None
    for i, what in damaged.items():
        print(tr("pfmt report: session {i} left out, damaged: {what}").format(i=i, what=printable(what)))
    print(tr("wrote {out}: {n} session(s) of patient {code}, {kib} KiB; open it in a browser (print it to PDF from "
             "there)").format(out=out, n=len(chosen), code=codes[0], kib=len(page) // 1024))
    return 0

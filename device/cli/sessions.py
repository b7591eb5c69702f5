"""``pfmt sessions``: stored sessions — one line each, one session's summary, the weekly trend."""
from __future__ import annotations

import argparse
import sys

from device.cli.args import default_data, positive_int
from device.errors import InputError
from device.files import json_out
from device.records.reports import dose, format_list, format_trend, session_line, trend
from device.records.store import SessionStore
from device.training.view import format_summary


def add_arguments(se: argparse.ArgumentParser) -> None:
    se.add_argument("action", nargs="?", default="list", choices=("list", "show", "trend"))
    se.add_argument("id", nargs="?", type=positive_int, help="session id (show)")
    se.add_argument("--weeks", type=positive_int, help="trend: only the last N weeks")
    se.add_argument("--json", action="store_true")
    se.add_argument("--data", default=default_data(), metavar="DIR")


def main(args: argparse.Namespace) -> int:
    with SessionStore(args.data, create=False) as db:
        if db.recovered:
            print(f"recovered after power loss: session {', '.join(map(str, db.recovered))} (marked interrupted)",
                  file=sys.stderr)
        if args.action == "list":
            ss = db.sessions()
            print(json_out([session_line(s) for s in ss]) if args.json else format_list(ss))
        elif args.action == "show":
            if args.id is None:
                raise InputError("`pfmt sessions show` needs a session id (`pfmt sessions list` gives them)")
            s = db.session(args.id)
            if args.json:
                print(json_out(dose(s), default=str))
            else:
                summ = dict(s.info["summary"] or {})
                print(f"session {s.id}: {s.info['started_at']}, {s.info['programme']}, {s.info['status']}"
                      + (f" (recovered {s.info['recovered_at']})" if s.info["recovered_at"] else "")
                      + f", patient {s.info['patient_code'] or '—'}, {s.info['samples']} samples stored")
                if summ.get("reps") is not None and "programme_title" in summ:
                    summ["stored_at"] = f"{db.path} (session {s.id})"
                    print(format_summary(summ))
                else:
                    ln = session_line(s)
                    print(f"{ln['reps']} reps judged before the interruption, {ln['good']} good; "
                          f"{ln['stored_s']} s of signal kept")
        else:
            w = trend(db.sessions(), args.weeks)
            print(json_out(w) if args.json else format_trend(w))
    return 0

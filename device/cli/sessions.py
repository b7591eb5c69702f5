"""``pfmt sessions``: stored sessions — one line each, one session's summary, the weekly trend,
or deleting sessions for good (the physiotherapist's secret, when the device has one)."""
from __future__ import annotations

import argparse
import sys

from device.cli.args import add_lang, default_data, positive_int, reader_language
from device.errors import N_, InputError
from device.files import json_out, printable
from device.records.report import STATUS
from device.records.reports import dose, format_list, format_trend, session_line, trend
from device.records.store import SessionStore, repair
from device.training.view import format_summary, terminal_width


def add_arguments(se: argparse.ArgumentParser) -> None:
    se.add_argument("action", nargs="?", default="list", choices=("list", "show", "trend", "delete", "check", "repair"))
    se.add_argument("ids", nargs="*", type=positive_int, metavar="ID", help="session id (show), ids (delete)")
    se.add_argument("--yes", action="store_true", help="delete: do not ask again (the secret is still asked)")
    se.add_argument("--weeks", type=positive_int, help="trend: only the last N weeks")
    se.add_argument("--json", action="store_true")
    add_lang(se)
    se.add_argument("--data", default=default_data(), metavar="DIR")


def main(args: argparse.Namespace) -> int:
    tr = reader_language(args)
    if args.action != "delete" and len(args.ids) > 1:
        raise InputError(N_("`pfmt sessions {action}` takes at most one session id"), action=args.action)
    args.id = args.ids[0] if args.ids else None
    if args.action == "delete":
        return _delete(args)
    if args.action == "repair":
        return _repair(args)
    with SessionStore(args.data, create=False) as db:
        if db.recovered:
            print(tr("recovered after power loss: session {items} (marked interrupted)").format(
                      items=', '.join(map(str, db.recovered))),
                  file=sys.stderr)
        if args.action == "check":
            return _check(db, args)
        ss, damaged = db.readable()  # a damaged session is named, the others still listed
        for i, what in damaged.items():
            print(tr("session {i}: DAMAGED — {what}").format(i=i, what=printable(what)), file=sys.stderr)
        if damage := db.damage_found():
            print(tr("the database is marked damaged ({damage}): `pfmt sessions repair`").format(
                      damage=printable(damage)), file=sys.stderr)
        if args.action == "list":
            print(json_out([session_line(s) for s in ss]) if args.json else format_list(ss, reader_language(args)))
        elif args.action == "show":
            if args.id is None:
                raise InputError(N_("`pfmt sessions show` needs a session id (`pfmt sessions list` gives them)"))
            s = db.session(args.id)
            if args.json:
                print(json_out(dose(s), default=str))
            else:
                summ = dict(s.info["summary"] or {})
                status = tr(STATUS[s.info["status"]]) if s.info["status"] in STATUS else s.info["status"]
                if s.info["recovered_at"]:
                    status += " " + tr("(recovered {when})").format(when=s.info["recovered_at"])
                print(tr("session {id}: {started_at}, {programme}, {status}, patient {code}, {samples} samples "
                         "stored").format(id=s.id, started_at=s.info["started_at"], programme=s.info["programme"],
                                          status=status, code=s.info["patient_code"] or "—", samples=s.info["samples"]))
                if summ.get("reps") is not None and "programme_title" in summ:
                    summ["stored_at"] = f"{db.path} (session {s.id})"
                    print(format_summary(summ, tr, terminal_width()))
                else:
                    ln = session_line(s)
                    print(tr("{reps} reps judged before the interruption, {good} good; {stored_s} s of "
                             "signal kept").format(
                              reps=ln['reps'], good=ln['good'], stored_s=ln['stored_s']))
        else:
            w = trend(ss, args.weeks)
            print(json_out(w) if args.json else format_trend(w, reader_language(args)))
    return 0


def _delete(args: argparse.Namespace) -> int:
    """Sessions removed for good, after the physio's secret (health data she relies on; the card
    full message sends her here)."""
    tr = reader_language(args)
    from pathlib import Path

    from calibration.console import TerminalConsole
    from calibration.profile import PinGuard, ProfileStore
    from calibration.workflow import require_pin

    if not args.ids:
        raise InputError(N_("`pfmt sessions delete` needs the ids of the sessions to delete (`pfmt sessions list`)"))
    with SessionStore(args.data, create=False) as db:
        chosen = [db.session(i) for i in dict.fromkeys(args.ids)]  # each must exist, before the secret
        con = TerminalConsole(tr=tr)
        require_pin(con, ProfileStore(Path(args.data)).pin_holder(), PinGuard(Path(args.data)))
        for s in chosen:
            con.say(N_("  session {id}: {started_at}, {programme}, patient {code}, {status}"), id=s.id,
                    started_at=s.info["started_at"], programme=s.info["programme"], code=s.info["patient_code"] or "—",
                    status=tr(STATUS[s.info["status"]]) if s.info["status"] in STATUS else s.info["status"])
        yes = tr(N_("yes"))
        if not args.yes and con.ask(tr(N_("Delete these {n} session(s) for good? Export them first (`pfmt export`). "
                                          "Type {yes}")).format(n=len(chosen), yes=yes),
                                    "confirm").lower() not in {yes, "yes"}:
            print(tr("nothing was deleted"))
            return 1
        done = db.delete([s.id for s in chosen])
    print(tr("deleted session(s) {items} for good").format(items=', '.join(map(str, done))))
    return 0


def _check(db: SessionStore, args: argparse.Namespace) -> int:
    """Every page (SQLite's quick_check) and every stored checksum; exit 1 when anything is damaged."""
    tr = reader_language(args)
    r = db.check()
    if args.json:
        print(json_out(r))
    else:
        state = tr("intact") if r["file"] == ["ok"] else tr("DAMAGED") + " — " + printable("; ".join(r["file"][:3]))
        print(tr("database file: {state}").format(state=state))
        if r.get("unreadable"):
            print(tr("the list of sessions: {unreadable}").format(unreadable=printable(r['unreadable'])))
        print(tr("sessions: {n_items} checked, {n_items2} damaged").format(
                  n_items=len(r['sessions']), n_items2=len(r['damaged'])))
        for i, what in r["damaged"].items():
            print(tr("  session {i}: {what}").format(i=i, what=printable(what)))
        if r["file"] != ["ok"] or r["damaged"] or r.get("unreadable"):
            print(tr("export what is readable (`pfmt export --all`), then `pfmt sessions repair`"))
    return 0 if r["file"] == ["ok"] and not r["damaged"] and not r.get("unreadable") else 1


def _repair(args: argparse.Namespace) -> int:
    tr = reader_language(args)
    r = repair(args.data)
    if args.json:
        print(json_out(r))
        return 0
    print(tr("repaired: {n_items} session(s) kept in a new database; the damaged file is kept as "
             "{kept_file}").format(
              n_items=len(r['kept']), kept_file=r['kept_file']))
    for i, lost in r["damage"].items():
        print(tr("session {i}: kept without {n_lost} damaged part(s): {items}").format(
                  i=i, n_lost=len(lost), items=printable('; '.join(lost[:3]))))
    for i, why in r["lost"].items():
        print(tr("  session {i}: lost — {why}").format(i=i, why=printable(why)))
    return 0


"""``pfmt symptoms``: the symptom diary — leakage episodes since the last entry, by the patient or
the physiotherapist. "Symptom-free for N months", which moves an intensive programme to
maintenance, is judged on it, and the report shows it beside the dose."""
from __future__ import annotations

import argparse
import datetime as dt

from device.cli.args import add_lang, default_data, reader_language
from device.errors import N_, InputError
from device.files import json_out
from device.training.progress import MAX_LEAKS, Progress


def _date(v: str) -> dt.date:
    try:
        return dt.date.fromisoformat(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{v!r} is not a date (YYYY-MM-DD)") from None


def _leaks(v: str) -> int:
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{v!r} is not a whole number (0–{MAX_LEAKS})") from None
    if not 0 <= n <= MAX_LEAKS:
        raise argparse.ArgumentTypeError(f"{n} is outside 0–{MAX_LEAKS}")
    return n


def add_arguments(sy: argparse.ArgumentParser) -> None:
    sy.add_argument("action", nargs="?", default="list", choices=("list", "add"))
    sy.add_argument("--leaks", type=_leaks, metavar="N", help="add: leakage episodes since the last entry")
    sy.add_argument("--date", type=_date, metavar="YYYY-MM-DD", help="add: the day (default today)")
    sy.add_argument("--note", default="", help="add: a few words (urgency, what brought it on)")
    sy.add_argument("--by", choices=("patient", "physio"), default="patient")
    sy.add_argument("--json", action="store_true")
    sy.add_argument("--data", default=default_data(), metavar="DIR")
    add_lang(sy)


def main(args: argparse.Namespace) -> int:
    tr = reader_language(args)
    progress = Progress.existing(args.data)
    today = dt.date.today()
    if args.action == "add":
        if args.leaks is None:
            raise InputError(N_("`pfmt symptoms add` needs --leaks N (leakage episodes since the last entry; 0 = "
                                "none)"))
        e = progress.add_symptoms(args.date or today, args.leaks, today, args.note, args.by)
        progress.save()
        print(json_out(e) if args.json else f"recorded: {e['date']}, {e['leaks']} leakage episode(s)"
              + (f" — {e['note']}" if e["note"] else ""))
        return 0
    diary = progress.state.get("symptoms") or []
    since = progress.symptom_free_since()
    if args.json:
        print(json_out({"entries": diary, "symptom_free_since": since}))
        return 0
    if not diary:
        print(tr("no symptom diary entries yet (`pfmt symptoms add --leaks N`)"))
    for e in diary:
        print(tr("{date}  {leaks:3d} leakage episode(s)  by {by}{value}").format(
                  date=e['date'], leaks=e['leaks'], by=e['by'], value=f"  {e['note']}" if e["note"] else ""))
    print(f"symptom-free since {since}" if since else "not symptom-free yet (the latest entry reports leakage)"
          if diary else "")
    return 0

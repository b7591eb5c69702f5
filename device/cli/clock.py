"""``pfmt clock``: the device's wall clock and how far it can be trusted (``drivers.rtc``), or set
it — as root or with CAP_SYS_TIME, over SSH; the serial console's ``TIME SET`` does the same
behind the physiotherapist's PIN. With a DS3231 the RTC is set too, so the time survives a
power-off."""
from __future__ import annotations

import argparse
import datetime as dt

from device.cli.args import add_lang, reader_language
from device.errors import N_, HardwareError, InputError
from device.files import json_out
from drivers import rtc


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=("show", "set"), default="show")
    p.add_argument("when", nargs="?", metavar="YYYY-MM-DDTHH:MM:SS", help="the local time to set")
    p.add_argument("--json", action="store_true")
    add_lang(p)


def main(args: argparse.Namespace) -> int:
    tr = reader_language(args)
    if args.action == "show":
        if args.when:
            raise InputError(N_("`pfmt clock` shows the clock; `pfmt clock set YYYY-MM-DDTHH:MM:SS` sets it"))
        now = dt.datetime.now().isoformat(timespec="seconds")
        state = rtc.clock_state()
        if args.json:
            print(json_out({"now": now, **state}))
        else:
            source = state["source"] + (f" ({state['rtc']})" if state["rtc"] else "")
            trust = tr("trusted") if state["trusted"] else tr("NOT trusted: set it with `pfmt clock set`")
            print(tr("{now}  source {source}, {trust}").format(now=now, source=source, trust=trust))
        return 0
    if not args.when:
        raise InputError(N_("`pfmt clock set` needs the local time, e.g. 2026-12-07T18:05:00"))
    when = rtc.local_time(args.when)
    try:
        print(rtc.set_clock(when))
    except PermissionError:
        raise HardwareError(N_("setting the clock needs root or CAP_SYS_TIME (run it with sudo)")) from None
    return 0

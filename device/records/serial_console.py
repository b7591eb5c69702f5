"""The CDC serial console: what a physiotherapist's computer can ask the device over the USB
cable (``/dev/ttyGS0`` on the Pi; a pty in the tests). Line based, ASCII, one request per line:

    HELLO                      → OK {"device": "pfmt", "version": ..., "sessions": N}
    LIST                       → OK [{session line}, ...]
    SHOW <id>                  → OK {dose of the session}
    TREND [<weeks>]            → OK [{week}, ...]
    EXPORT [all|<id>,<id>...] [<formats>]
                               → OK {"folder": ..., "files": [...], "image": ...}  (the gadget's
                                  disk is rebuilt and swapped in when the device has one)
    GET <file>                 → OK <size> <sha256>, then base64 lines of ≤ 76 characters, then END
    TIME                       → OK {"now": ..., "clock": {"source": ..., "trusted": ...}}
    TIME SET <iso> <PIN>       → OK {"now": ..., "did": ...}  (the physiotherapist's PIN; the RTC too)
    HELP | QUIT

Every failure is one line ``ERR <what is wrong and what is allowed>``; the console never stops on
bad input. It reads stored sessions and writes exports only: it cannot change the prescription,
the calibration or any stored session; setting the clock needs the physiotherapist's PIN. No network is involved — a cable is the only way in.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from device.errors import PfmtError
from device.records.store import SessionStore, db_path
from drivers.rtc import local_time

MAX_LINE = 512
MAX_ID = 2**31 - 1  # a session id is an SQLite rowid the device made: far below this
MAX_WEEKS = 520
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")

log = logging.getLogger("pfmt.serial")


def _session_id(v: str) -> int | None:
    """A session id as a request names it (1 … MAX_ID), else None."""
    return int(v) if v.isdigit() and len(v) <= 10 and 1 <= int(v) <= MAX_ID else None
COMMANDS = ("HELLO", "LIST", "SHOW", "TREND", "EXPORT", "GET", "TIME", "HELP", "QUIT")
B64_LINE = 57  # bytes per base64 line (76 characters)


@dataclass
class ConsoleConfig:
    data_dir: Path
    export_dir: Path
    publish: Callable[[Path], str | None] | None = None  # folder → image path (the gadget's disk)
    check_pin: Callable[[str], bool] | None = None  # the physiotherapist's PIN (None: no profile yet)
    set_clock: Callable[[dt.datetime], str] | None = None  # sets the system clock (and the RTC); what it did
    clock_state: Callable[[], dict] | None = None


class SerialConsole:
    def __init__(self, cfg: ConsoleConfig) -> None:
        self.cfg = cfg
        self.last_export: Path | None = None

    def serve(self, fd_in: int, fd_out: int) -> None:
        """Answer requests until QUIT or the line closes (host unplugged). A line longer than
        MAX_LINE is refused whole: its tail is discarded up to its newline, never run."""
        buf = b""
        discarding = False  # inside an over-long line: drop bytes until its newline
        too_long = f"ERR line longer than {MAX_LINE} characters; one request per line\r\n".encode()
        while True:
            try:
                chunk = os.read(fd_in, 4096)
            except OSError:  # EIO: the other end of the tty went away
                return
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                if discarding:  # the end of a line already refused
                    discarding = False
                    continue
                if len(raw) > MAX_LINE:
                    _write_all(fd_out, too_long)
                    continue
                for line in self.handle(raw.rstrip(b"\r")):
                    _write_all(fd_out, line.encode("ascii", "replace") + b"\r\n")
                if raw.strip().upper() == b"QUIT":
                    return
            if len(buf) > MAX_LINE:
                buf = b""
                if not discarding:
                    _write_all(fd_out, too_long)
                discarding = True

    def handle(self, raw: bytes) -> list[str]:
        try:
            line = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            return ["ERR not ASCII; requests are ASCII words (HELP lists them)"]
        if not line:
            return []
        if not line.isprintable():
            return ["ERR control characters in the request; requests are printable ASCII words (HELP lists them)"]
        cmd, *args = line.split()
        cmd = cmd.upper()
        if cmd not in COMMANDS:
            return [f"ERR unknown request {cmd[:20]!r}; allowed: {', '.join(COMMANDS)}"]
        try:
            return getattr(self, f"_{cmd.lower()}")(args)
        except PfmtError as e:
            return [f"ERR {e}"]
        except Exception as e:  # a request must never end the console: it is the physio's only way in
            log.exception("serial console request %s failed", cmd)
            return [f"ERR {cmd} failed ({type(e).__name__}); the console goes on"]

    # --- requests ----------------------------------------------------------------------------
    def _store(self) -> SessionStore:
        return SessionStore(self.cfg.data_dir, create=False)

    def _hello(self, args: list[str]) -> list[str]:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("pfmt")
        except PackageNotFoundError:
            v = "unknown (not installed)"
        n = 0
        if db_path(self.cfg.data_dir).is_file():  # a new device has no database yet
            with self._store() as db:
                n = len(db.ids())
        return ["OK " + json.dumps({"device": "pfmt", "version": v, "sessions": n})]

    def _help(self, args: list[str]) -> list[str]:
        return ["OK " + json.dumps({"requests": list(COMMANDS)})]

    def _quit(self, args: list[str]) -> list[str]:
        return ["OK bye"]

    def _list(self, args: list[str]) -> list[str]:
        from device.records.reports import session_line

        with self._store() as db:
            return ["OK " + json.dumps([session_line(s) for s in db.sessions()])]

    def _show(self, args: list[str]) -> list[str]:
        from device.records.reports import dose

        sid = _session_id(args[0]) if len(args) == 1 else None
        if sid is None:
            return ["ERR SHOW needs one session id (a number; LIST gives them)"]
        with self._store() as db:
            return ["OK " + json.dumps(dose(db.session(sid)), default=str)]

    def _trend(self, args: list[str]) -> list[str]:
        from device.records.reports import trend

        if len(args) > 1 or (args and not (args[0].isdigit() and len(args[0]) <= 4 and 1 <= int(args[0]) <= MAX_WEEKS)):
            return [f"ERR TREND takes an optional number of weeks (1–{MAX_WEEKS})"]
        with self._store() as db:
            return ["OK " + json.dumps(trend(db.sessions(), int(args[0]) if args else None))]

    def _export(self, args: list[str]) -> list[str]:
        from device.records.export import FORMATS, available_formats, export, parse_formats, select

        if len(args) > 2:
            return [f"ERR EXPORT [all|<id>,<id>...] [<formats: {','.join(FORMATS)}>]"]
        ids = None
        if args and args[0].lower() != "all":
            parts = args[0].split(",")
            ids = [i for i in (_session_id(x) for x in parts[:1000]) if i is not None]
            if len(ids) != len(parts):
                return [f"ERR session ids are numbers (1–{MAX_ID}) separated by commas (at most 1000), or 'all'"]
        formats = parse_formats(args[1]) if len(args) > 1 else available_formats()
        with self._store() as db:
            folder, files = export(db, select(db, ids), self.cfg.export_dir, formats)
        if self.last_export is not None and self.last_export != folder:  # only the last one is kept
            shutil.rmtree(self.last_export, ignore_errors=True)
        self.last_export = folder
        image = self.cfg.publish(folder) if self.cfg.publish else None
        return ["OK " + json.dumps({"folder": folder.name, "files": [f.path for f in files], "image": image})]

    def _get(self, args: list[str]) -> list[str]:
        if len(args) != 1:
            return ["ERR GET needs one file name from the last EXPORT"]
        name = args[0]
        if not _FILE_NAME.match(name):
            return ["ERR a file name of the last export: letters, digits, '.', '_' and '-' (no folders)"]
        if self.last_export is None:
            return ["ERR nothing exported yet in this connection; EXPORT first"]
        p = (self.last_export / name).resolve()
        if self.last_export.resolve() not in p.parents or not p.is_file():
            return [f"ERR {name!r} is not a file of the last export ({self.last_export.name})"]
        import hashlib

        data = p.read_bytes()
        lines = [f"OK {len(data)} {hashlib.sha256(data).hexdigest()}"]
        lines += [base64.b64encode(data[i:i + B64_LINE]).decode() for i in range(0, len(data), B64_LINE)]
        lines.append("END")
        return lines


    def _time(self, args: list[str]) -> list[str]:
        state = self.cfg.clock_state() if self.cfg.clock_state else None
        if not args:
            return ["OK " + json.dumps({"now": dt.datetime.now().isoformat(timespec="seconds"), "clock": state})]
        if len(args) != 3 or args[0].upper() != "SET":
            return ["ERR TIME shows the clock; TIME SET <YYYY-MM-DDTHH:MM:SS> <PIN> sets it"]
        when = local_time(args[1])  # an InputError is the ERR line
        if self.cfg.check_pin is None or self.cfg.set_clock is None:
            return ["ERR setting the clock needs the physiotherapist's PIN: calibrate the device first"]
        if not self.cfg.check_pin(args[2]):
            return ["ERR wrong PIN; the clock is unchanged"]
        try:
            did = self.cfg.set_clock(when)
        except OSError as e:
            return [f"ERR the clock cannot be set here ({e.strerror or e}); the console service needs CAP_SYS_TIME"]
        return ["OK " + json.dumps({"now": dt.datetime.now().isoformat(timespec="seconds"), "did": did})]


def _write_all(fd: int, data: bytes) -> None:
    while data:
        n = os.write(fd, data)
        data = data[n:]


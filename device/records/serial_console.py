"""The CDC serial console: what a physiotherapist's computer can ask the device over the USB
cable (``/dev/ttyGS0`` on the Pi; a pty in the tests). Line based, ASCII, one request per line.

Nothing of a patient's leaves the device before the physiotherapist's secret is given: a host
that is merely plugged in (a charger, a stranger's laptop) gets only these:

    HELLO                      → OK {"device": "pfmt", "version": ..., "locked": true|false}
    UNLOCK <secret>            → OK {"patient_code": ..., "sessions": N}  (wrong ones are counted and
                                  delayed across restarts, and logged for the physio)
    TIME                       → OK {"now": ..., "clock": {"source": ..., "trusted": ...}}
    HELP | LOCK | QUIT

Unlocked, and only for the current patient (the patient code of the profile in force; sessions
of an earlier patient are never listed, shown or sent):

    LIST                       → OK [{session line}, ...]
    SHOW <id>                  → OK {dose of the session}
    TREND [<weeks>]            → OK [{week}, ...]
    EXPORT [all|<id>,<id>...] [<formats>]
                               → OK {"folder": ..., "files": [...], "image": ...}  (the gadget's
                                  disk is rebuilt and swapped in when the device has one)
    GET <file>                 → OK <size> <sha256>, then base64 lines of ≤ 76 characters, then END
                                  (the export's report-<code>.html is the physiotherapist's report)
    DELETE <id>,<id>...        → OK {"deleted": [...]}  (gone for good; export them first)
    WIPE                       → OK {"confirm": "WIPE <code>"}; then WIPE <code> deletes every
                                  session, the diary, the profile and the logs: the hand-over of a
                                  loaned device to the next patient
    TIME SET <iso>             → OK {"now": ..., "did": ...}  (the system clock and the RTC)

LOCK, QUIT, the end of the line (unplugged) and IDLE_LOCK_S without a request lock it again: the
last export is removed and the gadget's disk is swapped back to an empty one. Every failure is
one line ``ERR <what is wrong and what is allowed>``, its text in the device's language (answers
are UTF-8; requests and keywords are ASCII); the console never stops on bad input. It
cannot change the prescription or the calibration, nor alter a stored session. No network is
involved — a cable is the only way in.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import os
import re
import secrets
import select
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from device.errors import N_, AccessError, PfmtError, localize
from device.i18n import ENGLISH, Language
from device.records.store import SessionData, SessionStore, db_path
from drivers.rtc import local_time

MAX_LINE = 512
MAX_ID = 2**31 - 1  # a session id is an SQLite rowid the device made: far below this
MAX_WEEKS = 520
IDLE_LOCK_S = 600.0  # an unlocked console left alone this long locks itself (the cable left in)
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
#: The serial console's exports, inside the data directory (the last one only).
SERIAL_EXPORTS = ".serial-exports"

log = logging.getLogger("pfmt.serial")


def _session_id(v: str) -> int | None:
    """A session id as a request names it (1 … MAX_ID), else None."""
    return int(v) if v.isdigit() and len(v) <= 10 and 1 <= int(v) <= MAX_ID else None


def _session_ids(v: str) -> list[int] | None:
    """Comma-separated session ids (at most 1000), else None."""
    parts = v.split(",")
    ids = [i for i in (_session_id(x) for x in parts[:1000]) if i is not None]
    return ids if len(ids) == len(parts) else None


#: Answered to any host; everything else needs UNLOCK first.
OPEN_COMMANDS = ("HELLO", "UNLOCK", "TIME", "HELP", "LOCK", "QUIT")
COMMANDS = OPEN_COMMANDS + ("LIST", "SHOW", "TREND", "EXPORT", "GET", "DELETE", "WIPE")
B64_LINE = 57  # bytes per base64 line (76 characters)


@dataclass
class ConsoleConfig:
    data_dir: Path
    export_dir: Path
    publish: Callable[[Path], str | None] | None = None  # folder → image path (the gadget's disk)
    blank: Callable[[], None] | None = None  # swap an empty disk into the gadget
    unlock: Callable[[str], bool] | None = None  # the physio's secret right? (None: no profile, no secret yet)
    patient_code: Callable[[], str | None] = lambda: None  # the current patient's code
    wipe: Callable[[], None] | None = None  # the hand-over wipe of the data directory
    history: Callable[[], list[dict]] = lambda: []  # the prescription's versions, for the report
    set_clock: Callable[[dt.datetime], str] | None = None  # sets the system clock (and the RTC); what it did
    clock_state: Callable[[], dict] | None = None
    idle_lock_s: float = IDLE_LOCK_S
    clock: Callable[[], float] = time.monotonic
    tr: Language = ENGLISH  # the language of the ERR lines' text (the keywords stay)


class SerialConsole:
    def __init__(self, cfg: ConsoleConfig) -> None:
        self.cfg = cfg
        self.last_export: Path | None = None
        self.unlocked = False
        self.last_request = cfg.clock()
        self._wipe_code: str | None = None

    def serve(self, fd_in: int, fd_out: int) -> None:
        """Answer requests until QUIT or the line closes (host unplugged), then lock. A line
        longer than MAX_LINE is refused whole: its tail is discarded up to its newline, never
        run. Left unlocked and idle, it locks itself after ``idle_lock_s``."""
        buf = b""
        discarding = False  # inside an over-long line: drop bytes until its newline
        too_long = (self._err(N_("line longer than {max_line} characters; one request per line"), max_line=MAX_LINE)
                    + "\r\n").encode()
        try:
            while True:
                if self.unlocked:
                    left = self.cfg.idle_lock_s - (self.cfg.clock() - self.last_request)
                    ready, _, _ = select.select([fd_in], [], [], max(0.0, left))
                    if not ready:
                        self.lock()
                        continue
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
                        _write_all(fd_out, line.encode("utf-8") + b"\r\n")
                    if raw.strip().upper() == b"QUIT":
                        return
                if len(buf) > MAX_LINE:
                    buf = b""
                    if not discarding:
                        _write_all(fd_out, too_long)
                    discarding = True
        finally:
            self.lock()

    def lock(self) -> None:
        """Back to answering only the open requests: the last export removed, the disk emptied."""
        self.unlocked, self._wipe_code = False, None
        self._forget_export()

    def _forget_export(self) -> None:
        """The last export removed, and the gadget's disk swapped back to an empty one."""
        if self.last_export is not None:
            shutil.rmtree(self.last_export, ignore_errors=True)
            self.last_export = None
        if self.cfg.blank is not None:
            try:
                self.cfg.blank()
            except PfmtError as e:  # the console must go on; the journal says why
                log.error("the gadget's disk could not be emptied: %s", e)

    def _err(self, message: str, **fields: object) -> str:
        """``ERR <text>``: the keyword stays, the text is in the device's language."""
        return "ERR " + localize(message, fields, self.cfg.tr)

    def _err_of(self, e: PfmtError) -> str:
        return "ERR " + e.localized(self.cfg.tr)

    def handle(self, raw: bytes) -> list[str]:
        try:
            line = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            return [self._err(N_("not ASCII; requests are ASCII words (HELP lists them)"))]
        if not line:
            return []
        if not line.isprintable():
            return [self._err(N_("control characters in the request; requests are printable ASCII words (HELP lists "
                                 "them)"))]
        cmd, *args = line.split()
        cmd = cmd.upper()
        if cmd not in COMMANDS:
            return [self._err(N_("unknown request {cmd!r}; allowed: {items}"), cmd=cmd[:20], items=', '.join(COMMANDS))]
        if self.unlocked and self.cfg.clock() - self.last_request > self.cfg.idle_lock_s:
            self.lock()
        self.last_request = self.cfg.clock()
        if cmd not in OPEN_COMMANDS and not self.unlocked:
            return [self._err(N_("locked: UNLOCK <the physiotherapist's secret> first (open requests: {items})"),
                              items=', '.join(OPEN_COMMANDS))]
        try:
            if cmd == "UNLOCK":  # the secret may hold spaces: the rest of the line is it
                return self._unlock(line[len("UNLOCK"):].strip())
            return getattr(self, f"_{cmd.lower()}")(args)
        except PfmtError as e:
            return [self._err_of(e)]
        except Exception as e:  # a request must never end the console: it is the physio's only way in
            log.exception("serial console request %s failed", cmd)
            return [self._err(N_("{cmd} failed ({name}); the console goes on"), cmd=cmd, name=type(e).__name__)]

    # --- requests open to any host -----------------------------------------------------------
    def _hello(self, args: list[str]) -> list[str]:
        from device import installed_version

        return ["OK " + json.dumps({"device": "pfmt", "version": installed_version(), "locked": not self.unlocked})]

    def _help(self, args: list[str]) -> list[str]:
        return ["OK " + json.dumps({"requests": list(COMMANDS if self.unlocked else OPEN_COMMANDS),
                                    "locked": not self.unlocked})]

    def _quit(self, args: list[str]) -> list[str]:
        return ["OK bye"]

    def _lock(self, args: list[str]) -> list[str]:
        self.lock()
        return ["OK locked"]

    def _unlock(self, secret: str) -> list[str]:
        if self.cfg.unlock is None:
            return [self._err(N_("no physiotherapist's secret on this device yet: it is set when she calibrates it "
                                 "(`pfmt calibrate`); until then nothing leaves the device"))]
        if not secret:
            return [self._err(N_("UNLOCK needs the physiotherapist's secret after it"))]
        try:
            right = self.cfg.unlock(secret)
        except AccessError as e:  # a wait after repeated wrong ones
            return [self._err_of(e)]
        if not right:
            return [self._err(N_("wrong secret (each wrong one is counted, delayed after three, and logged for the "
                                 "physio)"))]
        self.unlocked = True
        n = 0
        if db_path(self.cfg.data_dir).is_file():  # a new device has no database yet
            with self._store() as db:
                n = len(self._sessions(db))
        return ["OK " + json.dumps({"patient_code": self.cfg.patient_code(), "sessions": n})]

    def _time(self, args: list[str]) -> list[str]:
        state = self.cfg.clock_state() if self.cfg.clock_state else None
        if not args:
            return ["OK " + json.dumps({"now": dt.datetime.now().isoformat(timespec="seconds"), "clock": state})]
        if len(args) != 2 or args[0].upper() != "SET":
            return [self._err(N_("TIME shows the clock; TIME SET <YYYY-MM-DDTHH:MM:SS> sets it (after UNLOCK)"))]
        when = local_time(args[1])  # an InputError is the ERR line
        if not self.unlocked:
            return [self._err(N_("setting the clock is the physiotherapist's: UNLOCK <secret> first"))]
        if self.cfg.set_clock is None:
            return [self._err(N_("this device's clock cannot be set from the console"))]
        try:
            did = self.cfg.set_clock(when)
        except OSError as e:
            return [self._err(N_("the clock cannot be set here ({value}); the console service needs CAP_SYS_TIME"),
                              value=e.strerror or e)]
        return ["OK " + json.dumps({"now": dt.datetime.now().isoformat(timespec="seconds"), "did": did})]

    # --- the current patient's, after UNLOCK ---------------------------------------------------
    def _store(self) -> SessionStore:
        return SessionStore(self.cfg.data_dir, create=False)

    def _sessions(self, db: SessionStore) -> list[SessionData]:
        """The current patient's sessions: those recorded under the patient code in force."""
        code = self.cfg.patient_code()
        return [s for s in db.sessions() if s.info["patient_code"] == code]

    def _theirs(self, db: SessionStore, ids: list[int]) -> list[SessionData]:
        mine = {s.id: s for s in self._sessions(db)}
        for i in ids:
            if i not in mine:
                if not mine:
                    raise AccessError(N_("no session {id} of the current patient ({code}); she has none yet"),
                                      id=i, code=self.cfg.patient_code())
                raise AccessError(N_("no session {id} of the current patient ({code}); hers: {known}"), id=i,
                                  code=self.cfg.patient_code(), known=", ".join(map(str, sorted(mine)[:20])))
        return [mine[i] for i in ids]

    def _list(self, args: list[str]) -> list[str]:
        from device.records.reports import session_line

        with self._store() as db:
            return ["OK " + json.dumps([session_line(s) for s in self._sessions(db)])]

    def _show(self, args: list[str]) -> list[str]:
        from device.records.reports import dose

        sid = _session_id(args[0]) if len(args) == 1 else None
        if sid is None:
            return [self._err(N_("SHOW needs one session id (a number; LIST gives them)"))]
        with self._store() as db:
            return ["OK " + json.dumps(dose(self._theirs(db, [sid])[0]), default=str)]

    def _trend(self, args: list[str]) -> list[str]:
        from device.records.reports import trend

        if len(args) > 1 or (args and not (args[0].isdigit() and len(args[0]) <= 4 and 1 <= int(args[0]) <= MAX_WEEKS)):
            return [self._err(N_("TREND takes an optional number of weeks (1–{max_weeks})"), max_weeks=MAX_WEEKS)]
        with self._store() as db:
            return ["OK " + json.dumps(trend(self._sessions(db), int(args[0]) if args else None))]

    def _export(self, args: list[str]) -> list[str]:
        from device.records.export import FORMATS, available_formats, export, parse_formats

        if len(args) > 2:
            return [self._err(N_("EXPORT [all|<id>,<id>...] [<formats: {items}>]"), items=','.join(FORMATS))]
        ids = None
        if args and args[0].lower() != "all":
            ids = _session_ids(args[0])
            if ids is None:
                return [self._err(N_("session ids are numbers (1–{max_id}) separated by commas (at most 1000), or "
                                     "'all'"), max_id=MAX_ID)]
        formats = parse_formats(args[1]) if len(args) > 1 else available_formats()
        with self._store() as db:
            chosen = self._theirs(db, ids) if ids else self._sessions(db)
            live = [s.id for s in chosen if s.info["status"] == "running"]
            if live:
                return [self._err(N_("session {value} is still being recorded; export it once it has ended"),
                                  value=live[0])]
            if not chosen:
                return [self._err(N_("the current patient has no stored session yet"))]
            folder, files = export(db, chosen, self.cfg.export_dir, formats, history=self.cfg.history(), tr=self.cfg.tr)
        if self.last_export is not None and self.last_export != folder:  # only the last one is kept
            shutil.rmtree(self.last_export, ignore_errors=True)
        self.last_export = folder
        image = self.cfg.publish(folder) if self.cfg.publish else None
        return ["OK " + json.dumps({"folder": folder.name, "files": [f.path for f in files], "image": image})]

    def _get(self, args: list[str]) -> list[str]:
        if len(args) != 1:
            return [self._err(N_("GET needs one file name from the last EXPORT"))]
        name = args[0]
        if not _FILE_NAME.match(name):
            return [self._err(N_("a file name of the last export: letters, digits, '.', '_' and '-' (no folders)"))]
        if self.last_export is None:
            return [self._err(N_("nothing exported yet since UNLOCK; EXPORT first"))]
        p = (self.last_export / name).resolve()
        if self.last_export.resolve() not in p.parents or not p.is_file():
            return [self._err(N_("{name!r} is not a file of the last export ({name2})"),
                              name=name, name2=self.last_export.name)]
        data = p.read_bytes()
        lines = [f"OK {len(data)} {hashlib.sha256(data).hexdigest()}"]
        lines += [base64.b64encode(data[i:i + B64_LINE]).decode() for i in range(0, len(data), B64_LINE)]
        lines.append("END")
        return lines

    def _delete(self, args: list[str]) -> list[str]:
        ids = _session_ids(args[0]) if len(args) == 1 else None
        if ids is None:
            return [self._err(N_("DELETE <id>,<id>... (numbers 1–{max_id}, at most 1000; LIST gives them)"),
                              max_id=MAX_ID)]
        with self._store() as db:
            self._theirs(db, ids)
            done = db.delete(ids)
        self._forget_export()  # it may hold them: sent again only by a new EXPORT
        log.info("serial console: deleted sessions %s", done)
        return ["OK " + json.dumps({"deleted": done})]

    def _wipe(self, args: list[str]) -> list[str]:
        if self.cfg.wipe is None:
            return [self._err(N_("this console cannot wipe the device"))]
        if not args:
            self._wipe_code = secrets.token_hex(3).upper()
            return ["OK " + json.dumps({"confirm": f"WIPE {self._wipe_code}",
                                        "wipes": "every session, the symptom diary, the profile (calibration, "
                                                 "prescription, secret) and the logs: the hand-over to the next patient"})]
        if len(args) != 1 or self._wipe_code is None or args[0].upper() != self._wipe_code:
            self._wipe_code = None
            return [self._err(N_("WIPE first, then WIPE <the code it gave>; nothing was wiped"))]
        self.lock()
        self.cfg.wipe()
        log.warning("serial console: the device was wiped for hand-over")
        return ["OK " + json.dumps({"wiped": True, "locked": True})]


def _write_all(fd: int, data: bytes) -> None:
    while data:
        n = os.write(fd, data)
        data = data[n:]

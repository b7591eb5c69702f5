"""Sessions on the SD card: one SQLite database in WAL mode, written so that power can be cut at
any instant.

- Raw samples of every channel, the pipeline's and the sampler's events, cues and warnings,
  each repetition's judgement, the summary, and the calibration, prescription and device
  configuration in force are kept per session.
- The session runner only *queues* what it produces; a writer thread commits it in batches of at
  most ``FLUSH_S`` of signal (or of wall time), so neither the sampling thread nor the feedback
  loop ever waits for the card. A commit in WAL mode with ``synchronous=FULL`` is on the card
  when it returns: a power cut loses at most the batch being gathered (< 1 s of samples), and
  SQLite's journal guarantees the database always opens and passes ``PRAGMA integrity_check``.
- A session still marked ``running`` when nothing holds the session lock belonged to a process
  that died (power cut, kill): the next start marks it ``interrupted`` and keeps what was stored.
- Health data: the directory is 0700, the database and its WAL/SHM files 0600 (SQLite gives the
  side files the database's mode). Nothing here opens a network socket.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import queue
import shutil
import sqlite3
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from device.errors import N_, CardFullError, DamagedError, PfmtError, StorageError
from device.files import atomic_write, clean_partials, fsync_dir, partial_name
from device.recording import Channel
from device.records.summary import SUMMARY_VERSION, upgrade

DB_NAME = "pfmt.sqlite3"
LOCK_NAME = ".session.lock"
SCHEMA_VERSION = 3
#: How a database of an older schema is brought to the next one (``SCHEMA`` creates the newest).
MIGRATIONS = {
    1: "ALTER TABLE sessions RENAME COLUMN trainee TO simulated_patient;",  # one name: the patient
    # checksums of what each row holds; rows from before stay NULL (read, but never "verified")
    2: "ALTER TABLE sessions ADD COLUMN crc INTEGER; ALTER TABLE samples ADD COLUMN crc INTEGER; "
       "ALTER TABLE events ADD COLUMN crc INTEGER; ALTER TABLE reps ADD COLUMN crc INTEGER;",
}
DAMAGED_NAME = "damaged.json"  # written when damage is found: training refuses the database until repaired
WAL_AUTOCHECKPOINT = 256  # pages (1 MiB): what a deleted -wal could take with it
FLUSH_S = 0.25  # longest batch of samples (signal or wall seconds) held before a commit
SAMPLE_DTYPE = np.float32  # 24-bit mantissa: exact for a 16-bit ADC code times its scale
STATUSES = ("running", "completed", "stopped", "interrupted")
DRAIN_MAX = 2_000  # queued items taken into one batch at most
QUEUE_MAX = 4_000  # items waiting for the card (~2 MB; minutes of real time) before the runner waits
SPACE_FOR_S = 2 * 3600  # refuse to start a session without room for this much signal
RESERVE_NAME = ".reserve"  # room kept back on the card, freed when a session fills it
RESERVE_BYTES = 4 * 2**20  # for the summary, status, events and reps of the session the card filled
SQLITE_FULL = 13

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions(
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,            -- local time the session began (ISO 8601)
    started_wall REAL NOT NULL,          -- Unix time the session was opened
    first_wall REAL,                     -- Unix time the first sample reached the runner
    programme TEXT NOT NULL,
    patient_code TEXT,                   -- the physio's pseudonym; never a name
    profile_version INTEGER,
    simulated_patient TEXT,              -- the simulated patient's behaviour, NULL on a real patient
    status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'stopped', 'interrupted')),
    ended_at TEXT,
    recovered_at TEXT,                   -- set when an interrupted session was found on start-up
    rate_hz REAL NOT NULL,
    channels TEXT NOT NULL,              -- JSON list of channel names (role_unit)
    t_first REAL,                        -- session clock of the first and last stored sample
    t_last REAL,
    samples INTEGER NOT NULL DEFAULT 0,  -- stored sample frames
    config TEXT NOT NULL,                -- JSON: the device configuration used
    calibration TEXT,                    -- JSON: the calibration used (NULL: uncalibrated)
    prescription TEXT,                   -- JSON: the exercises as prescribed for this session
    summary TEXT,                        -- JSON: the session summary, once it ended
    crc INTEGER                          -- CRC-32 of what the session was begun with and its summary
);
CREATE TABLE IF NOT EXISTS samples(
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    seq INTEGER NOT NULL,
    t_first REAL NOT NULL,
    n INTEGER NOT NULL,
    t BLOB NOT NULL,                     -- float64[n] seconds on the session clock
    v BLOB NOT NULL,                     -- float32[n, channels] in each channel's unit
    crc INTEGER,                         -- CRC-32 of the block and its place (session, seq, n)
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events(
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,                  -- onset, kind, offset, contraction, artifact, cue, warning, sensor
    time_s REAL NOT NULL,                -- signal time it refers to
    known_at_s REAL,                     -- when it became known
    data TEXT NOT NULL,                  -- JSON
    crc INTEGER,
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reps(
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    idx INTEGER NOT NULL,
    exercise TEXT NOT NULL, set_no INTEGER NOT NULL, rep INTEGER NOT NULL,
    good INTEGER NOT NULL, hold_s REAL, peak REAL, mvc_pct REAL, kind TEXT,
    data TEXT NOT NULL,                  -- JSON: the whole judgement
    crc INTEGER,
    PRIMARY KEY (session_id, idx)
) WITHOUT ROWID;
"""


def db_path(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / DB_NAME


def _jsonable(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def dumps(o: Any) -> str:
    return json.dumps(o, default=_jsonable, separators=(",", ":"))


def crc(*parts: object) -> int:
    """CRC-32 over the parts in order (bytes as they are, anything else by its repr): a row's
    checksum binds what it holds to where it belongs (session, sequence number)."""
    h = 0
    for x in parts:
        h = zlib.crc32(x if isinstance(x, bytes) else repr(x).encode(), h)
        h = zlib.crc32(b"\x1f", h)
    return h


#: The session row's columns its checksum covers: all of them (resealed by every commit).
SEALED = ("id", "started_at", "started_wall", "first_wall", "programme", "patient_code", "profile_version",
          "simulated_patient", "status", "ended_at", "recovered_at", "rate_hz", "channels", "t_first", "t_last",
          "samples", "config", "calibration", "prescription", "summary")


def seal(db: sqlite3.Connection, sid: int) -> None:
    """Set the session row's checksum from what it holds now (inside the caller's transaction)."""
    row = db.execute(f"SELECT {', '.join(SEALED)} FROM sessions WHERE id=?", (sid,)).fetchone()
    db.execute("UPDATE sessions SET crc=? WHERE id=?", (crc(*row), sid))


def block_intact(sid: int, seq: int, n: object, t: object, v: object, c: int | None, n_channels: int) -> bool:
    """A stored sample block as it was written: sizes that fit its channels, and its checksum
    (a block from before checksums has none to fail)."""
    return (isinstance(t, bytes) and isinstance(v, bytes) and isinstance(n, int) and len(t) == 8 * n
            and len(v) == 4 * n * n_channels and (c is None or c == crc(sid, seq, n, t, v)))


def _record(data: object, sid: int, what: str) -> dict:
    """A stored JSON record (an event's or a rep's data) as a dict, else DamagedError."""
    try:
        d = json.loads(data) if isinstance(data, str) else None
    except ValueError:
        d = None
    if not isinstance(d, dict):
        raise DamagedError(N_("session {sid}: its {what} cannot be read; the session is not used as good data"),
                           sid=sid, what=what)
    return d


def mark_damaged(data_dir: Path, what: str) -> None:
    """Say (``damaged.json``) that the database file is damaged: no session is added to it."""
    try:
        with atomic_write(data_dir / DAMAGED_NAME) as f:
            f.write(json.dumps({"at": dt.datetime.now().isoformat(timespec="seconds"), "what": what[:500]}).encode())
    except OSError:
        pass  # a card too damaged or full to say so: the next reader finds the damage again


def _damaged(e: sqlite3.DatabaseError) -> bool:
    """SQLite found the file itself damaged (not busy, not full)."""
    return getattr(e, "sqlite_errorcode", None) in (11, 26) or "malformed" in str(e) or "not a database" in str(e)


@dataclass
class SessionData:
    """One stored session: its row (JSON columns decoded) and, on demand, samples and events."""

    info: dict
    channels: tuple[Channel, ...]

    @property
    def id(self) -> int:
        return self.info["id"]


def space_needed(rate_hz: float, n_channels: int) -> int:
    """Bytes a session may need on the card (its longest, ``SPACE_FOR_S``, with the index)."""
    return int(SPACE_FOR_S * rate_hz * (8 + 4 * n_channels) * 1.3)


class SessionStore:
    """The session database of one data directory."""

    def __init__(self, data_dir: str | os.PathLike, recover: bool = True, create: bool = True,
                 free_bytes: Callable[[], int] | None = None, max_pages: int | None = None) -> None:
        """``create=False`` for readers (list, export, serial console): a mistyped ``--data`` must
        not leave an empty database behind and answer "no sessions". ``free_bytes`` tells the room
        left on the card (the emulated device's card may be full; default: the file system's);
        ``max_pages`` makes the emulated card fill when the database reaches that many pages."""
        self.dir = Path(data_dir)
        self.max_pages = max_pages
        self.free_bytes = free_bytes or (lambda: shutil.disk_usage(self.dir).free)
        self.path = db_path(self.dir)
        if not create and not self.path.is_file():
            raise StorageError(N_("{dir}: no session database here ({db_name}); sessions are stored by `pfmt train` "
                                  "in its --data directory"), dir=self.dir, db_name=DB_NAME)
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(self.dir, 0o700)
            if not self.path.exists():  # created owner-only; SQLite copies the mode to -wal/-shm
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            os.chmod(self.path, 0o600)
        except OSError as e:
            raise StorageError(N_("{dir}: cannot use this data directory ({strerror}); it must be a writable "
                                  "directory on the device"), dir=self.dir, strerror=e.strerror) from None
        clean_partials(self.dir)  # temporaries a killed process left (a live one's are left to it)
        self.read_only = False  # opened as it is on a card too full for SQLite's side files
        self.wal_found = self.path.with_name(self.path.name + "-wal").exists()
        self.db = self._connect(create)
        self.recovered: list[int] = []
        if recover and not self.read_only:
            try:
                self.recovered = self._recover()
            except sqlite3.DatabaseError as e:  # damaged or full: the readers still read what they can
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                self._storage_error(e, "marking an interrupted session")
            except OSError:  # no room for the lock file: the next start with room marks it
                pass

    def _connect(self, create: bool = True) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StorageError(N_("{path}: written by a newer pfmt (schema {version}, this one reads up to "
                                      "{schema_version}); update pfmt before using it"),
                                   path=self.path, version=version, schema_version=SCHEMA_VERSION)
            if version < SCHEMA_VERSION:
                steps = SCHEMA if version == 0 else "".join(MIGRATIONS[v] for v in range(version, SCHEMA_VERSION))
                db.executescript("BEGIN;" + steps + f"PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
        except sqlite3.DatabaseError as e:
            if not create and (ro := self._read_only_on_a_full_card()) is not None:
                return ro
            if self.free_bytes() < RESERVE_BYTES:
                raise StorageError(N_("{path}: the card is full ({value:.1f} MB free), so the session database "
                                      "cannot be opened ({e}); free some room on it"),
                                   path=self.path, value=self.free_bytes() / 1e6, e=e) from None
            raise StorageError(N_("{path}: the session database cannot be opened ({e}); keep the file for recovery "
                                  "and start with another --data directory"), path=self.path, e=e) from None
        return db

    def _read_only_on_a_full_card(self) -> sqlite3.Connection | None:
        """A reader on a card too full for SQLite's -shm: the file as it stands, read-only, when
        that is all of it (no write-ahead log holding newer pages, no session recording)."""
        wal = self.path.with_name(self.path.name + "-wal")
        if self.free_bytes() >= RESERVE_BYTES or (wal.exists() and wal.stat().st_size > 0):
            return None
        try:
            with SessionLock(self.dir, wait=False) as free:
                if not free:
                    return None
        except OSError:  # no room even for the lock file: then no session can be recording either
            pass
        try:
            db = sqlite3.connect(f"{self.path.resolve().as_uri()}?immutable=1", uri=True, check_same_thread=False)
            db.execute("SELECT count(*) FROM sessions").fetchone()
        except sqlite3.DatabaseError:
            return None
        self.read_only = True
        return db

    # --- power-loss recovery -----------------------------------------------------------------
    def _recover(self) -> list[int]:
        """Mark sessions left ``running`` by a dead process as ``interrupted`` (only when no live
        process holds the session lock, so a running session is never touched)."""
        with SessionLock(self.dir, wait=False) as held:
            if not held:
                return []
            now = dt.datetime.now().isoformat(timespec="seconds")
            rows = self.db.execute("SELECT id, COALESCE(first_wall, started_wall), t_first, t_last "
                                   "FROM sessions WHERE status='running'").fetchall()
            for sid, wall0, t_first, t_last in rows:
                span = (t_last - t_first) if t_last is not None else 0.0
                ended = dt.datetime.fromtimestamp(wall0 + span).isoformat(timespec="seconds")
                summary = self._partial_summary(sid, span)
                if not self.wal_found:  # a -wal removed after a kill took the newest commits with it
                    summary["damage"] = ["the write-ahead log (pfmt.sqlite3-wal) was missing when the device "
                                         "started again: the last seconds to minutes of this session may be lost"]
                self.db.execute("BEGIN IMMEDIATE")
                self.db.execute("UPDATE sessions SET status='interrupted', recovered_at=?, ended_at=?, "
                                "summary=? WHERE id=? AND status='running'",
                                (now, ended, dumps(summary), sid))
                seal(self.db, sid)
                self.db.execute("COMMIT")
            return [r[0] for r in rows]

    def _partial_summary(self, sid: int, span: float) -> dict:
        row = self.db.execute("SELECT programme FROM sessions WHERE id=?", (sid,)).fetchone()
        try:
            reps = self.reps(sid)
        except DamagedError:
            reps = []
        return {"version": SUMMARY_VERSION, "programme": row[0], "completed": False, "interrupted": True,
                "duration_s": round(span, 1), "reps": reps, "sets": [], "dose": [], "warnings": []}

    # --- writing -----------------------------------------------------------------------------
    def begin(self, *, programme: str, rate_hz: float, channels: tuple[Channel, ...], config: dict,
              calibration: dict | None, prescription: list[dict] | None, patient_code: str | None,
              profile_version: int | None, simulated_patient: str | None,
              started: dt.datetime | None = None) -> SessionWriter:
        """Open a session for writing (refused when the card has no room for ``SPACE_FOR_S``)."""
        if (self.dir / DAMAGED_NAME).exists():
            raise DamagedError(N_("{path}: the session database is damaged ({value}); no session is added to it. "
                                  "Export what is readable (`pfmt export --all`), then `pfmt sessions repair` keeps "
                                  "every intact session in a new database"), path=self.path, value=self.damage_found())
        need = space_needed(rate_hz, len(channels))
        free = self.free_bytes()
        if free < need:
            raise CardFullError(N_("{dir}: {value:.0f} MB free on the card, a session needs up to {value2:.0f} MB; "
                                   "export and remove old sessions (`pfmt export`, `pfmt sessions delete`) before "
                                   "training"), dir=self.dir, value=free / 1e6, value2=need / 1e6)
        lock = SessionLock(self.dir, wait=False)
        if not lock.acquire():
            raise StorageError(N_("{dir}: another session is being recorded into this data directory"), dir=self.dir)
        try:
            self._keep_reserve()
            sid = self._insert_session(started or dt.datetime.now(), programme, patient_code, profile_version,
                                       simulated_patient, rate_hz, channels, config, calibration, prescription)
        except sqlite3.DatabaseError as e:
            lock.release()
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise self._storage_error(e, "a new session cannot be added") from None
        except BaseException:
            lock.release()
            raise
        # the row into the database file itself: a -wal lost later cannot take the session with it
        self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        return SessionWriter(self.path, sid, len(channels), lock, release=self._free_reserve,
                             max_pages=self.max_pages)

    def _insert_session(self, started: dt.datetime, programme: str, patient_code: str | None,
                        profile_version: int | None, simulated_patient: str | None, rate_hz: float,
                        channels: tuple[Channel, ...], config: dict, calibration: dict | None,
                        prescription: list[dict] | None) -> int:
        # never the id of a deleted session again (an export named s5 is one session for good)
        self.db.execute("BEGIN IMMEDIATE")
        cur = self.db.execute(
            "INSERT INTO sessions(id, started_at, started_wall, programme, patient_code, profile_version, "
            "simulated_patient, status, rate_hz, channels, config, calibration, prescription) "
            "VALUES (1 + MAX(COALESCE((SELECT MAX(id) FROM sessions), 0), "
            "COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key='last_id'), 0)),"
            "?,?,?,?,?,?,'running',?,?,?,?,?)",
            (started.isoformat(timespec="seconds"), time.time(), programme, patient_code,
             profile_version, simulated_patient, float(rate_hz), dumps([c.name for c in channels]), dumps(config),
             None if calibration is None else dumps(calibration),
             None if prescription is None else dumps(prescription)))
        assert cur.lastrowid is not None, "an INSERT always gives a row id"
        seal(self.db, cur.lastrowid)
        self.db.execute("COMMIT")
        return cur.lastrowid

    def _keep_reserve(self) -> None:
        """Set room aside (zeros, fsynced) that a session filling the card frees to store how it ended."""
        path = self.dir / RESERVE_NAME
        if path.is_file() and path.stat().st_size >= RESERVE_BYTES:
            return
        try:
            with atomic_write(path) as f:
                f.write(bytes(RESERVE_BYTES))
        except OSError as e:
            raise CardFullError(N_("{dir}: no room on the card for a session ({strerror}); export and delete old "
                                   "sessions (`pfmt export`, `pfmt sessions delete`) before training"),
                                dir=self.dir, strerror=e.strerror) from None

    def _free_reserve(self) -> None:
        (self.dir / RESERVE_NAME).unlink(missing_ok=True)

    # --- reading -----------------------------------------------------------------------------
    # Every reader verifies what it reads: a row whose checksum does not match, a block whose size
    # does not fit its channels, JSON that does not parse, or a page SQLite finds damaged is a
    # DamagedError naming the session (and block) — never data handed on as good.
    def ids(self) -> list[int]:
        try:
            return [r[0] for r in self.db.execute("SELECT id FROM sessions ORDER BY id")]
        except sqlite3.DatabaseError as e:
            raise self._storage_error(e, "the list of sessions cannot be read") from None

    def session(self, sid: int) -> SessionData:
        self.db.row_factory = sqlite3.Row
        try:
            row = self.db.execute("SELECT * FROM sessions WHERE id=?", (sid,)).fetchone()
        except sqlite3.DatabaseError as e:
            raise self._storage_error(e, f"session {sid} cannot be read", sid) from None
        finally:
            self.db.row_factory = None
        if row is None:
            known = self.ids()
            allowed = f"{known[0]}–{known[-1]}" if known else "none stored yet"
            raise StorageError(N_("no session {sid} in {path} (sessions: {allowed})"),
                               sid=sid, path=self.path, allowed=allowed)
        info = dict(row)
        if info.get("crc") is not None and crc(*(info[k] for k in SEALED)) != info["crc"]:
            raise DamagedError(N_("session {sid}: its record is damaged (checksum mismatch); it is not used as good "
                                  "data"), sid=sid)
        try:
            for k in ("channels", "config", "calibration", "prescription", "summary"):
                info[k] = json.loads(info[k]) if info[k] is not None else None
            info["summary"] = upgrade(info["summary"])
            channels = tuple(Channel.parse(n) for n in info["channels"])
        except (ValueError, TypeError, KeyError, AttributeError, PfmtError) as e:
            raise DamagedError(N_("session {sid}: its record cannot be read ({name}); it is not used as good data"),
                               sid=sid, name=type(e).__name__) from None
        return SessionData(info, channels)

    def sessions(self) -> list[SessionData]:
        return [self.session(i) for i in self.ids()]

    def readable(self, ids: list[int] | None = None) -> tuple[list[SessionData], dict[int, str]]:
        """The sessions that read intact, and why each other one does not (damage contained to
        the session it hits)."""
        good, damaged = [], {}
        for i in self.ids() if ids is None else ids:
            try:
                good.append(self.session(i))
            except DamagedError as e:
                damaged[i] = str(e)
        return good, damaged

    def samples(self, sid: int) -> tuple[np.ndarray, np.ndarray]:
        """(time_s, values[n, channels]) of a session, in storage order."""
        chunks = list(self.chunks(sid))
        if not chunks:
            return np.zeros(0), np.zeros((0, len(self.session(sid).channels)))
        return np.concatenate([t for t, _ in chunks]), np.concatenate([v for _, v in chunks])

    def chunks(self, sid: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The stored samples batch by batch (modest memory for long sessions), each verified."""
        ch = len(self.session(sid).channels)
        try:
            rows = self.db.execute("SELECT seq, t_first, t, v, n, crc FROM samples WHERE session_id=? ORDER BY seq",
                                   (sid,))
            for seq, t_first, t, v, n, c in rows:
                if not block_intact(sid, seq, n, t, v, c, ch):
                    raise DamagedError(N_("session {sid}: its sample block {seq} (from {t_first!r} s) is damaged "
                                          "(checksum mismatch); the session is not used as good data"),
                                       sid=sid, seq=seq, t_first=t_first)
                yield np.frombuffer(t, dtype=np.float64, count=n), \
                    np.frombuffer(v, dtype=SAMPLE_DTYPE, count=n * ch).reshape(n, ch).astype(np.float64)
        except sqlite3.DatabaseError as e:
            raise self._storage_error(e, f"the samples of session {sid} cannot be read", sid) from None

    def events(self, sid: int, types: tuple[str, ...] | None = None) -> list[dict]:
        out = []
        for seq, (ty, t, k, d) in self._rows("events", sid, "seq, type, time_s, known_at_s, data"):
            if types is None or ty in types:
                out.append({"type": ty, "time_s": t, "known_at_s": k, **_record(d, sid, f"event {seq}")})
        return out

    def reps(self, sid: int) -> list[dict]:
        return [_record(d, sid, f"rep {idx}") for idx, (d,) in self._rows("reps", sid, "idx, data")]

    def _rows(self, table: str, sid: int, columns: str) -> list[tuple[int, tuple]]:
        """(key, the other columns) of a session's events or reps, each row's checksum verified."""
        out = []
        try:
            for row in self.db.execute(f"SELECT {columns}, crc FROM {table} WHERE session_id=? ORDER BY 1", (sid,)):
                key, rest, c = row[0], row[1:-1], row[-1]
                if c is not None and c != crc(sid, key, *rest):
                    raise DamagedError(N_("session {sid}: its {table} {key} is damaged (checksum mismatch); the "
                                          "session is not used as good data"), sid=sid, table=table[:-1], key=key)
                out.append((key, rest))
        except sqlite3.DatabaseError as e:
            raise self._storage_error(e, f"the {table} of session {sid} cannot be read", sid) from None
        return out

    def verify(self, sid: int) -> None:
        """Read all of a session, every checksum checked (DamagedError on the first fault)."""
        for _ in self.chunks(sid):
            pass
        self.events(sid)
        self.reps(sid)

    def check(self) -> dict:
        """The whole database: SQLite's own check of every page, then every session read and
        verified. Damage SQLite finds marks the database (training refuses it until repaired)."""
        try:
            problems = [r[0] for r in self.db.execute("PRAGMA quick_check(20)")]
        except sqlite3.DatabaseError as e:
            problems = [str(e)]
        if problems != ["ok"]:
            self._mark_damaged("; ".join(problems[:3]))
        damaged: dict[int, str] = {}
        try:
            ids = self.ids()
        except StorageError as e:
            return {"file": problems, "sessions": [], "damaged": {}, "unreadable": str(e)}
        for i in ids:
            try:
                self.verify(i)
            except DamagedError as e:
                damaged[i] = str(e)
        return {"file": problems, "sessions": ids, "damaged": damaged}

    def damage_found(self) -> str:
        """What damage was found and when (``damaged.json``), '' when none."""
        try:
            d = json.loads((self.dir / DAMAGED_NAME).read_text(encoding="utf-8"))
            return f"{d['what']}, found {d['at']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "found earlier" if (self.dir / DAMAGED_NAME).exists() else ""

    def _mark_damaged(self, what: str) -> None:
        mark_damaged(self.dir, what)

    def _storage_error(self, e: sqlite3.DatabaseError, what: str, sid: int | None = None) -> StorageError:
        """An SQLite error as the device says it: damage is marked and named, a full card is a
        CardFullError, anything else a StorageError."""
        if _damaged(e):
            self._mark_damaged(f"{what}: {e}")
            if sid is not None:
                return DamagedError(N_("{path}: {what}: the database file is damaged ({e}); the session is not used "
                                       "as good data"), path=self.path, what=what, e=e)
            return DamagedError(N_("{path}: {what}: the database file is damaged ({e}); `pfmt sessions repair` keeps "
                                   "every intact session in a new database"), path=self.path, what=what, e=e)
        if _card_full(e):
            return CardFullError(N_("{path}: {what}: the card is full; export and delete old sessions"),
                                 path=self.path, what=what)
        return StorageError(N_("{path}: {what} ({e})"), path=self.path, what=what, e=e)

    def delete(self, ids: list[int]) -> list[int]:
        """Remove sessions and everything stored with them, for good: SQLite overwrites the freed
        pages (``secure_delete``) and the write-ahead log is emptied, so the samples are not left
        in the file's free space or its -wal. A session being recorded is refused."""
        if self.read_only:
            raise CardFullError(N_("{dir}: the card is full ({value:.1f} MB free): even deleting needs a little room "
                                   "for SQLite's journal; remove another file first"),
                                dir=self.dir, value=self.free_bytes() / 1e6)
        known = set(self.ids())
        missing = [i for i in ids if i not in known]
        if missing:
            raise StorageError(N_("no session {value} in {path}; `pfmt sessions` lists them"),
                               value=missing[0], path=self.path)
        with SessionLock(self.dir, wait=False) as free:
            live = [i for i in ids if self.db.execute("SELECT status FROM sessions WHERE id=?", (i,)).fetchone()[0]
                    == "running"]
            if live and not free:
                raise StorageError(N_("session {value} is being recorded; delete it once it has ended"), value=live[0])
            self.db.execute("PRAGMA secure_delete=ON")
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.execute("INSERT OR REPLACE INTO meta(key, value) SELECT 'last_id', MAX(COALESCE(MAX(id), 0), "
                                "COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key='last_id'), 0)) "
                                "FROM sessions")
                for sid in ids:
                    for table in ("samples", "events", "reps"):
                        self.db.execute(f"DELETE FROM {table} WHERE session_id=?", (sid,))
                    self.db.execute("DELETE FROM sessions WHERE id=?", (sid,))
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return sorted(set(ids))

    def integrity(self) -> str:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SessionLock:
    """An advisory lock (flock) on the data directory held while a session records; the kernel
    drops it when the process dies, which is how a dead session is told from a live one."""

    def __init__(self, data_dir: Path, wait: bool = False) -> None:
        self.path, self.wait = Path(data_dir) / LOCK_NAME, wait
        self.fd: int | None = None

    def acquire(self) -> bool:
        self.fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
            return True
        except BlockingIOError:
            os.close(self.fd)
            self.fd = None
            return False

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _card_full(e: sqlite3.Error) -> bool:
    return getattr(e, "sqlite_errorcode", None) == SQLITE_FULL or "full" in str(e)


@contextlib.contextmanager
def no_session_recording(root: Path, what: str) -> Iterator[None]:
    """Hold the session lock for ``what`` (no session starts meanwhile); refused while one records."""
    with SessionLock(root, wait=False) as free:
        if not free:
            raise StorageError(N_("{root}: a session is being recorded; {what} once it has ended"),
                               root=root, what=what)
        yield


def wipe(data_dir: str | os.PathLike, keep: tuple[str, ...] = ()) -> list[str]:
    """The hand-over of a loaned device: everything in the data directory — sessions, symptom
    diary, profile, logs, exports — is overwritten with zeros, fsynced and removed (``keep``:
    names left alone, e.g. the gadget's disk that is emptied instead). Refused while a session
    records. On flash, the card's wear levelling may keep old blocks the file system no longer
    sees: zeroing is the most software can do. Returns the names removed."""
    root = Path(data_dir)
    if not root.is_dir():
        raise StorageError(N_("{root}: no data directory to wipe"), root=root)
    with no_session_recording(root, "wipe"):
        gone = []
        for entry in sorted(root.iterdir()):
            if entry.name in keep or entry.name == LOCK_NAME:
                continue
            files = [entry] if not entry.is_dir() or entry.is_symlink() else \
                [p for p in entry.rglob("*") if p.is_file() and not p.is_symlink()]
            for f in files:
                if f.is_file() and not f.is_symlink():
                    _zero(f)
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            gone.append(entry.name)
        fsync_dir(root)
    return gone


PROBE_GAP = 64  # consecutive missing keys that end a search past damage (keys are dense from 0)


def repair(data_dir: str | os.PathLike) -> dict:
    """Keep every intact session of a damaged database in a new one: each session whose record
    reads intact is copied with its sample blocks, events and reps that pass their checksums;
    what was lost is said in its summary (``damage``). The damaged file is kept beside it
    (``pfmt.sqlite3.damaged-<when>``) and training may use the new database."""
    root = Path(data_dir)
    path = db_path(root)
    if not path.is_file():
        raise StorageError(N_("{root}: no session database here ({db_name})"), root=root, db_name=DB_NAME)
    with no_session_recording(root, "repair"):
        new_path = partial_name(path)
        new_path.unlink(missing_ok=True)
        report: dict = {"kept": [], "lost": {}, "damage": {}}
        new = sqlite3.connect(new_path, isolation_level=None)
        try:
            os.chmod(new_path, 0o600)
            new.executescript("BEGIN;" + SCHEMA + f"PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
            try:
                old = SessionStore(root, recover=False, create=False)
            except StorageError as e:  # not even the header: nothing to salvage
                report["lost"]["all"] = str(e)
            else:
                with old:
                    for sid in _probe_ids(old):
                        _salvage(old, new, sid, report)
            new.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            new.close()
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        for suffix in ("", "-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                os.replace(side, path.with_name(f"{path.name}.damaged-{stamp}{suffix}"))
        os.replace(new_path, path)
        (root / DAMAGED_NAME).unlink(missing_ok=True)
        fsync_dir(root)
        report["kept_file"] = f"{path.name}.damaged-{stamp}"
    return report


def _probe_ids(old: SessionStore) -> list[int]:
    try:
        return old.ids()
    except StorageError:  # the list itself is damaged: look each id up on its own
        found, last, sid = [], 0, 0
        while sid - last <= 10 * PROBE_GAP:
            sid += 1
            try:
                if old.db.execute("SELECT 1 FROM sessions WHERE id=?", (sid,)).fetchone():
                    found.append(sid)
                    last = sid
            except sqlite3.DatabaseError:
                pass
        return found


def _rows_by_key(old: SessionStore, sql: str, sid: int) -> Iterator[tuple[int, tuple | None]]:
    """(key, row or None when unreadable) for keys 0, 1, … looked up one by one, so a damaged
    page loses only the rows on it; ends after PROBE_GAP keys in a row with nothing."""
    key, missing = 0, 0
    while missing < PROBE_GAP:
        try:
            row = old.db.execute(sql, (sid, key)).fetchone()
        except sqlite3.DatabaseError:
            row, missing = None, missing + 1
            yield key, None
        else:
            if row is None:
                missing += 1
            else:
                missing = 0
                yield key, row
        key += 1


def _salvage(old: SessionStore, new: sqlite3.Connection, sid: int, report: dict) -> None:
    try:
        s = old.session(sid)
    except StorageError as e:
        report["lost"][sid] = str(e)
        return
    lost: list[str] = []
    nch = len(s.channels)
    new.execute("BEGIN")
    info = dict(s.info)
    n_total, t_first, t_last = 0, None, None
    for seq, row in _rows_by_key(old, "SELECT t_first, n, t, v, crc FROM samples WHERE session_id=? AND seq=?", sid):
        if row is None:
            lost.append(f"sample block {seq} unreadable")
            continue
        tf, n, t, v, c = row
        if not block_intact(sid, seq, n, t, v, c, nch):
            lost.append(f"sample block {seq} (from {tf!r} s) failed its checksum")
            continue
        new.execute("INSERT INTO samples(session_id, seq, t_first, n, t, v, crc) VALUES (?,?,?,?,?,?,?)",
                    (sid, seq, tf, n, t, v, crc(sid, seq, n, t, v)))
        ts = np.frombuffer(t, dtype=np.float64, count=n)
        n_total, t_first, t_last = n_total + n, ts[0] if t_first is None else t_first, ts[-1]
    for seq, row in _rows_by_key(old, "SELECT type, time_s, known_at_s, data, crc FROM events WHERE session_id=? AND seq=?", sid):
        if row is None or (row[-1] is not None and row[-1] != crc(sid, seq, *row[:-1])):
            lost.append(f"event {seq} damaged")
            continue
        new.execute("INSERT INTO events(session_id, seq, type, time_s, known_at_s, data, crc) VALUES (?,?,?,?,?,?,?)",
                    (sid, seq, *row[:-1], crc(sid, seq, *row[:-1])))
    for idx, row in _rows_by_key(old, "SELECT exercise, set_no, rep, good, hold_s, peak, mvc_pct, kind, data, crc "
                                      "FROM reps WHERE session_id=? AND idx=?", sid):
        if row is None or (row[-1] is not None and row[-1] != crc(sid, idx, row[-2])):
            lost.append(f"rep {idx} damaged")
            continue
        new.execute("INSERT INTO reps(session_id, idx, exercise, set_no, rep, good, hold_s, peak, mvc_pct, kind, "
                    "data, crc) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", (sid, idx, *row[:-1], crc(sid, idx, row[-2])))
    summary = info["summary"]
    if lost:
        summary = dict(summary) if isinstance(summary, dict) else {"completed": False, "reps": [], "sets": [],
                                                                    "dose": [], "warnings": []}
        summary["damage"] = list(summary.get("damage") or []) + [f"repaired {dt.date.today()}: " + "; ".join(lost[:20])
                                                                 + (f"; and {len(lost) - 20} more" if len(lost) > 20 else "")]
        report["damage"][sid] = lost
    new.execute("INSERT INTO sessions(id, started_at, started_wall, first_wall, programme, patient_code, "
                "profile_version, simulated_patient, status, ended_at, recovered_at, rate_hz, channels, t_first, "
                "t_last, samples, config, calibration, prescription, summary) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (sid, info["started_at"], info["started_wall"], info["first_wall"], info["programme"],
                 info["patient_code"], info["profile_version"], info["simulated_patient"],
                 "interrupted" if info["status"] == "running" else info["status"], info["ended_at"],
                 info["recovered_at"], info["rate_hz"], dumps(info["channels"]),
                 None if t_first is None else float(t_first), None if t_last is None else float(t_last), n_total,
                 dumps(info["config"]), None if info["calibration"] is None else dumps(info["calibration"]),
                 None if info["prescription"] is None else dumps(info["prescription"]),
                 None if summary is None else dumps(summary)))
    seal(new, sid)
    new.execute("COMMIT")
    report["kept"].append(sid)


def _zero(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as f:
        block = bytes(1 << 20)
        left = size
        while left > 0:
            left -= f.write(block[:min(left, len(block))])
        f.flush()
        os.fsync(f.fileno())


_STOP = object()


class SessionWriter:
    """Takes a session's samples, events and judgements from the runner's thread and commits them
    in batches on its own thread and connection. ``finish`` waits for the last commit."""

    def __init__(self, path: Path, sid: int, n_channels: int, lock: SessionLock,
                 release: Callable[[], None] = lambda: None, max_pages: int | None = None) -> None:
        self.id, self.path, self.nch, self.lock = sid, path, n_channels, lock
        self.release, self.max_pages = release, max_pages
        #: The card filled: samples are no longer stored (the runner ends the session); the events,
        #: reps and the summary still are, into the room the reserve freed.
        self.full = False
        self.lost_samples = 0
        # Bounded: a card that stalls (or emulation faster than the card) makes the runner wait
        # rather than memory grow without limit.
        self.q: queue.Queue = queue.Queue(maxsize=QUEUE_MAX)
        self.error: BaseException | None = None
        self.commits = 0
        self.stored_samples = 0
        self.first_wall: float | None = None
        self.commit_s: deque[float] = deque(maxlen=100_000)  # seconds per commit, for the benchmark
        self._thread = threading.Thread(target=self._run, name=f"pfmt-store-{sid}", daemon=True)
        self._thread.start()

    # --- called by the runner (cheap: a queue put) -------------------------------------------
    def samples(self, t: np.ndarray, values: np.ndarray) -> None:
        if len(t):
            self._check()
            if self.first_wall is None:
                self.first_wall = time.time()
            self._put(("s", np.array(t, dtype=np.float64), np.array(values, dtype=SAMPLE_DTYPE)))

    def event(self, type_: str, time_s: float, known_at_s: float | None, data: dict) -> None:
        self._check()
        self._put(("e", type_, float(time_s), None if known_at_s is None else float(known_at_s), dumps(data)))

    def rep(self, idx: int, result: dict) -> None:
        self._check()
        self._put(("r", idx, result))

    def finish(self, summary: Mapping[str, Any] | None, status: str) -> None:
        """Store the summary and the final status, wait for the writer, release the lock."""
        if status not in STATUSES[1:]:
            raise ValueError(f"final status must be one of {STATUSES[1:]}, not {status!r}")
        try:
            if self._thread.is_alive():
                self._put(("f", summary, status))
                self._put(_STOP)
            self._thread.join()
        finally:
            self.lock.release()
        self._check()

    def _put(self, item) -> None:
        while True:
            try:
                self.q.put(item, timeout=0.5)
                return
            except queue.Full:
                self._check()
                if not self._thread.is_alive():
                    raise StorageError(N_("{path}: the storage writer of session {id} stopped; the samples stored "
                                          "until then are kept"), path=self.path, id=self.id) from None

    def _check(self) -> None:
        if self.error is not None:
            raise StorageError(N_("{path}: storing session {id} failed ({error}); the samples stored until then are "
                                  "kept"), path=self.path, id=self.id, error=self.error) from None

    # --- the writer thread -------------------------------------------------------------------
    def _run(self) -> None:
        db = None
        try:
            db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA cache_size=-256")  # KiB: it only appends; the Pi's memory is for the session
            db.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT}")
            if self.max_pages is not None:
                db.execute(f"PRAGMA max_page_count={int(self.max_pages)}")
            seq = {"s": 0, "e": 0}
            pending: list = []
            first_t: float | None = None
            last_t = 0.0
            last_commit = time.monotonic()
            stop = False
            while not stop:
                try:
                    items = [self.q.get(timeout=FLUSH_S / 2)]
                except queue.Empty:
                    items = []
                while items and len(items) < DRAIN_MAX:  # take what is waiting: a lagging card gets
                    try:                                   # bigger batches, never a growing queue
                        items.append(self.q.get_nowait())
                    except queue.Empty:
                        break
                for item in items:
                    if item is _STOP:
                        stop = True
                        continue
                    pending.append(item)
                    if item[0] == "s":
                        first_t = float(item[1][0]) if first_t is None else first_t
                        last_t = float(item[1][-1])
                span = last_t - first_t if first_t is not None else 0.0
                if pending and (stop or span >= FLUSH_S or time.monotonic() - last_commit >= FLUSH_S
                                or pending[-1][0] == "f"):
                    c0 = time.perf_counter()
                    try:
                        self._commit(db, pending, seq)
                    except sqlite3.OperationalError as e:
                        if self.full or not _card_full(e):
                            raise
                        self._filled(db, pending)
                        self._commit(db, [it for it in pending if it[0] != "s"], seq)
                    self.commit_s.append(time.perf_counter() - c0)
                    pending, first_t, last_t, last_commit = [], None, 0.0, time.monotonic()
        except BaseException as e:  # kept, and raised in the runner's thread on its next call
            self.error = e
            if isinstance(e, sqlite3.DatabaseError) and _damaged(e):
                mark_damaged(self.path.parent, f"storing session {self.id}: {e}")
        finally:
            if db is not None:
                db.close()

    def _filled(self, db: sqlite3.Connection, pending: list) -> None:
        """The card is full: from now on samples are dropped (counted) and the reserve is freed
        for what is left to store — the events, the reps, the summary and the final status."""
        self.full = True
        self.lost_samples += sum(len(it[1]) for it in pending if it[0] == "s")
        self.release()
        if self.max_pages is not None:  # the emulated card: the reserve's pages
            page = db.execute("PRAGMA page_size").fetchone()[0]
            db.execute(f"PRAGMA max_page_count={int(self.max_pages) + RESERVE_BYTES // page}")

    def _commit(self, db: sqlite3.Connection, items: list, seq: dict) -> None:
        if self.full:
            self.lost_samples += sum(len(it[1]) for it in items if it[0] == "s")
            items = [it for it in items if it[0] != "s"]
        ts = [it[1] for it in items if it[0] == "s"]
        db.execute("BEGIN IMMEDIATE")
        try:
            if ts:
                t = np.concatenate(ts)
                v = np.concatenate([it[2] for it in items if it[0] == "s"]).reshape(len(t), self.nch)
                tb, vb = t.tobytes(), np.ascontiguousarray(v).tobytes()
                db.execute("INSERT INTO samples(session_id, seq, t_first, n, t, v, crc) VALUES (?,?,?,?,?,?,?)",
                           (self.id, seq["s"], float(t[0]), len(t), tb, vb, crc(self.id, seq["s"], len(t), tb, vb)))
                seq["s"] += 1
                db.execute("UPDATE sessions SET samples=samples+?, t_last=?, t_first=COALESCE(t_first, ?), "
                           "first_wall=COALESCE(first_wall, ?) WHERE id=?",
                           (len(t), float(t[-1]), float(t[0]), self.first_wall, self.id))
                seal(db, self.id)
            for it in items:
                if it[0] == "e":
                    db.execute("INSERT INTO events(session_id, seq, type, time_s, known_at_s, data, crc) "
                               "VALUES (?,?,?,?,?,?,?)", (self.id, seq["e"], *it[1:], crc(self.id, seq["e"], *it[1:])))
                    seq["e"] += 1
                elif it[0] == "r":
                    r = it[2]
                    data = dumps(r)
                    db.execute("INSERT OR REPLACE INTO reps(session_id, idx, exercise, set_no, rep, good, "
                               "hold_s, peak, mvc_pct, kind, data, crc) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                               (self.id, it[1], r["exercise"], r["set"], r["rep"], int(bool(r["good"])),
                                r.get("hold_s"), r.get("peak"), r.get("mvc_pct"), r.get("kind"), data,
                                crc(self.id, it[1], data)))
                elif it[0] == "f":
                    db.execute("UPDATE sessions SET status=?, ended_at=?, summary=? WHERE id=?",
                               (it[2], dt.datetime.now().isoformat(timespec="seconds"),
                                None if it[1] is None else dumps(it[1]), self.id))
                    seal(db, self.id)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # SQLite rolls back by itself on some errors (a full disk among them)
                db.execute("ROLLBACK")
            raise
        self.commits += 1
        self.stored_samples += sum(len(x) for x in ts)


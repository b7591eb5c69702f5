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

import datetime as dt
import fcntl
import json
import os
import queue
import shutil
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from device.errors import CardFullError, StorageError
from device.files import atomic_write, fsync_dir
from device.recording import Channel
from device.records.summary import SUMMARY_VERSION, upgrade

DB_NAME = "pfmt.sqlite3"
LOCK_NAME = ".session.lock"
SCHEMA_VERSION = 2
#: How a database of an older schema is brought to the next one (``SCHEMA`` creates the newest).
MIGRATIONS = {
    1: "ALTER TABLE sessions RENAME COLUMN trainee TO simulated_patient;",  # one name: the patient
}
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
    summary TEXT                         -- JSON: the session summary, once it ended
);
CREATE TABLE IF NOT EXISTS samples(
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    seq INTEGER NOT NULL,
    t_first REAL NOT NULL,
    n INTEGER NOT NULL,
    t BLOB NOT NULL,                     -- float64[n] seconds on the session clock
    v BLOB NOT NULL,                     -- float32[n, channels] in each channel's unit
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events(
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,                  -- onset, kind, offset, contraction, artifact, cue, warning, sensor
    time_s REAL NOT NULL,                -- signal time it refers to
    known_at_s REAL,                     -- when it became known
    data TEXT NOT NULL,                  -- JSON
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reps(
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    idx INTEGER NOT NULL,
    exercise TEXT NOT NULL, set_no INTEGER NOT NULL, rep INTEGER NOT NULL,
    good INTEGER NOT NULL, hold_s REAL, peak REAL, mvc_pct REAL, kind TEXT,
    data TEXT NOT NULL,                  -- JSON: the whole judgement
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
            raise StorageError(f"{self.dir}: no session database here ({DB_NAME}); sessions are stored by "
                               "`pfmt train` in its --data directory")
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(self.dir, 0o700)
            if not self.path.exists():  # created owner-only; SQLite copies the mode to -wal/-shm
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            os.chmod(self.path, 0o600)
        except OSError as e:
            raise StorageError(f"{self.dir}: cannot use this data directory ({e.strerror}); it must be "
                               "a writable directory on the device") from None
        self.read_only = False  # opened as it is on a card too full for SQLite's side files
        self.db = self._connect(create)
        self.recovered: list[int] = []
        if recover and not self.read_only:
            self.recovered = self._recover()

    def _connect(self, create: bool = True) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StorageError(f"{self.path}: written by a newer pfmt (schema {version}, this one "
                                   f"reads up to {SCHEMA_VERSION}); update pfmt before using it")
            if version < SCHEMA_VERSION:
                steps = SCHEMA if version == 0 else "".join(MIGRATIONS[v] for v in range(version, SCHEMA_VERSION))
                db.executescript("BEGIN;" + steps + f"PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
        except sqlite3.DatabaseError as e:
            if not create and (ro := self._read_only_on_a_full_card()) is not None:
                return ro
            if self.free_bytes() < RESERVE_BYTES:
                raise StorageError(f"{self.path}: the card is full ({self.free_bytes() / 1e6:.1f} MB free), so "
                                   f"the session database cannot be opened ({e}); free some room on it") from None
            raise StorageError(f"{self.path}: the session database cannot be opened ({e}); keep the "
                               "file for recovery and start with another --data directory") from None
        return db

    def _read_only_on_a_full_card(self) -> sqlite3.Connection | None:
        """A reader on a card too full for SQLite's -shm: the file as it stands, read-only, when
        that is all of it (no write-ahead log holding newer pages, no session recording)."""
        wal = self.path.with_name(self.path.name + "-wal")
        if self.free_bytes() >= RESERVE_BYTES or (wal.exists() and wal.stat().st_size > 0):
            return None
        with SessionLock(self.dir, wait=False) as free:
            if not free:
                return None
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
                self.db.execute("UPDATE sessions SET status='interrupted', recovered_at=?, ended_at=?, "
                                "summary=? WHERE id=? AND status='running'",
                                (now, ended, dumps(summary), sid))
            return [r[0] for r in rows]

    def _partial_summary(self, sid: int, span: float) -> dict:
        row = self.db.execute("SELECT programme FROM sessions WHERE id=?", (sid,)).fetchone()
        reps = [json.loads(d) for (d,) in self.db.execute(
            "SELECT data FROM reps WHERE session_id=? ORDER BY idx", (sid,))]
        return {"version": SUMMARY_VERSION, "programme": row[0], "completed": False, "interrupted": True,
                "duration_s": round(span, 1), "reps": reps, "sets": [], "dose": [], "warnings": []}

    # --- writing -----------------------------------------------------------------------------
    def begin(self, *, programme: str, rate_hz: float, channels: tuple[Channel, ...], config: dict,
              calibration: dict | None, prescription: list[dict] | None, patient_code: str | None,
              profile_version: int | None, simulated_patient: str | None,
              started: dt.datetime | None = None) -> SessionWriter:
        """Open a session for writing (refused when the card has no room for ``SPACE_FOR_S``)."""
        need = space_needed(rate_hz, len(channels))
        free = self.free_bytes()
        if free < need:
            raise CardFullError(f"{self.dir}: {free / 1e6:.0f} MB free on the card, a session needs up to "
                               f"{need / 1e6:.0f} MB; export and remove old sessions (`pfmt export`, "
                               "`pfmt sessions delete`) before training")
        lock = SessionLock(self.dir, wait=False)
        if not lock.acquire():
            raise StorageError(f"{self.dir}: another session is being recorded into this data directory")
        try:
            self._keep_reserve()
        except BaseException:
            lock.release()
            raise
        started = started or dt.datetime.now()
        # never the id of a deleted session again (an export named s5 is one session for good)
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
        return SessionWriter(self.path, cur.lastrowid, len(channels), lock, release=self._free_reserve,
                             max_pages=self.max_pages)

    def _keep_reserve(self) -> None:
        """Set room aside (zeros, fsynced) that a session filling the card frees to store how it ended."""
        path = self.dir / RESERVE_NAME
        if path.is_file() and path.stat().st_size >= RESERVE_BYTES:
            return
        try:
            with atomic_write(path) as f:
                f.write(bytes(RESERVE_BYTES))
        except OSError as e:
            raise CardFullError(f"{self.dir}: no room on the card for a session ({e.strerror}); export and "
                                "delete old sessions (`pfmt export`, `pfmt sessions delete`) before training") from None

    def _free_reserve(self) -> None:
        (self.dir / RESERVE_NAME).unlink(missing_ok=True)

    # --- reading -----------------------------------------------------------------------------
    def ids(self) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT id FROM sessions ORDER BY id")]

    def session(self, sid: int) -> SessionData:
        self.db.row_factory = sqlite3.Row
        try:
            row = self.db.execute("SELECT * FROM sessions WHERE id=?", (sid,)).fetchone()
        finally:
            self.db.row_factory = None
        if row is None:
            known = self.ids()
            allowed = f"{known[0]}–{known[-1]}" if known else "none stored yet"
            raise StorageError(f"no session {sid} in {self.path} (sessions: {allowed})")
        info = dict(row)
        for k in ("channels", "config", "calibration", "prescription", "summary"):
            info[k] = json.loads(info[k]) if info[k] is not None else None
        info["summary"] = upgrade(info["summary"])
        return SessionData(info, tuple(Channel.parse(n) for n in info["channels"]))

    def sessions(self) -> list[SessionData]:
        return [self.session(i) for i in self.ids()]

    def samples(self, sid: int) -> tuple[np.ndarray, np.ndarray]:
        """(time_s, values[n, channels]) of a session, in storage order."""
        chunks = list(self.chunks(sid))
        if not chunks:
            return np.zeros(0), np.zeros((0, len(self.session(sid).channels)))
        return np.concatenate([t for t, _ in chunks]), np.concatenate([v for _, v in chunks])

    def chunks(self, sid: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The stored samples batch by batch (modest memory for long sessions)."""
        ch = len(self.session(sid).channels)
        for t, v, n in self.db.execute("SELECT t, v, n FROM samples WHERE session_id=? ORDER BY seq", (sid,)):
            yield np.frombuffer(t, dtype=np.float64, count=n), \
                np.frombuffer(v, dtype=SAMPLE_DTYPE, count=n * ch).reshape(n, ch).astype(np.float64)

    def events(self, sid: int, types: tuple[str, ...] | None = None) -> list[dict]:
        rows = self.db.execute("SELECT type, time_s, known_at_s, data FROM events WHERE session_id=? "
                               "ORDER BY seq", (sid,))
        return [{"type": ty, "time_s": t, "known_at_s": k, **json.loads(d)} for ty, t, k, d in rows
                if types is None or ty in types]

    def reps(self, sid: int) -> list[dict]:
        return [json.loads(d) for (d,) in self.db.execute(
            "SELECT data FROM reps WHERE session_id=? ORDER BY idx", (sid,))]

    def delete(self, ids: list[int]) -> list[int]:
        """Remove sessions and everything stored with them, for good: SQLite overwrites the freed
        pages (``secure_delete``) and the write-ahead log is emptied, so the samples are not left
        in the file's free space or its -wal. A session being recorded is refused."""
        if self.read_only:
            raise CardFullError(f"{self.dir}: the card is full ({self.free_bytes() / 1e6:.1f} MB free): even "
                                "deleting needs a little room for SQLite's journal; remove another file first")
        known = set(self.ids())
        missing = [i for i in ids if i not in known]
        if missing:
            raise StorageError(f"no session {missing[0]} in {self.path}; `pfmt sessions` lists them")
        with SessionLock(self.dir, wait=False) as free:
            live = [i for i in ids if self.db.execute("SELECT status FROM sessions WHERE id=?", (i,)).fetchone()[0]
                    == "running"]
            if live and not free:
                raise StorageError(f"session {live[0]} is being recorded; delete it once it has ended")
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


def wipe(data_dir: str | os.PathLike, keep: tuple[str, ...] = ()) -> list[str]:
    """The hand-over of a loaned device: everything in the data directory — sessions, symptom
    diary, profile, logs, exports — is overwritten with zeros, fsynced and removed (``keep``:
    names left alone, e.g. the gadget's disk that is emptied instead). Refused while a session
    records. On flash, the card's wear levelling may keep old blocks the file system no longer
    sees: zeroing is the most software can do. Returns the names removed."""
    root = Path(data_dir)
    if not root.is_dir():
        raise StorageError(f"{root}: no data directory to wipe")
    with SessionLock(root, wait=False) as free:
        if not free:
            raise StorageError(f"{root}: a session is being recorded; wipe once it has ended")
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
                    raise StorageError(f"{self.path}: the storage writer of session {self.id} stopped; the "
                                       "samples stored until then are kept") from None

    def _check(self) -> None:
        if self.error is not None:
            raise StorageError(f"{self.path}: storing session {self.id} failed ({self.error}); the "
                               "samples stored until then are kept") from None

    # --- the writer thread -------------------------------------------------------------------
    def _run(self) -> None:
        db = None
        try:
            db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA cache_size=-256")  # KiB: it only appends; the Pi's memory is for the session
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
                db.execute("INSERT INTO samples(session_id, seq, t_first, n, t, v) VALUES (?,?,?,?,?,?)",
                           (self.id, seq["s"], float(t[0]), len(t), t.tobytes(), np.ascontiguousarray(v).tobytes()))
                seq["s"] += 1
                db.execute("UPDATE sessions SET samples=samples+?, t_last=?, t_first=COALESCE(t_first, ?), "
                           "first_wall=COALESCE(first_wall, ?) WHERE id=?",
                           (len(t), float(t[-1]), float(t[0]), self.first_wall, self.id))
            for it in items:
                if it[0] == "e":
                    db.execute("INSERT INTO events(session_id, seq, type, time_s, known_at_s, data) "
                               "VALUES (?,?,?,?,?,?)", (self.id, seq["e"], *it[1:]))
                    seq["e"] += 1
                elif it[0] == "r":
                    r = it[2]
                    db.execute("INSERT OR REPLACE INTO reps(session_id, idx, exercise, set_no, rep, good, "
                               "hold_s, peak, mvc_pct, kind, data) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                               (self.id, it[1], r["exercise"], r["set"], r["rep"], int(bool(r["good"])),
                                r.get("hold_s"), r.get("peak"), r.get("mvc_pct"), r.get("kind"), dumps(r)))
                elif it[0] == "f":
                    db.execute("UPDATE sessions SET status=?, ended_at=?, summary=? WHERE id=?",
                               (it[2], dt.datetime.now().isoformat(timespec="seconds"),
                                None if it[1] is None else dumps(it[1]), self.id))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # SQLite rolls back by itself on some errors (a full disk among them)
                db.execute("ROLLBACK")
            raise
        self.commits += 1
        self.stored_samples += sum(len(x) for x in ts)


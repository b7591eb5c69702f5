"""Session storage: power loss at any instant (kill -9 loop), recovery marking, the schema's
contents, refusals (damaged database, newer schema, no room, a second recorder)."""
from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from device.errors import StorageError
from device.recording import Channel
from device.records import store
from device.records.serial_console import ConsoleConfig, SerialConsole
from device.records.store import DB_NAME, SessionStore

ROOT = Path(__file__).resolve().parents[1]
KILLS = 20
MAX_LOSS_S = 1.0


def _running_session(db: Path, after: int, deadline: float) -> tuple[int, float] | None:
    """(id, started_wall) of the session the child begins (ids after ``after``: the one the
    previous kill cut off stays 'running' until the child's start-up recovers it)."""
    while time.monotonic() < deadline:
        if db.exists():
            try:
                con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0)
                try:
                    row = con.execute("SELECT id, started_wall FROM sessions WHERE status='running' "
                                      "AND id > ? ORDER BY id DESC LIMIT 1", (after,)).fetchone()
                finally:
                    con.close()
                if row:
                    return row
            except sqlite3.OperationalError:
                pass  # the child is creating the schema
        time.sleep(0.02)
    return None


@pytest.mark.slow
def test_kill_minus_9_loop_loses_at_most_a_second(tmp_path):
    """20 kill -9 at random instants of real-time (speed 1) sessions, into two data directories
    (each start also recovers the session the previous kill cut off). Afterwards every database
    opens, passes integrity_check, marks each cut-off session interrupted and holds its samples
    up to at most 1 s before the kill."""
    rng = random.Random(2026)
    dirs = [tmp_path / "a", tmp_path / "b"]
    kills: dict[Path, list[tuple[int, float, float]]] = {d: [] for d in dirs}
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for k in range(KILLS):
        d = dirs[k % 2]
        child = subprocess.Popen([sys.executable, "-m", "device.cli", "train", "--speed", "1", "--view", "quiet",
                                  "--seed", str(k), "--data", str(d)], env=env, cwd=ROOT,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            after = kills[d][-1][0] if kills[d] else 0
            found = _running_session(d / DB_NAME, after, time.monotonic() + 60)
            assert found is not None, child.stderr.read().decode() if child.poll() is not None else "no session"
            time.sleep(rng.uniform(0.0, 3.0))
            kill_wall = time.time()
            child.send_signal(signal.SIGKILL)
        finally:
            child.wait(timeout=30)
            child.stderr.close()
        assert child.returncode == -signal.SIGKILL
        kills[d].append((found[0], found[1], kill_wall))
    losses: list[float] = []
    for d in dirs:
        with SessionStore(d) as db:  # recovers the last kill's session
            assert db.integrity() == "ok"
            assert (d / DB_NAME).stat().st_mode & 0o077 == 0
            for sid, wall0, kill_wall in kills[d]:
                s = db.session(sid)
                assert s.info["status"] == "interrupted" and s.info["recovered_at"], s.info
                assert s.info["summary"]["interrupted"] is True
                t, v = db.samples(sid)
                assert len(t) == s.info["samples"] and v.shape == (len(t), 2)
                # Lock-step emulation at 1× keeps signal time to wall time since the first sample
                # (the pace is set from it); with nothing stored, from the session's opening.
                wall_first = s.info["first_wall"] if s.info["first_wall"] is not None else wall0
                acquired = (t[0] if len(t) else 0.0) + (kill_wall - wall_first)
                lost = acquired - (t[-1] if len(t) else 0.0)
                assert lost <= MAX_LOSS_S, (sid, lost)
                losses.append(lost)
                if len(t):
                    assert np.all(np.diff(t) > 0) and np.all(np.isfinite(v))
    assert len(losses) == KILLS
    print(f"kill -9 × {KILLS}: samples lost median {np.median(losses):.3f} s, max {max(losses):.3f} s")


def _begin(db: SessionStore, **kw):
    args = dict(programme="norwegian_intensive", rate_hz=100.0,
                channels=(Channel.parse("pelvic_cmH2O"), Channel.parse("abdominal_cmH2O")), config={"rate_hz": 100},
                calibration=None, prescription=[{"name": "x"}], patient_code="P-17", profile_version=2,
                simulated_patient=None)
    args.update(kw)
    return db.begin(**args)


def test_writer_round_trip_and_batches(tmp_path):
    """Samples come back bit-exact for float32, in order; events and reps as given; commits are
    batched (not one per block) yet never hold more than FLUSH_S of signal."""
    with SessionStore(tmp_path) as db:
        w = _begin(db)
        rng = np.random.default_rng(1)
        ts, vs = [], []
        for b in range(100):  # 10 s at 100 Hz in 0.1 s blocks
            t = b * 0.1 + np.arange(10) * 0.01
            v = rng.normal(size=(10, 2)).astype(np.float32)
            w.samples(t, v)
            ts.append(t), vs.append(v)
        w.event("onset", 1.5, 1.6, {"x": 1})
        w.rep(0, {"exercise": "e", "set": 1, "rep": 1, "good": True, "hold_s": 3.0, "peak": 40.0, "mvc_pct": 50.0,
                  "kind": "lift"})
        w.finish({"completed": True}, "completed")
        assert 1 <= w.commits < 100  # batched, not one commit per block
        t, v = db.samples(w.id)
        assert np.array_equal(t, np.concatenate(ts)) and np.array_equal(v, np.concatenate(vs))
        assert sum(len(tc) for tc, _ in db.chunks(w.id)) == 1000
        assert db.events(w.id) == [{"type": "onset", "time_s": 1.5, "known_at_s": 1.6, "x": 1}]
        assert db.reps(w.id)[0]["kind"] == "lift"
        info = db.session(w.id).info
        assert info["status"] == "completed" and info["patient_code"] == "P-17" and info["samples"] == 1000


def test_running_session_is_not_recovered_while_its_writer_lives(tmp_path):
    """Opening the store (`pfmt sessions`) during a session must not mark it interrupted."""
    with SessionStore(tmp_path) as db:
        w = _begin(db)
        w.samples(np.arange(5) * 0.01, np.zeros((5, 2)))
        with SessionStore(tmp_path) as other:
            assert other.recovered == [] and other.session(w.id).info["status"] == "running"
            with pytest.raises(StorageError, match="another session is being recorded"):
                _begin(other)
        w.finish(None, "stopped")
        assert db.session(w.id).info["status"] == "stopped"


def test_damaged_and_newer_databases_are_refused_clearly(tmp_path):
    (tmp_path / DB_NAME).write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="cannot be opened.*keep the file"):
        SessionStore(tmp_path)
    assert (tmp_path / DB_NAME).read_bytes().startswith(b"this is not")  # nothing deleted
    other = tmp_path / "newer"
    SessionStore(other).close()
    con = sqlite3.connect(other / DB_NAME)
    con.execute("PRAGMA user_version=99")
    con.close()
    with pytest.raises(StorageError, match="newer pfmt"):
        SessionStore(other)


def test_no_room_on_the_card_refuses_to_start(tmp_path, monkeypatch):
    import shutil

    with SessionStore(tmp_path) as db:
        monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 10**6, 10**6))
        with pytest.raises(StorageError, match="1 MB free on the card"):
            _begin(db, rate_hz=860.0)
        assert db.ids() == []


def test_unknown_session_names_what_exists(tmp_path):
    with SessionStore(tmp_path) as db:
        w = _begin(db, started=dt.datetime(2026, 1, 5, 9))
        w.finish(None, "completed")
        with pytest.raises(StorageError, match=r"no session 7 .*sessions: 1–1"):
            db.session(7)


def test_no_network_listener_in_the_code():
    """Health data never leaves over a network: no module opens a listening socket."""
    import re

    listener = re.compile(r"^\s*(import|from)\s+(socket|socketserver|http\.server|asyncio|xmlrpc)\b", re.M)
    # the one socket: a datagram to systemd's notify socket (a local Unix socket, sent, never bound)
    notify = ROOT / "device" / "appliance" / "service.py"
    text = notify.read_text(encoding="utf-8")
    assert "AF_UNIX" in text and not re.search(r"AF_INET|\.bind\(|\.listen\(|\.accept\(", text)
    for pkg in ("device", "drivers", "calibration"):
        for f in (ROOT / pkg).rglob("*.py"):
            if f != notify:
                assert not listener.search(f.read_text(encoding="utf-8")), f


def test_readers_never_create_a_database(tmp_path, pfmt_cmd):
    """`pfmt sessions` / `pfmt export` on a mistyped --data must say there is nothing there, not
    leave an empty database behind and answer "no sessions"."""
    missing = tmp_path / "typo"
    with pytest.raises(StorageError, match="no session database here"):
        SessionStore(missing, create=False)
    for args in (["sessions"], ["export", "--all", "--to", str(tmp_path / "out")]):
        out = subprocess.run(pfmt_cmd + args + ["--data", str(missing)], capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert out.returncode == 2 and "no session database here" in out.stderr and "Traceback" not in out.stderr
    console = SerialConsole(ConsoleConfig(missing, tmp_path / "exports", lambda folder: None))
    assert console.handle(b"HELLO")[0].startswith('OK {"device": "pfmt"')
    console.unlocked = True  # as after UNLOCK
    assert console.handle(b"LIST")[0].startswith("ERR ") and "no session database here" in console.handle(b"LIST")[0]
    assert not missing.exists() and not (tmp_path / "out").exists()


def test_a_schema_1_database_and_its_version_1_summaries_still_read(tmp_path):
    """A card written before the glossary's rename (schema 1, the column ``trainee``; summaries
    without a ``version``) opens, is migrated in place, and reads as the current version."""
    con = sqlite3.connect(tmp_path / DB_NAME)
    old = store.SCHEMA.replace("simulated_patient TEXT,", "trainee TEXT,")
    old = "\n".join(ln for ln in old.splitlines() if "crc INTEGER" not in ln).replace("summary TEXT,", "summary TEXT ")
    con.executescript(old + "PRAGMA user_version=1;")
    v1 = {"programme": "swedish", "programme_title": "Swedish", "completed": True, "trainee": "weak",
          "reps": [], "sets": [], "dose": [], "warnings": []}
    con.execute("INSERT INTO sessions(started_at, started_wall, programme, trainee, status, rate_hz, channels, "
                "config, summary) VALUES ('2026-01-05T10:00:00', 0, 'swedish', 'weak', 'completed', 100, "
                "'[\"pelvic_cmH2O\"]', '{}', ?)", (json.dumps(v1),))
    con.commit()
    con.close()
    with SessionStore(tmp_path) as db:
        s = db.session(1)
    assert s.info["simulated_patient"] == "weak" and "trainee" not in s.info
    assert s.info["summary"]["version"] == store.SUMMARY_VERSION
    assert s.info["summary"]["simulated_patient"] == "weak" and "trainee" not in s.info["summary"]
    con = sqlite3.connect(tmp_path / DB_NAME)
    assert con.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION
    con.close()

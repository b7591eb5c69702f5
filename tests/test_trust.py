"""Trust (issue 19), the findings fixed so far: exports are atomic — built under a hidden partial
name and renamed once verified — and nothing of a patient's is written outside ``--data``; what a
killed build left is removed by the next one."""
import datetime as dt
import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from device.appliance.compose import TrainOptions, run
from device.errors import StorageError
from device.files import clean_partials, partial_name
from device.recording import Channel
from device.records import export as export_mod
from device.records.serial_console import ConsoleConfig, SerialConsole
from device.records.store import SessionStore, seal
from drivers import usb

ROOT = Path(__file__).resolve().parents[1]
PFMT = [sys.executable, "-m", "device.cli"]


@pytest.fixture(scope="module")
def sessions(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("trust") / "data"
    for seed in (1, 2):
        run(TrainOptions(data_dir=d, speed=0, view="quiet", seed=seed, overrides={"reps": 3, "sets": 1}))
    return d


def _folders(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir()) if out.exists() else []


def test_a_failed_export_leaves_nothing(sessions, tmp_path, monkeypatch):
    """A full disk halfway through: a clear error and no folder, partial or final."""
    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export_mod, "write_edf", full)
    out = tmp_path / "out"
    with SessionStore(sessions, create=False) as db, pytest.raises(StorageError, match="disk full or read-only"):
        export_mod.export(db, db.sessions(), out)
    assert _folders(out) == []


def test_an_export_is_renamed_only_when_verified(sessions, tmp_path, monkeypatch):
    real = export_mod.manifest

    def corrupt_after_manifest(folder):
        files = real(folder)
        victim = next(p for p in folder.iterdir() if p.suffix == ".edf")
        victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")  # changed after it was summed
        return files

    monkeypatch.setattr(export_mod, "manifest", corrupt_after_manifest)
    out = tmp_path / "out"
    with SessionStore(sessions, create=False) as db, pytest.raises(StorageError, match="reads back different"):
        export_mod.export(db, db.sessions(), out)
    assert _folders(out) == []


@pytest.mark.slow
def test_kill_9_at_random_instants_of_export_leaves_nothing_half_written(sessions, tmp_path):
    """`pfmt export --to` killed at 12 random instants: under a final name only complete,
    verified folders; the partials a kill left are removed by the next export; nothing elsewhere."""
    rng = random.Random(19)
    out = tmp_path / "out"
    out.mkdir()
    before_tmp = set(os.listdir("/tmp"))
    cmd = PFMT + ["export", "--all", "--to", str(out), "--data", str(sessions), "--formats", "edf,csv,json"]
    t0 = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)  # how long one takes here, now
    whole = time.monotonic() - t0
    time.sleep(1.05)
    killed = 0
    for _ in range(12):
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.4, 0.97) * whole)  # past the imports, into the writing
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            killed += 1
        p.wait()
        time.sleep(1.05)  # the next export's folder has a later stamp (seconds)
        for name in _folders(out):
            if name.startswith("."):
                assert ".partial-" in name  # a kill's leftover, hidden and marked
                continue
            folder = out / name
            assert (folder / "MANIFEST.sha256").is_file(), name
            assert export_mod.read_manifest_checked(folder) == usb.read_manifest(folder), name
    assert killed >= 3, "the random instants should catch several exports mid-way"
    r = subprocess.run(PFMT + ["export", "--all", "--to", str(out), "--data", str(sessions), "--formats", "json"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert not [n for n in _folders(out) if n.startswith(".")]  # every leftover removed
    assert not [n for n in set(os.listdir("/tmp")) - before_tmp if "pfmt" in n]


def test_the_serial_console_keeps_its_exports_in_the_data_dir_and_only_the_last(sessions, tmp_path):
    exports = sessions / ".serial-exports-test"
    exports.mkdir(exist_ok=True)
    con = SerialConsole(ConsoleConfig(sessions, exports, unlock=lambda s: True))
    assert con.handle(b"UNLOCK x")[0].startswith("OK")
    assert con.handle(b"EXPORT all json")[0].startswith("OK")
    first = con.last_export
    time.sleep(1.05)
    assert con.handle(b"EXPORT all json")[0].startswith("OK")
    assert first is not None and not first.exists() and con.last_export is not None and con.last_export.exists()
    assert [p.name for p in exports.iterdir()] == [con.last_export.name]
    assert sessions in con.last_export.parents


def test_clean_partials_leaves_a_live_build_alone(tmp_path):
    mine = partial_name(tmp_path / "pfmt-export-x")
    mine.mkdir()
    dead = tmp_path / ".pfmt-export-y.partial-999999999"
    dead.mkdir()
    (dead / "half.edf").write_bytes(b"x")
    other = tmp_path / ".profile.json.abcd"  # not a partial: never touched
    other.write_text("{}")
    assert clean_partials(tmp_path) == [dead]
    assert mine.exists() and other.exists() and not dead.exists()


def test_profile_versions_are_created_exclusively(tmp_path):
    """Two physiotherapists saving at once (finding 12): every save keeps its own version; none is
    lost by one writing over the other's number."""
    import threading

    from calibration.profile import ProfileStore
    from tests.test_calibration import calibrate

    wf, store, *_ = calibrate(tmp_path / "first")
    base = wf.run()
    target = ProfileStore(tmp_path / "shared")
    saved: list[int] = []
    go = threading.Barrier(6)

    def physio(k: int) -> None:
        go.wait()
        for j in range(5):
            saved.append(target.save(base, f"PT-{k}", [f"save {j}"], secret="bekken-2468-fysio").version)

    threads = [threading.Thread(target=physio, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(saved) == list(range(1, 31))  # 30 saves, 30 versions, each said truly
    assert target.versions() == list(range(1, 31))
    assert sorted(target.load(v).by for v in target.versions()) == sorted(f"PT-{k}" for k in range(6) for _ in range(5))
    assert not [p for p in target.dir.iterdir() if p.name.startswith(".")]  # no temporary left


def test_a_session_dated_1970_still_exports_and_trends(sessions, tmp_path):
    """Finding 9: a device whose clock was never set dates a session 1970-01-01. The EDF+ export
    (dates 1985–2084 only) still works and says so; the trend is not 2 972 weeks long."""
    import shutil
    import sqlite3

    from edfio import read_edf

    from device.records.reports import trend

    d = tmp_path / "data"
    shutil.copytree(sessions, d)
    db = sqlite3.connect(d / "pfmt.sqlite3")
    db.execute("UPDATE sessions SET started_at='1970-01-01T00:00:05', started_wall=5, first_wall=5 WHERE id=1")
    seal(db, 1)  # as the device dated it itself, with its clock at 1970
    db.commit()
    db.close()
    with SessionStore(d, create=False) as store:
        folder, files = export_mod.export(store, store.sessions(), tmp_path / "out", ("edf", "json"))
        weeks = trend(store.sessions(), fill=True, today=dt.date(2026, 12, 8))
        far = trend(store.sessions(), fill=True, today=dt.date(2099, 1, 1))
    edf = read_edf(next(folder.glob("*_s1.edf")))
    assert edf.startdate == dt.date(1985, 1, 1)
    assert any("date unknown" in a.text and "1970-01-01" in a.text for a in edf.annotations)
    assert len(weeks) < 60 and weeks[0]["week"] == "1970-W01"  # listed as it is, not filled from
    assert len(far) < 60  # a clock run ahead does not stretch it either


def test_the_secret_is_long_and_memory_hard():
    """Finding 2: a 4–8 digit PIN is refused as a new secret; the hash is scrypt."""
    from calibration.profile import SECRET_MIN, Profile
    from device.errors import AccessError

    with pytest.raises(AccessError, match="passphrase"):
        Profile.hash_pin("2468")
    h = Profile.hash_pin("x" * SECRET_MIN)
    assert h["kdf"] == "scrypt" and h["n"] >= 2**14 and "iterations" not in h


def test_wrong_secrets_are_counted_delayed_and_logged_across_restarts(tmp_path):
    """The right secret straight after 15 wrong ones used to work: now each wrong one past the
    third makes the next try wait (doubling), the count survives a restart, and the physio sees
    the log."""
    from calibration.profile import PIN_DELAY_S, PIN_FREE_TRIES, PinGuard, Profile
    from device.errors import AccessError

    holder = Profile.__new__(Profile)
    holder.pin = Profile.hash_pin("the-right-secret")
    now = [1_800_000_000.0]
    guard = PinGuard(tmp_path, clock=lambda: now[0])
    for _ in range(PIN_FREE_TRIES):
        assert guard.check(holder, "guess-0000-x", "console") is False
    with pytest.raises(AccessError, match="allowed in 5 s"):  # the waits begin
        guard.check(holder, "guess-0001-x", "console")
    now[0] += PIN_DELAY_S
    assert guard.check(holder, "guess-0001-x", "console") is False  # the 4th wrong: the wait doubles
    restarted = PinGuard(tmp_path, clock=lambda: now[0])  # a reboot forgets nothing
    with pytest.raises(AccessError, match="allowed in 10 s"):
        restarted.check(holder, "the-right-secret", "calibration")  # even the right one waits
    now[0] += 2 * PIN_DELAY_S
    assert restarted.check(holder, "the-right-secret", "calibration") is True
    n, log = restarted.failures_since_login()
    assert n == 0 and len(log) == PIN_FREE_TRIES + 1 and {e["where"] for e in log} == {"console"}
    assert oct((tmp_path / "pin-attempts.json").stat().st_mode & 0o777) == "0o600"


def test_an_old_short_pin_still_opens_once_and_is_replaced(tmp_path):
    import hashlib

    from calibration.profile import PIN_ITERATIONS, Profile

    salt = b"0123456789abcdef"
    old = Profile.__new__(Profile)
    old.pin = {"salt": salt.hex(), "iterations": PIN_ITERATIONS,
               "hash": hashlib.pbkdf2_hmac("sha256", b"2468", salt, PIN_ITERATIONS).hex()}
    assert old.check_pin("2468") and not old.check_pin("2469")
    assert old.weak_pin  # the workflow asks for a passphrase at this login


# --- finding 1: prescriptions that cannot be forged unseen ---------------------------------------
@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    """A device the physio calibrated: her profile, signed with the key her secret makes."""
    import json as _json

    d = tmp_path_factory.mktemp("signed")
    answers = d / "answers.json"
    answers.write_text(_json.dumps({"new_pin": "bekken-2468-fysio", "new_pin_again": "bekken-2468-fysio",
                                    "accept": "y", "physio": "PT-7", "patient_code": "P-042", "retry": "n",
                                    "contact.reps": "3", "contact.sets": "1", "progression": "n"}))
    r = subprocess.run(PFMT + ["calibrate", "--data", str(d / "data"), "--answers", str(answers)],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("Signed with your key"))
    return d / "data", line.split()[4].rstrip(".")  # her fingerprint, as she was shown it


def _copy(signed, tmp_path) -> Path:
    import shutil

    d = tmp_path / "data"
    shutil.copytree(signed[0], d)
    return d


def _forge(path: Path, edit, secret: str | None = None) -> None:
    """Edit a profile file and recompute every hash (and, with ``secret``, sign it with a key of
    one's own): what someone holding the device can do."""
    import json as _json

    from calibration import signing
    from calibration.profile import _checksum

    d = _json.loads(path.read_text())
    edit(d)
    d.pop("signature", None)
    if secret is not None:
        d["signature"] = signing.sign(d, secret, signing.new_salt())
    d["checksum"] = _checksum(d)
    path.write_text(_json.dumps(d))


@pytest.mark.parametrize("edit", [
    lambda d: d["prescription"]["targets"].update({"contact": {"reps": 1, "sets": 1}}),
    lambda d: d.update({"pin": None}),
    lambda d: d.update({"by": "PT-7", "changes": ["nothing happened"]}),
])
def test_a_profile_edited_and_rehashed_is_refused(signed, tmp_path, edit):
    d = _copy(signed, tmp_path)
    _forge(d / "profile" / "v0001.json", edit)
    r = subprocess.run(PFMT + ["train", "--data", str(d), "--speed", "0", "--view", "quiet", "--emulate"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 2 and "signature is missing" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run(PFMT + ["profile", "show", "--data", str(d)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 2 and "signature is missing" in r.stderr


def test_a_signed_profile_edited_keeping_its_signature_is_refused(signed, tmp_path):
    """The checksum recomputed, the old signature left in place: it no longer matches."""
    import json as _json

    from calibration.profile import _checksum

    d = _copy(signed, tmp_path)
    path = d / "profile" / "v0001.json"
    p = _json.loads(path.read_text())
    p["prescription"]["targets"]["contact"] = {"reps": 1, "sets": 1}
    p["checksum"] = _checksum(p)
    path.write_text(_json.dumps(p))
    r = subprocess.run(PFMT + ["train", "--data", str(d), "--speed", "0", "--view", "quiet", "--emulate"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 2 and "signature does not match" in r.stderr


def test_a_profile_signed_by_another_key_says_so_in_the_session_and_its_export(signed, tmp_path):
    import json as _json

    d = _copy(signed, tmp_path)
    physio_key = signed[1]
    v1 = (d / "profile" / "v0001.json").read_text()
    forged = d / "profile" / "v0002.json"
    forged.write_text(v1)

    def lower(p):
        p["version"] = 2
        p["prescription"]["targets"]["contact"] = {"reps": 1, "sets": 1}

    _forge(forged, lower, secret="the forger's own key")
    run(TrainOptions(data_dir=d, speed=0, view="quiet", seed=3))
    out = tmp_path / "out"
    with SessionStore(d, create=False) as store:
        (s,) = store.sessions()
        rx = s.info["summary"]["profile"]
        assert rx["version"] == 2 and rx["signature"] == "verified"
        assert rx["key"] != physio_key and rx["key_changed"] is True  # not hers, and not the key before
        folder, _ = export_mod.export(store, [s], out, ("json",))
    dose = _json.loads(next(folder.glob("*_dose.json")).read_text())
    assert dose["prescription"]["key"] == rx["key"] and dose["prescription"]["key_changed"] is True
    assert dose["prescription"]["sha256"] and len(dose["prescription"]["sha256"]) == 64


def test_the_physios_own_sessions_name_her_key(signed, tmp_path):
    d = _copy(signed, tmp_path)
    run(TrainOptions(data_dir=d, speed=0, view="quiet", seed=4))
    with SessionStore(d, create=False) as store:
        (s,) = store.sessions()
    rx = s.info["summary"]["profile"]
    assert rx["signature"] == "verified" and rx["key"] == signed[1] and rx["key_changed"] is False


def test_a_new_version_by_her_keeps_her_key(signed, tmp_path):
    from calibration.profile import ProfileStore

    d = _copy(signed, tmp_path)
    store = ProfileStore(d)
    p2 = store.restore(1, by="PT-7", secret="bekken-2468-fysio")
    assert p2.version == 2 and p2.signature_state == "verified"
    assert p2.key_fingerprint == signed[1] and not store.key_changed(p2)


# --- finding 10: a rep the device spoiled is not her failure --------------------------------------
def test_a_rep_spoiled_by_the_bus_is_marked_and_does_not_count_against_her(tmp_path):
    from device.appliance.compose import compose
    from device.training import schedule as sched
    from device.training.train import run_session

    c = compose(TrainOptions(data_dir=tmp_path / "data", speed=0, view="quiet", seed=5, overrides={"reps": 4, "sets": 1}))
    _, reps = sched.build(c.plan.exercises, start=c.plan.schedule_start)
    hold = reps[1].hold_from
    c.rig.sampler.bus.inject("lockup", hold + 0.5, hold + 1.1)  # the I2C bus hangs 0.6 s inside rep 2
    s = run_session(c.plan, c.rig, c.clock, c.sessions, c.progress)
    spoiled = [r for r in s["reps"] if r["sensor_fault"]]
    assert len(spoiled) == 1 and spoiled[0]["rep"] == 2 and spoiled[0]["reasons"][0] == "sensor_fault"
    assert spoiled[0]["lost_s"] >= 0.1
    assert s["sets"][0]["spoiled_by_device"] == 1 and s["dose"][0]["done"]["spoiled_by_device"] == 1


def test_progression_leaves_out_the_reps_the_device_spoiled(tmp_path):
    """3 good reps and 1 spoiled by the device: secure (3 of 3), where it was 3 of 4 = 75 % < 80 %."""
    import datetime as _dt

    from device.training.programme import load_programme
    from device.training.progress import Progress

    prog = load_programme("norwegian_intensive")
    p = Progress.load(tmp_path, prog, _dt.date(2026, 12, 7))
    reps = [{"exercise": "contact", "good": True, "sensor_fault": False}] * 3 + \
        [{"exercise": "contact", "good": False, "sensor_fault": True}]
    summary = {"completed": True, "dose": [{"exercise": "contact"}], "reps": reps}
    changes = p.record(prog, summary, _dt.datetime(2026, 12, 7, 18))
    assert changes, "secure: the spoiled rep counted neither for nor against her"
    p2 = Progress.load(tmp_path / "b", prog, _dt.date(2026, 12, 7))
    only_spoiled = {"completed": True, "dose": [{"exercise": "contact"}],
                    "reps": [{"exercise": "contact", "good": False, "sensor_fault": True}] * 4}
    assert p2.record(prog, only_spoiled, _dt.datetime(2026, 12, 7, 18)) == []
    assert p2.state["secure"].get("contact", 0) == 0  # nothing learnt, nothing reset


# --- finding 11: hostile input gets one clear line, never a traceback, a hang or non-JSON ---------
REC = Path(__file__).resolve().parents[2] / "shared" / "eval" / "dev" / "e1_1000_00.csv"


def _pfmt(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(PFMT + list(args), capture_output=True, text=True, cwd=ROOT, timeout=timeout)


@pytest.mark.parametrize("text, says", [
    ('{"pelvic": {"rest": 4.9, "mvc": 1' + "0" * 400 + "}}", "mvc"),          # an integer beyond 1e308
    ('{"pelvic": {"rest": 4.9, "mvc": ' + "7" * 5000 + "}}", "not a calibration"),  # beyond 4300 digits
    ("[" * 200_000 + "]" * 200_000, "not a calibration"),                     # nested past the stack
    ('{"pelvic": {"rest": 4.9, "mvc": 69.2}, "\\u001b[2J\\u001b[31mOK": 1}', "pelvic"),  # escapes in a key
])
def test_hostile_calibrations(tmp_path, text, says):
    cal = tmp_path / "cal.json"
    cal.write_text(text)
    r = _pfmt("analyze", str(REC), "--calibration", str(cal), "--json")
    assert r.returncode == 2 and "Traceback" not in r.stderr and says in r.stderr, r.stderr[-400:]
    assert "\x1b" not in r.stderr and r.stdout == ""


def test_a_fifo_or_a_device_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "rec.csv"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero"):
        r = _pfmt("analyze", path, timeout=60)
        assert r.returncode == 2 and "not a regular file" in r.stderr
    r = _pfmt("analyze", str(REC), "--calibration", str(fifo), timeout=60)
    assert r.returncode == 2 and "not a regular file" in r.stderr


def test_json_output_is_always_json(tmp_path):
    """A calibration whose span is a denormal made "mvc_pct": Infinity, which no JSON reader takes."""
    import json as _json

    cal = tmp_path / "cal.json"
    cal.write_text('{"pelvic": {"rest": 0, "mvc": 5e-324}}')
    r = _pfmt("analyze", str(REC), "--calibration", str(cal), "--json")
    if r.returncode == 0:
        def strict(c):
            raise ValueError(f"not JSON: {c}")

        out = _json.loads(r.stdout, parse_constant=strict)
        assert out["contractions"]
    else:
        assert r.returncode == 2 and "Traceback" not in r.stderr


@pytest.mark.parametrize("content, says", [
    (b"\xff\xfe[board]\n", "not UTF-8"),
    (b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply"),
])
def test_hostile_device_configurations(tmp_path, content, says):
    cfg = tmp_path / "device.toml"
    cfg.write_bytes(content)
    r = _pfmt("config", str(cfg))
    assert r.returncode == 2 and "Traceback" not in r.stderr and says in r.stderr, r.stderr[-300:]


@pytest.mark.parametrize("edit, says", [
    ('next_programme = 7\n', "next_programme must be a programme's name"),
    ('name = "my programme"\n', "lower-case letters"),
])
def test_hostile_programmes(tmp_path, edit, says):
    base = (ROOT / "device" / "training" / "programmes" / "maintenance.toml").read_text().splitlines(keepends=True)
    key = edit.split("=")[0].strip()
    lines = [ln for ln in base if not ln.startswith(f"{key} ")]
    prog = tmp_path / "p.toml"
    prog.write_text(edit + "".join(lines))
    r = _pfmt("train", "--programme", str(prog), "--speed", "0", "--view", "quiet", "--emulate",
              "--data", str(tmp_path / "d"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and says in r.stderr, r.stderr[-300:]


def test_an_edited_attempt_counter_delays_but_never_locks_out(tmp_path):
    from calibration.profile import PinGuard, Profile
    from device.errors import AccessError

    holder = Profile.__new__(Profile)
    holder.pin = Profile.hash_pin("the-right-secret")
    (tmp_path / "pin-attempts.json").write_text('{"failures": "none"}')
    mtime = (tmp_path / "pin-attempts.json").stat().st_mtime
    now = [mtime + 1]
    guard = PinGuard(tmp_path, clock=lambda: now[0])
    with pytest.raises(AccessError, match="allowed in"):
        guard.check(holder, "the-right-secret", "console")
    now[0] = mtime + 3600 + 1
    assert guard.check(holder, "the-right-secret", "console") is True


# --- finding 6 (part): the physio's work survives a full or read-only card ----------------------
def test_calibrate_refuses_a_read_only_card_before_asking_anything(tmp_path, monkeypatch):
    from calibration.profile import ProfileStore
    from tests.test_calibration import calibrate

    wf, store, con, *_ = calibrate(tmp_path / "ro")

    def read_only(self, need=1_000_000):
        raise StorageError(f"{self.dir}: the profile cannot be saved here (Read-only file system)")

    monkeypatch.setattr(ProfileStore, "check_writable", read_only)
    with pytest.raises(StorageError, match="Read-only"):
        wf.run()
    assert con.transcript == []  # refused before the first question


def test_a_card_full_at_accept_keeps_her_work_to_save_again(tmp_path, monkeypatch):
    """The whole workflow done, the card full at accept: she is told, frees space, saves again."""
    import calibration.profile as profile_mod
    from tests.test_calibration import calibrate

    real = profile_mod._create_exclusively
    fails = [1]

    def full_once(path, data):
        if fails[0]:
            fails[0] -= 1
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(profile_mod, "_create_exclusively", full_once)
    wf, store, con, *_ = calibrate(tmp_path / "full", answers={"retry_save": "y"})
    saved = wf.run()
    assert any(line.startswith("Not saved:") and "full or read-only" in line for line in con.transcript)
    assert saved.version == 1 and store.versions() == [1] and saved.signature_state == "verified"


# --- finding 3: nothing leaves before the physio's secret; only the current patient's; delete, wipe --
SECRET = "bekken-2468-fysio"
MARK = np.float32(4321.125)  # a sample value only the earlier patient's session holds


@pytest.fixture(scope="module")
def two_patients(signed, tmp_path_factory) -> Path:
    """The signed device with two sessions of the current patient (P-042) and one of an earlier
    patient (P-007) whose samples all read MARK."""
    import shutil

    d = tmp_path_factory.mktemp("two") / "data"
    shutil.copytree(signed[0], d)
    for seed in (1, 2):
        run(TrainOptions(data_dir=d, speed=0, view="quiet", seed=seed))
    with SessionStore(d) as db:
        w = db.begin(programme="swedish", rate_hz=250.0, channels=(Channel.parse("pelvic_cmH2O"),), config={},
                     calibration=None, prescription=[], patient_code="P-007", profile_version=None,
                     simulated_patient=None)
        w.samples(np.arange(2500) / 250.0, np.full((2500, 1), MARK))
        w.finish(None, "stopped")
    return d


class _Pty:
    """`pfmt serial` (the real command) on a pty, as the gadget's tty is on the Pi."""

    def __init__(self, data: Path, image: Path) -> None:
        import tty

        self.master, self.slave = os.openpty()  # the slave held open here too: the line stays up
        tty.setraw(self.slave)
        self.proc = subprocess.Popen(PFMT + ["serial", "--tty", os.ttyname(self.slave), "--image", str(image),
                                             "--data", str(data)], cwd=ROOT, stderr=subprocess.PIPE)
        self.buf = b""

    def ask(self, line: str, until: bytes = b"\r\n") -> str:
        import select

        os.write(self.master, line.encode() + b"\n")
        deadline = time.monotonic() + 120
        while until not in self.buf:
            assert time.monotonic() < deadline, f"no answer to {line!r}"
            if select.select([self.master], [], [], 1.0)[0]:
                self.buf += os.read(self.master, 65536)
        out, self.buf = self.buf.split(until, 1)
        return out.decode()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


def _image_files(image: Path) -> list[str]:
    return sorted(n for n in usb.list_image(image) if not n.endswith("/"))


def _ok(answer: str):
    assert answer.startswith("OK "), answer
    return json.loads(answer[3:])


def test_the_console_gives_nothing_before_the_secret_and_only_the_current_patients(two_patients, tmp_path):
    import shutil

    d = tmp_path / "data"
    shutil.copytree(two_patients, d)
    image = d / "gadget.img"
    with SessionStore(d) as db:
        theirs = {s.info["patient_code"]: s.id for s in db.sessions()}
        ids = db.ids()
    con = _Pty(d, image)
    try:
        hello = _ok(con.ask("HELLO"))
        assert hello["locked"] is True and "sessions" not in hello
        for req in ("LIST", "SHOW 1", "TREND", "EXPORT all", "GET trend.json", "DELETE 1", "WIPE", "TIME SET 2026-12-07T18:05:00"):
            assert con.ask(req).startswith("ERR"), req
        assert _image_files(image) == ["pfmt/MANIFEST.sha256", "pfmt/README.txt"] or \
            _image_files(image) == ["/pfmt/MANIFEST.sha256", "/pfmt/README.txt"]  # nothing of hers on the disk
        assert con.ask("UNLOCK bekken-2468-fysia").startswith("ERR wrong secret")
        assert _ok(con.ask(f"UNLOCK {SECRET}")) == {"patient_code": "P-042", "sessions": 2}
        listed = [s["id"] for s in _ok(con.ask("LIST"))]
        assert theirs["P-007"] not in listed and len(listed) == 2
        assert "of the current patient" in con.ask(f"SHOW {theirs['P-007']}")
        assert "of the current patient" in con.ask(f"EXPORT {theirs['P-007']}")
        ex = _ok(con.ask("EXPORT all json"))
        assert ex["image"] == str(image) and not [f for f in ex["files"] if "P-007" in f]
        assert any("P-042" in f for f in _image_files(image))
        rep = _ok(con.ask("EXPORT all html"))  # issue 20: the report goes over the cable too
        assert rep["files"] == ["MANIFEST.sha256", "report-P-042.html"] or "report-P-042.html" in rep["files"]
        got = con.ask("GET report-P-042.html", until=b"END\r\n").split("\r\n")
        import base64
        page = base64.b64decode("".join(got[1:-1])).decode("utf-8")
        assert page.startswith("<!DOCTYPE html>") and "P-042" in page and "P-007" not in page
        deleted = _ok(con.ask(f"DELETE {listed[0]}"))["deleted"]
        assert deleted == [listed[0]] and [s["id"] for s in _ok(con.ask("LIST"))] == listed[1:]
        assert not any("P-042" in f for f in _image_files(image))  # what held it is gone from the disk
        assert con.ask("LOCK") == "OK locked" and con.ask("LIST").startswith("ERR locked")
        assert con.ask("QUIT") == "OK bye"
        assert con.proc.wait(timeout=30) == 0
    finally:
        con.close()
    with SessionStore(d) as db:
        assert db.ids() == [i for i in ids if i != listed[0]]
    log = json.loads((d / "pin-attempts.json").read_text())["log"]
    assert log[-1]["where"] == "serial console"


def test_deleted_sessions_are_gone_from_the_file_and_their_ids_never_come_back(two_patients, tmp_path, pfmt_cmd):
    import shutil

    d = tmp_path / "data"
    shutil.copytree(two_patients, d)
    with SessionStore(d) as db:
        p007 = next(s.id for s in db.sessions() if s.info["patient_code"] == "P-007")
        top = max(db.ids())
    mark = MARK.tobytes() * 64
    assert mark in (d / "pfmt.sqlite3").read_bytes() + ((d / "pfmt.sqlite3-wal").read_bytes()
                                                         if (d / "pfmt.sqlite3-wal").exists() else b"")
    r = subprocess.run(pfmt_cmd + ["sessions", "delete", str(p007), "--data", str(d)], input=f"{SECRET}\nyes\n",
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0 and f"deleted session(s) {p007} for good" in r.stdout, r.stderr
    on_card = b"".join(p.read_bytes() for p in d.iterdir() if p.name.startswith("pfmt.sqlite3"))
    assert mark not in on_card  # overwritten, not only unlinked from the b-tree
    r = subprocess.run(pfmt_cmd + ["sessions", "delete", "1", "--data", str(d)], input="wrong-secret-1\n" * 3,
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and "wrong physio secret three times" in r.stderr
    run(TrainOptions(data_dir=d, speed=0, view="quiet", seed=5))
    with SessionStore(d) as db:
        assert max(db.ids()) == top + 1 and p007 not in db.ids()  # never a deleted session's id again


def test_the_hand_over_wipe_leaves_nothing_of_hers(two_patients, tmp_path, pfmt_cmd):
    import shutil

    d = tmp_path / "data"
    shutil.copytree(two_patients, d)
    (d / "gadget.img").write_bytes(b"P-042 her export" * 1000)
    r = subprocess.run(pfmt_cmd + ["wipe", "--data", str(d)], input=f"{SECRET}\nP-04\n",
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 1 and "nothing was wiped" in r.stdout and (d / "profile").is_dir()
    r = subprocess.run(pfmt_cmd + ["wipe", "--data", str(d)], input=f"{SECRET}\nP-042\n",
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in d.iterdir()) == [".session.lock"]
    # a new patient's calibration starts from nothing: the device asks for a new secret
    con = SerialConsole(ConsoleConfig(d, d / ".serial-exports", unlock=None))
    assert "it is set when she calibrates it" in con.handle(f"UNLOCK {SECRET}".encode())[0]


def test_the_console_wipes_for_hand_over_after_a_code(two_patients, tmp_path):
    import shutil

    d = tmp_path / "data"
    shutil.copytree(two_patients, d)
    image = d / "gadget.img"
    con = _Pty(d, image)
    try:
        _ok(con.ask(f"UNLOCK {SECRET}"))
        code = _ok(con.ask("WIPE"))["confirm"]
        assert con.ask("WIPE 000000").startswith("ERR") and (d / "profile").is_dir()  # a wrong code forgets it
        code = _ok(con.ask("WIPE"))["confirm"]
        assert _ok(con.ask(code)) == {"wiped": True, "locked": True}
        assert con.ask("LIST").startswith("ERR locked")
        assert "no physiotherapist's secret on this device" in con.ask(f"UNLOCK {SECRET}")
    finally:
        con.close()
    assert sorted(p.name for p in d.iterdir()) == [".serial-exports", ".session.lock", "gadget.img"]
    assert len(_image_files(image)) == 2 and not list((d / ".serial-exports").iterdir())


# --- finding 6: a card that fills during a session -----------------------------------------------
def _check_filled_session(d: Path, summary: dict) -> None:
    assert summary["stopped_by"] == "card_full" and not summary["completed"]
    assert "cannot_train_card_full" in [n for _, n in summary["patterns"]]  # she hears why it ended
    with SessionStore(d, create=False) as db:
        s = db.session(summary["session_id"])
        assert s.info["status"] == "stopped" and s.info["summary"]["stopped_by"] == "card_full"
        assert len(s.info["summary"]["reps"]) == len(summary["reps"]) and s.info["samples"] > 0
        assert db.integrity() == "ok"


def test_a_session_that_fills_the_card_is_stored_as_ended_by_it(tmp_path):
    """It ended with "cannot rollback - no transaction is active", lost its summary and stayed
    `running`. Now it stops, plays the card-full pattern, and is stored with its summary (the
    emulated card: the database may not grow past a page count)."""
    d = tmp_path / "data"
    run(TrainOptions(data_dir=d, speed=0, view="quiet", seed=1, overrides={"reps": 1, "sets": 1}))
    with SessionStore(d) as db:
        pages = db.db.execute("PRAGMA page_count").fetchone()[0]
    summary = run(TrainOptions(data_dir=d, speed=0, view="quiet", seed=2, card_pages=pages + 60))
    _check_filled_session(d, summary)
    assert summary["duration_s"] < 120  # far from the whole programme: it stopped when the card filled


@pytest.fixture
def small_card(tmp_path):
    """A real file system of 8 MB (tmpfs; needs root, as on the CI machine)."""
    mnt = tmp_path / "card"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(mnt: Path, leave: int = 0) -> None:
    st = os.statvfs(mnt)
    (mnt / "filler").write_bytes(bytes(max(0, st.f_bavail * st.f_frsize - leave)))
    try:  # the last blocks
        with open(mnt / "filler", "ab") as f:
            while leave == 0:
                f.write(bytes(4096))
                f.flush()
    except OSError as e:
        assert e.errno == errno.ENOSPC


def test_a_real_card_filling_mid_session_then_full_to_the_last_byte(small_card, tmp_path):
    d = small_card / "data"
    run(TrainOptions(data_dir=d, speed=0, view="quiet", seed=1, overrides={"reps": 1, "sets": 1},
                     free_bytes=lambda: 10**12))
    _fill(small_card, leave=(4 << 20) + 600_000)  # the reserve and ~40 s of signal
    summary = run(TrainOptions(data_dir=d, speed=0, view="quiet", seed=2, free_bytes=lambda: 10**12))
    _check_filled_session(d, summary)
    (small_card / "filler").unlink()
    _fill(small_card)  # not one byte left: the readers still read, deleting says why it cannot
    for args in (["sessions"], ["sessions", "show", str(summary["session_id"])],
                 ["export", "--all", "--to", str(tmp_path / "out"), "--formats", "json"],
                 ["sessions", "delete", "1", "--yes"]):
        r = subprocess.run(PFMT + args + ["--data", str(d)], capture_output=True, text=True, cwd=ROOT, input="",
                           timeout=300)
        assert "Traceback" not in r.stderr, (args, r.stderr)
        if args[-1] == "--yes":
            assert r.returncode == 2 and "the card is full" in r.stderr
        else:
            assert r.returncode == 0, (args, r.stderr)
    assert "ended early: the card is full" in subprocess.run(PFMT + ["sessions", "show", str(summary["session_id"]), "--data", str(d)],
                                         capture_output=True, text=True, cwd=ROOT).stdout


# --- finding 7: damage detected, named, contained to its session, never exported as good --------
def _export_digests(d: Path, out: Path) -> tuple[dict[str, str], dict[int, str]]:
    """file → sha256 of an in-process export (stamp fixed), and the sessions it left out."""
    from device.errors import StorageError as SE

    damaged: dict[int, str] = {}
    try:
        with SessionStore(d, create=False) as db:
            chosen = export_mod.select(db, None, None, damaged)
            folder, files = export_mod.export(db, chosen, out, ("edf", "csv", "json"), stamp=dt.datetime(2026, 12, 1),
                                              damaged=damaged)
    except SE:
        return {}, damaged
    import shutil

    shutil.rmtree(folder)
    return {f.path: f.sha256 for f in files if f.path not in ("trend.json", export_mod.DAMAGED_FILE)}, damaged


def test_single_faults_anywhere_in_the_database_are_named_and_contained(sessions, tmp_path):
    """120 single faults — a byte changed, or a whole 4 KiB page overwritten — at random places:
    no reader crashes (a StorageError naming the damage at most), and every session exported
    reads exactly as before the fault; one that does not is left out and named."""
    import shutil
    import sqlite3

    base = tmp_path / "base"
    shutil.copytree(sessions, base)
    sqlite3.connect(base / "pfmt.sqlite3").execute("PRAGMA wal_checkpoint(TRUNCATE)").connection.close()
    pristine, none = _export_digests(base, tmp_path / "p")
    assert pristine and not none
    size = (base / "pfmt.sqlite3").stat().st_size
    rng = random.Random(7)
    contained = 0
    for case in range(120):
        d = tmp_path / f"c{case}"
        shutil.copytree(base, d)
        data = bytearray((d / "pfmt.sqlite3").read_bytes())
        if case % 3 == 2:  # a bad page: zeros or noise
            page = rng.randrange(size // 4096)
            data[page * 4096:(page + 1) * 4096] = bytes(4096) if rng.random() < 0.5 else rng.randbytes(4096)
        else:
            at = rng.randrange(100 if case < 6 else 0, size)  # the header too, now and then
            data[at] ^= 1 << rng.randrange(8) if case % 3 == 0 else rng.randrange(1, 256)
        (d / "pfmt.sqlite3").write_bytes(bytes(data))
        try:
            with SessionStore(d, create=False) as db:
                db.readable()
                db.check()
        except StorageError:
            pass  # named (an unreadable file); the export below must say so too
        got, damaged = _export_digests(d, tmp_path / f"o{case}")
        for name, digest in got.items():
            assert pristine.get(name) == digest, f"case {case}: {name} exported changed, not named as damaged"
        contained += bool(got) and bool(damaged)
        shutil.rmtree(d)
    assert contained >= 1  # some fault hit one session and left the other exported


def test_a_damaged_database_is_refused_for_training_and_repaired(sessions, tmp_path, pfmt_cmd):
    import shutil

    d = tmp_path / "data"
    shutil.copytree(sessions, d)
    with SessionStore(d) as db:
        ids = db.ids()
        blocks = db.db.execute("SELECT count(*) FROM samples WHERE session_id=?", (ids[0],)).fetchone()[0]
        # one sample block of the first session changed on the card (a flash cell gone bad)
        db.db.execute("UPDATE samples SET v = zeroblob(length(v)) WHERE session_id=? AND seq=3", (ids[0],))
    r = subprocess.run(pfmt_cmd + ["sessions", "check", "--data", str(d)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1 and f"session {ids[0]}: its sample block 3" in r.stdout, r.stdout + r.stderr
    out = tmp_path / "out"
    r = subprocess.run(pfmt_cmd + ["export", "--all", "--to", str(out), "--data", str(d), "--formats", "json,csv"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "left out, damaged" in r.stderr, r.stderr
    folder = next(out.iterdir())
    assert f"session {ids[0]}:" in (folder / "DAMAGED.txt").read_text()
    assert not list(folder.glob(f"*_s{ids[0]}*")) and list(folder.glob(f"*_s{ids[1]}*"))
    # SQLite-level damage marks the database: no session is added to it until it is repaired
    from device.records.store import mark_damaged

    mark_damaged(d, "a page of the samples table: database disk image is malformed")
    with pytest.raises(StorageError, match="damaged.*pfmt sessions repair"):
        run(TrainOptions(data_dir=d, speed=0, view="quiet", seed=9))
    r = subprocess.run(pfmt_cmd + ["sessions", "repair", "--data", str(d)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and f"session {ids[0]}: kept without 1 damaged part" in r.stdout, r.stdout + r.stderr
    assert list(d.glob("pfmt.sqlite3.damaged-*"))  # the damaged file kept beside it
    with SessionStore(d) as db:
        assert db.check()["damaged"] == {} and db.ids() == ids
        s = db.session(ids[0])
        assert "sample block 3" in s.info["summary"]["damage"][0]
        assert db.db.execute("SELECT count(*) FROM samples WHERE session_id=?", (ids[0],)).fetchone()[0] == blocks - 1
    run(TrainOptions(data_dir=d, speed=0, view="quiet", seed=9, overrides={"reps": 1, "sets": 1}))


def test_a_deleted_wal_after_a_kill_keeps_the_session_and_says_what_may_be_lost(tmp_path):
    """A -wal deleted after a kill took the interrupted session with it, silently. Its row is in
    the database file from the start now, and the recovery says the tail may be lost."""
    d = tmp_path / "data"
    p = subprocess.Popen(PFMT + ["train", "--data", str(d), "--speed", "4", "--view", "quiet"], cwd=ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.5)
        wal = d / "pfmt.sqlite3-wal"
        if wal.exists() and wal.stat().st_size > 200_000:
            break
    p.send_signal(signal.SIGKILL)
    p.wait()
    (d / "pfmt.sqlite3-wal").unlink()
    (d / "pfmt.sqlite3-shm").unlink(missing_ok=True)
    with SessionStore(d) as db:
        assert db.recovered == [1]
        s = db.session(1)
    assert s.info["status"] == "interrupted" and "write-ahead log" in s.info["summary"]["damage"][0]


# --- kill -9 at random instants of calibrate --------------------------------------------------------
def _partials(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".partial-" in p.name]


@pytest.mark.slow  # ten calibrations, ~100 s
def test_kill_9_at_random_instants_of_calibrate_leaves_nothing_half_written(tmp_path):
    """`pfmt calibrate` killed at 10 random instants: every profile version under its final name
    is complete and verifies; the partials a kill left are hidden, marked and removed by the next
    run; nothing is written outside --data; the physio's next calibration is saved."""
    from calibration.profile import ProfileStore

    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"new_pin": SECRET, "new_pin_again": SECRET, "pin": SECRET, "accept": "y",
                                   "physio": "PT-7", "patient_code": "P-042", "retry": "n", "progression": "n"}))
    d = tmp_path / "data"
    cmd = PFMT + ["calibrate", "--data", str(d), "--answers", str(answers)]
    before_tmp = set(os.listdir("/tmp"))
    t0 = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=600)  # how long one takes here, now
    whole = time.monotonic() - t0
    rng = random.Random(19)
    killed = 0
    for _ in range(10):
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.0) * whole)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            killed += 1
        p.wait()
        store = ProfileStore(d)
        for v in store.versions():
            store.load(v)  # complete and verified (a torn or unsigned one raises)
        for leftover in [q for q in d.rglob(".*") if q.is_file() and q.name != ".session.lock"]:
            assert ".partial-" in leftover.name, leftover  # a kill's temporary, hidden and marked
    assert killed >= 3, "the random instants should catch several calibrations mid-way"
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "Saved profile version" in r.stdout, r.stdout[-2000:] + r.stderr
    assert not _partials(d)  # every leftover removed
    assert not [n for n in set(os.listdir("/tmp")) - before_tmp if "pfmt" in n]

"""Sessions list/show/trend and the export: EDF+ read back by an independent reader (pyedflib),
the contract CSV, dose and trend reports, the PNG, the manifest; over USB — a stick (real tmpfs
mounts standing in for the stick's filesystem: written, read-only, full, failing mid-copy), the
gadget's FAT image listed and copied back with mtools, the configfs swap, the serial console over
a pty."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from test_calibration import _profile

from calibration.profile import ProfileStore
from device.cli.train import TrainOptions, run
from device.errors import InputError, StorageError
from device.recording import Channel, read_csv
from device.records.export import export, parse_formats, select, stem
from device.records.reports import dose, format_list, format_trend, session_line, trend
from device.records.serial_console import ConsoleConfig, SerialConsole
from device.records.store import _STOP, SessionData, SessionStore
from drivers import usb

SECRET = "bekken-2468-fysio"  # the physiotherapist's secret in every test
MONDAY = dt.date(2026, 11, 2)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A calibrated patient (code P-042) with two short sessions a week apart and one cut off by
    a power loss."""
    d = tmp_path_factory.mktemp("data")
    prof_dir = tmp_path_factory.mktemp("profile")
    _profile(prof_dir, **{"contact.reps": "3", "contact.sets": "1", "days_per_week": "7"})
    (d / "profile").mkdir()
    (d / "profile" / "v0001.json").write_bytes(ProfileStore(prof_dir).path(1).read_bytes())
    runs = [run(TrainOptions(data_dir=d, speed=0, view="quiet", patient=t, seed=i, today=day))
            for i, (t, day) in enumerate((("correct", MONDAY), ("bears_down", MONDAY + dt.timedelta(days=8))))]
    # A third session whose process dies: the writer stops without finishing (as on a power cut).
    with SessionStore(d) as db:
        w = db.begin(programme="norwegian_intensive", rate_hz=250.0,
                     channels=(Channel.parse("pelvic_cmH2O"), Channel.parse("abdominal_cmH2O")), config={},
                     calibration=None, prescription=[], patient_code="P-042", profile_version=1, simulated_patient="correct",
                     started=dt.datetime.combine(MONDAY + dt.timedelta(days=9), dt.time(9)))
        w.samples(np.arange(500) / 250.0, np.full((500, 2), 20.0))
        w.q.put(_STOP)
        w._thread.join()
        w.lock.release()
    return d, runs


@pytest.mark.slow  # the module's sessions take ~20 s to record
def test_sessions_stored_listed_and_trended(data, pfmt_cmd):
    d, runs = data
    with SessionStore(d) as db:
        assert db.recovered == [3]  # the cut-off session, marked on the next start
        ss = db.sessions()
        assert [s.info["status"] for s in ss] == ["completed", "completed", "interrupted"]
        assert all(s.info["patient_code"] == "P-042" for s in ss)
        weeks = trend(ss, today=MONDAY + dt.timedelta(days=9))
        assert [w["week"] for w in weeks] == ["2026-W45", "2026-W46"]
        assert weeks[0]["completed"] == 1 and weeks[0]["prescribed_per_week"] == 7
        assert weeks[0]["adherence_pct"] == round(100 / 7) and weeks[1]["interrupted"] == 1
        assert weeks[0]["strength_max_mvc_pct"] > 0 and weeks[0]["endurance_longest_hold_s"] > 0
        dz = dose(ss[0])
        assert dz["exercises"][0]["prescribed"]["reps"] == 3 and dz["exercises"][0]["done"]["reps"] == 3
        assert dose(ss[2])["recovered_after_power_loss"] is True
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    out = subprocess.run(pfmt_cmd + ["sessions", "--data", str(d)], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and "interrupted" in out.stdout and out.stdout.count("P-042") == 3
    out = subprocess.run(pfmt_cmd + ["sessions", "show", "1", "--data", str(d)], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and "dose contact: prescribed 1×3 reps" in out.stdout
    out = subprocess.run(pfmt_cmd + ["sessions", "trend", "--data", str(d)], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and "2026-W46" in out.stdout
    out = subprocess.run(pfmt_cmd + ["sessions", "show", "42", "--data", str(d)], capture_output=True, text=True, env=env)
    assert out.returncode == 2 and "no session 42" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run(pfmt_cmd + ["export", "--all", "--to", str(d / "x"), "--formats", "pdf", "--data", str(d)],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 2 and "allowed: edf, csv, json, png" in out.stderr


def test_trend_counts_reps_done_and_strength_of_correct_squeezes_only():
    """A bear-down pushes the probe harder than the pelvic floor can: it must not become the
    week's strength. A session ended early is judged on the reps done, not the ones never cued."""
    def rep(kind, mvc, done=True, good=False):
        return {"detected": mvc is not None, "kind": kind, "mvc_pct": mvc, "peak": mvc and mvc / 2,
                "hold_s": 5.0 if mvc else None, "done": done, "good": good}

    reps = [rep("lift", 40.0, good=True), rep("bear_down", 95.0), rep("accessory", 80.0), rep("lift", 35.0),
            rep(None, None, done=False), rep(None, None, done=False)]
    s = SessionData(info={"id": 1, "started_at": "2026-11-02T09:00:00", "programme": "p", "patient_code": "P-1",
                          "status": "stopped", "summary": {"reps": reps, "duration_s": 60.0},
                          "t_first": 0.0, "t_last": 60.0}, channels=())
    (w,) = trend([s], today=dt.date(2026, 11, 2))
    assert w["strength_max_mvc_pct"] == 40.0 and w["strength_max_peak"] == 20.0
    assert w["good_pct"] == 25  # 1 good of the 4 done
    ln = session_line(s)
    assert (ln["reps"], ln["reps_prescribed"], ln["good"]) == (4, 6, 1)
    assert "1/4" in format_list([s]) and "None" not in format_list([s])


def test_a_week_without_training_is_in_the_trend():
    """Adherence counts the weeks she did not train: they are rows with 0 done, the prescription
    carried over, up to today."""
    def session(sid, day, status="completed"):
        return SessionData(info={"id": sid, "started_at": f"{day}T09:00:00", "programme": "p", "patient_code": "P-1",
                                 "status": status, "t_first": 0.0, "t_last": 1.0,
                                 "summary": {"reps": [], "adherence": {"week_prescribed": 3}}}, channels=())

    ss = [session(1, "2026-11-02"), session(2, "2026-11-04"), session(3, "2026-11-18")]
    weeks = trend(ss, today=dt.date(2026, 11, 26))
    assert [(w["week"], w["completed"], w["prescribed_per_week"], w["adherence_pct"]) for w in weeks] == [
        ("2026-W45", 2, 3, 67), ("2026-W46", 0, 3, 0), ("2026-W47", 1, 3, 33), ("2026-W48", 0, 3, 0)]
    assert [w["week"] for w in trend(ss, weeks=2, today=dt.date(2026, 11, 26))] == ["2026-W47", "2026-W48"]
    assert [w["week"] for w in trend(ss, fill=False)] == ["2026-W45", "2026-W47"]
    assert trend(ss, weeks=1, today=dt.date(2027, 3, 1), fill=False) == []
    assert "2026-W46     0    3     0%" in format_trend(weeks)


@pytest.fixture(scope="module")
def exported(data, tmp_path_factory):
    d, runs = data
    out = tmp_path_factory.mktemp("export")
    with SessionStore(d) as db:
        folder, files = export(db, select(db, None), out)
    return d, folder, files


@pytest.mark.slow  # the module's sessions take ~20 s to record
def test_edf_read_back_by_pyedflib_matches_the_store(exported):
    pyedflib = pytest.importorskip("pyedflib")
    d, folder, _ = exported
    with SessionStore(d) as db:
        for s in db.sessions():
            t, v = db.samples(s.id)
            contractions = db.events(s.id, ("contraction",))
            r = pyedflib.EdfReader(str(folder / f"{stem(s)}.edf"))
            try:
                assert r.getSignalLabels() == [c.name for c in s.channels]
                assert list(r.getSampleFrequencies()) == [s.info["rate_hz"]] * len(s.channels)
                assert r.getPatientCode() == "P-042" and r.getPatientName() in ("", "X")
                for i in range(len(s.channels)):
                    assert r.getPhysicalDimension(i) == s.channels[i].unit
                    q = (r.getPhysicalMaximum(i) - r.getPhysicalMinimum(i)) / \
                        (r.getDigitalMaximum(i) - r.getDigitalMinimum(i))
                    x = r.readSignal(i)
                    assert len(x) >= len(t) and len(x) - len(t) < s.info["rate_hz"]  # last record padded
                    assert np.max(np.abs(x[:len(t)] - v[:, i])) <= q / 2 + 1e-9
                onsets, durations, texts = r.readAnnotations()
            finally:
                r.close()
            anns = [(o, du, tx) for o, du, tx in zip(onsets, durations, texts)
                    if tx.split()[0] in ("lift", "accessory", "bear_down", "contraction")]
            assert len(anns) == len(contractions)
            for (o, du, tx), c in zip(anns, contractions):
                assert o == pytest.approx(c["onset_s"] - t[0], abs=1e-3)
                assert du == pytest.approx(c["offset_s"] - c["onset_s"], abs=1e-3)
                assert tx.startswith(c["kind"] or "contraction") and f"hold={c['hold_s']:.2f}s" in tx
            if s.info["status"] == "interrupted":
                assert any("interrupted" in tx for tx in texts)
            if s.info["simulated_patient"] == "bears_down":
                assert sum(c["kind"] == "bear_down" for c in contractions) >= 2
                assert any(tx == "warning bear_down" for tx in texts)


@pytest.mark.slow  # the module's sessions take ~20 s to record
def test_csv_json_png_and_manifest(exported, pfmt_cmd):
    d, folder, files = exported
    with SessionStore(d) as db:
        s = db.session(1)
        t, v = db.samples(1)
    rec = read_csv(folder / f"{stem(s)}.csv")
    assert rec.channels == s.channels and np.allclose(rec.time_s, t, atol=1e-6) and np.allclose(rec.data, v, atol=1e-6)
    events = (folder / f"{stem(s)}_events.csv").read_text().splitlines()
    assert events[0].startswith("type,time_s,known_at_s,onset_s,offset_s,hold_s,peak,mvc_pct,flicks,kind,relaxed")
    assert sum(line.startswith("contraction,") for line in events) >= 3
    # The exported recording and calibration satisfy the analysis contract.
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    out = subprocess.run(pfmt_cmd + ["analyze", str(folder / f"{stem(s)}.csv"), "--calibration",
                                     str(folder / f"{stem(s)}_calibration.json"), "--json"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0 and len(json.loads(out.stdout)["contractions"]) >= 3
    dz = json.loads((folder / f"{stem(s)}_dose.json").read_text())
    assert dz["patient_code"] == "P-042" and dz["exercises"][0]["done"]["reps"] == 3 and dz["frequency"]
    tr = json.loads((folder / "trend.json").read_text())
    assert tr["patients"] == ["P-042"] and len(tr["doses"]) == 3 and tr["weeks"]
    png = (folder / f"{stem(s)}.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert folder.name.startswith("pfmt-export-P-042-")
    assert all(f.path.startswith("P-042_") or f.path in ("trend.json", "report-P-042.html") for f in files)
    r = subprocess.run(["sha256sum", "-c", "--quiet", "MANIFEST.sha256"], cwd=folder, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.slow  # the module's sessions take ~20 s to record
def test_export_refuses_clearly(data, tmp_path):
    d, _ = data
    with SessionStore(d) as db:
        with pytest.raises(StorageError, match="no session 9"):
            select(db, [9])
        with pytest.raises(InputError, match="no stored session matches"):
            select(db, None, dt.date(2030, 1, 1))
        folder, _ = export(db, select(db, [1]), tmp_path, ("json",), stamp=dt.datetime(2026, 1, 1))
        again, _ = export(db, select(db, [1]), tmp_path, ("json",), stamp=dt.datetime(2026, 1, 1))
        assert again.name == folder.name + "-2" and folder.is_dir()  # never overwritten, never refused
    with pytest.raises(InputError, match="allowed: edf, csv, json, png"):
        parse_formats("edf,xls")


# --- the gadget's FAT image ---------------------------------------------------------------------
@pytest.mark.slow  # the module's sessions take ~20 s to record
def test_fat_image_listed_and_copied_back_with_mtools(exported, tmp_path):
    _, folder, files = exported
    image = tmp_path / "gadget.img"
    usb.build_fat_image(folder, image)
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    listing = subprocess.run(["mdir", "-i", str(image), "-/", "-b", "::/"], capture_output=True, text=True, env=env)
    assert listing.returncode == 0
    names = {line.strip().rsplit("/", 1)[-1] for line in listing.stdout.splitlines()}
    assert {f.path for f in files} | {"MANIFEST.sha256"} <= names
    back = tmp_path / "back"
    back.mkdir()
    r = subprocess.run(["mcopy", "-i", str(image), "-s", f"::/{folder.name}", str(back)], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0, r.stderr
    for f in files:
        assert hashlib.sha256((back / folder.name / f.path).read_bytes()).hexdigest() == f.sha256
    # Rebuilt per export: a second export replaces the image whole.
    before = image.stat().st_ino
    usb.build_fat_image(folder, image)
    assert image.stat().st_ino != before and oct(image.stat().st_mode & 0o777) == "0o600"


def test_gadget_swap_in_configfs(tmp_path):
    lun = tmp_path / "lun.0"
    lun.mkdir()
    (lun / "file").write_text("/old.img\n")
    (lun / "forced_eject").write_text("")
    img = tmp_path / "new.img"
    img.write_bytes(b"x")
    usb.swap_gadget_image(lun, img)
    assert (lun / "file").read_text() == f"{img}\n" and (lun / "forced_eject").read_text() == "1\n"
    with pytest.raises(usb.HardwareError, match="usb-gadget.sh"):
        usb.swap_gadget_image(tmp_path / "nowhere", img)


def test_gadget_setup_script_is_valid_shell():
    script = Path(__file__).resolve().parents[1] / "scripts" / "usb-gadget.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    text = script.read_text()
    for needed in ("mass_storage.usb0", "lun.0/ro", "acm.usb0", "UDC", "removable"):
        assert needed in text


# --- the USB stick ------------------------------------------------------------------------------
class TmpfsMounter:
    """A real filesystem mounted where the stick would be (tmpfs: CI has no vfat module), with
    the stick's size and write protection."""

    def __init__(self, size: str = "64m", readonly: bool = False, inodes: int | None = None) -> None:
        self.size, self.readonly, self.inodes = size, readonly, inodes
        self.mounts = 0

    def mount(self, stick, target, readonly):
        opts = f"size={self.size},mode=0700" + (f",nr_inodes={self.inodes}" if self.inodes else "")
        if readonly or self.readonly:
            opts += ",ro"
        subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(target)], check=True)
        self.mounts += 1

    def reopen_readonly(self, stick, target):
        subprocess.run(["mount", "-o", "remount,ro", str(target)], check=True)

    def unmount(self, target):
        subprocess.run(["umount", str(target)], check=True)


def _can_mount(tmp_path) -> bool:
    d = tmp_path / "probe"
    d.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(d)], capture_output=True).returncode:
        return False
    subprocess.run(["umount", str(d)])
    return True


@pytest.fixture
def mount_root(tmp_path):
    if os.geteuid() != 0 or not _can_mount(tmp_path):
        pytest.skip("mounting needs root (the device's export service has it)")
    return tmp_path / "media"


STICK = usb.Stick("/dev/sda1", "sda1", 64 << 20, "Test stick")


@pytest.mark.slow  # the module's sessions take ~20 s to record
def test_stick_written_and_verified(exported, mount_root):
    _, folder, files = exported
    seen = {}

    class Peek(TmpfsMounter):
        def reopen_readonly(self, stick, target):
            super().reopen_readonly(stick, target)
            on = target / folder.name
            seen.update({p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in on.iterdir()})
            seen["ro"] = bool(os.statvfs(target).f_flag & os.ST_RDONLY)

    m = Peek()
    usb.write_to_stick(folder, STICK, m, mount_root)
    assert seen.pop("ro") is True
    assert seen == {**{f.path: f.sha256 for f in files}, "MANIFEST.sha256": seen["MANIFEST.sha256"]}
    assert not os.path.ismount(mount_root / "pfmt-sda1")  # unmounted afterwards


@pytest.mark.slow
@pytest.mark.parametrize("mounter, message", [
    (TmpfsMounter(readonly=True), "read-only .*nothing was written"),
    (TmpfsMounter(size="64k"), "is full: .* nothing was written and nothing deleted"),
    (TmpfsMounter(inodes=4), "is full while copying .*partial copy was removed"),
])
def test_stick_refusals_delete_nothing(exported, mount_root, mounter, message):
    d, folder, files = exported
    before = sorted(p.name for p in folder.iterdir())
    with SessionStore(d) as db:
        n = len(db.ids())
    with pytest.raises(StorageError, match=message):
        usb.write_to_stick(folder, STICK, mounter, mount_root)
    assert sorted(p.name for p in folder.iterdir()) == before
    with SessionStore(d) as db:
        assert len(db.ids()) == n and db.integrity() == "ok"
    assert not os.path.ismount(mount_root / "pfmt-sda1")


def test_sticks_found_in_sysfs(tmp_path):
    sys_root = tmp_path / "sys"
    usbdev = sys_root / "devices" / "platform" / "usb1" / "1-1" / "host0" / "sda"
    (usbdev).mkdir(parents=True)
    (usbdev / "model").write_text("Cruzer\n")
    sda = sys_root / "block" / "sda"
    (sda / "sda1").mkdir(parents=True)
    (sda / "removable").write_text("1\n")
    (sda / "size").write_text("1000\n")
    (sda / "sda1" / "size").write_text("900\n")
    (sda / "device").symlink_to(usbdev)
    sdb = sys_root / "block" / "sdb"  # a fixed disk: not a stick
    sdb.mkdir()
    (sdb / "removable").write_text("0\n")
    (sdb / "size").write_text("1000\n")
    (sys_root / "block" / "mmcblk0").mkdir()
    assert usb.find_sticks(sys_root) == [usb.Stick("/dev/sda1", "sda1", 900 * 512, "Cruzer")]
    assert usb.find_sticks(tmp_path / "none") == []


# --- the CDC serial console over a pty ----------------------------------------------------------
@pytest.mark.slow  # the module's sessions take ~20 s to record
def test_serial_console_over_a_pty(data, tmp_path):
    d, _ = data
    master, slave = os.openpty()
    import tty

    tty.setraw(slave)
    published = []

    def publish(folder):
        image = tmp_path / "gadget.img"
        usb.build_fat_image(folder, image)
        published.append(image)
        return str(image)

    console = SerialConsole(ConsoleConfig(d, tmp_path / "exports", publish, unlock=lambda s: s == SECRET,
                                          patient_code=lambda: "P-042"))
    server = threading.Thread(target=console.serve, args=(slave, slave), daemon=True)
    server.start()
    buf = b""

    def ask(line: str, until: bytes = b"\r\n") -> str:
        nonlocal buf
        os.write(master, line.encode() + b"\n")
        while until not in buf:
            buf += os.read(master, 65536)
        out, buf = buf.split(until, 1)
        return out.decode()

    assert json.loads(ask("HELLO")[3:])["locked"] is True
    assert ask("LIST").startswith("ERR locked: UNLOCK")
    assert ask("UNLOCK not-the-secret").startswith("ERR wrong secret")
    assert json.loads(ask(f"UNLOCK {SECRET}")[3:]) == {"patient_code": "P-042", "sessions": 3}
    assert len(json.loads(ask("list")[3:])) == 3
    assert json.loads(ask("SHOW 1")[3:])["patient_code"] == "P-042"
    assert ask("SHOW x").startswith("ERR SHOW needs one session id")
    assert ask("SHOW 77").startswith("ERR no session 77 of the current patient")
    assert ask("FORMAT C:").startswith("ERR unknown request 'FORMAT'; allowed: HELLO")
    assert ask("GET trend.json").startswith("ERR nothing exported yet")
    assert "2026-W45" in ask("TREND")
    ex = json.loads(ask("EXPORT 1,2 json,edf")[3:])
    assert ex["image"] == str(published[0]) and "trend.json" in ex["files"]
    assert ask("GET ../../etc/passwd").startswith("ERR")
    name = next(f for f in ex["files"] if f.endswith(".edf"))
    got = ask(f"GET {name}", until=b"END\r\n").split("\r\n")
    size, digest = got[0].split()[1:]
    body = base64.b64decode("".join(got[1:-1]))
    assert len(body) == int(size) and hashlib.sha256(body).hexdigest() == digest
    assert hashlib.sha256((console.last_export / name).read_bytes()).hexdigest() == digest
    assert ask("QUIT") == "OK bye"
    server.join(timeout=5)
    assert not server.is_alive()
    os.close(master)
    os.close(slave)


def test_the_plot_marks_each_rep_good_or_to_redo_against_its_target():
    """The exported plot once drew ten failed reps as ten green "lift" bands: now each judged rep
    has its target level over its hold, green when good and red (with the reason) when not."""
    import numpy as np
    from matplotlib.figure import Figure

    from device.records.export import _mark_reps
    t = np.arange(0, 30, 0.01)
    x = np.full_like(t, 20.0)
    reps = [{"judged_at_s": 9, "onset_s": 5.0, "hold_s": 3.0, "good": True, "target_mvc_pct": 30, "reasons": []},
            {"judged_at_s": 19, "onset_s": 15.0, "hold_s": 2.0, "good": False, "target_mvc_pct": 30,
             "reasons": ["too_weak", "too_short"]}]
    ax = Figure().subplots()
    _mark_reps(ax, reps, {"rest": 0.0, "mvc": 40.0}, t, x, "pressure")
    lines = ax.collections
    assert len(lines) == 2
    assert [tuple(np.round(c.get_colors()[0][:3], 2)) for c in lines] == [(0.17, 0.63, 0.17), (0.84, 0.15, 0.16)]
    assert all(np.allclose(c.get_segments()[0][:, 1], 20.0 + 12.0) for c in lines)  # rest + 30 % of 40
    assert [a.get_text() for a in ax.texts] == ["too weak"]


def test_the_export_reads_a_session_block_by_block_and_names_every_gap(tmp_path, monkeypatch):
    """An hour at 860 SPS × 2 is 75 MB of float64 times and values: the export never holds them
    whole (``SessionStore.samples`` is not called; peak RSS for an hour fell from 196 MB to
    57–121 MB by format, measured). Its files are what they were: the gaps between stored blocks
    and inside one are annotated, the CSV has every sample and the EDF every value."""
    edfio = pytest.importorskip("edfio")
    fs = 250.0
    with SessionStore(tmp_path / "d") as db:
        w = db.begin(programme="norwegian_intensive", rate_hz=fs,
                     channels=(Channel.parse("pelvic_cmH2O"), Channel.parse("abdominal_cmH2O")), config={},
                     calibration=None, prescription=[], patient_code="P-042", profile_version=None,
                     simulated_patient="correct", started=dt.datetime.combine(MONDAY, dt.time(9)))
        t = np.arange(3000) / fs
        t = np.concatenate([t[:1000], t[1100:2000], t[2000:] + 1.0])  # 100 samples lost inside a block, 250 between two
        v = np.column_stack([20 + np.sin(t), 10 + np.cos(t)])
        w.samples(t[:1500], v[:1500])
        w.samples(t[1500:1900], v[1500:1900])
        w.samples(t[1900:], v[1900:])
        w.finish({"reps": [], "duration_s": float(t[-1])}, "completed")
    monkeypatch.setattr(SessionStore, "samples", lambda *a, **k: pytest.fail("the whole session was read at once"))
    with SessionStore(tmp_path / "d", create=False) as db:
        folder, _ = export(db, db.sessions(), tmp_path / "out", formats=("edf", "csv", "png"))
        s = db.sessions()[0]
    rec = read_csv(folder / f"{stem(s)}.csv")
    assert np.allclose(rec.time_s, t, atol=1e-6) and np.allclose(rec.data, v, atol=1e-6)
    edf = edfio.read_edf(folder / f"{stem(s)}.edf")
    gaps = sorted((round(a.onset, 3), round(a.duration, 3), a.text) for a in edf.annotations if a.text.startswith("gap"))
    assert gaps == [(3.996, 0.404, "gap 100 samples"), (7.996, 1.004, "gap 250 samples")], gaps
    x = edf.signals[0].data
    assert len(x) >= len(t) and np.max(np.abs(x[:len(t)] - v[:, 0])) < 1e-3

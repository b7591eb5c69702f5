"""The appliance (``pfmt device``): the loop she operates with one button, on the emulated device
through a week of days (reminders, presses, a probe unplugged mid-session, a full card, a power
cut mid-session), and the service's pieces (the watchdog over sd_notify, SIGTERM, safe off)."""
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from device.appliance.compose import TrainOptions
from device.appliance.emulation import Script, ScriptEvent, parse_script
from device.appliance.loop import (
    LONG_PRESS_S,
    MENU_ITEMS,
    DeviceLoop,
    FingerWaiter,
    World,
    reminder_slots,
)
from device.appliance.service import Notifier, Terminated
from device.config import default_config
from device.errors import InputError
from device.records.store import SessionStore
from drivers.clock import VirtualClock
from drivers.feedback import Feedback
from drivers.pins import pin_factory
from drivers.rig import Finger

ROOT = Path(__file__).resolve().parents[1]
PFMT = [sys.executable, "-m", "device.cli"]
ANSWERS = {"new_pin": "bekken-2468-fysio", "new_pin_again": "bekken-2468-fysio", "accept": "y", "physio": "PT-7", "patient_code": "P-042",
           "retry": "n", "programme": "norwegian_intensive", "contact.reps": "3", "contact.sets": "1",
           "intensive.reps": "2", "intensive.sets": "1", "progression": "n"}


@pytest.fixture(scope="module")
def prescribed(tmp_path_factory) -> Path:
    """A data directory with the physiotherapist's calibration and a short prescription (one
    session a day: contact, 3 reps × 1 set), made by `pfmt calibrate` on the emulated device."""
    d = tmp_path_factory.mktemp("rx")
    answers = d / "answers.json"
    answers.write_text(json.dumps(ANSWERS))
    r = subprocess.run(PFMT + ["calibrate", "--data", str(d / "data"), "--answers", str(answers)],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    return d / "data"


def fresh(prescribed: Path, tmp_path: Path) -> Path:
    """The prescription alone (no sessions, no progress) in a directory of its own."""
    import shutil

    d = tmp_path / "data"
    shutil.copytree(prescribed / "profile", d / "profile")
    os.chmod(d, 0o700)
    return d


def world(data: Path, script: Script, **kw) -> tuple[World, Feedback, VirtualClock]:
    clock = VirtualClock()
    cfg = default_config("pressure")
    fb = Feedback(cfg.pins, clock, pin_factory=pin_factory("mock"))
    finger = Finger(fb, script.presses())
    n = [0]

    def options() -> TrainOptions:
        n[0] += 1
        return TrainOptions(data_dir=data, patient=script.patient_at(clock.now()), view="quiet", speed=0,
                            seed=n[0], unplugged=script.spans("unplug"))

    w = World(data, fb, clock, lambda: script.start + dt.timedelta(seconds=clock.now()),
              FingerWaiter(finger, clock), options, finger=finger, **kw)
    return w, fb, clock


def play(data: Path, script: Script, **kw) -> tuple[list, Feedback]:
    """The emulated device through ``script``'s days: what it did, and its feedback to look at."""
    w, fb, _ = world(data, script, **kw)
    return DeviceLoop(w).run(until=script.t(script.until)), fb


def day_script(start: str, events: list[tuple[str, str, float]], hours: float = 3) -> Script:
    s = dt.datetime.fromisoformat(start)
    return Script(s, s + dt.timedelta(hours=hours), "correct", 1,
                  [ScriptEvent(dt.datetime.fromisoformat(a), do, f) for a, do, f in events])


# --- the week, as the README and the issue describe it --------------------------------------
@pytest.mark.slow
def test_a_week_on_the_emulated_device(prescribed, tmp_path):
    """examples/week.toml through `pfmt device --emulate`, killed -9 mid-session on Friday and
    booted again: every day's outcome is what a one-a-day prescription says."""
    data = fresh(prescribed, tmp_path)
    week = str(ROOT / "examples" / "week.toml")
    first = subprocess.run(PFMT + ["device", "--emulate", "--data", str(data), "--script", week, "--json"],
                           capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert first.returncode == -signal.SIGKILL, first.stderr  # the scripted power cut, a real kill -9
    second = subprocess.run(PFMT + ["device", "--emulate", "--data", str(data), "--script", week, "--json",
                                    "--start", "2026-12-11T18:05:00"],
                            capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert second.returncode == 0, second.stderr
    out = [json.loads(line) for line in (first.stdout + second.stdout).splitlines()]
    days: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for o in out:
        days[o["at"][:10]][o["event"]].append(o)
    with SessionStore(data, create=False) as store:
        rows = [s.info for s in store.sessions()]
    sessions: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        s = r["summary"]
        sessions[r["started_at"][:10]].append(r["status"] + (f"/{s['stopped_by']}" if s.get("stopped_by") else ""))
    reminders = {d: len(v["reminder"]) for d, v in days.items()}
    # Monday: reminded at 18:00, trained at 18:02
    assert days["2026-12-07"]["reminder"][0]["at"].startswith("2026-12-07T18:00")
    assert sessions["2026-12-07"] == ["completed"]
    # Tuesday: trained in the morning, before any reminder
    assert sessions["2026-12-08"] == ["completed"] and reminders.get("2026-12-08", 0) == 0
    # Wednesday: probe pulled out mid-session → ended by the sensor; plugged back, trained again
    assert sessions["2026-12-09"] == ["stopped/sensor", "completed"]
    # Thursday: the card full — both presses refused with the card-full pattern; three reminders
    refused = days["2026-12-10"]["cannot_train"]
    assert [o["pattern"] for o in refused] == ["cannot_train_card_full"] * 2
    assert "2026-12-10" not in sessions and reminders["2026-12-10"] == 3
    # Friday: killed 30 s into the session (stored as interrupted), booted, reminded, trained
    assert sessions["2026-12-11"] == ["interrupted", "completed"]
    assert days["2026-12-11"]["ready"] and len(days["2026-12-11"]["ready"]) == 1  # the second boot
    # Saturday: no training, three reminders, "dry today" through the menu
    assert "2026-12-12" not in sessions and reminders["2026-12-12"] == 3
    assert [o["leaks"] for o in days["2026-12-12"]["diary"]] == [0]
    # Sunday: trained; a second press says nothing is due; the menu shows the week on the bar
    assert sessions["2026-12-13"] == ["completed"]
    assert days["2026-12-13"]["nothing_due"] and days["2026-12-13"]["progress"][0]["week_done"] == 5
    # never a reminder at night or once the day's session is done
    for o in out:
        if o["event"] == "reminder":
            assert "08:00" <= o["at"][11:16] < "21:30" and o["today_done"] == 0
    progress = json.loads((data / "progress.json").read_text())
    assert [s["date"] for s in progress["sessions"] if s["completed"]] == \
        ["2026-12-07", "2026-12-08", "2026-12-09", "2026-12-11", "2026-12-13"]
    assert progress["symptoms"][0]["leaks"] == 0 and progress["symptoms"][0]["date"] == "2026-12-12"


# --- the loop in process ---------------------------------------------------------------------
def test_no_prescription_is_refused_with_its_pattern(tmp_path):
    s = day_script("2026-12-07T09:00:00", [("2026-12-07T09:01:00", "press", 0.3)], hours=1)
    out, fb = play(tmp_path / "empty", s)
    refused = [o for o in out if o.event == "cannot_train"]
    assert [o.detail["pattern"] for o in refused] == ["cannot_train_calibration"]
    assert "physiotherapist" in refused[0].detail["why"]
    assert ("cannot_train_calibration" in [n for _, n in fb.player.started])
    assert not (tmp_path / "empty" / "pfmt.sqlite3").exists() or \
        SessionStore(tmp_path / "empty").ids() == []  # nothing stored for a refused press
    assert not any(o.event == "reminder" for o in out)  # nothing prescribed: nothing to remind of


def test_unplugged_probe_is_refused_before_anything_is_stored(prescribed, tmp_path):
    data = fresh(prescribed, tmp_path)
    s = day_script("2026-12-07T09:00:00", [("2026-12-07T09:00:30", "unplug", 600),
                                           ("2026-12-07T09:01:00", "press", 0.3),
                                           ("2026-12-07T09:20:00", "press", 0.3)], hours=1)
    out, fb = play(data, s)
    events = [(o.event, o.detail.get("pattern"), o.detail.get("status")) for o in out if o.event != "ready"]
    assert events == [("cannot_train", "cannot_train_sensor", None), ("session_start", None, None),
                      ("session", None, "completed")]
    with SessionStore(data) as store:
        assert len(store.ids()) == 1  # the refused press stored nothing


def test_a_press_on_a_damaged_database_repairs_it_and_trains(prescribed, tmp_path):
    """Issue 19, finding 7: a database marked damaged takes no new session; the device keeps its
    intact sessions in a new one (the damaged file kept) and the press trains."""
    from device.records.store import DAMAGED_NAME, mark_damaged

    data = fresh(prescribed, tmp_path)
    first = day_script("2026-12-07T09:00:00", [("2026-12-07T09:01:00", "press", 0.3)], hours=1)
    play(data, first)
    mark_damaged(data, "database disk image is malformed")
    again = day_script("2026-12-08T09:00:00", [("2026-12-08T09:01:00", "press", 0.3)], hours=1)
    out, _ = play(data, again)
    assert [o.event for o in out if o.event in ("repaired", "session")] == ["repaired", "session"]
    assert not (data / DAMAGED_NAME).exists() and list(data.glob("pfmt.sqlite3.damaged-*"))
    with SessionStore(data) as store:
        assert [s.info["status"] for s in store.sessions()] == ["completed", "completed"]


def test_menu_steps_with_short_presses_and_acts_on_a_hold(prescribed, tmp_path):
    data = fresh(prescribed, tmp_path)
    t0 = "2026-12-07T10:00:"
    # hold: menu (item 1 progress) → press → 2 leak → hold: a leak in the diary
    # hold: menu → press ×3 → 4 quiet → hold: no reminders today (18:00 passes in silence)
    s = day_script("2026-12-07T10:00:00", [(t0 + "05", "hold", 2.5), (t0 + "10", "press", 0.3), (t0 + "12", "hold", 2.5),
                                           (t0 + "30", "hold", 2.5), (t0 + "34", "press", 0.3), (t0 + "36", "press", 0.3),
                                           (t0 + "38", "press", 0.3), (t0 + "40", "hold", 2.5)], hours=10)
    out, fb = play(data, s)
    names = [o.event for o in out]
    assert names == ["ready", "menu", "diary", "menu", "quiet_today"]
    assert out[2].detail["leaks"] == 1 and out[2].detail["by"] == "patient"
    offered = [n for _, n in fb.player.started if n.startswith("menu_")]
    assert offered == ["menu_progress", "menu_leak", "menu_progress", "menu_leak", "menu_dry", "menu_quiet"]
    assert MENU_ITEMS[:4] == ("progress", "leak", "dry", "quiet")
    assert json.loads((data / "progress.json").read_text())["symptoms"][0]["leaks"] == 1


def test_menu_closes_by_itself(prescribed, tmp_path):
    data = fresh(prescribed, tmp_path)
    s = day_script("2026-12-07T10:00:00", [("2026-12-07T10:00:05", "hold", 3.0)], hours=1)
    out, fb = play(data, s)
    assert [o.event for o in out] == ["ready", "menu", "menu_closed"]
    opened, closed = (dt.datetime.fromisoformat(out[k].at) for k in (1, 2))
    assert 11 <= (closed - opened).total_seconds() <= 13.5
    assert fb.lit == 0  # the bar is dark again


def test_reminders_follow_the_slots_and_stop_once_trained():
    assert [t.strftime("%H:%M") for t in reminder_slots(3)] == ["09:00", "13:30", "19:00"]
    six = reminder_slots(6)
    assert len(six) == 6 and six[0] == dt.time(9, 0) and six[-1] == dt.time(20, 0)


def test_reminder_then_a_press_then_quiet(prescribed, tmp_path):
    data = fresh(prescribed, tmp_path)
    s = day_script("2026-12-07T17:50:00", [("2026-12-07T18:40:00", "press", 0.3)], hours=4)
    out, fb = play(data, s)
    rem = [o.at[11:16] for o in out if o.event == "reminder"]
    assert rem == ["18:00", "18:30"]  # the third would have been 19:00: she trained at 18:40
    assert [n for _, n in fb.player.started].count("reminder") == 2


def test_nothing_due_then_a_second_press_trains_an_extra_session(prescribed, tmp_path):
    data = fresh(prescribed, tmp_path)
    s = day_script("2026-12-07T09:00:00", [("2026-12-07T09:01:00", "press", 0.3),
                                           ("2026-12-07T09:10:00", "press", 0.3),
                                           ("2026-12-07T09:10:03", "press", 0.3)], hours=1)
    out, fb = play(data, s)
    assert [o.event for o in out][1:] == ["session_start", "session", "nothing_due", "session_start", "session"]
    assert out[4].detail["extra"] is True
    with SessionStore(data) as store:
        first = store.session(store.ids()[0])
    assert first.info["summary"]["clock"] == {"source": "emulated", "trusted": True, "rtc": None}
    assert first.info["started_at"] == "2026-12-07T09:01:00"  # the device's wall clock, not this machine's
    from device.records.reports import dose

    assert dose(first)["clock"]["source"] == "emulated"
    progress = json.loads((data / "progress.json").read_text())
    assert len(progress["sessions"]) == 2
    from device.training.programme import load_programme
    from device.training.progress import Progress

    p = Progress(data / "progress.json", progress)
    assert p.adherence(load_programme("norwegian_intensive"), dt.date(2026, 12, 7))["today_done"] == 2
    assert p.adherence(load_programme("norwegian_intensive"), dt.date(2026, 12, 7))["week_done"] == 1  # capped a day


def test_sigterm_mid_session_stores_it_and_leaves_everything_off(prescribed, tmp_path):
    """What systemd's stop does: the session is stored as stopped, the LEDs and buzzer are off."""
    data = fresh(prescribed, tmp_path)
    s = day_script("2026-12-07T09:00:00", [("2026-12-07T09:01:00", "press", 0.3)], hours=1)
    blocks = [0]

    def heartbeat() -> None:
        blocks[0] += 1
        if clock.now() > s.t(dt.datetime(2026, 12, 7, 9, 1, 12)):
            raise Terminated(128 + signal.SIGTERM)

    w, fb, clock = world(data, s, heartbeat=heartbeat)
    pins = [led.pin for led in fb.status._leds] + [fb.buzzer.pwm_device.pin] + [led.pin for led in fb.bar]
    with pytest.raises(Terminated):
        DeviceLoop(w).run(until=s.t(s.until))
    assert any(p.state for p in pins)  # cut off mid-session: the light was on
    fb.close()  # what `pfmt device` does on the way out
    assert not any(p.state for p in pins)
    with SessionStore(data) as store:
        (only,) = store.sessions()
    assert only.info["status"] == "stopped"
    assert only.info["summary"]["clock"]["source"] == "emulated"  # dated, even cut off


def test_watchdog_is_fed_over_the_notify_socket(tmp_path):
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000000"})
    assert n.interval == 10.0
    n.ready("waiting")
    assert sock.recv(100) == b"READY=1\nSTATUS=waiting"
    n.watchdog()
    n.watchdog()  # rate-limited: one datagram per half interval
    assert sock.recv(100) == b"WATCHDOG=1"
    sock.settimeout(0.2)
    with pytest.raises(socket.timeout):
        sock.recv(100)
    assert Notifier({}).send("READY=1") is False  # outside systemd: nothing, no error
    other = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"})
    assert other.interval is None  # the watchdog is another process's


def test_long_press_threshold_matches_the_session():
    from device.training.session import BUTTON_STOP_S

    assert LONG_PRESS_S == BUTTON_STOP_S  # one gesture means "the other thing" everywhere


@pytest.mark.parametrize("bad, says", [
    ({"start": "2026-12-07T07:00:00"}, "until"),
    ({"start": "2026-12-07T07:00:00", "until": "2026-12-06T07:00:00"}, "after start"),
    ({"start": "2026-12-07T07:00:00", "until": "2026-12-08T07:00:00", "event": [{"at": "2026-12-07T08:00:00", "do": "jump"}]},
     "allowed: press, hold"),
    ({"start": "2026-12-07T07:00:00", "until": "2026-12-08T07:00:00", "event": [{"at": "2026-12-09T08:00:00", "do": "press"}]},
     "outside"),
    ({"start": "2026-12-07T07:00:00", "until": "2026-12-08T07:00:00", "patient": "lazy"}, "allowed: correct"),
    ({"start": "2026-12-07T07:00:00", "until": "2026-12-08T07:00:00", "colour": 1}, "unknown key"),
])
def test_bad_scripts_say_what_is_wrong(bad, says):
    with pytest.raises(InputError, match=says):
        parse_script(bad)


def test_device_command_errors_are_one_line(tmp_path):
    bad = tmp_path / "s.toml"
    bad.write_text('start = 2026-12-07T07:00:00\nuntil = 2026-12-08T07:00:00\n[[event]]\nat = 2026-12-07T08:00:00\ndo = "fly"\n')
    r = subprocess.run(PFMT + ["device", "--emulate", "--script", str(bad), "--data", str(tmp_path / "d")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "allowed: press" in r.stderr
    r = subprocess.run(PFMT + ["device", "--emulate", "--start", "2026-12-07T08:00:00", "--data", str(tmp_path / "d")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and "--script" in r.stderr
    for hostile in ("/dev/zero", str(bad.with_suffix(".bin"))):
        if hostile.endswith(".bin"):
            Path(hostile).write_bytes(b"\xff\xfe" + b"[" * 3000)
        r = subprocess.run(PFMT + ["device", "--emulate", "--script", hostile, "--data", str(tmp_path / "d")],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert r.returncode == 2 and "Traceback" not in r.stderr and ("not a regular file" in r.stderr or "UTF-8" in r.stderr)
    r = subprocess.run(PFMT + ["device", "--emulate", "--off"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0 and "Traceback" not in r.stderr


def test_the_device_waiter_wakes_at_a_press():
    """On the Pi the loop sleeps on the button's edge: a press wakes it long before its deadline
    (mock pins in real time; the assertion leaves a 30 s deadline, so no load can fail it)."""
    import threading
    import time

    from device.appliance.loop import ButtonWaiter
    from drivers.clock import RealClock

    clock = RealClock()
    fb = Feedback(default_config("pressure").pins, clock, pin_factory=pin_factory("mock"))
    try:
        waiter = ButtonWaiter(fb, clock)
        threading.Timer(0.1, fb.button.pin.drive_low).start()
        t0 = time.monotonic()
        waiter.wait(clock.now() + 30.0)
        assert time.monotonic() - t0 < 29.0
        assert [p for _, p in fb.button_changes] == [True]
        fb.button.pin.drive_high()
        fb.button_event.clear()
        t0 = time.monotonic()
        waiter.wait(clock.now() + 0.05)  # nothing pressed: back at the deadline
        assert time.monotonic() - t0 >= 0.04
    finally:
        fb.close()

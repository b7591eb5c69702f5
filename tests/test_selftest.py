"""``pfmt selftest`` on the emulated device, the clock's state and setting it over the console (with
an injected clock setter: the tests never touch this machine's clock), ``pfmt --version``, and the
pin factory chosen explicitly."""
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from device.config import default_config, parse_config
from device.errors import ConfigError, HardwareError
from device.records.serial_console import ConsoleConfig, SerialConsole
from drivers import rig as rigs
from drivers import rtc
from drivers.clock import VirtualClock
from drivers.pins import pin_factory
from drivers.selftest import SelfTest

ROOT = Path(__file__).resolve().parents[1]
PFMT = [sys.executable, "-m", "device.cli"]


def _selftest(scan=None, unplugged=False, presses=((1.5, 1.8),)):
    cfg = default_config("pressure")
    clock = VirtualClock()
    rest = {c.role: (np.array([0.0, 3600.0]), np.full(2, 5.0)) for c in cfg.channels}
    rig = rigs.emulated(cfg, clock, rest, threaded=False, button_presses=list(presses),
                        unplugged={"pelvic": [(0.0, 3600.0)]} if unplugged else None)
    if scan is not None:
        rig.sampler.bus.scan = lambda: scan

    def wait(dt_: float) -> None:
        clock.sleep_until(clock.now() + dt_)
        rig.finger.apply(clock.now())

    checks = list(SelfTest(cfg, rig.sampler.bus, rig.sampler, rig.feedback, clock, confirm=False, wait=wait).run())
    rig.close()
    return {c.part: c for c in checks}


def test_every_part_passes_on_the_emulated_device():
    checks = _selftest()
    parts = list(checks)
    assert parts[:5] == ["i2c bus", "adc 0x48", "adc 0x49", "sampling", "pelvic_cmH2O"]
    assert [p for p in parts if p.startswith("bar led")] == [f"bar led {i}" for i in range(1, 9)]
    assert {"status red", "status green", "status blue", "button", "tone 262 Hz", "tone 1047 Hz", "clock"} <= set(parts)
    assert all(c.ok for p, c in checks.items() if p != "clock")
    assert checks["clock"].ok in (True, None)  # an RTC is recommended, never required
    assert "5.0 cmH2O" in checks["pelvic_cmH2O"].detail


def test_failures_name_the_part_and_the_fix():
    checks = _selftest(scan=[0x48], unplugged=True, presses=())
    assert checks["adc 0x49"].ok is False and "ADDR strap" in checks["adc 0x49"].detail
    assert checks["pelvic_cmH2O"].ok is False and "unplugged" in checks["pelvic_cmH2O"].detail
    assert checks["button"].ok is False and "no press" in checks["button"].detail
    assert checks["abdominal_cmH2O"].ok is True


def test_selftest_command_exit_codes():
    ok = subprocess.run(PFMT + ["selftest", "--emulate"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert ok.returncode == 0 and "all parts pass" in ok.stdout and "FAIL" not in ok.stdout
    bad = subprocess.run(PFMT + ["selftest", "--emulate", "--unplugged"], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    assert bad.returncode == 1 and "FAIL  pelvic_cmH2O" in bad.stdout and "Traceback" not in bad.stderr


def test_version():
    r = subprocess.run(PFMT + ["--version"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("pfmt ") and r.stdout.split()[1][0].isdigit()


def test_pin_factory_is_chosen_explicitly():
    assert pin_factory("mock") is not None
    with pytest.raises(HardwareError, match="allowed: lgpio, mock"):
        pin_factory("native")
    with pytest.raises(ConfigError, match="allowed: lgpio, mock"):
        parse_config({"board": {"pin_factory": "rpigpio"}, "adc": [{}],
                      "channel": [{"role": "pelvic", "unit": "cmH2O", "positive": 0, "volts_per_unit": 0.01}]})
    try:
        import lgpio  # noqa: F401
    except ImportError:  # not on a Pi: lgpio is declared for Linux on ARM only — a loud, clear error
        with pytest.raises(HardwareError, match="lgpio"):
            pin_factory("lgpio")


def test_clock_state(tmp_path):
    sys_rtc = tmp_path / "rtc"
    assert rtc.clock_state(emulated=True)["source"] == "emulated"
    none = rtc.clock_state(sys_rtc=sys_rtc, now=dt.datetime(2026, 12, 7))
    assert none["rtc"] is None and none["source"] in ("unknown", "ntp", "set_by_hand")
    (sys_rtc / "rtc0").mkdir(parents=True)
    (sys_rtc / "rtc0" / "name").write_text("rtc-ds1307 1-0068\n")
    with_rtc = rtc.clock_state(sys_rtc=sys_rtc, now=dt.datetime(2026, 12, 7))
    assert with_rtc["rtc"] == "rtc-ds1307 1-0068"
    if with_rtc["source"] == "rtc":
        assert with_rtc["trusted"]
    assert rtc.clock_state(sys_rtc=sys_rtc, now=dt.datetime(2000, 1, 1))["trusted"] is False  # no RTC battery


def test_console_sets_the_clock_only_after_unlock(tmp_path):
    set_to = []
    cfg = ConsoleConfig(tmp_path, tmp_path / "x", unlock=lambda p: p == "bekken-2468-fysio",
                        set_clock=lambda when: set_to.append(when) or "system clock and RTC set",
                        clock_state=lambda: {"source": "rtc", "trusted": True, "rtc": "rtc-ds1307"})
    con = SerialConsole(cfg)
    assert con.handle(b"TIME")[0].startswith('OK {"now"')
    assert "UNLOCK <secret> first" in con.handle(b"TIME SET 2026-12-07T18:05:00")[0]
    assert con.handle(b"UNLOCK 1111")[0].startswith("ERR wrong secret")
    assert set_to == []
    assert con.handle(b"UNLOCK bekken-2468-fysio")[0].startswith("OK")
    assert "not a local date" in con.handle(b"TIME SET yesterday")[0]
    assert "from 2026" in con.handle(b"TIME SET 1999-01-01T00:00:00")[0]
    assert "TIME SET" in con.handle(b"TIME NOW")[0]
    ok = con.handle(b"TIME SET 2026-12-07T18:05:00")[0]
    assert ok.startswith("OK") and "RTC set" in ok and set_to == [dt.datetime(2026, 12, 7, 18, 5)]
    bare = SerialConsole(ConsoleConfig(tmp_path, tmp_path / "x"))
    assert "it is set when she calibrates it" in bare.handle(b"UNLOCK bekken-2468-fysio")[0]


@pytest.mark.skipif(os.geteuid() != 0, reason="the guard is for root")
def test_root_is_sent_to_the_pfmt_user_on_her_data(tmp_path, monkeypatch, capsys):
    import device.files
    from device.cli.main import main

    data = tmp_path / "var-lib-pfmt"
    data.mkdir()
    os.chown(data, 4242, 4242)  # the pfmt user's
    monkeypatch.setattr(device.files, "SYSTEM_DATA", data)
    assert main(["symptoms", "list", "--data", str(data)]) == 2
    assert "sudo -u pfmt pfmt symptoms" in capsys.readouterr().err

"""How far the wall clock can be trusted. The device has no network by design, so a session's
date is only as good as its clock: a DS3231 battery-backed RTC (I2C 0x68, ``dtoverlay=i2c-rtc,
ds3231``; the kernel sets the system time from it at boot), else whatever the Pi last saved
(``fake-hwclock`` restores the time of the last shutdown: a day off after a day unplugged).
Recorded with each session so a physiotherapist can tell a real date from a guessed one."""
from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

from drivers.errors import N_, InputError

RTC_SYS = Path("/sys/class/rtc")
NTP_SYNCED = Path("/run/systemd/timesync/synchronized")  # touched by systemd-timesyncd once synced
RTC_ADDRESS = 0x68  # the DS3231 on I2C
#: A wall clock before this cannot be right (this release was built after it).
EARLIEST = dt.datetime(2026, 1, 1)
LATEST = dt.datetime(2100, 1, 1)  # a time set by hand beyond this is a typing error


def rtc_name(sys_rtc: Path = RTC_SYS) -> str | None:
    """The kernel's RTC driver (``rtc-ds1307`` for a DS3231), or None without one."""
    name = sys_rtc / "rtc0" / "name"
    try:
        return name.read_text(encoding="ascii").strip() or "rtc0"
    except OSError:
        return None


def clock_state(emulated: bool = False, now: dt.datetime | None = None, sys_rtc: Path = RTC_SYS) -> dict:
    """``source``: ``rtc`` (a battery-backed clock), ``ntp`` (synchronised over a network, e.g.
    during set-up), ``set_by_hand`` (``pfmt clock set`` since boot), ``unknown`` (fake-hwclock or
    nothing), or ``emulated``; ``trusted``: whether a date stamped now is a real date."""
    now = now or dt.datetime.now()
    if emulated:
        return {"source": "emulated", "trusted": True, "rtc": None}
    rtc = rtc_name(sys_rtc)
    plausible = now >= EARLIEST
    if NTP_SYNCED.exists():
        source = "ntp"
    elif rtc is not None:
        source = "rtc"
    elif _set_by_hand_since_boot():
        source = "set_by_hand"
    else:
        source = "unknown"
    return {"source": source, "trusted": plausible and source != "unknown", "rtc": rtc}


SET_MARK = Path(os.environ.get("RUNTIME_DIRECTORY", "/run/pfmt")) / "clock-set"


def _set_by_hand_since_boot() -> bool:
    return SET_MARK.exists()  # /run is emptied at every boot


def local_time(text: str) -> dt.datetime:
    """The time a physio types to set the clock: local (no zone), EARLIEST…LATEST; InputError else."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError(N_("{text!r} is not a local date and time (YYYY-MM-DDTHH:MM:SS)"), text=text) from None
    if when.tzinfo is not None or not EARLIEST <= when < LATEST:
        raise InputError(N_("the time is the device's local time, without a zone, from {year} to {value}"),
                         year=EARLIEST.year, value=LATEST.year - 1)
    return when


def set_clock(when: dt.datetime) -> str:
    """Set the system clock (needs CAP_SYS_TIME) and, with an RTC, the RTC from it; what was done."""
    time.clock_settime(time.CLOCK_REALTIME, when.timestamp())
    try:
        SET_MARK.parent.mkdir(parents=True, exist_ok=True)
        SET_MARK.write_text(when.isoformat(timespec="seconds"), encoding="ascii")
    except OSError:
        pass  # the mark only refines the recorded source
    if rtc_name() is None:
        return "system clock set (no RTC: it is lost at the next power-off)"
    import subprocess

    r = subprocess.run(["hwclock", "--systohc", "--utc"], capture_output=True, text=True)
    if r.returncode != 0:
        return f"system clock set; the RTC was not written ({r.stderr.strip() or 'hwclock failed'})"
    return "system clock and RTC set"

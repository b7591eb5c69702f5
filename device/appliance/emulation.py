"""The emulated device's days: what her finger, the probe, the card and the power do, and when —
a script (TOML) that ``pfmt device --emulate`` plays on a virtual clock. Example::

    start = 2026-12-07T17:55:00      # the device boots (the clock starts here)
    until = 2026-12-08T08:00:00      # and is switched off
    patient = "correct"              # the simulated patient (device.sim.scripted.BEHAVIOURS)

    [[event]]
    at = 2026-12-07T18:02:00
    do = "press"                     # press (for_s 0.3) | hold (for_s 2.5: the menu / the end)
                                     # | unplug (for_s) | card_full (for_s) | kill (kill -9)
    patient = "weak"                 # a press's patient, for the session it starts

A ``kill`` is a real ``kill -9`` of the process (a power cut, as the card sees it); the device is
then booted again by running the same script with ``--start`` after it.
"""
from __future__ import annotations

import datetime as dt
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from device.errors import N_, InputError
from device.files import check_input_file
from device.sim.scripted import BEHAVIOURS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ACTIONS = {"press": 0.3, "hold": 2.5, "unplug": 30.0, "card_full": 3600.0, "kill": 0.0}
FULL_CARD_BYTES = 2_000_000  # what a full card has left


@dataclass(frozen=True)
class ScriptEvent:
    at: dt.datetime
    do: str
    for_s: float
    patient: str | None = None


@dataclass
class Script:
    start: dt.datetime
    until: dt.datetime
    patient: str = "correct"
    seed: int = 1
    events: list[ScriptEvent] = field(default_factory=list)

    def booted_at(self, start: dt.datetime) -> Script:
        """The same days booted again at ``start`` (after a kill): what lay before it is past."""
        if not self.start <= start < self.until:
            raise InputError(N_("--start {value} is outside the script's days ({value2} … {value3})"),
                             value=start.isoformat(), value2=self.start.isoformat(), value3=self.until.isoformat())
        return Script(start, self.until, self.patient, self.seed, [e for e in self.events if e.at >= start])

    # --- on the device's clock (seconds since boot) ------------------------------------------
    def t(self, when: dt.datetime) -> float:
        return (when - self.start).total_seconds()

    def presses(self) -> list[tuple[float, float]]:
        return [(self.t(e.at), self.t(e.at) + e.for_s) for e in self.events if e.do in ("press", "hold")]

    def spans(self, do: str) -> list[tuple[float, float]]:
        return [(self.t(e.at), self.t(e.at) + e.for_s) for e in self.events if e.do == do]

    def kills(self) -> list[float]:
        return [self.t(e.at) for e in self.events if e.do == "kill"]

    def patient_at(self, t: float) -> str:
        """The patient of the last press at or before ``t`` that names one, else the script's."""
        named = [e for e in self.events if e.do == "press" and e.patient and self.t(e.at) <= t + 1e-6]
        return named[-1].patient if named else self.patient  # type: ignore[return-value]  # named: not None


def local_datetime(v: object, where: str) -> dt.datetime:
    """A script's (or ``--start``'s) local date and time: a TOML datetime or ISO text, no zone."""
    if isinstance(v, dt.datetime) and v.tzinfo is None:
        return v
    if isinstance(v, str):
        try:
            d = dt.datetime.fromisoformat(v)
        except ValueError:
            pass
        else:
            if d.tzinfo is None:
                return d
    raise InputError(N_("{where} must be a local date and time (2026-12-07T18:02:00), not {v!r}"), where=where, v=v)


def parse_script(data: dict, source: str = "script") -> Script:
    unknown = set(data) - {"start", "until", "patient", "seed", "event"}
    if unknown:
        raise InputError(N_("{source}: unknown key {value!r}; allowed: start, until, patient, seed, event"),
                         source=source, value=sorted(unknown)[0])
    start = local_datetime(data.get("start"), f"{source}: start")
    until = local_datetime(data.get("until"), f"{source}: until")
    if until <= start or until - start > dt.timedelta(days=62):
        raise InputError(N_("{source}: until must come after start, within 62 days"), source=source)
    patient = data.get("patient", "correct")
    if patient not in BEHAVIOURS:
        raise InputError(N_("{source}: patient {patient!r}; allowed: {items}"),
                         source=source, patient=patient, items=', '.join(BEHAVIOURS))
    seed = data.get("seed", 1)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError(N_("{source}: seed must be a whole number"), source=source)
    events = []
    for i, e in enumerate(data.get("event", [])):
        where = f"{source}: event #{i + 1}"
        if not isinstance(e, dict):
            raise InputError(N_("{where} must be a table"), where=where)
        bad = set(e) - {"at", "do", "for_s", "patient"}
        if bad:
            raise InputError(N_("{where}: unknown key {value!r}; allowed: at, do, for_s, patient"),
                             where=where, value=sorted(bad)[0])
        do = e.get("do")
        if do not in ACTIONS:
            raise InputError(N_("{where}: do = {do!r}; allowed: {items}"), where=where, do=do, items=', '.join(ACTIONS))
        at = local_datetime(e.get("at"), f"{where}: at")
        if not start <= at < until:
            raise InputError(N_("{where}: at {value} is outside start … until"), where=where, value=at.isoformat())
        for_s = e.get("for_s", ACTIONS[do])
        if isinstance(for_s, bool) or not isinstance(for_s, (int, float)) or not 0 <= for_s <= 86400:
            raise InputError(N_("{where}: for_s must be 0–86400 seconds, not {for_s!r}"), where=where, for_s=for_s)
        p = e.get("patient")
        if p is not None and p not in BEHAVIOURS:
            raise InputError(N_("{where}: patient {p!r}; allowed: {items}"),
                             where=where, p=p, items=', '.join(BEHAVIOURS))
        events.append(ScriptEvent(at, do, float(for_s), p))
    events.sort(key=lambda e: e.at)
    return Script(start, until, patient, seed, events)


def load_script(path: str | Path) -> Script:
    p = check_input_file(path, "script of days", 1_000_000)  # never a FIFO or /dev/zero
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(N_("{path}: cannot read the script ({strerror})"), path=path, strerror=e.strerror) from None
    except UnicodeDecodeError:
        raise InputError(N_("{path}: not UTF-8 text; a script of days is a TOML file"), path=path) from None
    try:
        return parse_script(tomllib.loads(text), str(path))
    except tomllib.TOMLDecodeError as e:
        raise InputError(N_("{path}: not valid TOML ({e})"), path=path, e=e) from None
    except RecursionError:
        raise InputError(N_("{path}: nested too deeply to be a script of days"), path=path) from None


def one_session(now: dt.datetime, patient: str = "correct") -> Script:
    """Without a script: she presses the button a minute after boot and trains once."""
    start = now.replace(microsecond=0)
    return Script(start, start + dt.timedelta(hours=2), patient, 1,
                  [ScriptEvent(start + dt.timedelta(seconds=60), "press", 0.3)])


class Power:
    """The script's kills: ``kill -9`` of this very process when the clock reaches one."""

    def __init__(self, kills: list[float]) -> None:
        self.kills = sorted(kills)

    def check(self, now: float) -> None:
        if self.kills and now >= self.kills[0]:
            sys.stdout.flush()
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)


class Card:
    """The emulated card's room: the file system's, except while the script fills it."""

    def __init__(self, spans: list[tuple[float, float]], clock_now, real) -> None:
        self.spans, self.now, self.real = spans, clock_now, real

    def free_bytes(self) -> int:
        t = self.now()
        if any(a <= t < b for a, b in self.spans):
            return FULL_CARD_BYTES
        return int(self.real())

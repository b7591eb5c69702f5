"""The appliance's loop: the device she holds boots into waiting for her button.

She has LEDs, a buzzer and one button, no screen, and trains lying down with her eyes closed, so
every state has a sound of its own and every action is one press:

* **waiting** — a short press starts the session due now under the physiotherapist's
  prescription. When none is due today, she hears "nothing due" and sees this week on the bar;
  a second press within 6 s trains anyway (an extra session, which adherence does not count
  twice). The **reminder** plays at the day's slots while a session is due (three slots for three
  sessions a day, …) and again every 30 min, at most three times a slot, never between 21:30
  and 08:00.
* **cannot train** — the press is answered by a pattern of its own: no calibration or
  prescription (three long low red blinks), the probe unplugged or saturated (fast red blinks
  and a low note), the card full (red then amber), any other fault (one long low red note).
* **menu** — holding the button 2 s opens it; each short press steps to the next item (its own
  colour and sound, the bar shows its number), holding 2 s does it, 12 s without a press closes
  it: 1 this week's sessions on the bar, 2 "I leaked today" (the diary: one episode), 3 "dry
  today", 4 no more reminders today, 5 the device's state (what a press would answer now).
* **training** — the session itself (``device.training.session``): a short press pauses and
  resumes, holding 2 s ends it; a probe unplugged for 10 s ends it.

The same loop runs on the Pi (the real clock, woken by the button's edge) and on the emulated
device (a virtual clock, a scripted finger and patient: ``device.appliance.emulation``). It feeds
the service's watchdog while waiting and, through the session's heartbeat, while training.
"""
from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from calibration.profile import ProfileStore
from device.appliance.compose import Composed, TrainOptions, compose, current_programme, prescribed_programme
from device.config import recorded_channels
from device.errors import CardFullError, HardwareError, PfmtError, StorageError
from device.records.store import DAMAGED_NAME, repair, space_needed
from device.training.programme import Programme
from device.training.progress import Progress
from device.training.train import run_session
from drivers.clock import Clock
from drivers.feedback import Feedback
from drivers.rig import Finger
from drivers.sampler import Sampler

log = logging.getLogger("pfmt.device")

LONG_PRESS_S = 2.0       # held this long: the menu (waiting) or the end of the session (training)
PRESS_MIN_S = 0.05       # shorter is contact bounce, not a finger
EXTRA_OFFER_S = 6.0      # after "nothing due", a second press this soon trains anyway
MENU_ITEMS = ("progress", "leak", "dry", "quiet", "state")
MENU_TIMEOUT_S = 12.0
PROGRESS_SHOW_S = 5.0    # the bar shows the week this long
WAKE_S = 15.0            # the loop wakes at least this often (the watchdog; the reminders)
REMIND_EVERY_S = 30 * 60
REMIND_MAX = 3           # reminders per slot
QUIET_FROM, QUIET_UNTIL = dt.time(21, 30), dt.time(8, 0)
SENSOR_CHECK_S = 0.6     # the probe is read this long before a session (two judging windows)
#: The day's reminder slots by sessions a day (more than four: spread evenly, 09:00–20:00).
REMINDER_SLOTS: dict[int, tuple[dt.time, ...]] = {
    1: (dt.time(18, 0),), 2: (dt.time(9, 0), dt.time(18, 0)),
    3: (dt.time(9, 0), dt.time(13, 30), dt.time(19, 0)),
    4: (dt.time(9, 0), dt.time(12, 30), dt.time(16, 0), dt.time(19, 30))}


def reminder_slots(sessions_per_day: int) -> tuple[dt.time, ...]:
    if sessions_per_day in REMINDER_SLOTS:
        return REMINDER_SLOTS[sessions_per_day]
    step = 11 * 60 / max(1, sessions_per_day - 1)
    return tuple(dt.time(9 + int(k * step) // 60, int(k * step) % 60) for k in range(sessions_per_day))


class Waiter(Protocol):
    def wait(self, until: float) -> None:
        """Return at ``until`` on the device's clock, or sooner when the button moved."""


class ButtonWaiter:
    """On the device: sleep until the deadline or the button's next edge."""

    def __init__(self, feedback: Feedback, clock: Clock) -> None:
        self.feedback, self.clock = feedback, clock

    def wait(self, until: float) -> None:
        # not cleared here: the loop clears it before it reads the button's changes, so a press
        # that lands between that read and this wait wakes it at once
        timeout = until - self.clock.now()
        if timeout > 0:
            self.feedback.button_event.wait(timeout)


class FingerWaiter:
    """On the emulated device: virtual time jumps to the deadline or the scripted finger's next move."""

    def __init__(self, finger: Finger, clock: Clock) -> None:
        self.finger, self.clock = finger, clock

    def wait(self, until: float) -> None:
        nxt = self.finger.next_change()
        self.clock.sleep_until(until if nxt is None else min(until, nxt))
        self.finger.apply(self.clock.now())


@dataclass
class World:
    """What the loop is given: its hardware, clocks, where it keeps her data, and how a session is
    brought up (``options``: the session's options, with the loop's own lent in)."""

    data_dir: Any
    feedback: Feedback
    clock: Clock
    wall: Callable[[], dt.datetime]
    waiter: Waiter
    options: Callable[[], TrainOptions]
    heartbeat: Callable[[], None] = lambda: None
    free_bytes: Callable[[], int] | None = None
    finger: Finger | None = None
    pin_factory: object | None = None
    report: Callable[[Outcome], None] | None = None  # told each outcome as it happens


@dataclass
class Outcome:
    """One thing the device did, as the journal and the emulation's report show it."""

    at: str
    event: str
    detail: dict[str, Any] = field(default_factory=dict)


class DeviceLoop:
    def __init__(self, world: World) -> None:
        self.w = world
        self.fb, self.clock = world.feedback, world.clock
        self.outcomes: list[Outcome] = []
        self._down: float | None = None      # the button pressed since
        self._long_sent = False
        self._menu: int | None = None        # the menu item offered, None: menu closed
        self._menu_until = 0.0
        self._bar_until: float | None = None
        self._extra_until: float | None = None
        self._reminded: dict[tuple[dt.date, int], tuple[int, float]] = {}
        self._quiet_day: dt.date | None = None
        self._state: tuple[Programme, Progress] | None = None
        self._state_key: tuple[dt.date, float] | None = None  # the day and the profile's last change
        self.stopped = False

    # --- the loop ----------------------------------------------------------------------------
    def run(self, until: float | None = None) -> list[Outcome]:
        self.fb.player.play("ready")
        self._note("ready", {"data": str(self.w.data_dir)})
        while not self.stopped:
            now = self.clock.now()
            if until is not None and now >= until:
                break
            self.w.heartbeat()
            self.fb.button_event.clear()
            for gesture in self._gestures(now):
                self._on(gesture, now)
            now = self.clock.now()  # a session may have run
            self._expire(now)
            self._remind(now)
            due = self.fb.player.tick(now)  # the pattern's next step, if one is playing
            self.w.waiter.wait(self._next_wake(now, until, due))
        return self.outcomes

    def _next_wake(self, now: float, until: float | None, due: float | None) -> float:
        times = [now + WAKE_S, *self._reminder_times(now)]
        for t in (due, until, self._bar_until, self._extra_until,
                  self._menu_until if self._menu is not None else None,
                  self._down + LONG_PRESS_S if self._down is not None and not self._long_sent else None):
            if t is not None:
                times.append(t)
        return max(now + 0.005, min(times))

    def _note(self, event: str, detail: dict[str, Any] | None = None) -> Outcome:
        o = Outcome(self.w.wall().isoformat(timespec="seconds"), event, detail or {})
        self.outcomes.append(o)
        if self.w.report is not None:
            self.w.report(o)
        log.info("%s %s", event, " ".join(f"{k}={v}" for k, v in (detail or {}).items()))
        return o

    # --- the button --------------------------------------------------------------------------
    def _gestures(self, now: float) -> list[str]:
        """Short presses (at release) and long holds (at 2 s, still held) since the last look."""
        out: list[str] = []
        changes = self.fb.button_changes
        while changes:
            t, pressed = changes.popleft()
            if pressed:
                self._down, self._long_sent = t, False
            elif self._down is not None:
                held, self._down = t - self._down, None
                if not self._long_sent:
                    out.append("long" if held >= LONG_PRESS_S else "short" if held >= PRESS_MIN_S else "")
        if self._down is not None and not self._long_sent and now - self._down >= LONG_PRESS_S:
            self._long_sent = True
            out.append("long")
        return [g for g in out if g]

    def _on(self, gesture: str, now: float) -> None:
        if self._menu is not None:
            if gesture == "short":
                self._offer((self._menu + 1) % len(MENU_ITEMS), now)
            else:
                item, self._menu = MENU_ITEMS[self._menu], None
                self._act(item, now)
            return
        if gesture == "long":
            self._note("menu")
            self._offer(0, now)
            return
        extra = self._extra_until is not None and now < self._extra_until
        self._extra_until = None
        self.train(extra=extra)

    # --- training ----------------------------------------------------------------------------
    def _today(self) -> tuple[Programme, Progress]:
        """The programme in force and her progress, re-read after a session, a diary entry and at
        a new day (a damaged or missing prescription raises: she cannot train)."""
        today = self.w.wall().date()
        try:  # a new prescription (the physio over SSH or the console) is read at once
            changed = (Path(self.w.data_dir) / "profile").stat().st_mtime
        except OSError:
            changed = 0.0
        if self._state is None or self._state_key != (today, changed):
            self._state = None
            profile = ProfileStore(self.w.data_dir).current()
            opts = replace(self.w.options(), require_prescription=True)
            programme = prescribed_programme(opts, profile)
            self._state = current_programme(self.w.data_dir, profile, programme, today)
            self._state_key = (today, changed)
        return self._state

    def cannot_train(self) -> tuple[str, str] | None:
        """Why a press could not start a session now: (pattern, reason in words), or None."""
        try:
            self._today()
        except PfmtError as e:  # no profile, a damaged one, a prescription that cannot be read
            return refusal(e)
        c, refused = self._prepare()
        if c is not None:
            c.rig.close()
            c.sessions.close()
        return refused

    def _prepare(self) -> tuple[Composed | None, tuple[str, str] | None]:
        """The session due now composed, with the card's room and the probe checked: (composed,
        None), or (None, the refusal) with nothing left open."""
        try:
            c = compose(self._session_options(self.w.options()))
        except PfmtError as e:
            return None, refusal(e)
        try:
            refused = self._check_before(c)
        except BaseException:
            c.rig.close()
            c.sessions.close()
            raise
        if refused is not None:
            c.rig.close()
            c.sessions.close()
            return None, refused
        return c, None

    def _check_before(self, c: Composed) -> tuple[str, str] | None:
        """The card's room and the probe, read for a moment before anything is stored."""
        cfg = c.plan.config
        need = space_needed(cfg.rate_hz, len(recorded_channels(cfg)))
        free = c.sessions.free_bytes()
        if free < need:
            return "cannot_train_card_full", f"{free / 1e6:.0f} MB free on the card, a session needs {need / 1e6:.0f} MB"
        states = sensor_check(c.rig.sampler, c.clock)
        bad = {k: v for k, v in states.items() if v != "ok"}
        if bad:
            return "cannot_train_sensor", ", ".join(f"{k} {v}" for k, v in bad.items())
        return None

    def _repair(self) -> bool:
        """The session database was found damaged: she can still train. Its intact sessions go
        into a new database (the damaged file kept beside it, what was lost said in each
        session's summary) before this press's session; False (refused) if that fails."""
        try:
            report = repair(self.w.data_dir)
        except PfmtError as e:
            log.error("the damaged session database could not be repaired: %s", e)
            self._refuse("cannot_train_fault", f"damaged session database: {e}")
            return False
        log.warning("the damaged session database was repaired: %d sessions kept, %d with parts lost, %d lost; "
                    "the damaged file is kept as %s", len(report["kept"]), len(report["damage"]),
                    len(report["lost"]), report["kept_file"])
        self._note("repaired", {k: report[k] for k in ("kept", "kept_file")})
        return True

    def _session_options(self, opts: TrainOptions) -> TrainOptions:
        w = self.w
        return replace(opts, clock=w.clock, feedback=w.feedback, finger=w.finger, now=w.wall,
                       free_bytes=w.free_bytes, heartbeat=w.heartbeat, require_prescription=True,
                       pin_factory=w.pin_factory, lead_s=SENSOR_CHECK_S)

    def train(self, extra: bool = False) -> dict | None:
        """A press while waiting: the session due now, or the reason it cannot be."""
        try:
            programme, progress = self._today()
        except PfmtError as e:
            self._refuse(*refusal(e))
            return None
        due = progress.adherence(programme, self.w.wall().date())
        if due["due_today"] == 0 and not extra:
            self._show_week(programme, progress)
            self.fb.player.play("nothing_due")
            self._extra_until = self.clock.now() + EXTRA_OFFER_S
            self._note("nothing_due", {"today_done": due["today_done"]})
            return None
        if (Path(self.w.data_dir) / DAMAGED_NAME).exists() and not self._repair():
            return None
        c, refused = self._prepare()
        if c is None:
            assert refused is not None, "a session not composed has its refusal"
            self._refuse(*refused)
            return None
        self.fb.button_changes.clear()
        self._note("session_start", {"programme": c.plan.programme.name, "extra": extra})
        try:
            summary = run_session(c.plan, c.rig, c.clock, c.sessions, c.progress)
        except StorageError as e:  # the card filled or failed mid-session: what was stored is kept
            self._state = None
            self._refuse(*refusal(e))
            return None
        except (PfmtError, OSError, ValueError, RuntimeError) as e:
            # stored as stopped by run_session; the device goes back to waiting, the fault in the journal
            log.exception("the session failed")
            self._state = None
            self._refuse("cannot_train_fault", f"{type(e).__name__}: {e}")
            return None
        self._state = None
        self._down, self._long_sent = None, False
        good = sum(bool(r.get("good")) for r in summary.get("reps", []))
        detail = {"session": summary.get("session_id"),
                  "status": "completed" if summary.get("completed") else "stopped",
                  "stopped_by": summary.get("stopped_by"), "good": good, "reps": len(summary.get("reps", [])),
                  "full_dose": summary.get("full_dose")}
        self._note("session", detail)
        return dict(summary)

    def _refuse(self, pattern: str, why: str) -> None:
        self.fb.player.play(pattern)
        self._note("cannot_train", {"pattern": pattern, "why": why})

    # --- reminders ---------------------------------------------------------------------------
    def _remind(self, now: float) -> None:
        if self._menu is not None:
            return
        wall = self.w.wall()
        tod = wall.time()
        if tod < QUIET_UNTIL or tod >= QUIET_FROM or self._quiet_day == wall.date():
            return
        try:
            programme, progress = self._today()
        except PfmtError:
            return  # nothing prescribed: nothing to remind of (a press says why)
        slots = reminder_slots(programme.sessions_per_day)
        k = sum(1 for s in slots if s <= tod)
        if k == 0:
            return
        due = progress.adherence(programme, wall.date())
        if due["due_today"] == 0 or due["today_done"] >= k:
            return
        key = (wall.date(), k)
        n, last = self._reminded.get(key, (0, -math.inf))
        if n >= REMIND_MAX or now - last < REMIND_EVERY_S:
            return
        self._reminded[key] = (n + 1, now)
        self.fb.player.play("reminder")
        self._note("reminder", {"slot": slots[k - 1].strftime("%H:%M"), "nth": n + 1,
                                "today_done": due["today_done"]})

    def _reminder_times(self, now: float) -> list[float]:
        """When a reminder may next be due (the next slot, or the next repeat), so it plays on time."""
        if self._state is None:
            return []
        wall = self.w.wall()
        out = []
        for slot in reminder_slots(self._state[0].sessions_per_day):
            at = dt.datetime.combine(wall.date(), slot)
            if at > wall:
                out.append(now + (at - wall).total_seconds())
                break
        for (day, _), (_, last) in self._reminded.items():
            if day == wall.date() and last + REMIND_EVERY_S > now:
                out.append(last + REMIND_EVERY_S)
        return out

    # --- the menu ----------------------------------------------------------------------------
    def _offer(self, k: int, now: float) -> None:
        self._menu, self._menu_until = k, now + MENU_TIMEOUT_S
        self.fb.show_bar(k + 1)
        self.fb.player.play(f"menu_{MENU_ITEMS[k]}")

    def _expire(self, now: float) -> None:
        if self._menu is not None and now >= self._menu_until:
            self._menu = None
            self.fb.show_bar(0)
            self.fb.player.play("menu_close")
            self._note("menu_closed")
        if self._bar_until is not None and now >= self._bar_until:
            self._bar_until = None
            self.fb.show_bar(0)
        if self._extra_until is not None and now >= self._extra_until:
            self._extra_until = None

    def _show_week(self, programme: Programme, progress: Progress) -> int:
        """This week's sessions against the prescription on the bar, for a few seconds."""
        ad = progress.adherence(programme, self.w.wall().date())
        pct = ad["week_adherence_pct"] or 0
        lit = round(len(self.fb.bar) * pct / 100)
        self.fb.show_bar(lit)
        self._bar_until = self.clock.now() + PROGRESS_SHOW_S
        return lit

    def _act(self, item: str, now: float) -> None:
        self.fb.show_bar(0)
        today = self.w.wall().date()
        if item == "state":
            refused = self.cannot_train()
            self.fb.player.play(refused[0] if refused else "ready")
            self._note("state", {"pattern": refused[0] if refused else "ready",
                                 "why": refused[1] if refused else "ready to train"})
            return
        try:
            programme, progress = self._today()
        except PfmtError as e:
            self._refuse(*refusal(e))
            return
        if item == "progress":
            lit = self._show_week(programme, progress)
            self.fb.player.play("menu_progress")
            self._note("progress", {"bar": lit, **{k: v for k, v in progress.adherence(programme, today).items()
                                                  if k in ("today_done", "week_done", "week_prescribed")}})
        elif item in ("leak", "dry"):
            entry = progress.add_symptoms(today, 1 if item == "leak" else 0, today, note="by the button")
            progress.save()
            self._state = None
            self.fb.player.play("saved")
            self._note("diary", entry)
        elif item == "quiet":
            self._quiet_day = today
            self.fb.player.play("saved")
            self._note("quiet_today")


def refusal(e: PfmtError) -> tuple[str, str]:
    """The pattern (and the reason in words) a press is answered with when ``e`` stopped it: a full
    card — refused before a session, or SQLite's "database or disk is full" during one — a fault
    of the storage or the hardware, else no usable calibration or prescription."""
    if isinstance(e, CardFullError) or (isinstance(e, StorageError) and "full" in str(e)):
        return "cannot_train_card_full", str(e)
    if isinstance(e, (StorageError, HardwareError)):
        return "cannot_train_fault", str(e)
    return "cannot_train_calibration", str(e)


def sensor_check(sampler: Sampler, clock: Clock, seconds: float = SENSOR_CHECK_S) -> dict[str, str]:
    """Each channel's state after reading it for ``seconds`` (a sampler of its own on the same bus,
    nothing delivered or stored): ``ok``, ``unplugged``, ``saturated``, or the bus's fault."""
    probe = Sampler(sampler.config, sampler.bus, clock)
    probe.open()
    end = clock.now() + seconds
    bus: str | None = None
    while clock.now() < end:
        block = probe.read_block()
        for e in block.events:
            if e.kind in ("i2c_error", "stuck"):
                bus = e.kind
            elif e.kind == "i2c_ok":
                bus = None
    states: dict[str, str] = dict(probe.sensor_states)
    if bus is not None:
        states["bus"] = bus
    return states

"""LEDs, buzzer and button through gpiozero: the device's only way to talk to the patient.

Every cue is a :class:`Pattern` — data, a list of timed steps of status colour and tone — played
by one :class:`Player`. The player is a small state machine (``play``/``tick``) so the same code
is driven by its own thread on the device and step by step on a virtual clock in accelerated
sessions; warnings pre-empt cues, cues never pre-empt a warning. The strength bar and the
strength-following pitch use hysteresis, so a signal hovering on a boundary never flickers.

gpiozero pin factories decide where it runs: the Pi's GPIO through lgpio, or ``MockFactory(pin_class=
MockPWMPin)`` on any machine (tests and ``pfmt train`` without a Pi); ``drivers.pins`` names them.
Whatever ends the program, :meth:`Feedback.close` first drives every LED and the buzzer off.
"""
from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from drivers.clock import Clock
from drivers.config import PinsConfig

#: Status colours (red, green, blue) by meaning: guide = blue, correct = green, warning = red.
COLOURS: dict[str, tuple[float, float, float]] = {
    "off": (0, 0, 0), "guide": (0, 0, 1), "correct": (0, 1, 0), "warning": (1, 0, 0),
    "caution": (1, 0.4, 0), "rest": (0, 0, 0.15), "paused": (0.3, 0.3, 0.3),
}


@dataclass(frozen=True)
class Step:
    """Hold ``colour`` and ``tone_hz`` (0 = silent; None = leave the buzzer to the strength
    pitch) for ``seconds``."""

    seconds: float
    colour: str = "off"
    tone_hz: float | None = 0.0


@dataclass(frozen=True)
class Pattern:
    name: str
    steps: tuple[Step, ...]
    priority: int = 0  # 0 cue, 1 warning: a warning pre-empts anything; a cue waits for a warning
    then: str = "off"  # status colour left on when the pattern ends


def _blink(n: int, colour: str, on: float, off: float, tone: float = 0.0) -> tuple[Step, ...]:
    return tuple(s for _ in range(n) for s in (Step(on, colour, tone), Step(off, "off", 0.0)))


#: The cue vocabulary. Tones are distinct by pitch and rhythm so a patient with eyes closed can
#: tell them apart: rising for "go", falling for "release", a low double buzz for a warning.
PATTERNS: dict[str, Pattern] = {p.name: p for p in (
    Pattern("get_ready", _blink(2, "guide", 0.15, 0.15, 523.0), then="guide"),
    Pattern("squeeze", (Step(0.12, "guide", 659.0), Step(0.12, "guide", 880.0)), then="guide"),
    Pattern("hold_tick", (Step(0.05, "guide", 1047.0),), then="guide"),
    Pattern("quick_lift", (Step(0.08, "guide", 1319.0),), then="guide"),
    Pattern("release", (Step(0.12, "rest", 659.0), Step(0.2, "rest", 440.0)), then="rest"),
    Pattern("rest", (Step(0.05, "rest", 0.0),), then="rest"),
    Pattern("correct", (Step(0.3, "correct", 1568.0),), then="rest"),
    # After each rep, in its rest: green and a bright rise when it was good; amber (red for bearing
    # down) and a low sound whose rhythm names the one reason to redo it.
    Pattern("rep_good", (Step(0.12, "correct", 1319.0), Step(0.25, "correct", 1760.0)), then="rest"),
    # In an assessment nothing is judged: one soft tone in the guide colour says it was recorded.
    Pattern("rep_recorded", (Step(0.2, "guide", 784.0),), then="rest"),
    Pattern("rep_redo_too_weak", (Step(0.5, "caution", 262.0),), then="rest"),
    Pattern("rep_redo_not_felt", (Step(0.5, "caution", 196.0), Step(0.15, "caution", 0.0),
                                  Step(0.5, "caution", 196.0)), then="rest"),
    Pattern("rep_redo_too_short", _blink(2, "caution", 0.12, 0.12, 262.0), then="rest"),
    Pattern("rep_redo_quick_lifts_missing", _blink(3, "caution", 0.07, 0.08, 392.0), then="rest"),
    Pattern("rep_redo_not_relaxed", (Step(0.3, "caution", 392.0), Step(0.4, "caution", 262.0)), then="rest"),
    Pattern("rep_redo_bear_down", (Step(0.6, "warning", 196.0),), then="rest"),
    Pattern("rep_redo_accessory", _blink(2, "caution", 0.25, 0.1, 330.0), then="rest"),
    Pattern("rep_redo_breath_held", (Step(0.12, "caution", 440.0), Step(0.12, "caution", 349.0),
                                     Step(0.12, "caution", 440.0), Step(0.12, "caution", 349.0)), then="rest"),
    Pattern("rep_redo_not_below_rest", (Step(0.5, "caution", 330.0),), then="rest"),
    Pattern("rep_redo_sensor_fault", _blink(2, "warning", 0.1, 0.1, 0.0), then="rest"),
    # A set's and a session's end, by how it went: the celebration only when it went well.
    Pattern("set_done", _blink(3, "correct", 0.15, 0.1, 784.0) + (Step(0.3, "correct", 1047.0),), then="off"),
    Pattern("set_done_fair", (Step(0.3, "correct", 784.0), Step(0.3, "guide", 659.0)), then="off"),
    Pattern("set_done_poor", (Step(0.3, "guide", 523.0), Step(0.4, "guide", 440.0)), then="off"),
    Pattern("session_done", _blink(2, "correct", 0.3, 0.2, 1047.0), then="off"),
    Pattern("session_done_fair", (Step(0.4, "correct", 784.0), Step(0.4, "guide", 659.0)), then="off"),
    Pattern("session_done_poor", (Step(0.4, "guide", 523.0), Step(0.5, "guide", 392.0)), then="off"),
    Pattern("warning_bear_down", (Step(0.15, "warning", 196.0), Step(0.1, "warning", 0.0),
                                  Step(0.15, "warning", 196.0), Step(0.4, "warning", 0.0)),
            priority=1, then="guide"),
    Pattern("warning_accessory", (Step(0.15, "caution", 262.0), Step(0.1, "caution", 0.0),
                                  Step(0.15, "caution", 262.0), Step(0.4, "caution", 0.0)),
            priority=1, then="guide"),
    Pattern("warning_not_relaxed", (Step(0.4, "caution", 220.0), Step(0.4, "caution", 0.0)),
            priority=1, then="rest"),
    Pattern("warning_breath_held", (Step(0.2, "caution", 349.0), Step(0.2, "caution", 440.0),
                                    Step(0.2, "caution", 349.0), Step(0.3, "caution", 0.0)),
            priority=1, then="guide"),
    Pattern("sensor_fault", _blink(4, "warning", 0.1, 0.1, 0.0), priority=1, then="warning"),
    Pattern("reminder", _blink(3, "guide", 0.5, 0.5, 523.0), then="off"),
    # The appliance (device.appliance.loop): awake and waiting; why it cannot train — each its own
    # rhythm on a red light, told at the press that asked; nothing due today; the long-press menu.
    Pattern("ready", (Step(0.15, "guide", 523.0), Step(0.25, "guide", 784.0)), then="off"),
    Pattern("cannot_train_calibration", _blink(3, "warning", 0.6, 0.3, 220.0), then="off"),
    Pattern("cannot_train_sensor", _blink(5, "warning", 0.12, 0.12, 330.0) + (Step(0.5, "warning", 196.0),),
            priority=1, then="off"),
    Pattern("cannot_train_card_full", _blink(2, "warning", 0.3, 0.15, 262.0) + _blink(2, "caution", 0.3, 0.15, 262.0),
            then="off"),
    Pattern("cannot_train_fault", (Step(1.2, "warning", 165.0),), then="off"),
    Pattern("nothing_due", (Step(0.3, "correct", 784.0), Step(0.3, "correct", 0.0)), then="off"),
    Pattern("menu_open", (Step(0.1, "guide", 523.0), Step(0.1, "guide", 659.0), Step(0.1, "guide", 784.0)),
            then="guide"),
    Pattern("menu_progress", (Step(0.25, "correct", 659.0),), then="correct"),
    Pattern("menu_leak", _blink(1, "caution", 0.25, 0.05, 392.0), then="caution"),
    Pattern("menu_dry", _blink(2, "guide", 0.12, 0.08, 880.0), then="guide"),
    Pattern("menu_quiet", (Step(0.4, "rest", 330.0),), then="rest"),
    Pattern("menu_state", _blink(3, "guide", 0.08, 0.08, 1047.0), then="guide"),
    Pattern("menu_close", (Step(0.1, "guide", 784.0), Step(0.1, "guide", 659.0), Step(0.15, "guide", 523.0)),
            then="off"),
    Pattern("saved", (Step(0.12, "correct", 1047.0), Step(0.2, "correct", 1319.0)), then="off"),
    Pattern("paused", (Step(0.2, "paused", 523.0), Step(0.3, "paused", 392.0)), then="paused"),
    Pattern("stopped", (Step(0.2, "paused", 392.0), Step(0.4, "paused", 262.0)), then="off"),
)}


class Player:
    """Plays patterns on an output. ``output(colour, tone_hz)`` is called only on changes."""

    def __init__(self, output: Callable[[str, float | None], None], clock: Clock,
                 patterns: dict[str, Pattern] = PATTERNS) -> None:
        self.output, self.clock, self.patterns = output, clock, patterns
        #: told (name, time) as each pattern begins — a speaker says the cue's words then
        self.on_start: Callable[[str, float], None] | None = None
        self.current: Pattern | None = None
        self.queued: Pattern | None = None
        self._k = 0
        self._step_end = 0.0
        self._state: tuple[str, float | None] = ("off", 0.0)
        self.log: deque[tuple[float, str, float | None]] = deque(maxlen=4096)  # (time, colour, tone) as output
        self.started: list[tuple[float, str]] = []  # (time, pattern name) as begun
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def state(self) -> tuple[str, float | None]:
        """What is output now: (status colour, buzzer tone in Hz — 0 silent, None unchanged)."""
        return self._state

    def play(self, name: str) -> None:
        """Start a pattern now (or after the warning that is playing)."""
        try:
            p = self.patterns[name]
        except KeyError:
            raise ValueError(f"unknown pattern {name!r}; known: {', '.join(self.patterns)}") from None
        with self._lock:
            if self.current is not None and self.current.priority > p.priority:
                self.queued = p
                return
            self._start(p, self.clock.now())
        self._wake.set()

    def _start(self, p: Pattern, now: float) -> None:
        self.current, self._k = p, 0
        self.started.append((now, p.name))
        if self.on_start is not None:
            self.on_start(p.name, now)
        self._step_end = now + p.steps[0].seconds
        self._apply(p.steps[0].colour, p.steps[0].tone_hz, now)

    def _apply(self, colour: str, tone: float | None, now: float) -> None:
        if (colour, tone) != self._state:
            self._state = (colour, tone)
            self.output(colour, tone)
            self.log.append((now, colour, tone))

    def tick(self, now: float | None = None) -> float | None:
        """Apply every step due by ``now``; returns when the next step is due (None: idle)."""
        with self._lock:
            now = self.clock.now() if now is None else now
            while self.current is not None and now >= self._step_end:
                self._k += 1
                p = self.current
                if self._k < len(p.steps):
                    s = p.steps[self._k]
                    t = self._step_end
                    self._step_end += s.seconds
                    self._apply(s.colour, s.tone_hz, t)
                    continue
                t = self._step_end
                self.current = None
                if self.queued is not None:
                    q, self.queued = self.queued, None
                    self._start(q, t)
                else:
                    self._apply(p.then, 0.0, t)
            return self._step_end if self.current is not None else None

    @property
    def busy(self) -> bool:
        return self.current is not None

    # --- threaded driver (real time) ---------------------------------------------------------
    def start(self) -> None:
        """Play in a thread of its own (idempotent: a session lent a running player keeps it)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pfmt-feedback", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            due = self.tick()
            timeout = None if due is None else max(0.0, due - self.clock.now())
            self._wake.wait(timeout if timeout is None else min(timeout, 0.5))
            self._wake.clear()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None


class Hysteresis:
    """Quantise a level into ``n`` steps over [0, full]; a step changes only when the level is
    ``band`` (a fraction of one step) beyond the boundary, so noise on a boundary cannot flicker."""

    def __init__(self, n: int, full: float = 1.0, band: float = 0.35) -> None:
        self.n, self.full, self.band = n, full, band
        self.level = 0

    def update(self, x: float) -> int:
        pos = max(0.0, x) / self.full * self.n  # in steps
        if pos >= self.n:  # at or beyond the top: all lit
            self.level = self.n
        elif pos >= self.level + 1 + self.band:
            self.level = int(pos - self.band)
        elif pos < self.level - self.band:
            self.level = max(0, int(pos + self.band))
        return self.level


class Feedback:
    """The feedback hardware: LED bar (strength vs target), RGB status LED, buzzer, button."""

    def __init__(self, pins: PinsConfig, clock: Clock, pin_factory=None, bar_full: float = 1.25) -> None:
        from gpiozero import RGBLED, Button, Buzzer, LEDBarGraph, TonalBuzzer
        from gpiozero.tones import Tone

        self._Tone = Tone
        self.clock = clock
        kw = {"pin_factory": pin_factory}
        self.bar = LEDBarGraph(*pins.bar, pwm=False, **kw)
        self.status = RGBLED(*pins.status, **kw)
        self.tonal = pins.tonal
        self.buzzer = TonalBuzzer(pins.buzzer, octaves=2, **kw) if pins.tonal else Buzzer(pins.buzzer, **kw)
        self.button = Button(pins.button, **kw)
        # (time, pressed) of each change on the device's clock, appended from gpiozero's callback
        # thread (a deque append is atomic) and read by whoever gives the button a meaning. Not
        # debounced here: gpiozero's bounce_time runs on wall time, which accelerated emulation
        # does not follow, so the reader ignores presses shorter than a human's.
        self.button_changes: deque[tuple[float, bool]] = deque(maxlen=64)
        # set at every change, so a loop that waits for the button wakes at once (device.appliance)
        self.button_event = threading.Event()
        self.button.when_pressed = lambda: self._button_changed(True)
        self.button.when_released = lambda: self._button_changed(False)
        self.bar_full = bar_full  # the bar's top LED is this many times the target
        self._bar = Hysteresis(len(pins.bar), bar_full)
        self._pitch = Hysteresis(24, bar_full)  # semitone steps over two octaves
        self.follow_pitch = False  # eyes-closed training: pitch rises with strength
        self._lit = -1
        self.player = Player(self._output, clock)
        self.changes: deque[tuple[float, str, object]] = deque(maxlen=4096)  # (time, device, value)
        self._closed = False

    def _button_changed(self, pressed: bool) -> None:
        self.button_changes.append((self.clock.now(), pressed))
        self.button_event.set()

    @property
    def lit(self) -> int:
        """LEDs of the bar lit now (−1 before the first strength was shown)."""
        return self._lit

    def _output(self, colour: str, tone_hz: float | None) -> None:
        self.status.color = COLOURS[colour]
        if tone_hz is not None:
            self._tone(tone_hz)
        self.changes.append((self.clock.now(), "status", colour))

    def _tone(self, hz: float) -> None:
        if self.tonal:
            if hz > 0:
                self.buzzer.play(self._Tone.from_frequency(min(max(hz, 110.0), 1760.0)))
            else:
                self.buzzer.stop()
        else:
            self.buzzer.value = 1 if hz > 0 else 0

    def strength(self, fraction_of_target: float) -> int:
        """Show live strength (1.0 = the target); returns the number of LEDs lit."""
        lit = self._bar.update(fraction_of_target)
        if lit != self._lit:
            self._lit = lit
            n = len(self.bar)
            self.bar.value = lit / n
            self.changes.append((self.clock.now(), "bar", lit))
        if self.follow_pitch and not self.player.busy:
            step = self._pitch.update(fraction_of_target)
            self._tone(220.0 * 2 ** (step / 12) if step else 0.0)
        return lit

    def show_bar(self, lit: int) -> None:
        """Light the bar's first ``lit`` LEDs directly (a menu position, a progress share), outside
        the strength's hysteresis; the next :meth:`strength` takes over again."""
        n = len(self.bar)
        lit = max(0, min(n, lit))
        self.bar.value = lit / n
        self._lit = lit
        self._bar.level = lit
        self.changes.append((self.clock.now(), "bar", lit))

    def all_off(self) -> None:
        """The safe state: every LED dark and the buzzer silent (the pattern player stopped)."""
        self.player.stop()
        with self.player._lock:
            self.player.current = self.player.queued = None
        try:
            self.bar.off()
            self.status.off()
            if self.tonal:
                self.buzzer.stop()
            else:
                self.buzzer.off()
        except Exception:  # a device already closed: nothing left driven
            return
        self._lit = 0

    def close(self) -> None:
        """Everything off, then the pins released (idempotent)."""
        if self._closed:
            return
        self.all_off()
        self._closed = True
        for d in (self.bar, self.status, self.buzzer, self.button):
            d.close()

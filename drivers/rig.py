"""Bring the hardware up from the device configuration: the sampler and the feedback devices,
either on the Pi (I2C bus, ALERT/RDY through lgpio, LEDs, buzzer and button through the configured
pin factory) or emulated (register-level chips fed by signals, gpiozero mock pins, a scripted
finger on the button) — the same classes either way. A long-lived owner of the feedback (the
appliance's loop) lends it to each session's rig; a rig closes only what it brought up."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from drivers.ads import GpioReady
from drivers.clock import Clock
from drivers.config import DeviceConfig
from drivers.emulator import Ads1x15Emulator, EmulatedI2C, EmulatedReady, Transducer, array_source, function_source
from drivers.feedback import Feedback
from drivers.pins import pin_factory
from drivers.sampler import Block, Sampler

#: What drives one emulated channel: (time_s, values) arrays, or a function of time.
Signal = tuple[np.ndarray, np.ndarray] | Callable[[float], float]


class Finger:
    """A simulated finger on the mock button pin: (press, release) times on the device's clock,
    applied as the clock passes them (pulled up: pressed = low)."""

    def __init__(self, feedback: Feedback, presses: list[tuple[float, float]] | None = None) -> None:
        self.feedback = feedback
        self.presses: list[tuple[float, float]] = sorted(presses or [])

    def add(self, presses: list[tuple[float, float]]) -> None:
        self.presses = sorted(self.presses + presses)

    def next_change(self) -> float | None:
        """When the pin moves next (None: no press left)."""
        if not self.presses:
            return None
        down, up = self.presses[0]
        return up if not self.feedback.button.pin.state else down

    def apply(self, now: float) -> None:
        pin = self.feedback.button.pin
        while self.presses and self.presses[0][0] <= now:
            up = self.presses[0][1]
            if pin.state:
                pin.drive_low()
            if up > now:
                return
            pin.drive_high()
            self.presses.pop(0)


@dataclass
class Rig:
    sampler: Sampler
    feedback: Feedback
    clock: Clock
    chips: list[Ads1x15Emulator]  # empty on real hardware
    threaded: bool
    pace: float = 0.0  # virtual time only: × real time to keep to (0 = as fast as possible)
    finger: Finger | None = None  # emulation only: the simulated finger on the mock button
    ready: GpioReady | EmulatedReady | None = None
    owns_feedback: bool = True  # False: lent by a longer-lived owner, who closes it
    _wall0: float | None = field(default=None, repr=False)

    def start(self) -> None:
        if self.threaded:
            self.sampler.start()
            self.feedback.player.start()
        else:
            self.sampler.open()

    def next_block(self) -> Block | None:
        """The next block of samples (waits for it on the device; computes it in virtual time)."""
        if self.finger is not None:
            self.finger.apply(self.clock.now())
        if not self.threaded:
            b = self.sampler.read_block()
            if self.pace:
                # Lock-step emulation kept to a multiple of real time: lossless at any speed the
                # CPU sustains (a threaded real-time emulation at 20× would drop frames).
                import time

                if self._wall0 is None:
                    self._wall0 = time.monotonic() - self.clock.now() / self.pace
                ahead = self._wall0 + self.clock.now() / self.pace - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            return b
        while True:
            got = self.sampler.get(timeout=0.5)
            if got is not None:
                return got

    def close(self) -> None:
        self.sampler.stop()
        if isinstance(self.ready, GpioReady):
            self.ready.close()
        if self.owns_feedback:
            self.feedback.close()


def emulated(config: DeviceConfig, clock: Clock, signals: dict[str, Signal],
             threaded: bool, rate_error: float = 0.0, noise_lsb: float = 1.0, seed: int = 0,
             pace: float = 0.0, transducers: dict[str, Transducer] | None = None,
             button_presses: list[tuple[float, float]] | None = None, feedback: Feedback | None = None,
             finger: Finger | None = None,
             unplugged: dict[str, list[tuple[float, float]]] | None = None) -> Rig:
    """Chips fed by ``signals`` (role → (time_s, values) arrays, or a function of time, in the
    channel's unit) through each channel's configured transfer — or through a ``transducers``
    entry, a sensor that differs from the configuration — and mock pins, the button pressed and
    released at the times of ``button_presses``. ``unplugged`` (role → (from, to) times) leaves a
    channel's input at 0 V then, as a probe pulled out of its socket does. A ``feedback`` (and its
    ``finger``) is lent by its owner and left open at close."""
    transducers = transducers or {}
    unplugged = unplugged or {}
    bus = EmulatedI2C(clock, seed=seed)
    chips: list[Ads1x15Emulator] = []
    for a in config.adcs:
        arrays: dict[int, np.ndarray] = {}
        functions: dict[int, Callable[[float], float]] = {}
        t_ref: np.ndarray | None = None
        for c in config.channels:
            if c.adc != a.address or c.role not in signals:
                continue
            to_volts = transducers[c.role].volts if c.role in transducers else c.to_volts
            sig = signals[c.role]
            if callable(sig):
                functions[c.positive] = lambda t, f=sig, tv=to_volts: float(tv(f(t)))  # type: ignore[misc]
                if c.negative is not None:
                    functions[c.negative] = lambda t: 0.0
                continue
            t, v = sig
            t_ref = t
            arrays[c.positive] = to_volts(np.asarray(v, float))
            for t0, t1 in unplugged.get(c.role, []):
                arrays[c.positive][(t >= t0) & (t < t1)] = 0.0
            if c.negative is not None:
                arrays[c.negative] = np.zeros_like(arrays[c.positive])
        if functions:
            if arrays and t_ref is not None:  # a chip with both kinds of input
                from_arrays = array_source(t_ref, arrays)
                # bound now (default arguments): the loop over chips rebinds from_arrays
                functions.update({k: (lambda t, k=k, f=from_arrays: f(t)[k]) for k in arrays})  # type: ignore[misc]
            source = function_source(functions)
        elif t_ref is not None:
            source = array_source(t_ref, arrays)
        else:
            source = array_source(np.array([0.0, 1.0]), {})
        chips.append(bus.attach(Ads1x15Emulator(clock, source, model=a.model, address=a.address,
                                                rate_error=rate_error, noise_lsb=noise_lsb, seed=seed + len(chips))))
    first = config.adcs[0]
    ready = EmulatedReady(chips[0], clock) if first.ready_pin is not None else None
    sampler = Sampler(config, bus, clock, ready)
    owns = feedback is None
    if feedback is None:
        feedback = Feedback(config.pins, clock, pin_factory=pin_factory("mock"))
    if finger is None:
        finger = Finger(feedback)
    finger.add(list(button_presses or []))
    return Rig(sampler, feedback, clock, chips, threaded, pace, finger, ready, owns_feedback=owns)


def hardware(config: DeviceConfig, clock: Clock, feedback: Feedback | None = None,
             factory=None) -> Rig:  # pragma: no cover - needs a Pi
    """The real device: /dev/i2c-N, ALERT/RDY on its GPIO and the LEDs, buzzer and button on theirs,
    all through the configured pin factory (lgpio: edges and software PWM through the kernel's
    character device). A ``feedback`` (and the ``factory`` it was made with) is lent by its owner."""
    from drivers.bus import LinuxI2C

    factory = factory if factory is not None else pin_factory(config.pin_factory)
    bus = LinuxI2C(config.i2c_bus)
    first = config.adcs[0]
    ready = GpioReady(first.ready_pin, clock, pin_factory=factory) if first.ready_pin is not None else None
    owns = feedback is None
    if feedback is None:
        feedback = Feedback(config.pins, clock, pin_factory=factory)
    return Rig(Sampler(config, bus, clock, ready), feedback, clock, [], True, ready=ready, owns_feedback=owns)

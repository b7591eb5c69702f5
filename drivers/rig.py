"""Bring the hardware up from the device configuration: the sampler and the feedback devices,
either on the Pi (I2C bus, ALERT/RDY GPIOs, gpiozero's default pins) or emulated (register-level
chips fed by signals, gpiozero mock pins) — the same classes either way."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from drivers.clock import Clock
from drivers.config import DeviceConfig
from drivers.emulator import Ads1x15Emulator, EmulatedI2C, EmulatedReady, Transducer, array_source, function_source
from drivers.feedback import Feedback
from drivers.sampler import Block, Sampler

#: What drives one emulated channel: (time_s, values) arrays, or a function of time.
Signal = tuple[np.ndarray, np.ndarray] | Callable[[float], float]


@dataclass
class Rig:
    sampler: Sampler
    feedback: Feedback
    clock: Clock
    chips: list[Ads1x15Emulator]  # empty on real hardware
    threaded: bool
    pace: float = 0.0  # virtual time only: × real time to keep to (0 = as fast as possible)
    # emulation only: (press, release) times of the button, a simulated finger on the mock pin
    button_presses: list[tuple[float, float]] = field(default_factory=list)
    _wall0: float | None = None

    def _press_button(self) -> None:
        """Move the mock button pin for the presses due by now (pulled up: pressed = low)."""
        now = self.clock.now()
        pin = self.feedback.button.pin
        while self.button_presses and self.button_presses[0][0] <= now:
            up = self.button_presses[0][1]
            if pin.state:
                pin.drive_low()
            if up > now:
                return
            pin.drive_high()
            self.button_presses.pop(0)

    def start(self) -> None:
        if self.threaded:
            self.sampler.start()
            self.feedback.player.start()
        else:
            self.sampler.open()

    def next_block(self) -> Block | None:
        """The next block of samples (waits for it on the device; computes it in virtual time)."""
        if self.button_presses:
            self._press_button()
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
        self.feedback.close()


def emulated(config: DeviceConfig, clock: Clock, signals: dict[str, Signal],
             threaded: bool, rate_error: float = 0.0, noise_lsb: float = 1.0, seed: int = 0,
             pace: float = 0.0, transducers: dict[str, Transducer] | None = None,
             button_presses: list[tuple[float, float]] | None = None) -> Rig:
    """Chips fed by ``signals`` (role → (time_s, values) arrays, or a function of time, in the
    channel's unit) through each channel's configured transfer — or through a ``transducers``
    entry, a sensor that differs from the configuration — and mock pins, the button pressed and
    released at the times of ``button_presses``."""
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    transducers = transducers or {}
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
    feedback = Feedback(config.pins, clock, pin_factory=MockFactory(pin_class=MockPWMPin))
    return Rig(sampler, feedback, clock, chips, threaded, pace, sorted(button_presses or []))


def hardware(config: DeviceConfig, clock: Clock) -> Rig:  # pragma: no cover - needs a Pi
    """The real device: /dev/i2c-N, ALERT/RDY on its GPIO, LEDs/buzzer/button on theirs."""
    from drivers.ads import GpioReady
    from drivers.bus import LinuxI2C

    bus = LinuxI2C(config.i2c_bus)
    first = config.adcs[0]
    ready = GpioReady(first.ready_pin, clock) if first.ready_pin is not None else None
    return Rig(Sampler(config, bus, clock, ready), Feedback(config.pins, clock), clock, [], True)

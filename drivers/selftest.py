"""The builder's once-over of a finished device (``pfmt selftest``): every part the configuration
names, one PASS/FAIL line each — the I2C bus and who answers on it, each ADC channel read at its
rate and inside its sensor's valid output, the button, each LED of the bar and of the status
light, each tone, and the real-time clock.

What software can see, it checks by itself: a chip answering at its address, the conversion
rate, the voltage, the button's edge, the level a pin is driven to. Whether an LED actually
*lights* or the buzzer actually *sounds* only a person can tell, so with ``confirm`` (the real
device) each is shown in turn and the builder presses the button to say she saw or heard it; no
press within the time is a FAIL. On the emulated device the mock pins are read back instead.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np

from drivers.clock import Clock
from drivers.config import DeviceConfig
from drivers.feedback import COLOURS, Feedback
from drivers.rtc import RTC_ADDRESS, rtc_name
from drivers.sampler import Sampler

READ_S = 1.0          # each channel is read this long
RATE_TOLERANCE = 0.15  # the achieved rate within ±15 % of the configured (the chip's clock is ±10 %)
BUTTON_WAIT_S = 20.0  # the builder has this long to press the button
CONFIRM_S = 5.0       # … and to confirm each LED and tone with a press
TONES_HZ = (262.0, 523.0, 1047.0)


@dataclass(frozen=True)
class Check:
    part: str
    ok: bool | None  # None: a recommended part is missing (WARN); the device works without it
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'WARN' if self.ok is None else 'FAIL'}  {self.part:<18} {self.detail}"


class SelfTest:
    """Runs the checks in order (each yields as soon as it is known, so the builder sees progress)."""

    def __init__(self, config: DeviceConfig, bus, sampler: Sampler, feedback: Feedback, clock: Clock,
                 confirm: bool, wait: Callable[[float], None]) -> None:
        self.config, self.bus, self.sampler, self.fb, self.clock = config, bus, sampler, feedback, clock
        self.confirm, self.wait = confirm, wait

    def run(self) -> Iterator[Check]:
        yield from self.i2c()
        yield from self.channels()
        yield self.button()
        yield from self.leds()
        yield from self.tones()
        yield self.rtc()

    # --- the bus and the ADCs ----------------------------------------------------------------
    def i2c(self) -> Iterator[Check]:
        try:
            found = set(self.bus.scan())
        except OSError as e:
            yield Check("i2c bus", False, f"bus {self.config.i2c_bus} cannot be scanned ({e})")
            return
        yield Check("i2c bus", True, f"bus {self.config.i2c_bus}: " +
                    (", ".join(f"0x{a:02x}" for a in sorted(found)) or "nobody answers"))
        for a in self.config.adcs:
            yield Check(f"adc 0x{a.address:02x}", a.address in found,
                        f"{a.model} answers" if a.address in found else
                        f"{a.model} does not answer: check its power, SDA/SCL and the ADDR strap "
                        f"(GND 0x48, VDD 0x49, SDA 0x4a, SCL 0x4b)")

    def channels(self) -> Iterator[Check]:
        s = self.sampler
        s.open()
        blocks = []
        end = self.clock.now() + READ_S
        while self.clock.now() < end:
            blocks.append(s.read_block())
        t = np.concatenate([b.t for b in blocks]) if blocks else np.zeros(0)
        volts = np.concatenate([b.volts for b in blocks]) if blocks else np.zeros((0, len(self.config.channels)))
        rate = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 2 and t[-1] > t[0] else 0.0
        want = self.config.rate_hz
        rate_ok = abs(rate - want) <= RATE_TOLERANCE * want
        yield Check("sampling", rate_ok, f"{rate:.0f} frames/s of {want:g} configured, "
                    f"{s.stats.errors} I2C errors, {s.stats.skipped} frames lost")
        for k, c in enumerate(self.config.channels):
            if not len(volts):
                yield Check(c.name, False, "no reading")
                continue
            v = volts[:, k]
            med, sd = float(np.median(v)), float(np.std(v))
            lo, hi = c.valid_v or (-np.inf, np.inf)
            ok = bool(lo <= med <= hi)
            value = (med - c.offset_v) / c.volts_per_unit
            where = f"{med:.3f} V = {value:.1f} {c.unit} (noise {1000 * sd:.1f} mV; valid {lo:g}–{hi:g} V)"
            yield Check(c.name, ok, where if ok else f"{where}: the sensor is unplugged, unpowered or miswired")

    # --- the button, the lights, the buzzer ---------------------------------------------------
    def _pressed_within(self, seconds: float) -> bool:
        """A press (and release) of the button within ``seconds``."""
        changes = self.fb.button_changes
        changes.clear()
        end = self.clock.now() + seconds
        while self.clock.now() < end:
            self.wait(min(0.05, end - self.clock.now()))
            self.fb.player.tick()
            if any(pressed for _, pressed in changes):
                return True
        return False

    def button(self) -> Check:
        pin = self.config.pins.button
        if self._pressed_within(BUTTON_WAIT_S):
            return Check("button", True, f"GPIO{pin}: press seen")
        return Check("button", False, f"GPIO{pin}: no press in {BUTTON_WAIT_S:g} s (wired to GND? pulled up?)")

    def _shown(self, part: str, what: str, level: Callable[[], float]) -> Check:
        """After showing something: read back (emulated) or ask for a press (the real device)."""
        if self.confirm:
            seen = self._pressed_within(CONFIRM_S)
            return Check(part, seen, f"{what}: confirmed" if seen else f"{what}: not confirmed in {CONFIRM_S:g} s")
        driven = level()
        return Check(part, driven > 0, f"{what}: pin driven to {driven:g}")

    def leds(self) -> Iterator[Check]:
        fb = self.fb
        for i, led in enumerate(fb.bar):
            fb.bar.off()
            led.on()
            yield self._shown(f"bar led {i + 1}", f"GPIO{self.config.pins.bar[i]} lit", partial(_value, led))
        fb.bar.off()
        for name, colour in (("red", "warning"), ("green", "correct"), ("blue", "guide")):
            fb.status.color = COLOURS[colour]
            k = ("red", "green", "blue").index(name)
            yield self._shown(f"status {name}", f"GPIO{self.config.pins.status[k]} lit",
                              partial(_value, fb.status, k))
        fb.status.off()

    def tones(self) -> Iterator[Check]:
        fb = self.fb
        for hz in (TONES_HZ if fb.tonal else (0.0,)):
            fb._tone(hz or 1.0)
            what = f"tone {hz:g} Hz" if hz else "buzzer on"
            yield self._shown(what, f"GPIO{self.config.pins.buzzer} {what}", partial(self._buzzing, hz))
            fb._tone(0.0)

    def _buzzing(self, hz: float) -> float:
        """The buzzer pin's duty, when it is at the frequency asked (a tonal buzzer's PWM)."""
        fb = self.fb
        if not fb.tonal:
            return float(fb.buzzer.value)
        pin = fb.buzzer.pwm_device.pin
        freq = pin.frequency or 0.0
        return float(pin.state) if hz and abs(freq - hz) <= 0.02 * hz else 0.0

    # --- the clock ---------------------------------------------------------------------------
    def rtc(self) -> Check:
        name = rtc_name()
        try:
            on_bus = RTC_ADDRESS in set(self.bus.scan())
        except OSError:
            on_bus = False
        if name:
            return Check("clock", True, f"RTC {name} keeps the time")
        if on_bus:
            return Check("clock", None, "a DS3231 answers at 0x68 but no RTC driver: add dtoverlay=i2c-rtc,ds3231")
        return Check("clock", None, "no real-time clock: dates are guessed after a power-off (fit a DS3231; "
                     "set the time with `pfmt clock set`)")


def _value(device, k: int | None = None) -> float:
    """A gpiozero output's level as driven (one colour of an RGB LED with ``k``)."""
    v = device.value
    return float(v[k] if k is not None else v)

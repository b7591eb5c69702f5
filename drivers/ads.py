"""One ADS1x15 chip read through the real ``adafruit-circuitpython-ads1x15`` driver.

The driver (3.0.5) is used for what it does well — the register layout, validated gain/rate
tables, the differential-pair map, code → volts — and three of its habits are worked around here,
each proven by a test in ``tests/test_drivers.py``:

1. *Continuous mode ignores the requested channel after power-on*: ``_write_config(pin)`` in
   continuous mode keeps the MUX already in the config register (AIN0−AIN1 after power-on). We
   first run one single-shot conversion on the wanted input, which puts its MUX in the register,
   and only then switch to continuous mode.
2. *After a change of gain, data rate or mode the next fast read returns the config register*:
   the setters leave the pointer register on CONFIG and ``read()`` then reads without
   re-pointing. Every reconfiguration here ends with a pointed read of the conversion register.
3. *Single-shot polls forever*: a stuck conversion hangs ``AnalogIn.value``. We poll the OS bit
   ourselves against a deadline and raise :class:`ConversionTimeout`.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass

from adafruit_ads1x15.ads1x15 import ADS1x15, Mode
from adafruit_ads1x15.ads1015 import ADS1015
from adafruit_ads1x15.ads1115 import ADS1115
from adafruit_ads1x15.analog_in import AnalogIn

from drivers.bus import I2CBus
from drivers.clock import Clock

MODELS = {"ADS1115": ADS1115, "ADS1015": ADS1015}
GAINS = (2 / 3, 1, 2, 4, 8, 16)
RATES = {"ADS1115": (8, 16, 32, 64, 128, 250, 475, 860),
         "ADS1015": (128, 250, 490, 920, 1600, 2400, 3300)}
FULL_SCALE_V = {2 / 3: 6.144, 1: 4.096, 2: 2.048, 4: 1.024, 8: 0.512, 16: 0.256}


class ConversionTimeout(OSError):
    """The chip did not finish a conversion within its deadline (stuck or absent)."""

    def __init__(self, address: int) -> None:
        super().__init__(errno.ETIMEDOUT, f"ADS1x15 at 0x{address:02x}: conversion not ready in time")


@dataclass(frozen=True)
class Input:
    """What one channel converts: the positive input and optionally the negative one."""

    positive: int
    negative: int | None = None
    gain: float = 1
    data_rate: int = 860


class Chip:
    """One ADS1x15 and the inputs it converts, in continuous mode for a single input (the fast
    path: a 2-byte read per sample) or single-shot round robin for several."""

    def __init__(self, bus: I2CBus, model: str, address: int, inputs: list[Input], clock: Clock,
                 ready: bool = False) -> None:
        if model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, not {model!r}")
        if not inputs:
            raise ValueError("a chip needs at least one input")
        self.bus, self.model, self.address, self.inputs, self.clock = bus, model, address, inputs, clock
        self.ready = ready
        self.continuous = len(inputs) == 1
        self._ads: ADS1x15 | None = None
        self.analog: list[AnalogIn] = []

    @property
    def ads(self) -> ADS1x15:
        """The adafruit driver object (after :meth:`configure`)."""
        if self._ads is None:
            raise RuntimeError(f"ADS1x15 at 0x{self.address:02x}: configure() it first")
        return self._ads

    # --- bring-up ----------------------------------------------------------------------------
    def configure(self) -> None:
        """(Re)initialise the chip from scratch; also the recovery path after a fault."""
        first = self.inputs[0]
        # The constructor probes the address (ValueError if absent) and writes the config.
        try:
            self._ads = MODELS[self.model](self.bus, gain=first.gain, data_rate=first.data_rate,
                                          mode=Mode.SINGLE, address=self.address)
        except ValueError as e:
            raise OSError(errno.EREMOTEIO, str(e)) from None
        self.analog = [AnalogIn(self.ads, i.positive, i.negative) for i in self.inputs]
        if self.ready:
            # Conversion-ready on ALERT/RDY: Hi_thresh MSB = 1, Lo_thresh MSB = 0, queue on.
            # (settable in 3.0.5; its type stubs declare them read-only)
            self.ads.comparator_high_threshold = -32768  # type: ignore[misc]
            self.ads.comparator_low_threshold = 0  # type: ignore[misc]
            self.ads.comparator_queue_length = 1
        if self.continuous:
            self.single_shot(0)  # workaround 1: the wanted MUX is now in the register
            self.ads.mode = Mode.CONTINUOUS  # keeps the register's MUX
            self._repoint()  # workaround 2
            self.ads._last_pin_read = self._mux(0)  # type: ignore[assignment]  # None in its stubs

    def _mux(self, k: int) -> int:
        a = self.analog[k]
        return a._pin_setting if a.is_differential else a._pin_setting + 0x04

    def _repoint(self) -> int:
        return self.ads.get_last_result(False)

    # --- conversions -------------------------------------------------------------------------
    def single_shot(self, k: int) -> int:
        """Convert input k once; poll the OS bit until a deadline (workaround 3). Raw code."""
        ads, inp = self.ads, self.inputs[k]
        # Values were validated against the library's own tables at configuration time; set
        # them without the setters' extra config read/write per sample.
        ads._gain, ads._data_rate = inp.gain, inp.data_rate
        t0 = self.clock.now()
        ads._write_config(self._mux(k))
        period = 1.0 / inp.data_rate
        deadline = t0 + 1.5 * period + 0.002
        self.clock.sleep_until(t0 + 0.9 * period)
        while not ads._conversion_complete():
            if self.clock.now() > deadline:
                raise ConversionTimeout(self.address)
            self.clock.sleep_until(self.clock.now() + period / 20)
        return ads.get_last_result(False)

    def read_latest(self) -> int:
        """Continuous mode: the newest conversion, 2 bytes without re-pointing."""
        return self.ads.get_last_result(True)

    def read_all(self) -> list[int]:
        """One raw code per input."""
        if self.continuous:
            return [self.read_latest()]
        return [self.single_shot(k) for k in range(len(self.inputs))]

    def signed(self, raw: int) -> int:
        """The raw register as the library's signed 16-bit value (12-bit left-justified on 1015)."""
        return self.ads._conversion_value(raw)

    def volts(self, k: int, raw: int) -> float:
        a = self.analog[k]
        gain = self.ads._gain
        self.ads._gain = self.inputs[k].gain
        try:
            return a.convert_to_voltage(self.signed(raw))
        finally:
            self.ads._gain = gain

    def at_rail(self, raw: int) -> bool:
        """The code is at either end of the range: the input is beyond full scale."""
        return bool(at_rail(self.signed(raw), self.ads.bits))


def at_rail(signed, bits: int):
    """Signed 16-bit value(s) (12-bit left-justified on the 1015) at either end of the range."""
    v = signed >> (16 - bits)
    full = 1 << (bits - 1)
    return (v >= full - 1) | (v <= -full)


class GpioReady:
    """The ALERT/RDY pin on a GPIO (gpiozero): the chip pulls it low for ~8 µs at the end of each
    conversion; the falling edge sets an event the sampler waits on with a deadline."""

    def __init__(self, pin: int, clock: Clock, pin_factory=None) -> None:
        import threading

        from gpiozero import DigitalInputDevice

        self.clock = clock
        self._edge = threading.Event()
        self._t = 0.0
        # Open-drain, active low: pull up, and "active" is the low level.
        self.device = DigitalInputDevice(pin, pull_up=True, pin_factory=pin_factory)
        self.device.when_activated = self._on_edge

    def _on_edge(self) -> None:
        self._t = self.clock.now()
        self._edge.set()

    def wait(self, deadline: float) -> float | None:
        timeout = deadline - self.clock.now()
        if not self._edge.wait(max(0.0, timeout)):
            return None
        self._edge.clear()
        return self._t

    def close(self) -> None:
        self.device.close()

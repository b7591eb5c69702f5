"""A register-level ADS1115/ADS1015 behind the I2C bus interface the adafruit driver uses.

The real ``adafruit_ads1x15`` library talks to :class:`EmulatedI2C` exactly as it talks to the
Pi's bus (try_lock/unlock/writeto/readfrom_into/writeto_then_readfrom), so tests and the
simulation mode of ``pfmt`` run the production driver code, its bugs included. The chip model
follows the datasheet (TI SBAS444): pointer register, config (OS, MUX, PGA, MODE, DR, COMP_*),
conversion and threshold registers, data-rate timing with a per-chip oscillator error, the
conversion-ready function of ALERT/RDY, and 12-bit left-justified results on the ADS1015.

Faults are injected per chip or per bus over a time window: ``nack`` (address not acknowledged,
EREMOTEIO), ``eio`` (random I/O errors), ``stuck`` (conversions stop), ``lockup`` (the bus hangs,
ETIMEDOUT), ``saturate`` (input beyond full scale) and ``unplugged`` (floating input that drifts
to a rail with large noise).
"""
from __future__ import annotations

import errno
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from drivers.clock import Clock

# Register pointers and config fields (datasheet §9.6).
POINTER_CONVERSION, POINTER_CONFIG, POINTER_LO_THRESH, POINTER_HI_THRESH = 0, 1, 2, 3
CONFIG_RESET = 0x8583  # OS=1, AIN0-AIN1, ±2.048 V, single-shot, 128/1600 SPS, comparator off
OS_BIT, MODE_SINGLE = 0x8000, 0x0100

FULL_SCALE_V = (6.144, 4.096, 2.048, 1.024, 0.512, 0.256, 0.256, 0.256)  # PGA code → ±V
ADS1115_RATES = (8, 16, 32, 64, 128, 250, 475, 860)  # DR code → SPS
ADS1015_RATES = (128, 250, 490, 920, 1600, 2400, 3300, 3300)
# MUX code → (positive input, negative input or None for GND).
MUX_INPUTS = ((0, 1), (0, 3), (1, 3), (2, 3), (0, None), (1, None), (2, None), (3, None))

#: A signal source gives the voltage on AIN0..AIN3 at time t (seconds of the chip's clock).
Source = Callable[[float], Sequence[float]]

FAULTS = ("nack", "eio", "stuck", "lockup", "saturate", "unplugged")

# Wire time of one transaction at 400 kHz: ~9 bits per byte plus start/address/stop.
_BIT_S = 1 / 400_000


def _wire_time(n_bytes: int) -> float:
    return (n_bytes + 1) * 9 * _BIT_S + 2 * _BIT_S


def constant_source(*volts: float) -> Source:
    """Fixed voltages on AIN0..AIN3 (missing inputs at 0 V)."""
    v = tuple(volts) + (0.0,) * (4 - len(volts))
    return lambda t: v


def array_source(time_s: np.ndarray, volts: dict[int, np.ndarray], loop: bool = False) -> Source:
    """Voltages sampled at ``time_s`` on some inputs (AIN number → array), linearly interpolated;
    the last value holds after the end unless ``loop`` replays from the start."""
    t0, span = float(time_s[0]), float(time_s[-1] - time_s[0])
    dt = span / max(1, len(time_s) - 1)
    # Memoryviews index to Python floats (numpy scalars are ~5× slower to do arithmetic on, and
    # this runs once per conversion) without copying the arrays.
    arrays = [(k, memoryview(np.ascontiguousarray(v, float)), len(v)) for k, v in volts.items()]  # type: ignore[arg-type]  # ndarray is a buffer

    def source(t: float) -> Sequence[float]:
        x = t - t0
        if loop and span > 0:
            x %= span + dt
        pos = x / dt
        i = int(pos)
        out = [0.0, 0.0, 0.0, 0.0]
        for k, a, n in arrays:
            if i < 0:
                out[k] = a[0]
            elif i >= n - 1:
                out[k] = a[n - 1]
            else:
                f = pos - i
                out[k] = a[i] * (1 - f) + a[i + 1] * f
        return out
    return source


@dataclass(frozen=True)
class Transducer:
    """A real sensor's transfer, which the configured (nominal) one only approximates:
    ``volts = offset_v + volts_per_unit · x · (1 + curvature · x / full_scale)``, clipped to the
    sensor's output rails. ``curvature`` is the non-linearity at full scale (0.05 = 5 %)."""

    volts_per_unit: float
    offset_v: float
    curvature: float = 0.0
    full_scale: float = 100.0
    rails: tuple[float, float] = (0.02, 4.9)

    def volts(self, x):
        v = self.offset_v + self.volts_per_unit * x * (1.0 + self.curvature * x / self.full_scale)
        return np.clip(v, *self.rails)


def function_source(functions: dict[int, Callable[[float], float]]) -> Source:
    """Voltages computed at each conversion's instant (AIN number → f(t) in volts)."""
    def source(t: float) -> Sequence[float]:
        out = [0.0, 0.0, 0.0, 0.0]
        for k, f in functions.items():
            out[k] = f(t)
        return out
    return source


@dataclass
class Fault:
    kind: str
    start: float
    end: float
    probability: float = 1.0  # for eio: share of transactions that fail

    def active(self, t: float) -> bool:
        return self.start <= t < self.end


class Ads1x15Emulator:
    """One chip. ``model`` is "ADS1115" or "ADS1015"; ``rate_error`` is the oscillator's
    relative error (the datasheet allows ±10 %), so a sampler that trusts the nominal rate is
    caught by the tests."""

    def __init__(self, clock: Clock, source: Source, model: str = "ADS1115", address: int = 0x48,
                 rate_error: float = 0.0, noise_lsb: float = 0.0, seed: int = 0) -> None:
        if model not in ("ADS1115", "ADS1015"):
            raise ValueError(f"model must be ADS1115 or ADS1015, not {model!r}")
        self.clock, self.source, self.model, self.address = clock, source, model, address
        self.rate_error, self.noise_lsb = rate_error, noise_lsb
        self.rng = np.random.default_rng(seed)
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        self.bits = 16 if model == "ADS1115" else 12
        self._period_key: tuple[int, float] | None = None  # (DR bits, rate error) of the cached period
        self._period = 0.0
        self.power_on()

    # --- state -------------------------------------------------------------------------------
    def power_on(self) -> None:
        self.pointer = POINTER_CONVERSION
        self.config = CONFIG_RESET
        self.lo_thresh, self.hi_thresh = 0x8000, 0x7FFF
        self.conversion = 0
        self.busy_until = -math.inf  # single-shot conversion end
        self.cont_start: float | None = None  # continuous mode: time the sequence started
        self.cont_done = 0  # continuous conversions already latched
        self.conversions = 0  # total completed, for tests

    @property
    def rates(self) -> tuple[int, ...]:
        return ADS1115_RATES if self.model == "ADS1115" else ADS1015_RATES

    def period(self) -> float:
        """Seconds per conversion at the current DR, with this chip's oscillator error."""
        key = ((self.config >> 5) & 7, self.rate_error)
        if key != self._period_key:  # asked on every transaction; DR changes only on a config write
            self._period_key, self._period = key, 1.0 / (self.rates[key[0]] * (1 + self.rate_error))
        return self._period

    def ready_mode(self) -> bool:
        """ALERT/RDY works as conversion-ready: Hi_thresh MSB 1, Lo_thresh MSB 0, queue enabled."""
        return bool(self.hi_thresh & 0x8000) and not (self.lo_thresh & 0x8000) and (self.config & 3) != 3

    def inject(self, kind: str, start: float, end: float = math.inf, probability: float = 1.0) -> None:
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; allowed: {', '.join(FAULTS)}")
        self.faults.append(Fault(kind, start, end, probability))

    def fault(self, kind: str, t: float) -> Fault | None:
        if not self.faults:  # the common case, asked several times per conversion
            return None
        for f in self.faults:
            if f.kind == kind and f.active(t):
                return f
        return None

    # --- conversions -------------------------------------------------------------------------
    def _convert(self, t: float) -> int:
        """The 16-bit conversion register content for the current MUX/PGA at time t."""
        pos, neg = MUX_INPUTS[(self.config >> 12) & 7]
        fs = FULL_SCALE_V[(self.config >> 9) & 7]
        if self.fault("saturate", t):
            volts = 2 * fs
        elif self.fault("unplugged", t):
            # A floating high-impedance input is pulled toward the rail by leakage and picks up
            # hum: mostly near full scale with large swings.
            volts = fs * (0.9 + 0.3 * self.rng.standard_normal())
        else:
            v = self.source(t)
            volts = v[pos] - (v[neg] if neg is not None else 0.0)
        bits = self.bits
        full = 1 << (bits - 1)
        code = volts / fs * full
        if self.noise_lsb:
            code += self.rng.normal(0.0, self.noise_lsb)
        code = int(max(-full, min(full - 1, math.floor(code + 0.5))))
        code <<= 16 - bits
        return code & 0xFFFF

    def _advance(self) -> None:
        """Latch every conversion that has completed by now (continuous or single-shot)."""
        t = self.clock.now()
        if self.fault("stuck", t):
            return
        if self.config & MODE_SINGLE:
            if self.busy_until != -math.inf and t >= self.busy_until:
                self.conversion = self._convert(self.busy_until)
                self.conversions += 1
                self.busy_until = -math.inf
                self.config |= OS_BIT
            return
        if self.cont_start is None:
            return
        period = self.period()
        n = int((t - self.cont_start) / period)
        if n > self.cont_done:
            # Only the newest result survives in the register; earlier ones were overwritten.
            t_last = self.cont_start + n * period
            self.conversion = self._convert(t_last)
            self.conversions += n - self.cont_done
            self.cont_done = n

    def next_ready(self, after: float) -> float | None:
        """Time of the next conversion-ready pulse after ``after`` (None: none will come)."""
        with self.lock:
            if not self.ready_mode() or self.fault("stuck", after):
                return None
            if self.config & MODE_SINGLE:
                return self.busy_until if self.busy_until > after else None
            if self.cont_start is None:
                return None
            k = math.floor((after - self.cont_start) / self.period() + 1e-6) + 1
            return self.cont_start + k * self.period()

    # --- register access (called by the bus) -------------------------------------------------
    def write(self, data: bytes) -> None:
        with self.lock:
            self._advance()
            if not data:
                return  # address probe
            self.pointer = data[0] & 3
            if len(data) < 3:
                return
            value = (data[1] << 8) | data[2]
            if self.pointer == POINTER_CONFIG:
                self._write_config(value)
            elif self.pointer == POINTER_LO_THRESH:
                self.lo_thresh = value
            elif self.pointer == POINTER_HI_THRESH:
                self.hi_thresh = value
            # The conversion register is read-only.

    def _write_config(self, value: int) -> None:
        t = self.clock.now()
        start_single = bool(value & OS_BIT) and bool(value & MODE_SINGLE) and self.busy_until == -math.inf
        self.config = (value & 0x7FFF) | (self.config & OS_BIT)
        if value & MODE_SINGLE:
            self.cont_start = None
            if start_single:
                self.config &= ~OS_BIT
                self.busy_until = t + self.period() + 25e-6  # wake-up from power-down
        else:
            # Continuous: the conversion sequence restarts with the new settings.
            self.config &= ~OS_BIT
            self.busy_until = -math.inf
            self.cont_start, self.cont_done = t, 0

    def read(self, n: int) -> bytes:
        with self.lock:
            self._advance()
            reg = (self.conversion, self.config, self.lo_thresh, self.hi_thresh)[self.pointer]
            out = bytes(((reg >> 8) & 0xFF, reg & 0xFF))
            return (out * ((n + 1) // 2))[:n]


class EmulatedI2C:
    """The bus: the interface of busio.I2C that the adafruit library needs, with one lock
    owner at a time, per-transaction wire time on the clock, and bus-level faults."""

    def __init__(self, clock: Clock, seed: int = 0) -> None:
        self.clock = clock
        self.chips: dict[int, Ads1x15Emulator] = {}
        self.faults: list[Fault] = []
        self.rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self.transactions = 0

    def attach(self, chip: Ads1x15Emulator) -> Ads1x15Emulator:
        if chip.address in self.chips:
            raise ValueError(f"address 0x{chip.address:02x} already on the bus")
        self.chips[chip.address] = chip
        return chip

    def inject(self, kind: str, start: float, end: float = math.inf) -> None:
        """Bus-wide faults: ``lockup`` (every transaction times out)."""
        if kind != "lockup":
            raise ValueError(f"bus faults are 'lockup' only; chip faults go to the chip ({kind!r})")
        self.faults.append(Fault(kind, start, end))

    # --- busio.I2C interface -----------------------------------------------------------------
    def try_lock(self) -> bool:
        return self._lock.acquire(blocking=False)

    def unlock(self) -> None:
        self._lock.release()

    def deinit(self) -> None:
        return None

    def scan(self) -> list[int]:
        return sorted(self.chips)

    def _chip(self, address: int, n_bytes: int) -> Ads1x15Emulator:
        self.transactions += 1
        t = self.clock.now()
        if self.faults and any(f.active(t) for f in self.faults):
            self.clock.spend(0.025)  # the kernel driver gives up after its timeout
            raise OSError(errno.ETIMEDOUT, "I2C bus timed out (SDA held low)")
        self.clock.spend(_wire_time(n_bytes))
        chip = self.chips.get(address)
        if chip is None or chip.fault("nack", t):
            raise OSError(errno.EREMOTEIO, f"no acknowledge from 0x{address:02x}")
        f = chip.fault("eio", t)
        if f and self.rng.random() < f.probability:
            raise OSError(errno.EIO, f"I/O error talking to 0x{address:02x}")
        return chip

    def writeto(self, address: int, buffer: bytes | bytearray, *, start: int = 0,
                end: int | None = None, stop: bool = True) -> None:
        data = bytes(buffer[start:end])
        self._chip(address, len(data)).write(data)

    def readfrom_into(self, address: int, buffer: bytearray, *, start: int = 0,
                      end: int | None = None, stop: bool = True) -> None:
        end = len(buffer) if end is None else end
        buffer[start:end] = self._chip(address, end - start).read(end - start)

    def writeto_then_readfrom(self, address: int, buffer_out: bytes | bytearray, buffer_in: bytearray,
                              *, out_start: int = 0, out_end: int | None = None, in_start: int = 0,
                              in_end: int | None = None, stop: bool = False) -> None:
        out = bytes(buffer_out[out_start:out_end])
        in_end = len(buffer_in) if in_end is None else in_end
        chip = self._chip(address, len(out) + in_end - in_start)
        chip.write(out)
        buffer_in[in_start:in_end] = chip.read(in_end - in_start)


class EmulatedReady:
    """The ALERT/RDY line of an emulated chip, as the sampler's ready line: waits (on the shared
    clock) for the chip's next conversion-ready pulse, or returns None at the deadline."""

    def __init__(self, chip: Ads1x15Emulator, clock: Clock) -> None:
        self.chip, self.clock = chip, clock
        self._last = -math.inf

    def wait(self, deadline: float) -> float | None:
        t = self.chip.next_ready(max(self._last, self.clock.now()))
        if t is None or t > deadline:
            self.clock.sleep_until(deadline)
            return None
        self.clock.sleep_until(t)
        self._last = t
        return t

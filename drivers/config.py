"""The hardware part of the device configuration (TOML): board, ADC chips, channels, pins, sampling.

Typed and bounded in the manner of Klipper's config: every option has a type, a range or a set
of allowed values and a default, and an unknown option is an error that names the option and its
section — a typo must never silently fall back to a default on a medical device. Example::

    [board]
    i2c_bus = 1
    pin_factory = "lgpio"   # gpiozero's pins: lgpio on the Pi, mock for the emulated device

    [sampling]
    rate_hz = 860

    [[adc]]
    model = "ADS1115"
    address = 0x48
    ready_pin = 17          # ALERT/RDY; omit to poll against deadlines

    [[channel]]
    role = "pelvic"
    unit = "cmH2O"
    adc = 0x48
    positive = 0
    gain = 1
    data_rate = 860
    volts_per_unit = 0.0225  # sensor transfer: volts = offset_v + volts_per_unit × value
    offset_v = 0.2
    valid_v = [0.1, 4.5]     # outside this the probe is unplugged

    [pins]
    bar = [5, 6, 13, 19, 26, 21, 20, 16]
    status = [22, 23, 24]    # red, green, blue
    buzzer = 12
    button = 4

Channels carry a ``role`` and a ``unit`` as labels (the column ``<role>_<unit>`` of what is
recorded); which labels are allowed is the caller's knowledge, passed in as ``check_channel`` and
``required_roles`` (``device.config`` passes the recording vocabulary), so this layer stays free
of what the signals mean.
"""
from __future__ import annotations

import math
import re
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from drivers.ads import GAINS, RATES
from drivers.errors import N_, ConfigError
from drivers.pins import PIN_FACTORIES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 on older Raspberry Pi OS
    import tomli as tomllib

#: BCM GPIO numbers on the 40-pin header; 2/3 are the I2C bus the ADC uses.
GPIO_RANGE = range(4, 28)
I2C_PINS = {2: "I2C SDA", 3: "I2C SCL"}
DIFFERENTIAL_PAIRS = ((0, 1), (0, 3), (1, 3), (2, 3))


#: A value or an array of them (the transfer is applied to both).
_Num = TypeVar("_Num", float, np.ndarray)


@dataclass(frozen=True)
class AdcConfig:
    model: str = "ADS1115"
    address: int = 0x48
    ready_pin: int | None = None


@dataclass(frozen=True)
class ChannelConfig:
    role: str
    unit: str
    adc: int
    positive: int
    negative: int | None
    gain: float
    data_rate: int
    volts_per_unit: float
    offset_v: float
    valid_v: tuple[float, float] | None

    @property
    def name(self) -> str:
        return f"{self.role}_{self.unit}"

    def to_volts(self, value: _Num) -> _Num:
        return self.offset_v + self.volts_per_unit * value


@dataclass(frozen=True)
class PinsConfig:
    bar: tuple[int, ...] = (5, 6, 13, 19, 26, 21, 20, 16)
    status: tuple[int, int, int] = (22, 23, 24)
    buzzer: int = 12
    tonal: bool = True
    button: int = 4


@dataclass(frozen=True)
class DeviceConfig:
    board: str = "raspberry-pi"
    i2c_bus: int = 1
    rate_hz: float = 860.0
    block_s: float = 0.05
    queue_blocks: int = 200
    adcs: tuple[AdcConfig, ...] = ()
    channels: tuple[ChannelConfig, ...] = ()
    pins: PinsConfig = field(default_factory=PinsConfig)
    pin_factory: str = "lgpio"  # gpiozero's pin factory on the device (drivers.pins)

    def channel(self, role: str) -> ChannelConfig:
        for c in self.channels:
            if c.role == role:
                return c
        raise ConfigError(N_("no channel with role {role!r} in the device configuration"), role=role)

    def adc(self, address: int) -> AdcConfig:
        return next(a for a in self.adcs if a.address == address)


# --- typed, bounded options ------------------------------------------------------------------
_MISSING = object()


class _Section:
    """Reads one table, checking every option and remembering which ones were used."""

    def __init__(self, table: Any, where: str) -> None:
        if not isinstance(table, dict):
            raise ConfigError(N_("[{where}] must be a table of options, not {name}"),
                              where=where, name=type(table).__name__)
        self.table, self.where = table, where
        self.used: set[str] = set()

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = _MISSING, *,
            lo: float | int | None = None, hi: float | int | None = None, choices: tuple[Any, ...] | None = None,
            check: Callable[[Any], str | None] | None = None) -> Any:
        self.used.add(name)
        if name not in self.table:
            if default is _MISSING:
                raise ConfigError(N_("[{where}] option {name!r} is required"), where=self.where, name=name)
            return default
        v: Any = self.table[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if (isinstance(v, bool) and bool not in kinds) or not isinstance(v, kinds):
            want = " or ".join(k.__name__ for k in kinds)
            raise ConfigError(N_("[{where}] option {name!r} must be {want}, not {v!r}"),
                              where=self.where, name=name, want=want, v=v)
        if isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(N_("[{where}] option {name!r} must be finite, not {v!r}"),
                              where=self.where, name=name, v=v)
        if choices is not None and v not in choices:
            raise ConfigError(N_("[{where}] option {name!r} = {value}; allowed: {items}"),
                              where=self.where, name=name, value=_fmt(v, name),
                              items=', '.join(_fmt(c, name) for c in choices))
        if (lo is not None and v < lo) or (hi is not None and v > hi):  # type: ignore[operator]  # a number: kind checked
            raise ConfigError(N_("[{where}] option {name!r} = {value} is outside {value2}…{value3}"),
                              where=self.where, name=name, value=_fmt(v, name), value2=_fmt(lo, name),
                              value3=_fmt(hi, name))
        if check is not None and (msg := check(v)):
            raise ConfigError(N_("[{where}] option {name!r}: {msg}"), where=self.where, name=name, msg=msg)
        return v

    def done(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            raise ConfigError(N_("[{where}] unknown option {value!r}; allowed: {items}"),
                              where=self.where, value=unknown[0], items=', '.join(sorted(self.used)))


def _fmt(v: Any, name: str = "") -> str:
    """I2C addresses in hex, the 2/3 gain as a fraction, the rest as written."""
    if isinstance(v, float) and abs(v - 2 / 3) < 1e-9:
        return "2/3"
    if name in ("address", "adc") and isinstance(v, int) and not isinstance(v, bool):
        return f"0x{v:02x}"
    return str(v)


def _gpio(v: int) -> str | None:
    if v in I2C_PINS:
        return f"GPIO{v} is the {I2C_PINS[v]} line the ADC uses"
    if v not in GPIO_RANGE:
        return f"GPIO{v} is not a free header GPIO (allowed 4–27)"
    return None


def _gpio_list(n_min: int, n_max: int) -> Callable[[list], str | None]:
    def check(v: list) -> str | None:
        if not n_min <= len(v) <= n_max:
            return f"needs {n_min}–{n_max} GPIO numbers, got {len(v)}"
        for p in v:
            if isinstance(p, bool) or not isinstance(p, int):
                return f"{p!r} is not a GPIO number"
            if msg := _gpio(p):
                return msg
        return None
    return check


#: A channel label: letters and digits (the underscore joins role and unit in the channel's name).
_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


def parse_config(data: dict, source: str = "configuration", *,
                 check_channel: Callable[[str, str], str | None] | None = None,
                 required_roles: tuple[str, ...] = ()) -> DeviceConfig:
    """Validate a parsed TOML document into a :class:`DeviceConfig` (ConfigError otherwise).

    ``check_channel(role, unit)`` returns why a channel's labels are not allowed (None when they
    are); every role in ``required_roles`` must be configured."""
    top = _Section(data, source)
    for name in ("board", "sampling", "pins"):
        top.get(name, dict, {})
    adc_tables = top.get("adc", list, _MISSING)
    ch_tables = top.get("channel", list, _MISSING)
    top.done()

    s = _Section(data.get("board", {}), "board")
    board = s.get("name", str, "raspberry-pi")
    i2c_bus = s.get("i2c_bus", int, 1, lo=0, hi=22)
    factory = s.get("pin_factory", str, "lgpio", choices=PIN_FACTORIES)
    s.done()

    s = _Section(data.get("sampling", {}), "sampling")
    rate_hz = float(s.get("rate_hz", (int, float), 860, lo=8, hi=3300))
    block_s = float(s.get("block_s", (int, float), 0.05, lo=0.005, hi=1.0))
    queue_blocks = s.get("queue_blocks", int, 200, lo=2, hi=100_000)
    s.done()

    adcs: list[AdcConfig] = []
    for i, t in enumerate(adc_tables):
        s = _Section(t, f"adc #{i + 1}")
        a = AdcConfig(model=s.get("model", str, "ADS1115", choices=tuple(RATES)),
                      address=s.get("address", int, 0x48, choices=(0x48, 0x49, 0x4A, 0x4B)),
                      ready_pin=s.get("ready_pin", int, None, check=_gpio))
        s.done()
        if any(b.address == a.address for b in adcs):
            raise ConfigError(N_("[adc #{value}] address {value2} is used by another ADC"),
                              value=i + 1, value2=_fmt(a.address, 'address'))
        adcs.append(a)
    if not adcs:
        raise ConfigError(N_("{source}: at least one [[adc]] is required"), source=source)

    channels: list[ChannelConfig] = []
    for i, t in enumerate(ch_tables):
        where = f"channel #{i + 1}"
        s = _Section(t, where)
        role, unit = s.get("role", str), s.get("unit", str)
        for what, label in (("role", role), ("unit", unit)):
            if not _LABEL.match(label):
                raise ConfigError(N_("[{where}] {what} {label!r} must be letters and digits"),
                                  where=where, what=what, label=label)
        if check_channel is not None and (msg := check_channel(role, unit)):
            raise ConfigError(N_("[{where}] {msg}"), where=where, msg=msg)
        address = s.get("adc", int, adcs[0].address, choices=tuple(a.address for a in adcs))
        model = next(a.model for a in adcs if a.address == address)
        positive = s.get("positive", int, lo=0, hi=3)
        negative = s.get("negative", int, None, lo=0, hi=3)
        if negative is not None and (positive, negative) not in DIFFERENTIAL_PAIRS:
            raise ConfigError(N_("[{where}] differential input {positive}−{negative} is not one the ADS1x15 has; "
                                 "allowed: {items}"),
                              where=where, positive=positive, negative=negative,
                              items=', '.join(f'{p}−{n}' for p, n in DIFFERENTIAL_PAIRS))
        if t.get("gain") == "2/3":  # TOML has no fractions; the ±6.144 V range may be written so
            t = {**t, "gain": 2 / 3}
            s.table = t
        gain = s.get("gain", (int, float), 1, choices=GAINS)
        data_rate = s.get("data_rate", int, RATES[model][-1], choices=RATES[model])
        vpu = float(s.get("volts_per_unit", (int, float),
                          check=lambda v: None if v != 0 else "must not be 0"))
        offset = float(s.get("offset_v", (int, float), 0.0, lo=-6.144, hi=6.144))
        valid = s.get("valid_v", list, None,
                      check=lambda v: None if len(v) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v) and v[0] < v[1]
                      else "must be [low, high] volts with low < high")
        s.done()
        c = ChannelConfig(role, unit, address, positive, negative, gain, data_rate, vpu, offset,
                          (float(valid[0]), float(valid[1])) if valid else None)
        if any(o.role == role for o in channels):
            raise ConfigError(N_("[{where}] role {role!r} is configured twice"), where=where, role=role)
        channels.append(c)
    if not channels:
        raise ConfigError(N_("{source}: at least one [[channel]] is required"), source=source)
    for role in required_roles:
        if not any(c.role == role for c in channels):
            raise ConfigError(N_("{source}: a channel with role {role!r} is required"), source=source, role=role)
    for a in adcs:
        mine = [c for c in channels if c.adc == a.address]
        if not mine:
            raise ConfigError(N_("[adc {value}] has no channel; remove it or add a [[channel]]"),
                              value=_fmt(a.address, 'address'))
        needed = rate_hz * len(mine)
        slow = [c for c in mine if c.data_rate < needed]
        if slow:
            raise ConfigError(N_("[sampling] rate_hz = {rate_hz:g} needs data_rate ≥ {needed:g} on every channel of "
                                 "ADC {value} ({name} has {data_rate})"),
                              rate_hz=rate_hz, needed=needed, value=_fmt(a.address, 'address'), name=slow[0].name,
                              data_rate=slow[0].data_rate)

    s = _Section(data.get("pins", {}), "pins")
    d = PinsConfig()
    pins = PinsConfig(bar=tuple(s.get("bar", list, list(d.bar), check=_gpio_list(1, 10))),
                      status=tuple(s.get("status", list, list(d.status), check=_gpio_list(3, 3))),
                      buzzer=s.get("buzzer", int, d.buzzer, check=_gpio),
                      tonal=s.get("tonal", bool, d.tonal),
                      button=s.get("button", int, d.button, check=_gpio))
    s.done()
    used: dict[int, str] = {}
    for what, nums in (("bar", pins.bar), ("status", pins.status), ("buzzer", (pins.buzzer,)),
                       ("button", (pins.button,)),
                       ("ready_pin", tuple(a.ready_pin for a in adcs if a.ready_pin is not None))):
        for p in nums:
            if p in used:
                raise ConfigError(N_("[pins] GPIO{p} is used twice ({value} and {what})"),
                                  p=p, value=used[p], what=what)
            used[p] = what
    return DeviceConfig(board, i2c_bus, rate_hz, block_s, queue_blocks, tuple(adcs), tuple(channels), pins,
                        factory)


MAX_TOML_BYTES = 1_000_000


def read_toml(path: str | Path) -> dict:
    """A TOML file as a dict; ConfigError naming the file when it cannot be read or parsed."""
    path = Path(path)
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_TOML_BYTES:
            raise ConfigError(N_("{path}: a device configuration is a regular file of at most {value} kB (not a "
                                 "pipe, a device or a folder)"), path=path, value=MAX_TOML_BYTES // 1000)
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(N_("{path}: cannot read the device configuration ({strerror})"),
                          path=path, strerror=e.strerror) from None
    except UnicodeDecodeError:
        raise ConfigError(N_("{path}: not UTF-8 text; a device configuration is a TOML file"), path=path) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(N_("{path}: not valid TOML ({e})"), path=path, e=e) from None
    except RecursionError:
        raise ConfigError(N_("{path}: nested too deeply to be a device configuration"), path=path) from None

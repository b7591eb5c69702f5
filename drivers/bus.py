"""The Pi's I2C bus without ``import board``: Blinka's generic-Linux I2C (Adafruit_PureIO over
/dev/i2c-N) wrapped with the try_lock/unlock the adafruit drivers expect."""
from __future__ import annotations

import os
import threading
from typing import Protocol

from drivers.errors import N_, HardwareError


class I2CBus(Protocol):
    """What the adafruit ADS1x15 driver needs of an I2C bus (busio.I2C's interface): the real
    bus (:class:`LinuxI2C`) and the emulated one (``drivers.emulator.EmulatedI2C``) both are one."""

    def try_lock(self) -> bool: ...

    def unlock(self) -> None: ...

    def writeto(self, address: int, buffer: bytes | bytearray, *, start: int = 0, end: int | None = None,
                stop: bool = True) -> None: ...

    def readfrom_into(self, address: int, buffer: bytearray, *, start: int = 0, end: int | None = None,
                      stop: bool = True) -> None: ...

    def writeto_then_readfrom(self, address: int, buffer_out: bytes | bytearray, buffer_in: bytearray, *,
                              out_start: int = 0, out_end: int | None = None, in_start: int = 0,
                              in_end: int | None = None, stop: bool = False) -> None: ...


class LinuxI2C:
    """busio.I2C's interface on /dev/i2c-N. The kernel driver sets the clock (400 kHz via
    ``dtparam=i2c_arm_baudrate=400000``: one ADS1115 needs it for 860 SPS)."""

    def __init__(self, bus_number: int) -> None:
        path = f"/dev/i2c-{bus_number}"
        if not os.path.exists(path):
            raise HardwareError(N_("{path} does not exist: enable I2C (raspi-config → Interface Options → I2C) or "
                                   "set [board] i2c_bus"), path=path)
        from adafruit_blinka.microcontroller.generic_linux.i2c import I2C

        try:
            self._bus = I2C(bus_number)
        except (OSError, RuntimeError) as e:
            raise HardwareError(N_("{path}: cannot open the I2C bus ({e})"), path=path, e=e) from None
        self._lock = threading.Lock()

    def try_lock(self) -> bool:
        return self._lock.acquire(blocking=False)

    def unlock(self) -> None:
        self._lock.release()

    def scan(self) -> list[int]:
        return self._bus.scan()

    def writeto(self, address: int, buffer: bytes | bytearray, *, start: int = 0, end: int | None = None,
                stop: bool = True) -> None:
        self._bus.writeto(address, buffer, start=start, end=end, stop=stop)

    def readfrom_into(self, address: int, buffer: bytearray, *, start: int = 0, end: int | None = None,
                      stop: bool = True) -> None:
        self._bus.readfrom_into(address, buffer, start=start, end=end, stop=stop)

    def writeto_then_readfrom(self, address: int, buffer_out: bytes | bytearray, buffer_in: bytearray, *,
                              out_start: int = 0, out_end: int | None = None, in_start: int = 0,
                              in_end: int | None = None, stop: bool = False) -> None:
        self._bus.writeto_then_readfrom(address, buffer_out, buffer_in, out_start=out_start,
                                        out_end=out_end, in_start=in_start, in_end=in_end, stop=stop)

    def deinit(self) -> None:
        return None


def on_raspberry_pi() -> bool:
    """True on a Raspberry Pi (device-tree model string), without importing board."""
    try:
        with open("/proc/device-tree/model", "rb") as f:
            return b"Raspberry Pi" in f.read()
    except OSError:
        return False

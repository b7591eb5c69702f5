"""Clocks: every wait in drivers/ goes through one, so the same sampler runs in real time on the
Pi and in virtual time in tests (60 s of 860 SPS in well under a second, deterministically)."""
from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""

    def sleep_until(self, t: float) -> None:
        """Return at or after time ``t``."""

    def spend(self, seconds: float) -> None:
        """Account for work that takes time on the real bus (an I2C transaction).

        Real time passes by itself, so the real clock does nothing; the virtual clock advances."""


class RealClock:
    """time.monotonic, with sleep that never oversleeps by more than the OS does."""

    def now(self) -> float:
        return time.monotonic()

    def sleep_until(self, t: float) -> None:
        dt = t - time.monotonic()
        if dt > 0:
            time.sleep(dt)

    def spend(self, seconds: float) -> None:
        return None


class ScaledClock:
    """Real time run ``speed`` times faster (``pfmt train --speed``): the emulated chip, the
    sampler and the session all see the same accelerated seconds."""

    def __init__(self, speed: float = 1.0) -> None:
        if not speed > 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        self._t0 = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._t0) * self.speed

    def sleep_until(self, t: float) -> None:
        dt = (t - self.now()) / self.speed
        if dt > 0:
            time.sleep(dt)

    def spend(self, seconds: float) -> None:
        return None


class VirtualClock:
    """Time that moves only when someone sleeps or spends; thread-safe, never goes backwards."""

    def __init__(self, start: float = 0.0) -> None:
        self._t = start
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._t

    def sleep_until(self, t: float) -> None:
        with self._lock:
            if t > self._t:
                self._t = t

    def spend(self, seconds: float) -> None:
        with self._lock:
            self._t += seconds

"""Sampler benchmark: software overhead per sample and achieved vs requested rate, through the
real adafruit driver and the emulated chips (``pfmt bench --part sampler``)."""
from __future__ import annotations

import time

import numpy as np

from device.config import DeviceConfig, default_config
from drivers.clock import Clock, RealClock, VirtualClock
from drivers.emulator import Ads1x15Emulator, EmulatedI2C, EmulatedReady, array_source
from drivers.sampler import Sampler


def emulated_rig(cfg: DeviceConfig, clock: Clock, ready: bool, rate_error: float = 0.0,
                 seconds: float = 120.0) -> tuple[Sampler, list[Ads1x15Emulator]]:
    """A sampler on emulated chips carrying a slow sine on every channel."""
    bus = EmulatedI2C(clock)
    t = np.arange(0.0, seconds, 0.01)
    chips = [bus.attach(Ads1x15Emulator(clock, array_source(t, {c.positive: c.to_volts(20 + 5 * np.sin(t))}),
                                        address=c.adc, rate_error=rate_error, seed=i))
             for i, c in enumerate(cfg.channels)]
    line = EmulatedReady(chips[0], clock) if ready else None
    return Sampler(cfg, bus, clock, line), chips


def overhead_us_per_frame(seconds: float = 30.0) -> dict[str, float]:
    """CPU per frame on a virtual clock (no sleeping): everything, and the emulator's share."""
    cfg = default_config("pressure", abdominal=True)
    clock = VirtualClock()
    s, chips = emulated_rig(cfg, clock, ready=True)
    s.open()
    c0 = time.process_time()
    while clock.now() < seconds:
        s.read_block()
    total = (time.process_time() - c0) / s.stats.frames
    # The emulated chip's own cost: the same reads straight on the emulated bus.
    bus, buf = s.bus, bytearray(2)
    c0 = time.process_time()
    for _ in range(s.stats.frames):
        for ch in chips:
            bus.readfrom_into(ch.address, buf)
    emu = (time.process_time() - c0) / s.stats.frames
    return {"total_us": total * 1e6, "emulator_us": emu * 1e6, "sampler_us": (total - emu) * 1e6,
            "channels": len(cfg.channels)}


def achieved_rate(ready: bool, seconds: float = 5.0, rate_error: float = 0.03) -> dict[str, float]:
    """Run the threaded sampler in real time and count what arrives."""
    cfg = default_config("pressure", abdominal=True)
    clock = RealClock()
    s, _ = emulated_rig(cfg, clock, ready=ready, rate_error=rate_error, seconds=seconds + 5)
    s.start()
    t_end = clock.now() + seconds
    frames = 0
    t_first = t_last = None
    while clock.now() < t_end:
        b = s.get(timeout=0.1)
        if b is not None and len(b.t):
            frames += len(b.t)
            t_first = b.t[0] if t_first is None else t_first
            t_last = b.t[-1]
    s.stop()
    rate = (frames - 1) / (t_last - t_first) if frames > 1 and t_first is not None else 0.0
    return {"requested_hz": cfg.rate_hz, "chip_hz": cfg.rate_hz * (1 + rate_error), "achieved_hz": rate,
            "skipped": s.stats.skipped, "overflows": s.stats.overflows}


def main() -> None:
    o = overhead_us_per_frame()
    print(f"sampler overhead ({o['channels']} channels, ADS1115 continuous, conversion-ready paced):")
    print(f"  {o['total_us']:.1f} µs CPU per frame in all; emulated chips {o['emulator_us']:.1f} µs; "
          f"sampler + adafruit driver {o['sampler_us']:.1f} µs "
          f"({o['sampler_us'] / o['channels']:.1f} µs per sample)")
    print(f"  at 860 SPS that is {o['sampler_us'] * 860 / 1e4:.1f} % of one core here "
          f"(~{o['sampler_us'] * 860 * 15 / 1e4:.0f} % on a Pi Zero 2 W, ~15× slower)")
    for ready in (True, False):
        r = achieved_rate(ready)
        how = "conversion-ready line" if ready else "deadline-polled"
        print(f"  {how:22s} requested {r['requested_hz']:.0f} Hz, chip runs at {r['chip_hz']:.0f} Hz, "
              f"achieved {r['achieved_hz']:.1f} Hz; skipped {r['skipped']}, overflows {r['overflows']}")

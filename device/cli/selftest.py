"""``pfmt selftest``: the builder runs it once on a finished device (``drivers.selftest``): one
PASS/FAIL line per part, exit 1 when any part fails. On the Pi each LED and tone waits for her
press to confirm it; on the emulated device the mock pins are read back and a simulated finger
presses the button."""
from __future__ import annotations

import argparse

import numpy as np

from device.config import device_config
from drivers import rig as rigs
from drivers.bus import on_raspberry_pi
from drivers.clock import Clock, RealClock, VirtualClock
from drivers.feedback import Feedback
from drivers.pins import pin_factory
from drivers.sampler import Sampler
from drivers.selftest import SelfTest


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="DEVICE.toml",
                   help="device configuration (default: $PFMT_CONFIG, /etc/pfmt/device.toml, else the reference build)")
    p.add_argument("--emulate", action="store_true", help="the emulated device (the default when no Pi is present)")
    p.add_argument("--unplugged", action="store_true", help="emulation: with the pelvic probe out of its socket")


def main(args: argparse.Namespace) -> int:
    _, config = device_config(args.config)
    clock: Clock
    if args.emulate or not on_raspberry_pi():
        clock = VirtualClock()
        rest: dict[str, rigs.Signal] = {c.role: (np.array([0.0, 3600.0]), np.full(2, 5.0 if c.unit == "cmH2O" else 8.0)) for c in config.channels}
        rig = rigs.emulated(config, clock, rest, threaded=False, button_presses=[(1.5, 1.8)],
                            unplugged={"pelvic": [(0.0, 3600.0)]} if args.unplugged else None)
        finger = rig.finger
        assert finger is not None, "an emulated rig has a finger"

        def wait(dt: float) -> None:
            clock.sleep_until(clock.now() + dt)
            finger.apply(clock.now())

        test = SelfTest(config, rig.sampler.bus, rig.sampler, rig.feedback, clock, confirm=False, wait=wait)
        feedback = rig.feedback
        print(f"pfmt selftest: the emulated device ({config.board}, pins mock)")
    else:  # pragma: no cover - needs a Pi
        from drivers.bus import LinuxI2C

        clock = RealClock()
        factory = pin_factory(config.pin_factory)
        bus = LinuxI2C(config.i2c_bus)
        feedback = Feedback(config.pins, clock, pin_factory=factory)
        print(f"pfmt selftest: {config.board}, pins {config.pin_factory}. Press the button when asked, and again "
              "for each LED you see lit and each tone you hear.")
        import time

        test = SelfTest(config, bus, Sampler(config, bus, clock), feedback, clock, confirm=True, wait=time.sleep)
    failed = 0
    try:
        for check in test.run():
            print(check.line(), flush=True)
            failed += check.ok is False
    finally:
        feedback.close()
    print(f"pfmt selftest: {'all parts pass' if not failed else f'{failed} part(s) FAIL'}")
    return 1 if failed else 0

"""On a Raspberry Pi with the probe attached (opt in: PFMT_HARDWARE=1, optional PFMT_CONFIG)."""
from __future__ import annotations

import os

import numpy as np
import pytest

pytestmark = pytest.mark.hardware


def _config():
    from device.config import default_config, load_config

    path = os.environ.get("PFMT_CONFIG")
    return load_config(path) if path else default_config()


def test_sampler_reads_every_channel_at_the_configured_rate():
    from drivers.clock import RealClock
    from drivers.rig import hardware

    cfg = _config()
    rig = hardware(cfg, RealClock())
    rig.start()
    try:
        blocks = [rig.next_block() for _ in range(round(2.0 / cfg.block_s))]
    finally:
        rig.close()
    idx = np.concatenate([b.index for b in blocks])
    t = np.concatenate([b.t for b in blocks])
    assert np.all(np.diff(idx) > 0)
    rate = (len(t) - 1) / (t[-1] - t[0])
    assert 0.85 * cfg.rate_hz < rate < 1.15 * cfg.rate_hz
    v = np.concatenate([b.volts for b in blocks])
    for k, c in enumerate(cfg.channels):
        if c.valid_v:
            assert c.valid_v[0] <= np.median(v[:, k]) <= c.valid_v[1], f"{c.name}: probe unplugged?"


def test_feedback_pins_drive_without_error():
    from drivers.clock import RealClock
    from drivers.feedback import Feedback
    from drivers.pins import pin_factory

    cfg = _config()
    fb = Feedback(cfg.pins, RealClock(), pin_factory=pin_factory(cfg.pin_factory))
    fb.player.start()
    fb.player.play("get_ready")
    fb.strength(1.0)
    import time

    time.sleep(0.7)
    fb.close()


def test_selftest_sees_the_bus_the_channels_and_the_clock():
    """What software can tell by itself on the built device (the LEDs and tones need a person:
    `pfmt selftest` asks for a press for each)."""
    from drivers.bus import LinuxI2C
    from drivers.clock import RealClock
    from drivers.feedback import Feedback
    from drivers.pins import pin_factory
    from drivers.sampler import Sampler
    from drivers.selftest import SelfTest

    cfg = _config()
    clock = RealClock()
    bus = LinuxI2C(cfg.i2c_bus)
    fb = Feedback(cfg.pins, clock, pin_factory=pin_factory(cfg.pin_factory))
    try:
        test = SelfTest(cfg, bus, Sampler(cfg, bus, clock), fb, clock, confirm=False, wait=lambda s: None)
        checks = list(test.i2c()) + list(test.channels()) + [test.rtc()]
    finally:
        fb.close()
    failed = [c.line() for c in checks if c.ok is False]
    assert not failed, "\n".join(failed)

"""The calibration workflow on the emulated device: register-level chips behind sensors that differ
from their specification (as real ones do), mock pins, and a simulated patient — with the
physio's bench references — who acts on each cue.

The emulated sensors are a function of the device's ``serial`` (a seed), so ``pfmt calibrate``
and a later ``pfmt train`` on the same emulated device see the same sensors, and the profile's
fitted transfer is what makes their readings right.
"""
from __future__ import annotations

import numpy as np

from device.config import DeviceConfig
from device.sim.patient import SimulatedPatient
from drivers import rig as rigs
from drivers.clock import Clock, VirtualClock
from drivers.emulator import Transducer

DEVICE_SERIAL = 7


def emulated_sensors(config: DeviceConfig, serial: int = DEVICE_SERIAL, curvature: float = 0.0,
                     sensitivity: float | None = None) -> dict[str, Transducer]:
    """Each channel's real transfer: gain within ±8 % and offset within ±40 mV of the
    configuration's nominal one, clipped at the sensor's output rails."""
    rng = np.random.default_rng(serial)
    out = {}
    for c in config.channels:
        g = sensitivity if sensitivity is not None else float(rng.uniform(0.92, 1.08))
        off = c.offset_v + float(rng.uniform(-0.04, 0.04))
        top = 4.9 if c.unit != "uV" else 3.28
        out[c.role] = Transducer(c.volts_per_unit * g, off, curvature=curvature,
                                 full_scale=100.0 if c.unit != "uV" else 1000.0, rails=(0.02, top))
    return out


class Clinic:
    """The actor the workflow cues: the physio's bench and the patient's actions."""

    def __init__(self, patient: SimulatedPatient, seed: int = 1) -> None:
        self.patient = patient
        self.rng = np.random.default_rng(seed)
        self.log: list[tuple[float, str]] = []

    def __call__(self, action: str, now: float, value: float | None = None) -> None:
        self.log.append((now, action))
        p = self.patient
        if action == "reference":
            assert value is not None, "a reference has a value"
            p.apply_reference(value, now)
        elif action == "insert":
            p.insert(now)
        elif action == "mvc":
            p.squeeze(now, "lift", strength=float(self.rng.uniform(0.9, 1.0)), hold_s=3.0)
        elif action == "valsalva":
            p.valsalva(now)
        elif action in ("lift", "bear_down"):
            p.squeeze(now, action, strength=float(self.rng.uniform(0.6, 0.85)), hold_s=3.0)


def emulated_rig(config: DeviceConfig, patient: SimulatedPatient, sensors: dict[str, Transducer] | None = None,
                 clock: Clock | None = None, pace: float = 0.0, seed: int = 1) -> rigs.Rig:
    signals = {c.role: patient.signal(c.role) for c in config.channels}
    return rigs.emulated(config, clock or VirtualClock(), signals, threaded=False, seed=seed, pace=pace,
                         transducers=sensors if sensors is not None else emulated_sensors(config))

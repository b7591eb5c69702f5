"""``pfmt config``: check a device configuration and print what it sets up."""
from __future__ import annotations

import argparse

from device.config import default_config, load_config
from drivers.ads import FULL_SCALE_V


def add_arguments(c: argparse.ArgumentParser) -> None:
    c.add_argument("file", nargs="?", help="device configuration (default: the built-in reference build)")


def main(args: argparse.Namespace) -> int:
    cfg = load_config(args.file) if args.file else default_config()
    print(f"{args.file or 'built-in configuration'}: ok — {cfg.board}, I2C bus {cfg.i2c_bus}, "
          f"{cfg.rate_hz:g} SPS, blocks of {cfg.block_s:g} s")
    for c in cfg.channels:
        a = cfg.adc(c.adc)
        inp = f"AIN{c.positive}" + (f"−AIN{c.negative}" if c.negative is not None else "")
        ready = f"ALERT/RDY on GPIO{a.ready_pin}" if a.ready_pin is not None else "deadline-polled"
        print(f"  {c.name:18s} {a.model} 0x{a.address:02x} {inp:10s} ±{FULL_SCALE_V[c.gain]:g} V "
              f"{c.data_rate} SPS, {ready}")
    p = cfg.pins
    print(f"  pins: bar {list(p.bar)}, status RGB {list(p.status)}, "
          f"{'tonal ' if p.tonal else ''}buzzer {p.buzzer}, button {p.button}")
    return 0

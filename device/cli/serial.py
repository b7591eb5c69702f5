"""``pfmt serial``: the CDC serial console over the USB cable, for a physiotherapist's computer."""
from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from calibration.profile import PinGuard, ProfileStore
from device.cli.args import default_data
from device.files import clean_partials, partial_name
from device.records.serial_console import ConsoleConfig, SerialConsole
from drivers import rtc, usb

#: The serial console's exports, inside the data directory (the last one only; see SerialConsole).
SERIAL_EXPORTS = ".serial-exports"


def add_arguments(sr: argparse.ArgumentParser) -> None:
    sr.add_argument("--tty", default="/dev/ttyGS0", help="serial line (default: the gadget's /dev/ttyGS0)")
    sr.add_argument("--image", help="the gadget's FAT image, rebuilt on EXPORT")
    sr.add_argument("--lun", help="configfs LUN to swap the rebuilt image into")
    sr.add_argument("--data", default=default_data(), metavar="DIR")


def main(args: argparse.Namespace) -> int:
    def publish(folder: Path) -> str | None:
        if not args.image:
            return None
        image = Path(args.image)
        clean_partials(image.parent)
        usb.build_fat_image(folder, image, tmp=partial_name(image))
        if args.lun:
            usb.swap_gadget_image(Path(args.lun), Path(args.image))
        return str(args.image)

    def check_pin(pin: str) -> bool:
        holder = ProfileStore(Path(args.data)).pin_holder()
        return holder is not None and PinGuard(Path(args.data)).check(holder, pin, "serial console")

    # the exports it makes stay inside the data directory (never /tmp, which on Raspberry Pi OS is
    # the card too, and outlives a kill); what a killed console left there is removed at start
    exports = Path(args.data) / SERIAL_EXPORTS
    if exports.exists():
        shutil.rmtree(exports, ignore_errors=True)
    exports.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = usb.open_tty(args.tty)
        try:
            SerialConsole(ConsoleConfig(Path(args.data), exports, publish, check_pin=check_pin,
                                        set_clock=rtc.set_clock, clock_state=rtc.clock_state)).serve(fd, fd)
        finally:
            os.close(fd)
    finally:
        shutil.rmtree(exports, ignore_errors=True)
    return 0

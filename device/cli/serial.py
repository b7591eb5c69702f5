"""``pfmt serial``: the CDC serial console over the USB cable, for a physiotherapist's computer."""
from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from calibration.profile import PinGuard, ProfileStore
from device.cli.args import add_lang, default_data, reader_language
from device.errors import N_, AccessError
from device.files import clean_partials, partial_name
from device.records import store
from device.records.export import manifest
from device.records.serial_console import SERIAL_EXPORTS, ConsoleConfig, SerialConsole
from drivers import rtc, usb

#: What the gadget's disk shows while the console is locked.
BLANK_README = ("This pfmt device holds no sessions on this disk until the physiotherapist unlocks it.\r\n"
                "Open the device's serial port (115200 8N1 or any), type UNLOCK followed by your secret,\r\n"
                "then EXPORT. The disk is emptied again at LOCK, QUIT, unplugging, or 10 minutes idle.\r\n")


def add_arguments(sr: argparse.ArgumentParser) -> None:
    sr.add_argument("--tty", default="/dev/ttyGS0", help="serial line (default: the gadget's /dev/ttyGS0)")
    sr.add_argument("--image", help="the gadget's FAT image: empty while locked, rebuilt on EXPORT")
    sr.add_argument("--lun", help="configfs LUN to swap the rebuilt image into")
    sr.add_argument("--data", default=default_data(), metavar="DIR")
    add_lang(sr, "the language of the ERR lines' text")


def main(args: argparse.Namespace) -> int:
    data = Path(args.data)

    def publish(folder: Path) -> str | None:
        if not args.image:
            return None
        image = Path(args.image)
        clean_partials(image.parent)
        usb.build_fat_image(folder, image, tmp=partial_name(image))
        if args.lun:
            usb.swap_gadget_image(Path(args.lun), Path(args.image))
        return str(args.image)

    def blank() -> None:
        if not args.image:
            return
        work = partial_name(data / "blank-disk")
        shutil.rmtree(work, ignore_errors=True)
        folder = work / "pfmt"
        folder.mkdir(mode=0o700, parents=True)
        try:
            (folder / "README.txt").write_text(BLANK_README, encoding="ascii")
            manifest(folder)
            publish(folder)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def unlock(secret: str) -> bool:
        holder = ProfileStore(data).pin_holder()
        if holder is None or holder.pin is None:  # never calibrated, or wiped for hand-over
            raise AccessError(N_("no physiotherapist's secret on this device: it is set when she calibrates it "
                                 "(`pfmt calibrate`); until then nothing leaves the device"))
        return PinGuard(data).check(holder, secret, "serial console")

    def patient_code() -> str | None:
        holder = ProfileStore(data).pin_holder()  # the newest intact version's patient
        return holder.patient_code if holder is not None else None

    def wipe() -> None:
        keep = (Path(args.image).name,) if args.image and Path(args.image).parent.resolve() == data.resolve() else ()
        store.wipe(data, keep=keep)
        exports.mkdir(mode=0o700, parents=True, exist_ok=True)
        blank()

    # the exports it makes stay inside the data directory (never /tmp, which on Raspberry Pi OS is
    # the card too, and outlives a kill); what a killed console left there is removed at start
    exports = data / SERIAL_EXPORTS
    if exports.exists():
        shutil.rmtree(exports, ignore_errors=True)
    exports.mkdir(mode=0o700, parents=True, exist_ok=True)
    console = SerialConsole(ConsoleConfig(data, exports, publish, blank=blank, unlock=unlock,
                                          patient_code=patient_code, wipe=wipe, history=ProfileStore(data).history,
                                          set_clock=rtc.set_clock,
                                          clock_state=rtc.clock_state, tr=reader_language(args)))
    try:
        console.lock()  # whatever an earlier export left on the gadget's disk is not for any host
        fd = usb.open_tty(args.tty)
        try:
            console.serve(fd, fd)
        finally:
            os.close(fd)
    finally:
        shutil.rmtree(exports, ignore_errors=True)
    return 0

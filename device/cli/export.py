"""``pfmt export``: pseudonymised sessions to a folder, a USB stick, or the USB gadget's disk image."""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from device.cli.args import add_lang, default_data, iso_date, positive_int, reader_language
from device.errors import N_, InputError, StorageError
from device.files import clean_partials, partial_name, printable
from device.i18n import Language
from device.records.export import available_formats, export, parse_formats, select
from device.records.store import SessionStore
from drivers import usb


def add_arguments(ex: argparse.ArgumentParser) -> None:
    ex.add_argument("ids", nargs="*", type=positive_int, help="session ids (default: see --all / --since)")
    ex.add_argument("--all", action="store_true", help="every stored session")
    ex.add_argument("--since", metavar="YYYY-MM-DD", help="sessions from this date on")
    ex.add_argument("--formats", metavar="LIST", help="comma-separated subset of edf,csv,json,png (default: all)")
    where = ex.add_mutually_exclusive_group(required=True)
    where.add_argument("--to", metavar="DIR", help="write the export folder into DIR")
    where.add_argument("--usb", action="store_true", help="write to the USB stick in the device's port, verify, unmount")
    where.add_argument("--gadget", metavar="IMAGE", help="rebuild the USB gadget's read-only FAT disk image")
    ex.add_argument("--device", help="--usb: which stick partition (e.g. /dev/sda1) when there are several")
    ex.add_argument("--mount-root", default="/run/pfmt", help="--usb: where the stick is mounted")
    ex.add_argument("--lun", help="--gadget: the configfs LUN to swap the image into "
                                  "(e.g. /sys/kernel/config/usb_gadget/pfmt/functions/mass_storage.usb0/lun.0)")
    ex.add_argument("--data", default=default_data(), metavar="DIR")
    add_lang(ex, "the language of the report and the export's notes")


def _the_stick(device: str | None) -> usb.Stick:
    """The one USB stick (partition) to write to; a clear error for none or several."""
    sticks = usb.find_sticks()
    if device:
        sticks = [s for s in sticks if s.device == device]
    if not sticks:
        if device:
            raise StorageError(N_("no USB stick found at {device}; plug one into the device's USB port"), device=device)
        raise StorageError(N_("no USB stick found; plug one into the device's USB port"))
    if len(sticks) > 1:
        raise InputError(N_("several USB sticks/partitions: choose one with --device ({items})"),
                         items=', '.join(s.device for s in sticks))
    return sticks[0]


def main(args: argparse.Namespace) -> int:
    tr = reader_language(args)
    formats = parse_formats(args.formats) if args.formats else available_formats()
    if args.ids and args.all:
        raise InputError(N_("give session ids or --all, not both"))
    if not args.ids and not args.all and not args.since:
        raise InputError(N_("which sessions? give their ids (`pfmt sessions list`), --all, or --since YYYY-MM-DD"))
    since = iso_date(args.since, '--since')
    damaged: dict[int, str] = {}
    with SessionStore(args.data, create=False) as db:
        chosen = select(db, args.ids or None, since, damaged)
        if args.to:
            folder, files = export(db, chosen, Path(args.to), formats, damaged=damaged, history=_history(args.data),
                                   tr=reader_language(args))
            print(tr("exported {value} session(s), {n_files} files, to {folder}").format(
                      value=len(chosen) - len(set(damaged) & {s.id for s in chosen}), n_files=len(files),
                      folder=folder))
            _say_damaged(damaged, reader_language(args))
            return 0
        # built inside the data directory (never /tmp); what a killed build left there is removed
        clean_partials(db.dir)
        work = partial_name(db.dir / "export")
        work.mkdir(mode=0o700)
        try:
            folder, files = export(db, chosen, work, formats, damaged=damaged, history=_history(args.data),
                                   tr=reader_language(args))
            _say_damaged(damaged, reader_language(args))
            if args.usb:
                stick = _the_stick(args.device)
                on = usb.write_to_stick(folder, stick, usb.SystemMounter(), Path(args.mount_root))
                print(tr("exported {n_chosen} session(s), {n_files} files, to the USB stick {device} as "
                         "{name}, verified by checksum; the stick is unmounted").format(
                          n_chosen=len(chosen), n_files=len(files), device=stick.device, name=on.name))
            else:
                image = Path(args.gadget)
                clean_partials(image.parent)
                listing = usb.build_fat_image(folder, image, tmp=partial_name(image))
                if args.lun:
                    usb.swap_gadget_image(Path(args.lun), Path(args.gadget))
                print(tr("exported {n} session(s) into the FAT image {gadget} ({entries} entries, verified by "
                         "checksum)").format(
                    n=len(chosen), gadget=args.gadget, entries=len(listing))
                      + (tr(", swapped into {lun}").format(lun=args.lun) if args.lun else ""))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def _say_damaged(damaged: dict[int, str], tr: Language) -> None:
    for _, what in sorted(damaged.items()):
        print(tr("pfmt export: left out, damaged: {what}").format(what=printable(what)), file=sys.stderr)
    if damaged:
        print(tr("pfmt export: {n_damaged} damaged session(s) named in DAMAGED.txt; `pfmt sessions check` "
                 "and `pfmt sessions repair` on the device").format(
                  n_damaged=len(damaged)), file=sys.stderr)


def _history(data: str) -> list[dict]:
    """The prescription's versions for the report (none readable: an empty history, said so there)."""
    from calibration.profile import ProfileStore

    return ProfileStore(Path(data)).history()

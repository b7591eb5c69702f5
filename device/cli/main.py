"""The ``pfmt`` command line: the one place that composes the layers (drivers, the device core,
the physiotherapist's calibration). Each command is a module of its own here with its parser
beside it; only the chosen command's module is imported, so ``pfmt analyze`` does not pay for
the database, the hardware or the calibration dialogue at start-up (a Pi Zero 2 W is ~10–15×
slower than a desktop). Every PfmtError becomes one line on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from device.errors import N_, AccessError, PfmtError
from device.i18n import ENGLISH, Language
from drivers.memory import limit_malloc_arenas

EXIT_USAGE = 2

#: command → its module under ``device.cli`` (``HELP``, ``add_arguments(parser)``, ``main(args)``), in
#: the order ``pfmt --help`` lists them; the one-line help is kept here so the listing imports nothing.
COMMANDS: dict[str, str] = {
    "analyze": "detect and measure contractions in a recording (CSV or EDF+)",
    "simulate": "write labelled recordings from the physiological simulator",
    "live": "replay a recording through the live pipeline, printing events as they become known "
            "(a simulated patient when no recording is given)",
    "train": "a guided training session (emulated ADC, mock pins and a simulated patient when no Pi is present)",
    "calibrate": "the physiotherapist's guided calibration and prescription (PIN protected; emulated "
                 "ADC and a simulated patient when no Pi is present)",
    "profile": "show the patient's profile, its history, or restore a version (PIN)",
    "sessions": "stored sessions: list, show one, the trend across weeks, or delete (secret)",
    "symptoms": "the symptom diary: leakage episodes, by the patient or the physiotherapist",
    "speech": "render the spoken cues once, offline (espeak-ng), in every language the device speaks",
    "report": "the physiotherapist's report: one self-contained HTML file (assessments against norms, weeks, CERT dose, sessions)",
    "wipe": "the hand-over of a loaned device: every session, the diary, the profile and the logs removed (secret)",
    "export": "export sessions (EDF+, CSV, JSON dose/trend, PNG) pseudonymised by patient code: to a "
              "folder, a USB stick, or the USB gadget's disk image",
    "device": "the appliance: wait for the button, remind when a session is due, train the prescription "
              "(the emulated device playing a script of days when no Pi is present)",
    "selftest": "check the built device once: I2C scan, each ADC channel, each LED, each tone, the button, the clock",
    "clock": "show the device's clock and its source, or set it (the physiotherapist, over the console or SSH)",
    "serial": "serve the CDC serial console (USB gadget) for a physiotherapist's computer",
    "config": "check a device configuration file (TOML) and print what it sets up",
    "bench": "print accuracy (vs NeuroKit2, BioSPPy) and speed figures",
}


class _Version(argparse.Action):
    """``pfmt --version``: the installed distribution's version (read only when asked)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"pfmt {version()}")
        parser.exit()


def version() -> str:
    from device import installed_version

    return installed_version()


def command_module(name: str) -> ModuleType:
    return importlib.import_module(f"device.cli.{name}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``only``, the other commands are listed but their options (and
    modules) are not loaded."""
    ap = argparse.ArgumentParser(prog="pfmt", description="Pelvic-floor muscle training biofeedback device")
    ap.add_argument("--version", action=_Version, help="print the version and exit")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, help_ in COMMANDS.items():
        p = sub.add_parser(name, help=help_)
        if only is None or name == only:
            mod = command_module(name)
            mod.add_arguments(p)
            p.set_defaults(func=mod.main)
    return ap


def _chosen(argv: list[str]) -> str | None:
    """The command named on the line (the first word that is one), if any."""
    return next((a for a in argv if a in COMMANDS), None)


def _not_as_root_on_her_data(args: argparse.Namespace) -> None:
    """On an installed device her data belongs to the ``pfmt`` user: a file root wrote there (a
    profile, a session) would be unreadable to the trainer, so root is sent to that user."""
    import os

    from device.files import SYSTEM_DATA

    data = getattr(args, "data", None)
    if data is None or os.geteuid() != 0 or not SYSTEM_DATA.is_dir():
        return
    try:
        same = os.path.samefile(data, SYSTEM_DATA)
    except OSError:
        return
    if same and SYSTEM_DATA.stat().st_uid != 0:
        raise AccessError(N_("{system_data} belongs to the pfmt user and the trainer; run it as that user: sudo -u "
                             "pfmt pfmt {command} …"), system_data=SYSTEM_DATA, command=args.command)


def _reader(args: argparse.Namespace) -> Language:
    """The language an error is told in: ``--lang``, else the device's; English when even that
    cannot be read (the error may be that the configuration is broken)."""
    from device.cli.args import reader_language

    try:
        return reader_language(args)
    except PfmtError:
        return ENGLISH


def main(argv: list[str] | None = None) -> int:
    limit_malloc_arenas()
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--version"]:  # without loading every command's options
        print(f"pfmt {version()}")
        return 0
    only = _chosen(argv)
    args = build_parser(only).parse_args(argv)
    try:
        _not_as_root_on_her_data(args)
        return int(args.func(args))
    except PfmtError as e:
        from device.files import printable

        tr = _reader(args)
        print(f"pfmt {args.command}: {tr('error')}: {printable(e.localized(tr))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"pfmt {args.command}: {_reader(args)('interrupted')}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into head/less that closed early
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())

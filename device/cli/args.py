"""Option types shared by the commands: each refuses a bad value with what is allowed."""
from __future__ import annotations

import argparse
import datetime as dt
import json

from calibration.load import calibration_file
from device.errors import N_, InputError
from device.files import default_data_dir
from device.i18n import LANGUAGES, Language, language
from device.recording import MAX_RATE_HZ, MIN_RATE_HZ

__all__ = ["add_lang", "calibration_file", "default_data", "iso_date", "number", "pause", "positive_int", "rate",
           "read_answers", "reader_language", "speed"]


def default_data() -> str:
    """``--data``'s default: the device's data directory (``device.files.default_data_dir``)."""
    return str(default_data_dir())


def add_lang(p: argparse.ArgumentParser, who: str = "the language to read it in") -> None:
    """``--lang``: one option, one meaning, on every command that writes for a person."""
    p.add_argument("--lang", choices=sorted(LANGUAGES), help=f"{who} (default: the device's [voice] language)")


def reader_language(args: argparse.Namespace) -> Language:
    """The language asked for with ``--lang``, else the device's (``[voice] language`` of its
    configuration, English without one)."""
    from device.config import device_voice

    return language(getattr(args, "lang", None) or device_voice(getattr(args, "config", None)).language)


def positive_int(v: str) -> int:
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{v!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{v} must be at least 1")
    return n


def number(v: str, lo: float, hi: float, unit: str = "", zero_ok: bool = False) -> float:
    """An option's number within [lo, hi] (or 0 where that means "off")."""
    try:
        x = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{v!r} is not a number") from None
    if not ((zero_ok and x == 0) or lo <= x <= hi):
        raise argparse.ArgumentTypeError(f"{v}{unit} is outside {lo:g}–{hi:g}{unit}"
                                         + (" (or 0 for as fast as possible)" if zero_ok else ""))
    return x


def speed(v: str) -> float:
    return number(v, 0.1, 1000, zero_ok=True)


def pause(v: str) -> tuple[float, float]:
    at, sep, length = v.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"{v!r}: a pause is AT:SECONDS, e.g. 40:15 (pause at 40 s for 15 s)")
    return number(at, 0, 86400, " s"), number(length, 0.4, 3600, " s")


def rate(v: str) -> float:
    return number(v, MIN_RATE_HZ, MAX_RATE_HZ, " Hz")


def read_answers(path: str) -> dict:
    """A JSON object of question key → answer (``pfmt calibrate --answers``)."""
    try:
        with open(path, encoding="utf-8") as f:
            d = json.loads(f.read())
    except OSError as e:
        raise InputError(N_("{path}: cannot read the answers ({strerror})"), path=path, strerror=e.strerror) from None
    except json.JSONDecodeError as e:
        raise InputError(N_("{path}: not valid JSON ({msg} at line {lineno})"),
                         path=path, msg=e.msg, lineno=e.lineno) from None
    if not isinstance(d, dict):
        raise InputError(N_("{path}: the answers must be a JSON object of question key → answer"), path=path)
    return d


def iso_date(v: str | None, option: str) -> dt.date | None:
    """An option's date (YYYY-MM-DD), None when not given."""
    if not v:
        return None
    try:
        return dt.date.fromisoformat(v)
    except ValueError:
        raise InputError(N_("{option} {v!r}: a date is written YYYY-MM-DD"), option=option, v=v) from None

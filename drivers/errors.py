"""The root of the one exception family, defined in the bottom layer so that every layer above can
raise and catch it without importing upward (``device.errors`` adds the device's own kinds).

Every error raised on purpose is a :class:`PfmtError` whose message is meant for the person at the
device: it names what is wrong and what is allowed. The command line turns any of them into one
line on stderr and exit code 2. Faults during sampling are never raised: they become gaps and
sensor events in the data.
"""
from __future__ import annotations

import string
from collections.abc import Callable, Mapping


def N_(message: str) -> str:
    """Marks a message for the catalogs where it is written (``scripts/check-catalogs.py`` finds
    it); it is translated where it is shown. Here, in the bottom layer, so every layer can mark."""
    return message


class _Numbers(string.Formatter):
    """``str.format`` that writes a number's decimal point as the reader's language does."""

    def __init__(self, decimal: str) -> None:
        self.decimal = decimal

    def format_field(self, value: object, format_spec: str) -> str:
        out = super().format_field(value, format_spec)
        return out.replace(".", self.decimal) if isinstance(value, float) and self.decimal != "." else out


def fill(template: str, fields: Mapping[str, object], decimal: str = ".") -> str:
    """``template.format(**fields)`` with the decimal sign ``decimal`` in its numbers."""
    return _Numbers(decimal).vformat(template, (), fields) if decimal != "." else template.format(**fields)


def localize(template: str, fields: Mapping[str, object], translate: Callable[[str], str]) -> str:
    """``template`` in the language of ``translate`` (a catalog's lookup, e.g. ``device.i18n.Language``),
    filled with ``fields``: a :class:`Phrase` among them translated, an error localized, numbers in
    the language's notation. A catalog's template that does not fit its fields gives the English."""
    shown = {k: translate(v) if isinstance(v, Phrase) else v.localized(translate) if isinstance(v, PfmtError)
             else v for k, v in fields.items()}
    if not shown:
        return translate(template)
    try:
        return fill(translate(template), shown, str(getattr(translate, "decimal", ".")))
    except (KeyError, IndexError, ValueError):
        try:
            return template.format(**shown)
        except (KeyError, IndexError, ValueError):  # the English does not fit either: both said, never a crash
            return f"{template} {shown}"


class Phrase(str):
    """A field of a message that is itself words to translate (``Phrase(N_("use a lower
    reference"))``), where a plain field — a path, a number, a name she types — is left as it is."""


class PfmtError(Exception):
    """Base of every error pfmt raises on purpose; its message is meant for the user.

    The message is a template marked for the catalogs and its fields are given apart —
    ``InputError(N_("{path}: not UTF-8 text"), path=p)`` — so ``str(e)`` is the English and
    ``e.localized(tr)`` the same message in the reader's language, its fields unchanged.
    """

    def __init__(self, message: object = "", /, **fields: object) -> None:
        self.template = str(message)
        self.fields = fields
        super().__init__(self._english())

    def _english(self) -> str:
        return localize(self.template, self.fields, str)

    def localized(self, translate: Callable[[str], str]) -> str:
        """The message in the language of ``translate`` (a catalog's lookup, e.g. ``device.i18n.Language``):
        its template and its :class:`Phrase` fields translated, an error among its fields localized."""
        return localize(self.template, self.fields, translate) if self.template else str(self)


class InputError(PfmtError):
    """A recording, calibration or option the user gave is malformed; says what is wrong and what is allowed."""


class ConfigError(InputError):
    """The device configuration (TOML) has an unknown option, a wrong type or a value out of bounds."""


class HardwareError(PfmtError):
    """The hardware could not be brought up at all (no I2C bus, chip absent at start-up, a USB
    gadget or tool missing)."""


class StorageError(PfmtError):
    """The session database or an export target cannot be used (damaged, full, read-only, missing);
    the message says which file or device and what to do. Nothing already stored is deleted."""

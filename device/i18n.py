"""Her own language: every text a patient or physiotherapist reads or hears goes through the
gettext catalogs of ``device/locale/<lang>/LC_MESSAGES/pfmt.po`` (compiled to ``.mo`` at set-up
and install by ``scripts/compile-catalogs.sh``; ``scripts/check-catalogs.py`` fails CI on a
message left untranslated). Machine-readable output (``--json``, CSV headers, EDF labels, the
serial protocol's keywords) never goes through them.

The English text is the message id. The Scandinavian catalogs use the leaflets' own words
(knip, hold, slipp, raske løft …), not a word-by-word rendering of the English. Numbers are
written with the language's decimal sign (a comma in nb, sv and da).
"""
from __future__ import annotations

import datetime as dt
import gettext
from dataclasses import dataclass, field
from pathlib import Path

from device.errors import N_, ConfigError, fill

__all__ = ["ENGLISH", "LANGUAGES", "N_", "Language", "check_code", "language"]

#: The languages pfmt speaks: code → its own name for itself.
LANGUAGES: dict[str, str] = {"en": "English", "nb": "norsk bokmål", "sv": "svenska", "da": "dansk"}
DOMAIN = "pfmt"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
_DECIMAL = {"en": ".", "nb": ",", "sv": ",", "da": ","}
_DATE = {"en": "%Y-%m-%d", "nb": "%d.%m.%Y", "sv": "%Y-%m-%d", "da": "%d.%m.%Y"}


class Message(str):
    """A translated message whose ``.format(…)`` writes its numbers in the language's notation
    (``tr("{mb:.1f} MB free").format(mb=1.5)`` → "1,5 MB free" in nb)."""

    decimal = "."

    def format(self, *args: object, **fields: object) -> str:
        return str.format(self, *args, **fields) if args else fill(str(self), fields, self.decimal)


@dataclass(frozen=True)
class Language:
    """One language's catalog and conventions: ``tr("Squeeze")``, ``tr.num(2.5)`` → "2,5"."""

    code: str
    catalog: gettext.NullTranslations = field(repr=False)

    def __call__(self, message: str) -> str:
        out = Message(self.catalog.gettext(message))
        out.decimal = _DECIMAL[self.code]
        return out

    @property
    def decimal(self) -> str:
        """The decimal sign: "," in nb, sv and da."""
        return _DECIMAL[self.code]

    def num(self, v: float | None, fmt: str = "{:.1f}", none: str = "—") -> str:
        """A number in this language's notation (the decimal comma where it is used)."""
        if v is None:
            return none
        s = fmt.format(v)
        return s.replace(".", _DECIMAL[self.code]) if _DECIMAL[self.code] != "." else s

    def date(self, d: dt.date) -> str:
        return d.strftime(_DATE[self.code])


def check_code(code: object, where: str = "language") -> str:
    if not isinstance(code, str) or code not in LANGUAGES:
        raise ConfigError(N_("{where}: {code!r} is not a language pfmt speaks; allowed: {items}"),
                          where=where, code=code, items=", ".join(f"{c} ({n})" for c, n in LANGUAGES.items()))
    return code


_LOADED: dict[str, Language] = {}


def language(code: str = "en") -> Language:
    """The language ``code`` (one of LANGUAGES), its compiled catalog loaded once. English is the
    messages themselves; another language whose catalog was never compiled is a ConfigError that
    says how to compile it (it must not fall back to English silently)."""
    code = check_code(code)
    if code not in _LOADED:
        if code == "en":
            catalog: gettext.NullTranslations = gettext.NullTranslations()
        else:
            try:
                catalog = gettext.translation(DOMAIN, localedir=str(LOCALE_DIR), languages=[code])
            except OSError:
                raise ConfigError(N_("the {value} catalog is not compiled ({value2}); run "
                                     "scripts/compile-catalogs.sh (bootstrap.sh and install.sh do)"),
                                  value=LANGUAGES[code], value2=LOCALE_DIR / code) from None
        _LOADED[code] = Language(code, catalog)
    return _LOADED[code]


ENGLISH = Language("en", gettext.NullTranslations())

#!/usr/bin/env python3
"""Fail (exit 1) when a message the code marks for the catalogs — ``tr("…")`` where it is shown,
``N_("…")`` where it is defined — is missing or untranslated (or fuzzy) in any language's
``pfmt.po``, or when a catalog keeps a message the code no longer has. Run by .ci/run and
tests/test_i18n.py."""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("device", "drivers", "calibration")
KEYWORDS = {"tr", "N_"}  # the names a message is looked up (tr) or marked (N_) by
_ENTRY = re.compile(r'((?:^#.*\n)*)^msgid "(.*)"\n^msgstr "(.*)"', re.M)


def extracted(root: Path = ROOT) -> set[str]:
    """Every literal message of a ``tr(…)`` or ``N_(…)`` call in the sources. Python's own parser,
    not xgettext: xgettext does not look inside an f-string's replacement fields, where many of
    the report's ``tr("…")`` calls sit, and would pass them untranslated."""
    out: set[str] = set()
    for d in SOURCES:
        for f in sorted((root / d).rglob("*.py")) if (root / d).is_dir() else []:
            for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"), str(f))):
                if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                        and isinstance(node.args[0].value, str) and _name(node.func) in KEYWORDS:
                    out.add(node.args[0].value)
    return out - {""}


def _name(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


#: The exception family (``device.errors``): their messages are read by a person.
FAMILY = {"PfmtError", "InputError", "ConfigError", "HardwareError", "StorageError", "CalibrationError", "AccessError",
          "Aborted", "CardFullError", "DamagedError", "ProgrammeError"}
#: Where text is written for a person but reaches her without a catalog unless it is marked: what
#: the physiotherapist's commands print, what a console says and asks. The developer's and the
#: builder's tools (simulate, live, analyze, bench, config, selftest, the emulated days) speak English.
PRINTING = ("device/cli/sessions.py", "device/cli/export.py", "device/cli/report.py", "device/cli/profile.py",
            "device/cli/symptoms.py", "device/cli/clock.py", "device/cli/wipe.py", "device/cli/speech.py",
            "device/cli/train.py", "device/cli/calibrate.py", "device/cli/serial.py")
UNCHECKED = ("device/sim/", "device/bench/")  # the simulated world and the benchmarks: developers' English


_NAME = re.compile(r"pfmt( [a-z]+)?: ?")  # the program's own name before a message is not words to translate


def _words(node: ast.expr) -> bool:
    """A literal text with words in it (an f-string's own text counts, its fields do not)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return any(c.isalpha() for c in _NAME.sub("", node.value))
    if isinstance(node, ast.JoinedStr):
        return any(_words(v) for v in node.values if isinstance(v, ast.Constant))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _words(node.left) or _words(node.right)
    return False


def unmarked(root: Path = ROOT) -> list[str]:
    """Text for a person written without the catalogs: an error of the family, a console's say or
    ask, a physiotherapist's command's print, or a serial console's ERR line, given a literal that is
    not marked (N_) or looked up (tr)."""
    out = []
    for d in SOURCES:
        for f in sorted((root / d).rglob("*.py")) if (root / d).is_dir() else []:
            rel = f.relative_to(root).as_posix()
            if rel.startswith(UNCHECKED):
                continue
            for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"), str(f))):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                name, arg = _name(node.func), node.args[0]
                what = None
                if name in FAMILY and _words(arg):
                    what = f"{name}(…)"
                elif name in ("say", "ask") and isinstance(node.func, ast.Attribute) and _words(arg):
                    what = f".{name}(…)"
                elif name == "print" and rel in PRINTING and _words(arg):
                    what = "print(…)"
                if what:
                    out.append(f"{rel}:{node.lineno}: {what} with text not marked for the catalogs (N_ or tr)")
            if rel == "device/records/serial_console.py":
                for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
                    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant) \
                            and str(node.values[0].value).startswith("ERR ") and _words(node):
                        out.append(f"{rel}:{node.lineno}: an ERR line not through the catalogs (self._err)")
    return out


def catalog(po: Path) -> dict[str, tuple[str, bool]]:
    """msgid → (msgstr, fuzzy) of one catalog (single-line entries, as this project writes them)."""
    return {_unquote(m.group(2)): (_unquote(m.group(3)), "fuzzy" in m.group(1))
            for m in _ENTRY.finditer(po.read_text(encoding="utf-8")) if m.group(2)}


def _unquote(s: str) -> str:
    """A .po string's text (its \\", \\\\ and \\n escapes undone), as gettext will look it up."""
    return re.sub(r'\\(["\\n])', lambda m: "\n" if m.group(1) == "n" else m.group(1), s)


def problems(root: Path = ROOT) -> list[str]:
    want = extracted(root)
    out = unmarked(root)
    for po in sorted((root / "device" / "locale").glob("*/LC_MESSAGES/pfmt.po")):
        lang = po.parts[-3]
        have = catalog(po)
        out += [f"{lang}: not translated: {m!r}" for m in sorted(want) if m not in have or not have[m][0]]
        out += [f"{lang}: fuzzy: {m!r}" for m in sorted(want) if m in have and have[m][1]]
        out += [f"{lang}: no longer in the code: {m!r}" for m in sorted(set(have) - want)]
    return out


if __name__ == "__main__":
    bad = problems()
    for line in bad:
        print(f"check-catalogs: {line}", file=sys.stderr)
    if bad:
        print(f"check-catalogs: {len(bad)} problem(s); every text for a person is marked (N_, tr) and translated in "
              "nb, sv and da", file=sys.stderr)
    sys.exit(1 if bad else 0)

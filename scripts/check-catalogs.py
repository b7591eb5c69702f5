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


def catalog(po: Path) -> dict[str, tuple[str, bool]]:
    """msgid → (msgstr, fuzzy) of one catalog (single-line entries, as this project writes them)."""
    return {m.group(2): (m.group(3), "fuzzy" in m.group(1)) for m in _ENTRY.finditer(po.read_text(encoding="utf-8"))
            if m.group(2)}


def problems(root: Path = ROOT) -> list[str]:
    want = extracted(root)
    out = []
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
        print(f"check-catalogs: {len(bad)} problem(s); every message is translated in nb, sv and da", file=sys.stderr)
    sys.exit(1 if bad else 0)

#!/usr/bin/env python3
"""Fail (exit 1) when a message the code marks for the catalogs — ``tr("…")`` where it is shown,
``N_("…")`` where it is defined — is missing or untranslated (or fuzzy) in any language's
``pfmt.po``, or when a catalog keeps a message the code no longer has. Extraction is GNU
xgettext's, so what it sees is what gettext will look up. Run by .ci/run and tests/test_i18n.py."""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("device", "drivers", "calibration")
_ENTRY = re.compile(r'((?:^#.*\n)*)^msgid "(.*)"\n^msgstr "(.*)"', re.M)


def extracted(root: Path = ROOT) -> set[str]:
    files = sorted(str(p.relative_to(root)) for d in SOURCES if (root / d).is_dir() for p in (root / d).rglob("*.py"))
    with tempfile.TemporaryDirectory() as tmp:
        pot = Path(tmp) / "pfmt.pot"
        subprocess.run(["xgettext", "--language=Python", "--keyword=tr", "--keyword=N_", "--from-code=UTF-8",
                        "--no-location", "-o", str(pot), *files], cwd=root, check=True)
        text = pot.read_text(encoding="utf-8") if pot.exists() else ""
    return {m.group(2) for m in _ENTRY.finditer(text)} - {""}


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

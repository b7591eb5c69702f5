#!/usr/bin/env bash
# Compile the gettext catalogs (device/locale/<lang>/LC_MESSAGES/pfmt.po → pfmt.mo) with GNU
# gettext's msgfmt, checking each (-c: format strings, header). Run by bootstrap.sh and
# scripts/install.sh; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v msgfmt >/dev/null || { echo "compile-catalogs: msgfmt not found (Debian package gettext)" >&2; exit 1; }
for po in device/locale/*/LC_MESSAGES/pfmt.po; do
    msgfmt -c -o "${po%.po}.mo" "$po"
done

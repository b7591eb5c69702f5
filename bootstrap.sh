#!/usr/bin/env bash
# The developer's set-up: create .venv and install pfmt editable with its test and benchmark
# extras (the device itself is installed by scripts/install.sh, without them). Idempotent.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
# The USB export builds a FAT image with dosfstools' mkfs.fat and reads it back with mtools (both
# in Raspberry Pi OS's archive). Installed from the distribution when missing and we may.
# The tests check the device's systemd units with systemd-analyze verify (Debian's systemd), and
# render the physiotherapist's report in a headless browser (Debian's chromium; developers only,
# never on the device).
need=""
command -v mkfs.fat >/dev/null || need="$need dosfstools"
command -v mcopy >/dev/null || need="$need mtools"
command -v systemd-analyze >/dev/null || need="$need systemd"
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || need="$need chromium"
command -v msgfmt >/dev/null || need="$need gettext"  # the catalogs of her language (scripts/compile-catalogs.sh)
command -v espeak-ng >/dev/null || need="$need espeak-ng"  # the spoken cues' test renders them
if [ -n "$need" ]; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null || {
            apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null; }
    elif command -v apt-get >/dev/null && command -v sudo >/dev/null; then
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
    else
        case "$need" in
            *dosfstools*|*mtools*|*gettext*)
                echo "bootstrap: please install dosfstools, mtools and gettext (mkfs.fat, mcopy, msgfmt)" >&2
                exit 1 ;;
            *) echo "bootstrap: systemd-analyze or chromium not found: the unit checks or the report's browser test will be skipped" >&2 ;;
        esac
    fi
fi
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev,bench]'
scripts/compile-catalogs.sh
# An editable install leaves the project's own modules uncompiled, and where PYTHONDONTWRITEBYTECODE
# is set nothing caches them: every `pfmt` command would compile them again (~70 ms of each
# `pfmt analyze`, more on a Pi). Python re-checks each .pyc against its source, so a stale one is
# never used.
.venv/bin/python -m compileall -q device drivers calibration >/dev/null

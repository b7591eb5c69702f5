#!/usr/bin/env bash
# Create .venv and install pfmt with its test and benchmark extras. Idempotent.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
# The USB export builds a FAT image with dosfstools' mkfs.fat and reads it back with mtools (both
# in Raspberry Pi OS's archive). Installed from the distribution when missing and we may.
if ! command -v mkfs.fat >/dev/null || ! command -v mcopy >/dev/null; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        apt-get install -y -qq dosfstools mtools >/dev/null
    elif command -v apt-get >/dev/null && command -v sudo >/dev/null; then
        sudo apt-get install -y -qq dosfstools mtools >/dev/null
    else
        echo "bootstrap: please install dosfstools and mtools (mkfs.fat, mcopy) for the USB export" >&2
        exit 1
    fi
fi
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev,bench]'
# An editable install leaves the project's own modules uncompiled, and where PYTHONDONTWRITEBYTECODE
# is set nothing caches them: every `pfmt` command would compile them again (~70 ms of each
# `pfmt analyze`, more on a Pi). Python re-checks each .pyc against its source, so a stale one is
# never used.
.venv/bin/python -m compileall -q device drivers calibration >/dev/null

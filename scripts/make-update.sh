#!/usr/bin/env bash
# Build an offline install/update bundle for a USB stick: the pfmt wheel and every wheel the device
# needs for the target Pi, with the install script and units beside them.
#
#   scripts/make-update.sh OUT [--arch aarch64|armv7l] [--python 3.11] [--png]
#
# then copy OUT (a folder pfmt-update/) to the stick and on the Pi:
#   sudo /media/<user>/<stick>/pfmt-update/install.sh --offline
# armv7l (32-bit Raspberry Pi OS) takes numpy (and matplotlib) from the distribution, which
# install.sh installs from apt (with python3-sysv-ipc and python3-cryptography, compiled) — have them
# installed before going offline.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: make-update.sh OUT [--arch aarch64|armv7l] [--python 3.11] [--png]}
shift
ARCH=aarch64
PYV=3.11
PNG=0
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) ARCH=$2; shift ;;
        --python) PYV=$2; shift ;;
        --png) PNG=1 ;;
        *) echo "make-update.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
case "$ARCH" in
    aarch64) plats="--platform manylinux_2_34_aarch64 --platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64" ;;
    armv7l) plats="--platform linux_armv7l --platform manylinux_2_34_armv7l --platform manylinux_2_17_armv7l" ;;
    *) echo "make-update.sh: --arch is aarch64 or armv7l" >&2; exit 2 ;;
esac
PY=${PYTHON:-python3}
B="$OUT/pfmt-update"
rm -rf "$B"
mkdir -p "$B/wheels" "$B/scripts" "$B/install" "$B/examples"
had_build=0; [ -d build ] && had_build=1
bash scripts/compile-catalogs.sh  # the wheel carries the compiled catalogs
"$PY" -m pip wheel -q --no-deps -w "$B/wheels" .
[ "$had_build" = 1 ] || rm -rf build  # setuptools' scratch space, not ours to leave behind
whl=$(ls "$B"/wheels/pfmt-*.whl)
# what pfmt needs, resolved as on the target (markers: Linux, the Pi's machine, its Python)
extras=""; [ "$PNG" = 1 ] && extras="[png]"
if [ "$ARCH" = aarch64 ]; then
    # shellcheck disable=SC2086
    "$PY" -m pip download -q --only-binary=:all: $plats --python-version "$PYV" --implementation cp \
        -d "$B/wheels" "$whl$extras"
else
    # numpy/matplotlib come from the distribution on 32-bit (PyPI has no armv7l wheels of them):
    # every other requirement as resolved for a 64-bit Pi, fetched one by one for armv7l — pure
    # wheels from PyPI, compiled ones from PyPI or piwheels (Raspberry Pi OS's own index)
    ref=$(mktemp -d)
    # shellcheck disable=SC2086
    "$PY" -m pip download -q --only-binary=:all: --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 \
        --platform manylinux_2_28_aarch64 --python-version "$PYV" --implementation cp -d "$ref" "$whl$extras"
    for f in "$ref"/*.whl; do
        n=$(basename "$f" | cut -d- -f1); v=$(basename "$f" | cut -d- -f2)
        case "$n" in pfmt|numpy|matplotlib|contourpy|kiwisolver|pillow|fonttools|sysv_ipc|cryptography|cffi|pycparser) continue ;; esac
        # shellcheck disable=SC2086
        "$PY" -m pip download -q --only-binary=:all: $plats --python-version "$PYV" --implementation cp \
            --no-deps -d "$B/wheels" "$n==$v" 2>/dev/null || \
        "$PY" -m pip download -q --only-binary=:all: $plats --python-version "$PYV" --implementation cp \
            --no-deps --extra-index-url https://www.piwheels.org/simple -d "$B/wheels" "$n==$v" || {
            echo "make-update.sh: no armv7l wheel of $n $v on PyPI or piwheels" >&2; exit 1; }
    done
    rm -rf "$ref"
fi
# lgpio's marker (Linux on ARM) is judged on this machine by pip download: fetch it for the target
# shellcheck disable=SC2086
"$PY" -m pip download -q --only-binary=:all: $plats --python-version "$PYV" --implementation cp \
    --no-deps -d "$B/wheels" "lgpio>=0.2.2"
cp scripts/install.sh "$B/install.sh"
cp scripts/usb-gadget.sh "$B/scripts/"
cp install/* "$B/install/"
cp examples/device.toml "$B/examples/"
cp README.md "$B/"
(cd "$B/wheels" && sha256sum ./*.whl > ../SHA256SUMS)
echo "make-update.sh: $B — $(ls "$B/wheels" | wc -l) wheels, $(du -sh "$B" | cut -f1); on the Pi: sudo $B/install.sh --offline"

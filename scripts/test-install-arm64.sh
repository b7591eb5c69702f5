#!/usr/bin/env bash
# The install, tried as a device builder would, in an arm64 Debian Bookworm root (Raspberry Pi
# OS's base, Python 3.11) under qemu emulation — for a developer to run (it is not in CI: it
# downloads a Debian root and takes a quarter of an hour).
#
#   sudo scripts/test-install-arm64.sh [ROOT]     (default /var/tmp/pfmt-arm64)
#
# Needs debootstrap, qemu-user-static and binfmt-support (apt-get install ...), with binfmt_misc
# mounted so the root's arm64 programs run. Checks, printing a PASS line each: the online
# install from a checkout, the same install run again (an update: config.txt's block written
# once), the offline install from a bundle (scripts/make-update.sh), `pfmt --version`, the
# units with systemd-analyze verify inside the root, `pfmt selftest --emulate` and one emulated
# session through `pfmt device --emulate` as the pfmt user, and the venv's size.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${1:-/var/tmp/pfmt-arm64}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
fail=0
pass() { echo "PASS  $*"; }
bad() { echo "FAIL  $*"; fail=1; }

if [ ! -x "$ROOT/usr/bin/python3" ]; then
    debootstrap --arch=arm64 --variant=minbase \
        --include=python3,python3-venv,python3-pip,ca-certificates,systemd,udev,util-linux,git \
        bookworm "$ROOT" http://deb.debian.org/debian
fi
mounts=()
bind() { mkdir -p "$ROOT$1"; mount --bind "$1" "$ROOT$1"; mounts+=("$ROOT$1"); }
cleanup() { for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null || true; done; }
trap cleanup EXIT
bind /dev
bind /proc
bind /sys
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# behind a TLS-inspecting proxy the host's CA bundle is what lets pip reach the registry
extra_env=()
ca=${PIP_CERT:-${SSL_CERT_FILE:-}}
if [ -n "$ca" ] && [ -f "$ca" ]; then
    cp "$ca" "$ROOT/etc/pfmt-build-ca.crt"
    extra_env=(PIP_CERT=/etc/pfmt-build-ca.crt)
fi
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "${extra_env[@]}" "$@"; }
in_root uname -m | grep -q aarch64 && pass "arm64 root runs under emulation ($(in_root python3 --version))" || { bad "not arm64"; exit 1; }
in_root sh -c 'command -v systemctl >/dev/null' || in_root sh -c 'apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q systemd udev >/dev/null'

rm -rf "$ROOT/opt/src" && mkdir -p "$ROOT/opt/src"
git archive HEAD | tar -x -C "$ROOT/opt/src"
mkdir -p "$ROOT/boot/firmware" && printf '# Raspberry Pi OS config.txt\n[all]\n' > "$ROOT/boot/firmware/config.txt"

t0=$(date +%s)
if in_root /opt/src/scripts/install.sh --no-start --rtc > /tmp/pfmt-arm64-install.log 2>&1; then
    pass "online install from a checkout in $(( $(date +%s) - t0 )) s"
else
    bad "online install (see /tmp/pfmt-arm64-install.log)"; tail -20 /tmp/pfmt-arm64-install.log; exit 1
fi
v=$(in_root /usr/local/bin/pfmt --version) && pass "pfmt --version: $v" || bad "pfmt --version"
t0=$(date +%s)
in_root /opt/src/scripts/install.sh --no-start --rtc > /tmp/pfmt-arm64-update.log 2>&1 && \
    pass "run again (an update) in $(( $(date +%s) - t0 )) s" || bad "second run (see /tmp/pfmt-arm64-update.log)"
n=$(grep -c '^# --- pfmt (scripts/install.sh) ---$' "$ROOT/boot/firmware/config.txt")
[ "$n" = 1 ] && grep -q '^dtparam=i2c_arm_baudrate=400000$' "$ROOT/boot/firmware/config.txt" && \
    grep -q '^dtoverlay=dwc2' "$ROOT/boot/firmware/config.txt" && grep -q '^dtoverlay=i2c-rtc,ds3231$' "$ROOT/boot/firmware/config.txt" && \
    pass "config.txt: one pfmt block (I2C 400 kHz, dwc2, DS3231)" || bad "config.txt block ($n blocks)"
in_root id pfmt | grep -q gpio && in_root id pfmt | grep -q i2c && pass "user: $(in_root id pfmt)" || bad "pfmt user and groups"
[ "$(in_root stat -c '%a %U' /var/lib/pfmt)" = "700 pfmt" ] && [ -f "$ROOT/etc/pfmt/device.toml" ] && \
    pass "/etc/pfmt/device.toml and /var/lib/pfmt (700 pfmt)" || bad "/etc/pfmt, /var/lib/pfmt"
for u in pfmt pfmt-gadget pfmt-console; do
    [ -L "$ROOT/etc/systemd/system/multi-user.target.wants/$u.service" ] || bad "$u.service not enabled"
done
out=$(in_root systemd-analyze verify /etc/systemd/system/pfmt.service /etc/systemd/system/pfmt-gadget.service \
      /etc/systemd/system/pfmt-console.service 2>&1 | grep -i pfmt || true)
[ -z "$out" ] && pass "units enabled; systemd-analyze verify in the root: clean" || bad "systemd-analyze verify: $out"
if in_root /opt/pfmt/venv/bin/python -c 'import scipy' 2>/dev/null || in_root /opt/pfmt/venv/bin/python -c 'import pytest' 2>/dev/null; then
    bad "developer tooling in the device's venv"
else
    pass "no scipy, peers or pytest in the device's venv; lgpio: $(in_root /opt/pfmt/venv/bin/python -c 'import lgpio; print(lgpio.__file__.rsplit("/", 2)[-2])' 2>&1 | tail -1)"
fi
pass "venv size: $(du -sh "$ROOT/opt/pfmt/venv" | cut -f1)"
as_pfmt() { chroot --userspec=pfmt:pfmt "$ROOT" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/var/lib/pfmt LANG=C.UTF-8 "$@"; }
t0=$(date +%s%N)
as_pfmt /opt/pfmt/venv/bin/pfmt --version >/dev/null
pass "pfmt --version start-up under emulation: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
as_pfmt /opt/pfmt/venv/bin/pfmt selftest --emulate > /tmp/pfmt-arm64-selftest.log 2>&1 && \
    pass "pfmt selftest --emulate as pfmt: $(tail -1 /tmp/pfmt-arm64-selftest.log)" || bad "selftest (see /tmp/pfmt-arm64-selftest.log)"
# a device fresh from the install: no profile, no sessions (a root kept from an earlier run has them)
in_root sh -c 'rm -rf /var/lib/pfmt/profile /var/lib/pfmt/pfmt.sqlite3* /var/lib/pfmt/progress.json /var/lib/pfmt/pin-attempts.json'
printf '%s' '{"new_pin": "bekken-2468-fysio", "new_pin_again": "bekken-2468-fysio", "accept": "y", "physio": "PT-7", "patient_code": "P-1",
  "retry": "n", "contact.reps": "3", "contact.sets": "1", "progression": "n"}' > "$ROOT/var/lib/pfmt/answers.json"
in_root chown pfmt: /var/lib/pfmt/answers.json
t0=$(date +%s)
as_pfmt /opt/pfmt/venv/bin/pfmt calibrate --answers /var/lib/pfmt/answers.json > /tmp/pfmt-arm64-cal.log 2>&1 && \
    pass "pfmt calibrate (emulated) as pfmt in $(( $(date +%s) - t0 )) s" || bad "calibrate (see /tmp/pfmt-arm64-cal.log)"
t0=$(date +%s)
as_pfmt /opt/pfmt/venv/bin/pfmt device --emulate > /tmp/pfmt-arm64-device.log 2>&1 && \
    grep -q "status=completed" /tmp/pfmt-arm64-device.log && \
    pass "pfmt device --emulate: one session completed in $(( $(date +%s) - t0 )) s" || bad "device (see /tmp/pfmt-arm64-device.log)"

# the offline route: a bundle built here, installed with no index at all
scripts/make-update.sh "$ROOT/opt/stick" --arch aarch64 > /tmp/pfmt-arm64-bundle.log 2>&1 || { bad "make-update.sh"; cat /tmp/pfmt-arm64-bundle.log; }
t0=$(date +%s)
in_root /opt/stick/pfmt-update/install.sh --offline --prefix /opt/pfmt-offline --no-boot --no-start > /tmp/pfmt-arm64-offline.log 2>&1 && \
    v=$(in_root /opt/pfmt-offline/venv/bin/pfmt --version) && \
    pass "offline install from the bundle in $(( $(date +%s) - t0 )) s: $v" || bad "offline install (see /tmp/pfmt-arm64-offline.log)"
in_root ln -sf /opt/pfmt/venv/bin/pfmt /usr/local/bin/pfmt
[ "$fail" = 0 ] && echo "all checks pass" || echo "some checks FAIL"
exit "$fail"

#!/usr/bin/env bash
# Install — or update — the pfmt device on Raspberry Pi OS (Bookworm or later; 64-bit, or 32-bit
# with the distribution's numpy). Run as root from a checkout, or from an update bundle on a USB
# stick (scripts/make-update.sh builds one):
#
#   sudo scripts/install.sh                    # from the package registry (needs the network once)
#   sudo /media/$USER/STICK/pfmt-update/install.sh --offline   # from the stick's wheels, no network
#
# Options:
#   --offline        install only from the bundle's wheels/ (beside this script, or --wheels DIR)
#   --wheels DIR     the wheels to install from (implies --offline)
#   --png            also install matplotlib, for the PNG plot in exports (~45 MB)
#   --rtc            a DS3231 real-time clock is fitted (I2C 0x68): enable its overlay
#   --no-boot        leave config.txt alone (the I2C, gadget and RTC overlays)
#   --no-start       install and enable, but do not (re)start the services now
#   --prefix DIR     where the device's own Python lives (default /opt/pfmt)
#
# What it does, each step safe to repeat (running it again updates):
#   the apt packages the device needs (python3-venv, dosfstools and mtools for the export disk,
#   i2c-tools, util-linux's hwclock; on 32-bit also python3-numpy and, with --png,
#   python3-matplotlib); the system user `pfmt` in the gpio, i2c and dialout groups; a venv in
#   PREFIX/venv with pfmt and only what the device runs (no scipy, no peers, no pytest);
#   /etc/pfmt/device.toml (the reference build; never overwritten) and /var/lib/pfmt (0700,
#   pfmt's); I2C at 400 kHz, the USB gadget (dwc2) and optionally the RTC in config.txt; the units
#   pfmt.service (the trainer), pfmt-gadget.service (the export disk and serial tty) and
#   pfmt-console.service (the serial console on /dev/ttyGS0), enabled; /usr/local/bin/pfmt.
#   An update waits for a session in progress to end before it restarts the trainer.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# a checkout (scripts/ inside the project) or a bundle (install.sh beside wheels/ and install/)
if [ -f "$here/../pyproject.toml" ]; then SRC=$(cd "$here/.." && pwd); else SRC=$here; fi
PREFIX=/opt/pfmt
OFFLINE=0
WHEELS=
PNG=0
RTC=0
BOOT=1
START=1
while [ $# -gt 0 ]; do
    case "$1" in
        --offline) OFFLINE=1 ;;
        --wheels) WHEELS=${2:?--wheels needs a directory}; OFFLINE=1; shift ;;
        --png) PNG=1 ;;
        --rtc) RTC=1 ;;
        --no-boot) BOOT=0 ;;
        --no-start) START=0 ;;
        --prefix) PREFIX=${2:?--prefix needs a directory}; shift ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
say() { echo "install.sh: $*"; }
die() { echo "install.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (sudo $0 $*)"
[ -f "$SRC/install/pfmt.service" ] || die "$SRC/install/pfmt.service is missing: run it from a pfmt checkout or bundle"
if [ "$OFFLINE" = 1 ]; then
    WHEELS=${WHEELS:-$SRC/wheels}
    [ -d "$WHEELS" ] || die "--offline: no wheels in $WHEELS (build a bundle with scripts/make-update.sh)"
fi

# --- the system -------------------------------------------------------------------------------
. /etc/os-release
arch=$(uname -m)
py=$(command -v python3 || true)
[ -n "$py" ] || die "python3 is missing (Raspberry Pi OS has it; apt-get install python3)"
pyver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
"$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || die "Python $pyver is too old: pfmt needs 3.10 or later (Bookworm has 3.11)"
case "$arch" in
    aarch64) system_numpy=0 ;;
    armv7l|armv6l) system_numpy=1 ;;  # PyPI has no numpy/matplotlib wheels for 32-bit ARM
    *) system_numpy=0; say "note: $arch is not a Raspberry Pi; installing anyway (the emulated device)" ;;
esac
say "$PRETTY_NAME, $arch, Python $pyver; prefix $PREFIX"

pkgs="python3-venv python3-pip dosfstools mtools i2c-tools util-linux gettext espeak-ng alsa-utils"
[ "$system_numpy" = 1 ] && pkgs="$pkgs python3-numpy python3-sysv-ipc python3-cryptography"
[ "$system_numpy" = 1 ] && [ "$PNG" = 1 ] && pkgs="$pkgs python3-matplotlib"
missing=$(for p in $pkgs; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"; done)
if [ -n "$missing" ]; then
    [ "$OFFLINE" = 0 ] || die "missing packages for an offline install: $(echo $missing); install them first"
    say "apt-get install $(echo $missing)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null || {
        apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null; }
fi

# --- the user and its places ------------------------------------------------------------------
for g in gpio i2c dialout; do getent group "$g" >/dev/null || groupadd --system "$g"; done
if ! id pfmt >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/pfmt --no-create-home --shell /usr/sbin/nologin --user-group pfmt
    say "created the system user pfmt"
fi
usermod -a -G gpio,i2c,dialout pfmt
install -d -m 0755 /etc/pfmt "$PREFIX" "$PREFIX/share"
install -d -m 0700 -o pfmt -g pfmt /var/lib/pfmt
if [ ! -f /etc/pfmt/device.toml ]; then
    install -m 0644 "$SRC/examples/device.toml" /etc/pfmt/device.toml
    say "wrote /etc/pfmt/device.toml (the reference build; edit it to match your wiring)"
fi

# --- the device's own Python ------------------------------------------------------------------
venv="$PREFIX/venv"
if [ ! -x "$venv/bin/python" ]; then
    if [ "$system_numpy" = 1 ]; then "$py" -m venv --system-site-packages "$venv"; else "$py" -m venv "$venv"; fi
fi
extras=""
[ "$PNG" = 1 ] && extras="[png]"
if [ "$OFFLINE" = 1 ]; then
    whl=$(ls "$WHEELS"/pfmt-*.whl 2>/dev/null | sort -V | tail -n 1)
    [ -n "$whl" ] || die "no pfmt wheel in $WHEELS"
    "$venv/bin/python" -m pip install -q --no-index --find-links "$WHEELS" --upgrade "$whl$extras"
else
    "$venv/bin/python" -m pip install -q --upgrade pip
    bash "$SRC/scripts/compile-catalogs.sh"  # her language: the catalogs go into the package compiled
    "$venv/bin/python" -m pip install -q --upgrade "$SRC$extras"
fi
"$venv/bin/python" -m compileall -q "$venv/lib" >/dev/null 2>&1 || true
version=$("$venv/bin/pfmt" --version)
ln -sf "$venv/bin/pfmt" /usr/local/bin/pfmt
install -m 0755 "$SRC/scripts/usb-gadget.sh" "$PREFIX/share/usb-gadget.sh"
install -m 0644 "$SRC/README.md" "$PREFIX/share/README.md" 2>/dev/null || true
say "installed $version in $venv"

# --- the boot configuration: I2C at 400 kHz, the USB gadget, the RTC ---------------------------
reboot=0
if [ "$BOOT" = 1 ]; then
    cfg=/boot/firmware/config.txt
    [ -f "$cfg" ] || cfg=/boot/config.txt
    block="# --- pfmt (scripts/install.sh) ---
dtparam=i2c_arm=on
dtparam=i2c_arm_baudrate=400000
dtoverlay=dwc2,dr_mode=peripheral"
    [ "$RTC" = 1 ] && block="$block
dtoverlay=i2c-rtc,ds3231"
    block="$block
# --- end pfmt ---"
    old=""
    [ -f "$cfg" ] && old=$(sed -n '/^# --- pfmt (scripts\/install.sh) ---$/,/^# --- end pfmt ---$/p' "$cfg")
    if [ "$old" != "$block" ]; then
        mkdir -p "$(dirname "$cfg")"
        touch "$cfg"
        tmp=$(mktemp)
        sed '/^# --- pfmt (scripts\/install.sh) ---$/,/^# --- end pfmt ---$/d' "$cfg" > "$tmp"
        printf '%s\n' "$block" >> "$tmp"
        cat "$tmp" > "$cfg" && rm -f "$tmp"
        reboot=1
        say "updated $cfg (I2C 400 kHz, USB gadget$([ "$RTC" = 1 ] && echo ', DS3231 RTC'))"
    fi
    printf 'i2c-dev\nlibcomposite\n' > /etc/modules-load.d/pfmt.conf
fi

# --- the spoken cues, rendered once in every language (played when [voice] speech = true) --------
runuser -u pfmt -- "$venv/bin/pfmt" speech render --data /var/lib/pfmt >/dev/null \
    && say "spoken cues rendered in /var/lib/pfmt/speech" || say "note: the spoken cues could not be rendered (espeak-ng)"

# --- the units --------------------------------------------------------------------------------
for u in pfmt.service pfmt-gadget.service pfmt-console.service; do
    sed "s#@PREFIX@#$PREFIX#g" "$SRC/install/$u" > "/etc/systemd/system/$u"
    chmod 0644 "/etc/systemd/system/$u"
done
install -m 0644 "$SRC/install/90-pfmt.rules" /etc/udev/rules.d/90-pfmt.rules
systemctl enable pfmt.service pfmt-gadget.service pfmt-console.service >/dev/null 2>&1 || \
    die "systemctl enable failed"
if [ -d /run/systemd/system ] && [ "$START" = 1 ]; then
    systemctl daemon-reload
    udevadm control --reload 2>/dev/null || true
    if systemctl is-active -q pfmt.service; then
        # an update: let a session in progress end (the trainer holds this lock while one records)
        say "waiting for a session in progress to end before restarting the trainer"
        flock -w 7200 /var/lib/pfmt/.session.lock systemctl restart pfmt.service
    else
        systemctl start pfmt.service
    fi
    systemctl try-restart pfmt-console.service || true
    say "the trainer is $(systemctl is-active pfmt.service)"
else
    say "services enabled; they start at the next boot"
fi
[ "$reboot" = 1 ] && say "reboot to enable I2C and the USB gadget (sudo reboot)"
say "done. Check the build once with: sudo -u pfmt pfmt selftest"

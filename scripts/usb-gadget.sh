#!/usr/bin/env bash
# Set the Pi up as a USB gadget (run once at boot, as root): a read-only mass-storage disk holding
# the latest export (a FAT image that `pfmt export --gadget` / the serial console's EXPORT rebuild
# and swap in) and a CDC ACM serial console (/dev/ttyGS0, served by `pfmt serial`).
#
# Needs a Pi whose USB port can be a device (Zero/Zero 2 W, 4/5 on the USB-C port) with
# `dtoverlay=dwc2` in config.txt and `modules-load=dwc2` (or libcomposite loaded).
#   usage: usb-gadget.sh [--owner USER] [IMAGE]   (default /var/lib/pfmt/gadget.img)
#          usb-gadget.sh --remove
# --owner: the user whose serial console swaps a rebuilt image in (pfmt-gadget.service: pfmt)
# owns the image and the disk's "file" attribute, so the console need not run as root.
set -euo pipefail

G=/sys/kernel/config/usb_gadget/pfmt
OWNER=
if [ "${1:-}" = "--owner" ]; then
    OWNER=${2:?usb-gadget.sh: --owner needs a user}
    shift 2
fi
IMAGE=${1:-/var/lib/pfmt/gadget.img}

remove() {
    [ -d "$G" ] || return 0
    echo "" > "$G/UDC" 2>/dev/null || true
    rm -f "$G/configs/c.1/mass_storage.usb0" "$G/configs/c.1/acm.usb0"
    rmdir "$G/configs/c.1/strings/0x409" "$G/configs/c.1" 2>/dev/null || true
    rmdir "$G/functions/mass_storage.usb0" "$G/functions/acm.usb0" 2>/dev/null || true
    rmdir "$G/strings/0x409" "$G" 2>/dev/null || true
}

if [ "${1:-}" = "--remove" ]; then
    remove
    exit 0
fi

[ "$(id -u)" = 0 ] || { echo "usb-gadget.sh: run as root" >&2; exit 1; }
modprobe libcomposite
mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config
remove

if [ ! -f "$IMAGE" ]; then  # an empty disk until the first export
    install -d -m 0700 "$(dirname "$IMAGE")"
    mkfs.fat -C -n PFMT "$IMAGE" 2048 >/dev/null
    chmod 0600 "$IMAGE"
fi

mkdir -p "$G"
echo 0x1d6b > "$G/idVendor"     # Linux Foundation
echo 0x0104 > "$G/idProduct"    # Multifunction Composite Gadget
echo 0x0100 > "$G/bcdDevice"
echo 0x0200 > "$G/bcdUSB"
mkdir -p "$G/strings/0x409"
serial=$(awk '/Serial/ {print $3}' /proc/cpuinfo 2>/dev/null || true)
echo "${serial:-0000000000000000}" > "$G/strings/0x409/serialnumber"
echo "pfmt" > "$G/strings/0x409/manufacturer"
echo "pfmt pelvic floor trainer" > "$G/strings/0x409/product"

mkdir -p "$G/configs/c.1/strings/0x409"
echo "export disk + serial console" > "$G/configs/c.1/strings/0x409/configuration"
echo 250 > "$G/configs/c.1/MaxPower"

# The export disk: read-only to the host, removable so a swapped image shows as a new medium.
mkdir -p "$G/functions/mass_storage.usb0"
echo 1 > "$G/functions/mass_storage.usb0/stall"
echo 1 > "$G/functions/mass_storage.usb0/lun.0/ro"
echo 1 > "$G/functions/mass_storage.usb0/lun.0/removable"
echo 0 > "$G/functions/mass_storage.usb0/lun.0/cdrom"
echo "$IMAGE" > "$G/functions/mass_storage.usb0/lun.0/file"
ln -s "$G/functions/mass_storage.usb0" "$G/configs/c.1/"

# The CDC ACM serial console (/dev/ttyGS0 on the Pi).
mkdir -p "$G/functions/acm.usb0"
ln -s "$G/functions/acm.usb0" "$G/configs/c.1/"

if [ -n "$OWNER" ]; then
    chown "$OWNER:" "$IMAGE" "$G/functions/mass_storage.usb0/lun.0/file"
fi
ls /sys/class/udc | head -n 1 > "$G/UDC"
echo "usb-gadget.sh: gadget up on $(cat "$G/UDC"): disk $IMAGE (read-only), serial /dev/ttyGS0"
echo "  then: pfmt serial --image $IMAGE --lun $G/functions/mass_storage.usb0/lun.0"

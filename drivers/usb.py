"""USB on the Pi: a stick plugged into its host port, and the Pi itself as a USB gadget.

Knows block devices, mounts, FAT images and configfs; nothing about training — it copies a
folder whose ``MANIFEST.sha256`` lists every file's checksum, and proves the copy against it.

Stick: found in sysfs (a removable disk on a USB path), mounted, the folder written under a
temporary name, fsynced and renamed, then the stick is mounted again read-only and every file
read back and checked, then unmounted. A read-only or full stick is a clear error, and only
this export's own partial folder is ever removed — nothing of the device's, nothing already on
the stick.

Gadget: a read-only FAT image is built per export (dosfstools' ``mkfs.fat``, mtools' ``mcopy``:
no loop mount, no root needed), read back with mtools and checked, then swapped into the
mass-storage function of the configfs gadget that ``scripts/usb-gadget.sh`` sets up (which also
adds the CDC serial console, ``/dev/ttyGS0`` on the Pi).
"""
from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from drivers.errors import N_, HardwareError, StorageError

MANIFEST = "MANIFEST.sha256"
CLUSTER_SLACK = 32 * 1024  # worst-case cluster rounding per file on a FAT stick
FAT_LABEL = "PFMT"


# --- shared ------------------------------------------------------------------------------------
def read_manifest(folder: Path) -> dict[str, str]:
    p = folder / MANIFEST
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise StorageError(N_("{p}: the export has no readable manifest ({strerror})"),
                           p=p, strerror=e.strerror) from None
    out = {}
    for line in text.splitlines():
        if line.strip():
            digest, _, name = line.partition("  ")
            out[name] = digest
    return out


def _sha256(data_iter) -> str:
    h = hashlib.sha256()
    for chunk in data_iter:
        h.update(chunk)
    return h.hexdigest()


def _file_chunks(p: Path):
    with open(p, "rb") as f:
        yield from iter(lambda: f.read(1 << 20), b"")


def folder_size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


# --- the stick ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stick:
    device: str  # /dev/sda1
    name: str  # sda1
    size_bytes: int
    model: str


def find_sticks(sys_root: str | os.PathLike = "/sys", dev_root: str | os.PathLike = "/dev") -> list[Stick]:
    """Removable USB disks and their partitions (a disk without partitions is used whole)."""
    out = []
    block = Path(sys_root) / "block"
    if not block.is_dir():
        return []
    for disk in sorted(block.iterdir()):
        if not disk.name.startswith("sd"):
            continue
        removable = (disk / "removable").read_text().strip() == "1" if (disk / "removable").exists() else False
        on_usb = "/usb" in os.path.realpath(disk / "device") if (disk / "device").exists() else False
        if not (removable or on_usb):
            continue
        model = (disk / "device" / "model").read_text().strip() if (disk / "device" / "model").exists() else ""
        parts = sorted(p for p in disk.iterdir() if p.name.startswith(disk.name) and (p / "size").exists())
        for p in parts or [disk]:
            sectors = int((p / "size").read_text().strip() or 0) if (p / "size").exists() else 0
            if sectors:
                out.append(Stick(str(Path(dev_root) / p.name), p.name, sectors * 512, model))
    return out


class Mounter(Protocol):
    def mount(self, stick: Stick, target: Path, readonly: bool) -> None: ...

    def reopen_readonly(self, stick: Stick, target: Path) -> None:
        """Make later reads come from the medium, not from what was just written into memory."""

    def unmount(self, target: Path) -> None: ...


class SystemMounter:
    """mount(8)/umount(8) on the Pi (pfmt's service runs with the right to mount)."""

    def _run(self, *cmd: str) -> None:
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise StorageError(N_("`{items}` failed: {value}"),
                               items=' '.join(cmd), value=r.stderr.strip() or r.returncode)

    def mount(self, stick: Stick, target: Path, readonly: bool) -> None:
        opts = "nosuid,nodev,noexec" + (",ro" if readonly else "")
        self._run("mount", "-o", opts, stick.device, str(target))

    def reopen_readonly(self, stick: Stick, target: Path) -> None:
        self.unmount(target)  # flushes; the next mount reads the medium afresh
        self._run("blockdev", "--flushbufs", stick.device)
        self.mount(stick, target, readonly=True)

    def unmount(self, target: Path) -> None:
        self._run("umount", str(target))


def _is_mounted(target: Path) -> bool:
    return os.path.ismount(target)


def write_to_stick(folder: Path, stick: Stick, mounter: Mounter, mount_root: Path) -> Path:
    """Copy ``folder`` onto the stick and verify it; returns the folder's path on the stick
    (while mounted). Raises StorageError for a read-only, full or failing stick."""
    expected = read_manifest(folder)
    need_bytes, n_files = folder_size(folder)
    need = need_bytes + CLUSTER_SLACK * (n_files + 2)
    target = Path(mount_root) / f"pfmt-{stick.name}"
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        mounter.mount(stick, target, readonly=False)
    except StorageError as e:
        raise StorageError(N_("the USB stick {device} could not be mounted ({e}); is it FAT/exFAT formatted?"),
                           device=stick.device, e=e) \
            from None
    final = target / folder.name
    partial = target / f".{folder.name}.partial"
    try:
        st = os.statvfs(target)
        if st.f_flag & os.ST_RDONLY:
            raise StorageError(N_("the USB stick {device} is read-only (write-protect switch?); nothing was written"),
                               device=stick.device)
        free = st.f_bavail * st.f_frsize
        if free < need:
            raise StorageError(N_("the USB stick {device} is full: {value:.1f} MB free, the export needs "
                                  "{value2:.1f} MB; nothing was written and nothing deleted"),
                               device=stick.device, value=free / 1e6, value2=need / 1e6)
        if final.exists():
            raise StorageError(N_("{name} is already on the stick; nothing was overwritten"), name=final.name)
        try:
            _copy_tree(folder, partial)
            os.rename(partial, final)
            _fsync_dir(target)
            os.sync()
        except OSError as e:
            shutil.rmtree(partial, ignore_errors=True)  # only this export's own partial copy
            full = N_("the USB stick {device} is full while copying {name}; the partial copy was removed, nothing "
                      "else was deleted")
            why = {errno.ENOSPC: full, errno.EDQUOT: full,
                   errno.EROFS: N_("the USB stick {device} is read-only while copying {name}; the partial copy was "
                                   "removed, nothing else was deleted"),
                   errno.EIO: N_("the USB stick {device} failed to write {name} (input/output error); the partial "
                                 "copy was removed, nothing else was deleted")}.get(
                e.errno or 0, N_("the USB stick {device} failed while copying {name} ({strerror}); the partial copy "
                                 "was removed, nothing else was deleted"))
            raise StorageError(why, device=stick.device, strerror=e.strerror, name=Path(e.filename or "").name) from None
        mounter.reopen_readonly(stick, target)
        verify_folder(final, expected, where=f"the USB stick {stick.device}")
        return final
    finally:
        if _is_mounted(target):
            mounter.unmount(target)


def _copy_tree(src: Path, dst: Path) -> None:
    dst.mkdir()
    for p in sorted(src.rglob("*")):
        out = dst / p.relative_to(src)
        if p.is_dir():
            out.mkdir(exist_ok=True)
            continue
        with open(p, "rb") as fi, open(out, "wb") as fo:
            shutil.copyfileobj(fi, fo, 1 << 20)
            fo.flush()
            os.fsync(fo.fileno())
    _fsync_dir(dst)


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems (vfat on older kernels) refuse fsync on a directory
    finally:
        os.close(fd)


def verify_folder(folder: Path, expected: dict[str, str], where: str) -> None:
    for name, digest in expected.items():
        p = folder / name
        try:
            got = _sha256(_file_chunks(p))
        except OSError as e:
            raise StorageError(N_("{where}: {name} cannot be read back ({strerror}); the copy is not to be trusted, "
                                  "the sessions remain on the device"),
                               where=where, name=name, strerror=e.strerror) from None
        if got != digest:
            raise StorageError(N_("{where}: {name} reads back different from what was written (checksum mismatch); "
                                  "the copy is not to be trusted, the sessions remain on the device"),
                               where=where, name=name)


# --- the gadget's FAT image --------------------------------------------------------------------
def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        raise HardwareError(N_("{name} is not installed; install dosfstools and mtools (./bootstrap.sh does)"),
                            name=name)
    return path


def _mtools(*args: str, input_: bytes | None = None) -> bytes:
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1", MTOOLS_NO_VFAT="0")
    r = subprocess.run(args, capture_output=True, env=env, input=input_)
    if r.returncode != 0:
        raise StorageError(N_("`{items}` failed: {value}"),
                           items=' '.join(args), value=r.stderr.decode(errors='replace').strip())
    return r.stdout


def image_size_kib(folder: Path) -> int:
    """Room for every file rounded up to 4 KiB clusters, the FAT and directories, with 10 % spare."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    data = sum(-(-p.stat().st_size // 4096) * 4096 for p in files)
    return max(2048, int(data * 1.1 / 1024) + 1024)


def build_fat_image(folder: Path, image: Path, label: str = FAT_LABEL, tmp: Path | None = None) -> list[str]:
    """A FAT image holding ``folder`` (as a top-level directory), written beside ``image`` (at
    ``tmp`` when the caller names it, so what a kill leaves can be found again) and renamed over
    it only once read back and verified by checksum; returns the listing."""
    expected = read_manifest(folder)
    image = Path(image)
    image.parent.mkdir(parents=True, exist_ok=True)
    if tmp is None:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{image.name}.", dir=image.parent)
        os.close(fd)
        tmp = Path(tmp_name)
    if tmp.exists():
        tmp.unlink()  # mkfs.fat -C creates it
    work = str(tmp)  # the tools take a path string
    try:
        r = subprocess.run([_tool("mkfs.fat"), "-C", "-n", label[:11], work, str(image_size_kib(folder))],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise StorageError(N_("mkfs.fat failed: {value}"), value=r.stderr.strip())
        mcopy, mmd = _tool("mcopy"), _tool("mmd")
        _tool("mdir")  # checked before writing anything: the image is read back with it
        _mtools(mmd, "-i", work, f"::/{folder.name}")
        for p in sorted(folder.rglob("*")):
            rel = p.relative_to(folder).as_posix()
            if p.is_dir():
                _mtools(mmd, "-i", work, f"::/{folder.name}/{rel}")
            else:
                _mtools(mcopy, "-i", work, "-o", str(p), f"::/{folder.name}/{rel}")
        listing = list_image(work)
        for name, digest in expected.items():
            got = hashlib.sha256(_mtools(mcopy, "-i", work, f"::/{folder.name}/{name}", "-")).hexdigest()
            if got != digest:
                raise StorageError(N_("the FAT image's {name} reads back different from the export (checksum "
                                      "mismatch); the previous image is kept"), name=name)
        os.chmod(work, 0o600)
        os.replace(work, image)
        return listing
    finally:
        if os.path.exists(work):
            os.unlink(work)


def list_image(image: str | os.PathLike) -> list[str]:
    """Every file in a FAT image, as paths (mtools' ``mdir -/ -b``)."""
    out = _mtools(_tool("mdir"), "-i", str(image), "-/", "-b", "::/").decode(errors="replace")
    return [line.strip()[2:] if line.startswith("::") else line.strip() for line in out.splitlines() if line.strip()]


def swap_gadget_image(lun: Path, image: Path) -> None:
    """Hand the mass-storage function a new image: the host sees the medium ejected and
    re-inserted (configfs ``forced_eject`` when the kernel has it, else an empty ``file``)."""
    lun = Path(lun)
    if not (lun / "file").exists():
        raise HardwareError(N_("{lun}: not a mass-storage LUN in configfs; run scripts/usb-gadget.sh (as root) once "
                               "at boot to set the gadget up"), lun=lun)
    try:
        if (lun / "forced_eject").exists():
            (lun / "forced_eject").write_text("1\n")
        else:
            (lun / "file").write_text("\n")
        (lun / "file").write_text(f"{Path(image).resolve()}\n")
    except OSError as e:
        raise HardwareError(N_("{lun}: the gadget refused the new image ({strerror})"),
                            lun=lun, strerror=e.strerror) from None


# --- the CDC serial line -----------------------------------------------------------------------
def open_tty(path: str) -> int:
    """Open a serial line raw (no echo, no line editing), as the console protocol needs it."""
    import termios
    import tty

    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    except OSError as e:
        raise HardwareError(N_("{path}: cannot open the serial console ({strerror}); on the Pi it is /dev/ttyGS0 "
                               "once scripts/usb-gadget.sh has run"), path=path, strerror=e.strerror) from None
    if os.isatty(fd):
        tty.setraw(fd, termios.TCSANOW)
    return fd

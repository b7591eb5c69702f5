"""Files that survive power loss: written to a temporary file, fsynced, renamed over the old one,
and the directory fsynced, so a reader finds the old version or the new one, never a torn one."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Literal

__all__ = ["SYSTEM_CONFIG", "SYSTEM_DATA", "atomic_write", "clean_partials", "default_config_path",
           "default_data_dir", "partial_name"]


class atomic_write:
    """Context manager yielding a binary file that replaces ``path`` only once fully on disk."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __enter__(self) -> BinaryIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        self.f = os.fdopen(fd, "wb")
        return self.f

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        try:
            if exc_type is None:
                self.f.flush()
                os.fsync(self.f.fileno())
            self.f.close()
            if exc_type is None:
                os.replace(self.tmp, self.path)
                dfd = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)
        finally:
            if os.path.exists(self.tmp):
                os.unlink(self.tmp)
        return False


#: The installed device's places (scripts/install.sh creates them).
SYSTEM_DATA = Path("/var/lib/pfmt")
SYSTEM_CONFIG = Path("/etc/pfmt/device.toml")


def default_data_dir() -> Path:
    """Where sessions, progress and the profile are kept unless ``--data`` says: ``$PFMT_DATA``;
    else ``/var/lib/pfmt`` on an installed device; else the user's own data directory
    (``$XDG_DATA_HOME/pfmt``, ~/.local/share/pfmt) — never a folder relative to wherever the
    command happened to be typed."""
    env = os.environ.get("PFMT_DATA")
    if env:
        return Path(env)
    if SYSTEM_DATA.is_dir() and os.access(SYSTEM_DATA, os.W_OK | os.X_OK):
        return SYSTEM_DATA
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "pfmt"


def default_config_path() -> Path | None:
    """The device configuration unless ``--config`` says: ``$PFMT_CONFIG``, else
    ``/etc/pfmt/device.toml`` when installed; None: the built-in reference build."""
    env = os.environ.get("PFMT_CONFIG")
    if env:
        return Path(env)
    return SYSTEM_CONFIG if SYSTEM_CONFIG.is_file() else None


# --- things built under a temporary name ---------------------------------------------------------
_PARTIAL = re.compile(r"^\..+\.partial-(\d+)$")


def partial_name(final: str | os.PathLike) -> Path:
    """Where ``final`` (a folder or a file) is built until it is complete and verified: a hidden
    sibling carrying this process's id, renamed over ``final`` at the end. A kill leaves only the
    partial, never a plausible half under the final name."""
    final = Path(final)
    return final.with_name(f".{final.name}.partial-{os.getpid()}")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def clean_partials(directory: str | os.PathLike) -> list[Path]:
    """Remove what a killed build left in ``directory`` (partials whose process is gone); returns
    what was removed. A partial of a live process is left to it."""
    removed: list[Path] = []
    try:
        entries = list(Path(directory).iterdir())
    except OSError:
        return removed
    for p in entries:
        m = _PARTIAL.match(p.name)
        if not m or _alive(int(m.group(1))):
            continue
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
        except OSError:
            continue
        removed.append(p)
    return removed

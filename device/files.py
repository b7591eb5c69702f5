"""Files that survive power loss: written to a temporary file, fsynced, renamed over the old one,
and the directory fsynced, so a reader finds the old version or the new one, never a torn one."""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Literal

from device.errors import N_, InputError

__all__ = ["SYSTEM_CONFIG", "SYSTEM_DATA", "atomic_write", "check_input_file", "clean_partials",
           "default_config_path", "default_data_dir", "fsync_dir", "json_out", "partial_name", "printable"]


class atomic_write:
    """Context manager yielding a binary file that replaces ``path`` only once fully on disk."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __enter__(self) -> BinaryIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # a partial name (``clean_partials`` removes what a kill left), unique per writer
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=f".partial-{os.getpid()}",
                                        dir=self.path.parent)
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
                fsync_dir(self.path.parent)
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


def fsync_dir(directory: str | os.PathLike) -> None:
    """Make a rename or a new name in ``directory`` survive power loss (its entry is on disk)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


# --- what comes in and what goes out --------------------------------------------------------------
def check_input_file(path: str | os.PathLike, what: str, max_bytes: int) -> Path:
    """``path`` as an input file: a regular file of at most ``max_bytes`` (a FIFO would hang the
    reader forever, ``/dev/zero`` or a file of gigabytes would end in an OOM kill on a 512 MB Pi);
    InputError naming what is wrong otherwise."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError(N_("{p}: no such file"), p=printable(str(p))) from None
    except OSError as e:
        raise InputError(N_("{p}: cannot read ({strerror})"), p=printable(str(p)), strerror=e.strerror) from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(N_("{p}: not a regular file (a pipe, a device or a folder); a {what} is read from a file"),
                         p=printable(str(p)), what=what)
    if st.st_size > max_bytes:
        raise InputError(N_("{p}: {value:.0f} MB is more than a {what} can be (at most {value2:.0f} MB)"),
                         p=printable(str(p)), value=st.st_size / 1e6, what=what, value2=max_bytes / 1e6)
    return p


def printable(text: str) -> str:
    """``text`` with control characters escaped, so an error line naming what it was given
    cannot move the cursor, clear the screen or forge another line (terminal injection)."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def _finite(o: Any) -> Any:
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    return o


def json_out(obj: Any, **kw: Any) -> str:
    """JSON as the standard defines it: a non-finite number (Infinity, NaN — which json.dumps
    writes and no JSON reader accepts) becomes null."""
    return json.dumps(_finite(obj), allow_nan=False, **kw)

"""Process memory settings for the Pi (512 MB on a Zero 2 W, shared with the OS)."""
from __future__ import annotations

import ctypes
import sys

M_ARENA_MAX = -8  # glibc mallopt parameter


def limit_malloc_arenas(n: int = 1) -> bool:
    """Keep glibc to ``n`` malloc arenas. Each thread (sampler, pattern player, storage writer)
    otherwise gets its own arena, which holds freed memory apart: ~4 MB of peak RSS in a 30-minute
    session for no speed we need. Call before threads start; a no-op off glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        # The process's own symbols include libc's: no ctypes.util.find_library, which runs
        # ldconfig in a subprocess (~60 ms of every command's start-up).
        return bool(ctypes.CDLL(None).mallopt(M_ARENA_MAX, n))
    except (OSError, AttributeError):  # musl and other libcs have no mallopt
        return False

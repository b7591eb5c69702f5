"""``python -m device.bench.peak OUT MODULE ARGS…``: run ``python -m MODULE ARGS…`` in this process
and write its peak resident memory (VmHWM, kB) to ``OUT`` at exit.

Why not ``wait4``'s ``ru_maxrss``: Linux carries a process's high-water mark across ``exec``, and
a child forked from the bench starts as a copy of the bench, so its ``ru_maxrss`` is at least the
bench's own size (a 26 MB bench child doing nothing read 326 MB when the bench held 300 MB).
VmHWM belongs to the memory image ``exec`` made: the command's own peak. This launcher adds
only ``runpy`` to it."""
from __future__ import annotations

import atexit
import runpy
import sys


def own_peak_kb() -> int | None:
    """This process's peak resident memory since its exec (VmHWM), in kB; None off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return next((int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:")), None)
    except OSError:
        return None


def _write_peak(out: str) -> None:
    kb = own_peak_kb()
    with open(out, "w", encoding="ascii") as f:
        f.write("" if kb is None else str(kb))


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit("usage: python -m device.bench.peak OUT MODULE [ARGS…]")
    out, module = sys.argv[1], sys.argv[2]
    atexit.register(_write_peak, out)
    sys.argv = [module, *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

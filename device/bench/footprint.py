"""The device's own footprint (issue 18): what the service costs a Raspberry Pi Zero 2 W (512 MB,
one Cortex-A53 core ~10–15× slower than this machine). Each figure is measured in a fresh
process of the real command — ``pfmt --version``, ``pfmt device --emulate`` waiting a day, and
the same through one prescribed session — read back with ``wait4`` (its own peak RSS and CPU).
The emulated device carries the emulated ADC and the simulated patient, so its RSS and CPU are
upper bounds of the Pi's; the Pi's CPU is estimated from this machine's with the 10–15× factor
and stated as an estimate."""
from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PFMT = [sys.executable, "-m", "device.cli"]
PI_FACTOR = (10, 15)
ANSWERS = {"new_pin": "2468", "new_pin_again": "2468", "accept": "y", "physio": "BENCH", "patient_code": "BENCH",
           "retry": "n", "progression": "n"}


def _measure(cmd: list[str], env: dict | None = None) -> dict:
    """Wall time to the first line of output and to the end, peak RSS and CPU of the child."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert p.stdout is not None
    first = p.stdout.readline()
    t_first = time.perf_counter() - t0
    rest = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return {"first_line_s": t_first, "wall_s": time.perf_counter() - t0, "rc": p.returncode,
            "rss_mb": ru.ru_maxrss / 1024, "cpu_s": ru.ru_utime + ru.ru_stime,
            "out": (first + rest).decode(errors="replace")}


def _script(path: Path, start: dt.datetime, hours: float, press_at_s: float | None) -> Path:
    lines = [f"start = {start.isoformat()}", f"until = {(start + dt.timedelta(hours=hours)).isoformat()}"]
    if press_at_s is not None:
        lines += ["[[event]]", f"at = {(start + dt.timedelta(seconds=press_at_s)).isoformat()}", 'do = "press"']
    path.write_text("\n".join(lines) + "\n")
    return path


def emulator_cost(seconds: float = 20.0) -> dict:
    """CPU per second of 860 SPS × 2 spent by the emulated chips alone (what the Pi does not run),
    against the acquisition as a whole (the sampler, the adafruit driver and the emulated chips)."""
    import numpy as np

    from device.config import default_config
    from drivers import rig as rigs
    from drivers.clock import VirtualClock

    cfg = default_config("pressure", abdominal=True)

    def rig():
        clock = VirtualClock()
        signals = {c.role: (np.array([0.0, 3600.0]), np.full(2, 5.0)) for c in cfg.channels}
        r = rigs.emulated(cfg, clock, signals, threaded=False)  # type: ignore[arg-type]  # arrays are signals
        r.sampler.open()
        return r, clock

    r, clock = rig()
    c0 = time.process_time()
    while clock.now() < seconds:
        r.sampler.read_block()
    whole = time.process_time() - c0
    frames = r.sampler.stats.frames
    r.close()
    r, clock = rig()
    bus, buf = r.sampler.bus, bytearray(2)
    addresses = [a.address for a in cfg.adcs]
    period = 1.0 / cfg.rate_hz
    c0 = time.process_time()
    for k in range(frames):  # the chips' side of the same conversions, nothing else
        clock.sleep_until(k * period)
        for a in addresses:
            bus.readfrom_into(a, buf)
    chips = time.process_time() - c0
    r.close()
    return {"acquisition_pct": 100 * whole / seconds, "emulator_pct": 100 * chips / seconds}


def measure() -> dict:
    env = {**os.environ, "MALLOC_ARENA_MAX": "2"}
    version = [_measure(PFMT + ["--version"], env)["wall_s"] for _ in range(5)]
    with tempfile.TemporaryDirectory() as d:
        data = Path(d) / "data"
        answers = Path(d) / "answers.json"
        # the Norwegian programme's contact exercise as prescribed: 8 reps × 3 sets (~5 min)
        answers.write_text(json.dumps(ANSWERS))
        r = subprocess.run(PFMT + ["calibrate", "--data", str(data), "--answers", str(answers)],
                           capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise RuntimeError(f"calibration for the footprint failed: {r.stderr.strip()[-300:]}")
        start = dt.datetime(2026, 12, 7, 7, 0)
        idle = _measure(PFMT + ["device", "--emulate", "--data", str(data), "--script",
                                str(_script(Path(d) / "idle.toml", start, 24, None))], env)
        session = _measure(PFMT + ["device", "--emulate", "--data", str(data), "--json", "--script",
                                   str(_script(Path(d) / "one.toml", start + dt.timedelta(days=1), 1, 30))], env)
    done = [json.loads(x) for x in session["out"].splitlines() if x.startswith("{")]
    s = next((o for o in done if o.get("event") == "session"), None)
    begun = next((o for o in done if o.get("event") == "session_start"), None)
    span = (dt.datetime.fromisoformat(s["at"]) - dt.datetime.fromisoformat(begun["at"])).total_seconds() if s and begun else None
    cpu_session = session["cpu_s"] - idle["cpu_s"]
    pct = 100 * cpu_session / span if span else None
    emu = emulator_cost()
    device_pct = pct - emu["emulator_pct"] if pct is not None else None
    return {"version_s": statistics.median(version), "ready_s": idle["first_line_s"], "idle": idle,
            "session": session, "session_span_s": span, "session_cpu_pct": pct, **emu,
            "device_pct": device_pct,
            "pi_pct": tuple(device_pct * f for f in PI_FACTOR) if device_pct is not None else None,
            "completed": bool(s and s.get("status") == "completed")}


def print_footprint() -> None:
    print("\nthe device's footprint (fresh processes of the real commands, read back with wait4):")
    m = measure()
    print(f"  start-up: `pfmt --version` {1000 * m['version_s']:.0f} ms; `pfmt device` to waiting "
          f"{1000 * m['ready_s']:.0f} ms (Zero 2 W estimate ×{PI_FACTOR[0]}–{PI_FACTOR[1]}: "
          f"{m['ready_s'] * PI_FACTOR[0]:.1f}–{m['ready_s'] * PI_FACTOR[1]:.1f} s)")
    print(f"  service RSS: waiting a day {m['idle']['rss_mb']:.0f} MB; through a session "
          f"{m['session']['rss_mb']:.0f} MB (target ≤ 80 MB; upper bounds: the emulated ADC and the simulated "
          "patient are in it)")
    if m["session_cpu_pct"] is not None:
        lo, hi = m["pi_pct"]
        print(f"  a {m['session_span_s'] / 60:.1f}-minute session at 860 SPS × 2 (lock-step, virtual time): CPU "
              f"{m['session_cpu_pct']:.1f} % of one core here, of which the emulated chips {m['emulator_pct']:.1f} % "
              f"(the acquisition as a whole, sampler and adafruit driver with them: {m['acquisition_pct']:.1f} %)"
              + ("" if m["completed"] else "  [the session did not complete]"))
        print(f"  the device's share {m['device_pct']:.1f} % → estimated {lo:.0f}–{hi:.0f} % of a Zero 2 W core "
              "(target ≤ 40 %; an estimate from this machine's figure and the 10–15× factor, the kernel's I2C "
              "transfers not included)")

"""The device's own footprint (issue 18): what the service costs a Raspberry Pi Zero 2 W (512 MB,
one Cortex-A53 core ~10–15× slower than this machine). Each figure is measured in a fresh
process of the real command — ``pfmt --version``, ``pfmt device --emulate`` waiting a day, and
the same through one prescribed session — its CPU read back with ``wait4``, its peak RSS as its
own VmHWM (``device.bench.peak``).
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
ANSWERS = {"new_pin": "bekken-2468-fysio", "new_pin_again": "bekken-2468-fysio", "accept": "y", "physio": "BENCH", "patient_code": "BENCH",
           "retry": "n", "progression": "n"}


def _measure(cmd: list[str], env: dict | None = None) -> dict:
    """Wall time to the first line of output and to the end, peak RSS and CPU of the child. A
    ``pfmt`` command runs under ``device.bench.peak``, so its peak RSS is its own, not the size of
    the bench it was forked from (``wait4``'s figure is at least that; see ``peak.py``)."""
    with tempfile.TemporaryDirectory() as d:
        peak = Path(d) / "peak"
        if cmd[:3] == PFMT:
            cmd = [sys.executable, "-m", "device.bench.peak", str(peak), "device.cli", *cmd[3:]]
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        assert p.stdout is not None
        first = p.stdout.readline()
        t_first = time.perf_counter() - t0
        rest = p.stdout.read()
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        own = peak.read_text().strip() if peak.exists() else ""
    return {"first_line_s": t_first, "wall_s": time.perf_counter() - t0, "rc": p.returncode,
            "rss_mb": int(own) / 1024 if own.isdigit() else ru.ru_maxrss / 1024, "rss_own": own.isdigit(),
            "cpu_s": ru.ru_utime + ru.ru_stime, "out": (first + rest).decode(errors="replace")}


def _script(path: Path, start: dt.datetime, hours: float, press_at_s: float | None) -> Path:
    lines = [f"start = {start.isoformat()}", f"until = {(start + dt.timedelta(hours=hours)).isoformat()}"]
    if press_at_s is not None:
        lines += ["[[event]]", f"at = {(start + dt.timedelta(seconds=press_at_s)).isoformat()}", 'do = "press"']
    path.write_text("\n".join(lines) + "\n")
    return path


def device_cpu(minutes: float = 6.0) -> dict:
    """A session at 860 SPS × 2 in virtual time with the emulated chips' own CPU timed apart (every
    bus transaction and conversion-ready wait is a call into the emulator, which the Pi does not
    run): the session's CPU, the emulator's, and the device's — the difference."""
    spent = [0.0]

    def timed(f):
        def call(*a, **k):
            c0 = time.process_time()
            try:
                return f(*a, **k)
            finally:
                spent[0] += time.process_time() - c0
        return call

    def on_rig(rig) -> None:
        bus = rig.sampler.bus
        for name in ("writeto", "readfrom_into", "writeto_then_readfrom"):
            setattr(bus, name, timed(getattr(bus, name)))
        if rig.sampler.ready is not None:
            rig.sampler.ready.wait = timed(rig.sampler.ready.wait)

    from device.bench.run import session_resources

    r = session_resources(minutes, on_rig=on_rig)
    return {"session_s": r["session_s"], "cpu_pct": r["cpu_pct"], "emulator_pct": 100 * spent[0] / r["session_s"],
            "device_pct": 100 * (r["cpu_s"] - spent[0]) / r["session_s"], "good": r["good"], "reps": r["reps"]}


def measure(repeats: int = 3) -> dict:
    """Each CPU figure is the median of ``repeats`` runs (this machine is shared)."""
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
        runs = []
        for k in range(repeats):  # a session each (a day apart, so each is the day's due session)
            runs.append(_measure(PFMT + ["device", "--emulate", "--data", str(data), "--json", "--script",
                                         str(_script(Path(d) / f"one{k}.toml", start + dt.timedelta(days=1 + k), 1, 30))],
                                 env))
    session = sorted(runs, key=lambda r: r["cpu_s"])[len(runs) // 2]
    done = [json.loads(x) for x in session["out"].splitlines() if x.startswith("{")]
    s = next((o for o in done if o.get("event") == "session"), None)
    begun = next((o for o in done if o.get("event") == "session_start"), None)
    span = (dt.datetime.fromisoformat(s["at"]) - dt.datetime.fromisoformat(begun["at"])).total_seconds() if s and begun else None
    cpu_session = session["cpu_s"] - idle["cpu_s"]
    pct = 100 * cpu_session / span if span else None
    # a fresh process each, so one run's warm caches do not flatter the next
    code = "import json; from device.bench.footprint import device_cpu; print(json.dumps(device_cpu()))"
    cpu = sorted((json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                                            check=True).stdout.strip().splitlines()[-1]) for _ in range(repeats)),
                 key=lambda r: r["device_pct"])
    dev = cpu[len(cpu) // 2]
    return {"version_s": statistics.median(version), "ready_s": idle["first_line_s"], "idle": idle,
            "session": session, "session_span_s": span, "service_cpu_pct": pct, "cpu": dev,
            "all_device_pct": [c["device_pct"] for c in cpu],
            "pi_pct": tuple(dev["device_pct"] * f for f in PI_FACTOR),
            "completed": bool(s and s.get("status") == "completed")}


def print_footprint() -> None:
    print("\nthe device's footprint (fresh processes of the real commands: CPU from wait4, peak RSS their own VmHWM):")
    m = measure()
    print(f"  start-up: `pfmt --version` {1000 * m['version_s']:.0f} ms; `pfmt device` to waiting "
          f"{1000 * m['ready_s']:.0f} ms (Zero 2 W estimate ×{PI_FACTOR[0]}–{PI_FACTOR[1]}: "
          f"{m['ready_s'] * PI_FACTOR[0]:.1f}–{m['ready_s'] * PI_FACTOR[1]:.1f} s)")
    print(f"  service RSS: waiting a day {m['idle']['rss_mb']:.0f} MB; through a session "
          f"{m['session']['rss_mb']:.0f} MB (target ≤ 80 MB; upper bounds: the emulated ADC and the simulated "
          "patient are in it)")
    c, (lo, hi) = m["cpu"], m["pi_pct"]
    if m["service_cpu_pct"] is not None:
        print(f"  `pfmt device --emulate` through a {m['session_span_s'] / 60:.1f}-minute session: "
              f"{m['service_cpu_pct']:.1f} % of one core here, the emulated chips included"
              + ("" if m["completed"] else "  [the session did not complete]"))
    print(f"  a {c['session_s'] / 60:.1f}-minute session at 860 SPS × 2 (sampler, adafruit driver, pipeline, "
          f"judging, feedback, storage): {c['cpu_pct']:.1f} % of one core here, of which the emulated chips "
          f"{c['emulator_pct']:.1f} % (timed call by call) → the device's {c['device_pct']:.2f} % "
          f"(median of {', '.join(f'{x:.2f}' for x in m['all_device_pct'])})")
    print(f"  → estimated {lo:.0f}–{hi:.0f} % of a Zero 2 W core (target ≤ 40 %; an estimate: this machine's "
          f"figure × {PI_FACTOR[0]}–{PI_FACTOR[1]}, the kernel's I2C transfers not included)")

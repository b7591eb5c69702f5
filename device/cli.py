"""The ``pfmt`` command line. Every PfmtError becomes one line on stderr and exit code 2."""
from __future__ import annotations

import argparse
import json
import os
import sys

from .errors import InputError, PfmtError, StorageError

EXIT_USAGE = 2


def _cmd_analyze(args: argparse.Namespace) -> int:
    from .calibration import load_calibration
    from .pipeline import analyze
    from .recording import read_recording

    rec = read_recording(args.recording)
    cal = load_calibration(args.calibration) if args.calibration else None
    p = analyze(rec, cal)
    out = {
        "recording": str(args.recording),
        "sample_rate_hz": round(rec.sample_rate_hz, 3),
        "duration_s": round(rec.duration_s, 3),
        "channels": [c.name for c in rec.channels],
        "calibrated": cal is not None and bool(cal.channels),
        "contractions": [c.to_dict(detail=args.detail) for c in p.contractions],
        "artifacts": [{"time_s": round(e.time_s, 3), "reason": e.data.get("reason")}
                      for e in p.events if e.type == "artifact"],
    }
    if args.json:
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(format_table(out))
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from .simulate import write_dataset, write_example

    if args.set:
        paths = write_dataset(args.out, args.count, args.seed)
        print(f"wrote {len(paths)} labelled recordings to {args.out}")
        return 0
    csv = write_example(args.out, seed=args.seed, modality=args.modality, abdominal=args.abdominal,
                        displacement=args.displacement, hard=args.hard, sample_rate_hz=args.rate,
                        n_contractions=args.contractions, unit=args.unit)
    print(f"wrote {csv} (+ .json truth, .cal.json calibration)")
    return 0


def _cmd_live(args: argparse.Namespace) -> int:
    """Replay a recording (or a fresh simulated one) block by block, as the sampler would deliver
    it, and print each event the moment the live pipeline knows it."""
    import time

    from .calibration import Calibration, load_calibration
    from .pipeline import Pipeline
    from .recording import read_recording
    from .simulate import random_scenario, simulate

    if args.recording:
        rec = read_recording(args.recording)
        cal = load_calibration(args.calibration) if args.calibration else None
    else:
        sc = random_scenario(args.seed, modality="pressure", abdominal=True, displacement=True,
                             sample_rate_hz=250.0, n_contractions=6)
        rec, _, cd = simulate(sc, args.seed)
        cal = Calibration.from_dict(cd)
        print(f"simulated trainee (seed {args.seed}): pelvic + abdominal pressure + displacement, "
              f"{rec.duration_s:.0f} s at 250 SPS")
    p = Pipeline(rec.channels, rec.sample_rate_hz, cal)
    blk = max(1, int(p.fs * 0.1))
    start = time.monotonic()
    for i in range(0, len(rec.time_s), blk):
        t = rec.time_s[i:i + blk]
        if args.speed > 0:
            delay = (t[-1] - rec.time_s[0]) / args.speed - (time.monotonic() - start)
            if delay > 0:
                time.sleep(delay)
        for e in p.process(t, rec.data[i:i + blk]):
            print(_describe(e), flush=True)
    for e in p.finish():
        print(_describe(e), flush=True)
    print(f"{len(p.contractions)} contraction(s)")
    return 0


def _describe(e) -> str:
    d = e.data
    head = f"[{e.known_at_s:7.2f} s] {e.type:<13}"
    if e.type == "contraction":
        pct = f" ({d['mvc_pct']:.0f} %MVC)" if d.get("mvc_pct") is not None else ""
        return (f"{head} onset {d['onset_s']:.2f} s, hold {d['hold_s']:.1f} s, peak {d['peak']:.1f}"
                f"{pct}, flicks {d['flicks']}, {d['kind'] or 'kind unknown'}, "
                f"{'relaxed' if d['relaxed'] else 'DID NOT RELAX'}")
    if e.type == "kind":
        return f"{head} {d['kind'] or 'unknown'} (contraction began {e.time_s:.2f} s)"
    if e.type == "artifact":
        return f"{head} rejected: {d['reason']}"
    if e.type == "onset" and d.get("early"):
        return f"{head} at {e.time_s:.2f} s ({d.get('channel')}; early: rising fast, to be confirmed)"
    if e.type == "onset_cancelled":
        return f"{head} the early onset at {e.time_s:.2f} s was not confirmed ({d.get('channel')})"
    return f"{head} at {e.time_s:.2f} s ({d.get('channel')})"


def _cmd_bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .bench import PARTS, main as bench_main

    parts = tuple(args.part) if args.part else PARTS
    return bench_main(Path(args.dev), Path(args.scorer), args.unseen, not args.no_peers, args.minutes, parts)


def _cmd_config(args: argparse.Namespace) -> int:
    from drivers.ads import FULL_SCALE_V
    from drivers.config import default_config, load_config

    cfg = load_config(args.file) if args.file else default_config()
    print(f"{args.file or 'built-in configuration'}: ok — {cfg.board}, I2C bus {cfg.i2c_bus}, "
          f"{cfg.rate_hz:g} SPS, blocks of {cfg.block_s:g} s")
    for c in cfg.channels:
        a = cfg.adc(c.adc)
        inp = f"AIN{c.positive}" + (f"−AIN{c.negative}" if c.negative is not None else "")
        ready = f"ALERT/RDY on GPIO{a.ready_pin}" if a.ready_pin is not None else "deadline-polled"
        print(f"  {c.name:18s} {a.model} 0x{a.address:02x} {inp:10s} ±{FULL_SCALE_V[c.gain]:g} V "
              f"{c.data_rate} SPS, {ready}")
    p = cfg.pins
    print(f"  pins: bar {list(p.bar)}, status RGB {list(p.status)}, "
          f"{'tonal ' if p.tonal else ''}buzzer {p.buzzer}, button {p.button}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from drivers.bus import on_raspberry_pi

    from .train import TrainOptions, format_summary, run

    overrides = {k: v for k, v in (("reps", args.reps), ("sets", args.sets), ("hold_s", args.hold)) if v is not None}
    hardware = on_raspberry_pi() and not args.emulate
    s = run(TrainOptions(programme=args.programme, trainee=args.trainee, speed=args.speed, seed=args.seed,
                         data_dir=Path(args.data), config=args.config, calibration=args.calibration,
                         hardware=hardware, overrides=overrides, view=args.view,
                         pauses=args.pause, stop_at_s=args.stop_at))
    if args.json:
        s.pop("latency_s", None)
        print(json.dumps(s, default=str))
    else:
        print(format_summary(s))
    return 0


def format_table(out: dict) -> str:
    unit = out["channels"][0].split("_", 1)[1]
    lines = [f"{out['recording']}: {out['duration_s']:.1f} s at {out['sample_rate_hz']:g} Hz, "
             f"channels {', '.join(out['channels'])}",
             f"{'#':>3} {'onset s':>8} {'offset s':>8} {'hold s':>7} {'peak ' + unit:>11} "
             f"{'%MVC':>5} {'flicks':>6} {'kind':>10} {'relaxed':>7}"]
    for i, c in enumerate(out["contractions"], 1):
        pct = f"{c['mvc_pct']:.0f}" if c.get("mvc_pct") is not None else "-"
        lines.append(f"{i:>3} {c['onset_s']:>8.2f} {c['offset_s']:>8.2f} {c['hold_s']:>7.2f} "
                     f"{c['peak']:>11.1f} {pct:>5} {c['flicks']:>6} {str(c['kind'] or '-'):>10} "
                     f"{'yes' if c['relaxed'] else 'NO':>7}")
    lines.append(f"{len(out['contractions'])} contraction(s); {len(out['artifacts'])} artifact(s) "
                 "rejected (coughs, spikes)")
    return "\n".join(lines)


def _positive_int(v: str) -> int:
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{v!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{v} must be at least 1")
    return n


def _number(v: str, lo: float, hi: float, unit: str = "", zero_ok: bool = False) -> float:
    """An option's number within [lo, hi] (or 0 where that means "off")."""
    try:
        x = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{v!r} is not a number") from None
    if not ((zero_ok and x == 0) or lo <= x <= hi):
        raise argparse.ArgumentTypeError(f"{v}{unit} is outside {lo:g}–{hi:g}{unit}"
                                         + (" (or 0 for as fast as possible)" if zero_ok else ""))
    return x


def _speed(v: str) -> float:
    return _number(v, 0.1, 1000, zero_ok=True)


def _pause(v: str) -> tuple[float, float]:
    at, sep, length = v.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"{v!r}: a pause is AT:SECONDS, e.g. 40:15 (pause at 40 s for 15 s)")
    return _number(at, 0, 86400, " s"), _number(length, 0.4, 3600, " s")


def _rate(v: str) -> float:
    from .recording import MAX_RATE_HZ, MIN_RATE_HZ
    return _number(v, MIN_RATE_HZ, MAX_RATE_HZ, " Hz")


def _steps(v: str) -> tuple[str, ...]:
    from calibration.workflow import STEPS

    steps = tuple(x.strip() for x in v.split(",") if x.strip())
    bad = [x for x in steps if x not in STEPS]
    if bad or not steps:
        raise argparse.ArgumentTypeError(f"{bad[0] if bad else v!r} is not a step; allowed: {', '.join(STEPS)}")
    return steps


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from calibration.console import ScriptedConsole, TerminalConsole
    from calibration.profile import ProfileStore
    from calibration.workflow import STEPS, Workflow
    from drivers.bus import on_raspberry_pi
    from drivers.config import default_config, load_config

    from .errors import Aborted

    config = load_config(args.config) if args.config else default_config(args.modality, abdominal=True)
    if args.answers:
        console = ScriptedConsole(_read_answers(args.answers), echo=True)
    else:
        console = TerminalConsole()
    steps = args.steps or STEPS
    actor = None
    if on_raspberry_pi() and not args.emulate:  # pragma: no cover - needs a Pi
        from drivers import rig as rigs
        from drivers.clock import RealClock

        rig = rigs.hardware(config, RealClock())
    else:
        from calibration.emulated import Clinic, emulated_rig
        from drivers.clock import VirtualClock

        from .patient import SimulatedPatient
        from .simulate import random_patient

        modality = "emg" if config.channels[0].unit == "uV" else "pressure"
        sp = SimulatedPatient(modality, random_patient(args.seed, modality, args.patient == "atypical"),
                              seed=args.seed, roles=tuple(c.role for c in config.channels))
        rig = emulated_rig(config, sp, clock=VirtualClock(), pace=args.speed, seed=args.seed)
        actor = Clinic(sp, args.seed)
    try:
        Workflow(rig, config, console, ProfileStore(Path(args.data)), actor=actor, steps=steps).run()
    except Aborted as e:
        print(f"pfmt calibrate: {e}", file=sys.stderr)
        return 1
    return 0


def _read_answers(path: str) -> dict:
    try:
        d = json.loads(open(path, encoding="utf-8").read())
    except OSError as e:
        raise InputError(f"{path}: cannot read the answers ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(d, dict):
        raise InputError(f"{path}: the answers must be a JSON object of question key → answer")
    return d


def _cmd_profile(args: argparse.Namespace) -> int:
    from pathlib import Path

    from calibration.console import TerminalConsole
    from calibration.profile import ProfileStore
    from calibration.workflow import ask_physio, require_pin

    from .errors import CalibrationError

    store = ProfileStore(Path(args.data))
    if args.action == "history":
        vs = store.versions()
        if not vs:
            print(f"no profile in {store.dir}")
        for v in vs:
            try:
                p = store.load(v)
                print(f"v{v}: {p.created_at} by {p.by or '—'}: {', '.join(p.changes)} "
                      f"(patient {p.patient_code}, {p.prescription.programme})")
            except CalibrationError as e:
                print(f"v{v}: DAMAGED — {e}")
        return 0
    if args.action == "show":
        p = store.load(args.version) if args.version else store.current()
        if p is None:
            raise CalibrationError(f"no profile in {store.dir}: the physiotherapist runs `pfmt calibrate` first")
        if args.json:
            d = p.to_dict()
            d.pop("pin", None)
            print(json.dumps(d, indent=1))
        else:
            print(p.summary())
        return 0
    if args.version is None:
        raise CalibrationError("restore needs the version number (see `pfmt profile history`)")
    con = TerminalConsole()
    require_pin(con, store.pin_holder())
    p = store.restore(args.version, by=ask_physio(con))
    print(f"restored version {args.version} as version {p.version}")
    return 0


def _cmd_sessions(args: argparse.Namespace) -> int:
    from .reports import dose, format_list, format_trend, session_line, trend
    from .store import SessionStore
    from .train import format_summary

    with SessionStore(args.data, create=False) as db:
        if db.recovered:
            print(f"recovered after power loss: session {', '.join(map(str, db.recovered))} (marked interrupted)",
                  file=sys.stderr)
        if args.action == "list":
            ss = db.sessions()
            print(json.dumps([session_line(s) for s in ss]) if args.json else format_list(ss))
        elif args.action == "show":
            if args.id is None:
                raise InputError("`pfmt sessions show` needs a session id (`pfmt sessions list` gives them)")
            s = db.session(args.id)
            if args.json:
                print(json.dumps(dose(s), default=str))
            else:
                summ = dict(s.info["summary"] or {})
                print(f"session {s.id}: {s.info['started_at']}, {s.info['programme']}, {s.info['status']}"
                      + (f" (recovered {s.info['recovered_at']})" if s.info["recovered_at"] else "")
                      + f", patient {s.info['patient_code'] or '—'}, {s.info['samples']} samples stored")
                if summ.get("reps") is not None and "programme_title" in summ:
                    summ["stored_at"] = f"{db.path} (session {s.id})"
                    print(format_summary(summ))
                else:
                    ln = session_line(s)
                    print(f"{ln['reps']} reps judged before the interruption, {ln['good']} good; "
                          f"{ln['stored_s']} s of signal kept")
        else:
            w = trend(db.sessions(), args.weeks)
            print(json.dumps(w) if args.json else format_trend(w))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    import datetime as dt
    import tempfile
    from pathlib import Path

    from drivers import usb

    from .export import FORMATS, export, parse_formats, select
    from .store import SessionStore

    formats = parse_formats(args.formats) if args.formats else FORMATS
    if args.ids and args.all:
        raise InputError("give session ids or --all, not both")
    if not args.ids and not args.all and not args.since:
        raise InputError("which sessions? give their ids (`pfmt sessions list`), --all, or --since YYYY-MM-DD")
    since = None
    if args.since:
        try:
            since = dt.date.fromisoformat(args.since)
        except ValueError:
            raise InputError(f"--since {args.since!r}: a date is written YYYY-MM-DD") from None
    with SessionStore(args.data, create=False) as db:
        chosen = select(db, args.ids or None, since)
        if args.to:
            folder, files = export(db, chosen, Path(args.to), formats)
            print(f"exported {len(chosen)} session(s), {len(files)} files, to {folder}")
            return 0
        with tempfile.TemporaryDirectory(prefix="pfmt-export-", dir=db.dir) as tmp:
            folder, files = export(db, chosen, Path(tmp), formats)
            if args.usb:
                sticks = usb.find_sticks()
                if args.device:
                    sticks = [s for s in sticks if s.device == args.device]
                if not sticks:
                    raise StorageError("no USB stick found" + (f" at {args.device}" if args.device else "")
                                       + "; plug one into the device's USB port")
                if len(sticks) > 1:
                    raise InputError("several USB sticks/partitions: choose one with --device "
                                     f"({', '.join(s.device for s in sticks)})")
                on = usb.write_to_stick(folder, sticks[0], usb.SystemMounter(), Path(args.mount_root))
                print(f"exported {len(chosen)} session(s), {len(files)} files, to the USB stick "
                      f"{sticks[0].device} as {on.name}, verified by checksum; the stick is unmounted")
            else:
                listing = usb.build_fat_image(folder, Path(args.gadget))
                if args.lun:
                    usb.swap_gadget_image(Path(args.lun), Path(args.gadget))
                print(f"exported {len(chosen)} session(s) into the FAT image {args.gadget} "
                      f"({len(listing)} entries, verified by checksum)"
                      + (f", swapped into {args.lun}" if args.lun else ""))
    return 0


def _cmd_serial(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    from drivers import usb

    from .serial_console import ConsoleConfig, SerialConsole

    def publish(folder: Path) -> str | None:
        if not args.image:
            return None
        usb.build_fat_image(folder, Path(args.image))
        if args.lun:
            usb.swap_gadget_image(Path(args.lun), Path(args.image))
        return args.image

    with tempfile.TemporaryDirectory(prefix="pfmt-serial-") as tmp:
        fd = usb.open_tty(args.tty)
        try:
            SerialConsole(ConsoleConfig(Path(args.data), Path(tmp), publish)).serve(fd, fd)
        finally:
            os.close(fd)
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="pfmt", description="Pelvic-floor muscle training biofeedback device")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    a = sub.add_parser("analyze", help="detect and measure contractions in a recording (CSV or EDF+)")
    a.add_argument("recording", help="recording: CSV (time_s,<role>_<unit>,...) or EDF+")
    a.add_argument("--calibration", metavar="CAL.json", help="the physiotherapist's rest/MVC per channel")
    a.add_argument("--json", action="store_true", help="print one JSON object (the analysis contract)")
    a.add_argument("--detail", action="store_true", help="add live timing and classifier features")
    a.set_defaults(func=_cmd_analyze)

    s = sub.add_parser("simulate", help="write labelled recordings from the physiological simulator")
    s.add_argument("out", help="output CSV path (truth and calibration written beside it), or a "
                   "directory with --set")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--modality", choices=("pressure", "emg"), default="pressure")
    s.add_argument("--abdominal", action="store_true", help="add the abdominal reference channel")
    s.add_argument("--displacement", action="store_true", help="add the probe displacement channel")
    s.add_argument("--hard", action="store_true", help="weak squeezes, drift, noise, posture steps")
    s.add_argument("--rate", type=_rate, default=None, metavar="HZ", help="sample rate (8–3300)")
    s.add_argument("--contractions", type=_positive_int, default=None, metavar="N")
    s.add_argument("--unit", choices=("cmH2O", "mmHg"), default="cmH2O")
    s.add_argument("--set", action="store_true", help="write a mixed evaluation set into OUT/")
    s.add_argument("--count", type=_positive_int, default=24, help="recordings in a --set")
    s.set_defaults(func=_cmd_simulate)

    lv = sub.add_parser("live", help="replay a recording through the live pipeline, printing events "
                        "as they become known (a simulated trainee when no recording is given)")
    lv.add_argument("recording", nargs="?", help="CSV or EDF+ recording (default: simulate one)")
    lv.add_argument("--calibration", metavar="CAL.json")
    lv.add_argument("--speed", type=float, default=10.0,
                    help="replay speed as a multiple of real time (0 = as fast as possible)")
    lv.add_argument("--seed", type=int, default=1, help="simulated trainee's seed")
    lv.set_defaults(func=_cmd_live)

    tr = sub.add_parser("train", help="a guided training session (emulated ADC, mock pins and a "
                        "simulated trainee when no Pi is present)")
    tr.add_argument("--programme", default=None,
                    help="built-in programme name or a .toml file (default: the physiotherapist's "
                    "prescription, else norwegian_intensive)")
    tr.add_argument("--trainee", default="correct", choices=("correct", "weak", "bears_down", "forgets_to_relax"),
                    help="the simulated trainee (emulation only)")
    tr.add_argument("--speed", type=_speed, default=20.0,
                    help="emulation speed, × real time (0 = as fast as possible; default 20)")
    tr.add_argument("--seed", type=int, default=1)
    tr.add_argument("--data", default="pfmt-data", metavar="DIR", help="where sessions and progress are kept")
    tr.add_argument("--config", metavar="DEVICE.toml", help="device configuration (default: the reference build)")
    tr.add_argument("--calibration", metavar="CAL.json", help="the physiotherapist's calibration")
    tr.add_argument("--reps", type=_positive_int, help="override the prescribed reps (a short session)")
    tr.add_argument("--sets", type=_positive_int, help="override the prescribed sets")
    tr.add_argument("--hold", type=float, metavar="S", help="override the prescribed hold (seconds)")
    tr.add_argument("--view", choices=("auto", "live", "lines", "quiet"), default="auto",
                    help="terminal view of LEDs, buzzer and signal (default: live on a terminal)")
    tr.add_argument("--pause", type=_pause, action="append", default=[], metavar="AT:SECONDS",
                    help="the simulated trainee pauses the session at AT s for SECONDS s with the button "
                    "(repeatable; emulation only)")
    tr.add_argument("--stop-at", type=lambda v: _number(v, 0, 86400, " s"), metavar="S",
                    help="the simulated trainee holds the button at S s to end the session (emulation only)")
    tr.add_argument("--emulate", action="store_true", help="emulate even on a Pi")
    tr.add_argument("--json", action="store_true", help="print the stored summary as JSON")
    tr.set_defaults(func=_cmd_train)

    cal = sub.add_parser("calibrate", help="the physiotherapist's guided calibration and prescription "
                         "(PIN protected; emulated ADC and a simulated patient when no Pi is present)")
    cal.add_argument("--steps", type=_steps, default=None, metavar="S,S",
                     help="sensor,patient,prescription (default: all; the others are kept from the profile)")
    cal.add_argument("--data", default="pfmt-data", metavar="DIR", help="where the profile is kept")
    cal.add_argument("--config", metavar="DEVICE.toml", help="device configuration (default: the reference build)")
    cal.add_argument("--answers", metavar="ANSWERS.json",
                     help="answer the questions from this file (by key) instead of the terminal")
    cal.add_argument("--patient", choices=("typical", "atypical"), default="typical",
                     help="the simulated patient (emulation only)")
    cal.add_argument("--modality", choices=("pressure", "emg"), default="pressure",
                     help="the emulated probe when no --config is given")
    cal.add_argument("--seed", type=int, default=1, help="simulated patient's seed")
    cal.add_argument("--speed", type=_speed, default=0.0, help="emulation speed × real time (0 = as fast as possible)")
    cal.add_argument("--emulate", action="store_true", help="emulate even on a Pi")
    cal.set_defaults(func=_cmd_calibrate)

    pr = sub.add_parser("profile", help="show the patient's profile, its history, or restore a version (PIN)")
    pr.add_argument("action", choices=("show", "history", "restore"))
    pr.add_argument("version", nargs="?", type=_positive_int, help="version to show or restore")
    pr.add_argument("--data", default="pfmt-data", metavar="DIR")
    pr.add_argument("--json", action="store_true", help="print the profile as JSON (show)")
    pr.set_defaults(func=_cmd_profile)

    se = sub.add_parser("sessions", help="stored sessions: list, show one, or the trend across weeks")
    se.add_argument("action", nargs="?", default="list", choices=("list", "show", "trend"))
    se.add_argument("id", nargs="?", type=_positive_int, help="session id (show)")
    se.add_argument("--weeks", type=_positive_int, help="trend: only the last N weeks")
    se.add_argument("--json", action="store_true")
    se.add_argument("--data", default="pfmt-data", metavar="DIR")
    se.set_defaults(func=_cmd_sessions)

    ex = sub.add_parser("export", help="export sessions (EDF+, CSV, JSON dose/trend, PNG) pseudonymised by "
                                       "patient code: to a folder, a USB stick, or the USB gadget's disk image")
    ex.add_argument("ids", nargs="*", type=_positive_int, help="session ids (default: see --all / --since)")
    ex.add_argument("--all", action="store_true", help="every stored session")
    ex.add_argument("--since", metavar="YYYY-MM-DD", help="sessions from this date on")
    ex.add_argument("--formats", metavar="LIST", help="comma-separated subset of edf,csv,json,png (default: all)")
    where = ex.add_mutually_exclusive_group(required=True)
    where.add_argument("--to", metavar="DIR", help="write the export folder into DIR")
    where.add_argument("--usb", action="store_true", help="write to the USB stick in the device's port, verify, unmount")
    where.add_argument("--gadget", metavar="IMAGE", help="rebuild the USB gadget's read-only FAT disk image")
    ex.add_argument("--device", help="--usb: which stick partition (e.g. /dev/sda1) when there are several")
    ex.add_argument("--mount-root", default="/run/pfmt", help="--usb: where the stick is mounted")
    ex.add_argument("--lun", help="--gadget: the configfs LUN to swap the image into "
                                  "(e.g. /sys/kernel/config/usb_gadget/pfmt/functions/mass_storage.usb0/lun.0)")
    ex.add_argument("--data", default="pfmt-data", metavar="DIR")
    ex.set_defaults(func=_cmd_export)

    sr = sub.add_parser("serial", help="serve the CDC serial console (USB gadget) for a physiotherapist's computer")
    sr.add_argument("--tty", default="/dev/ttyGS0", help="serial line (default: the gadget's /dev/ttyGS0)")
    sr.add_argument("--image", help="the gadget's FAT image, rebuilt on EXPORT")
    sr.add_argument("--lun", help="configfs LUN to swap the rebuilt image into")
    sr.add_argument("--data", default="pfmt-data", metavar="DIR")
    sr.set_defaults(func=_cmd_serial)

    c = sub.add_parser("config", help="check a device configuration file (TOML) and print what it sets up")
    c.add_argument("file", nargs="?", help="device configuration (default: the built-in reference build)")
    c.set_defaults(func=_cmd_config)

    b = sub.add_parser("bench", help="print accuracy (vs NeuroKit2, BioSPPy) and speed figures")
    b.add_argument("--dev", default="../shared/eval/dev", help="labelled dev set directory")
    b.add_argument("--scorer", default="../shared/eval/score.py", help="the shared scorer")
    b.add_argument("--unseen", type=int, default=27, metavar="N",
                   help="also score N freshly simulated recordings (0 = skip)")
    b.add_argument("--no-peers", action="store_true", help="skip NeuroKit2 and BioSPPy")
    b.add_argument("--minutes", type=float, default=10.0, help="length of the speed test")
    b.add_argument("--part", action="append", choices=("accuracy", "speed", "sampler", "session", "calibration"),
                   help="run only this part (repeatable; default: all)")
    b.set_defaults(func=_cmd_bench)
    return ap


def main(argv: list[str] | None = None) -> int:
    from drivers.memory import limit_malloc_arenas

    limit_malloc_arenas()
    ap = build_parser()
    args = ap.parse_args(argv)
    try:
        return args.func(args)
    except PfmtError as e:
        print(f"pfmt {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"pfmt {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into head/less that closed early
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())

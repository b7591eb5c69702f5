"""``pfmt device``: the appliance — boots into waiting for her button (``device.appliance.loop``).
On the Pi it is what the ``pfmt.service`` unit runs; ``--emulate`` plays a script of days on the
emulated device (``device.appliance.emulation``) and reports each day's outcome."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import shutil
from collections import defaultdict
from pathlib import Path

from device.appliance.compose import TrainOptions
from device.appliance.emulation import Card, Power, Script, load_script, local_datetime, one_session
from device.appliance.loop import ButtonWaiter, DeviceLoop, FingerWaiter, Outcome, World
from device.appliance.service import Notifier, setup_logging, stop_on_signals
from device.cli.args import default_data, speed
from device.config import device_config
from device.errors import N_, InputError
from device.records.store import SessionStore
from drivers.bus import on_raspberry_pi
from drivers.clock import RealClock, VirtualClock
from drivers.feedback import Feedback
from drivers.pins import pin_factory
from drivers.rig import Finger

HELP = "the appliance: wait for the button, remind when a session is due, train the prescription"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=default_data(), metavar="DIR", help="where sessions, progress and the profile are kept")
    p.add_argument("--config", metavar="DEVICE.toml",
                   help="device configuration (default: $PFMT_CONFIG, /etc/pfmt/device.toml, else the reference build)")
    p.add_argument("--emulate", action="store_true", help="the emulated device (the default when no Pi is present)")
    p.add_argument("--script", metavar="DAYS.toml",
                   help="emulation: the days to play — presses, unplugged probe, full card, kills (see "
                   "examples/week.toml; default: one press a minute after boot)")
    p.add_argument("--start", metavar="ISO", type=_when,
                   help="emulation: boot the script's days again at this time (after a kill)")
    p.add_argument("--patient", default="correct", help="emulation without a script: the simulated patient")
    p.add_argument("--speed", type=speed, default=0.0,
                   help="emulation: sessions at this × real time (0 = as fast as possible; waiting is always skipped)")
    p.add_argument("--json", action="store_true", help="emulation: print each outcome as a JSON line")
    p.add_argument("--off", action="store_true",
                   help="drive every LED and the buzzer off and exit (the unit's ExecStopPost: the safe "
                   "state even after a kill)")


def _when(v: str) -> dt.datetime:
    try:
        return local_datetime(v, "--start")
    except InputError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def main(args: argparse.Namespace) -> int:
    setup_logging(logging.INFO if not (args.emulate or not on_raspberry_pi()) else logging.WARNING)
    data = Path(args.data)
    if args.off:
        return _off(args)
    if args.emulate or not on_raspberry_pi():
        return _emulated(args, data)
    return _device(args, data)  # pragma: no cover - needs a Pi


def _off(args: argparse.Namespace) -> int:
    """Every output pin of the feedback driven low, then released."""
    _, config = device_config(args.config)
    emulated = args.emulate or not on_raspberry_pi()
    feedback = Feedback(config.pins, RealClock(), pin_factory=pin_factory("mock" if emulated else config.pin_factory))
    feedback.close()
    logging.getLogger("pfmt.device").info("LEDs and buzzer off")
    return 0


def _device(args: argparse.Namespace, data: Path) -> int:  # pragma: no cover - needs a Pi
    notifier = Notifier()
    stop_on_signals()
    config_path, config = device_config(args.config)
    factory = pin_factory(config.pin_factory)
    clock = RealClock()
    feedback = Feedback(config.pins, clock, pin_factory=factory)
    feedback.player.start()
    try:
        world = World(data, feedback, clock, dt.datetime.now, ButtonWaiter(feedback, clock),
                      lambda: TrainOptions(data_dir=data, config=config_path, hardware=True, view="quiet"),
                      heartbeat=notifier.watchdog, pin_factory=factory)
        loop = DeviceLoop(world)
        notifier.ready("waiting for the button")
        loop.run()
    finally:
        notifier.stopping()
        feedback.close()  # LEDs and buzzer off, whatever ended the loop
    return 0


def _emulated(args: argparse.Namespace, data: Path) -> int:
    if args.script:
        script: Script = load_script(args.script)
        if args.start is not None:
            script = script.booted_at(args.start)
    elif args.start is not None:
        raise InputError(N_("--start boots a script's days again; give the --script too"))
    else:
        script = one_session(dt.datetime.now(), args.patient)
    config_path, config = device_config(args.config)
    notifier = Notifier()
    stop_on_signals()
    clock = VirtualClock()
    feedback = Feedback(config.pins, clock, pin_factory=pin_factory("mock"))
    finger = Finger(feedback, script.presses())
    power = Power(script.kills())
    card = Card(script.spans("card_full"), clock.now, lambda: shutil.disk_usage(data if data.exists() else data.parent).free)
    sessions = [0]

    def options() -> TrainOptions:
        sessions[0] += 1
        return TrainOptions(data_dir=data, config=config_path, patient=script.patient_at(clock.now()), view="quiet",
                            speed=args.speed, seed=script.seed * 1000 + sessions[0] + int(script.t(script.start)),
                            unplugged=script.spans("unplug"))

    def heartbeat() -> None:
        notifier.watchdog()
        power.check(clock.now())

    def report(o: Outcome) -> None:  # at once, so a scripted kill leaves everything said
        print(json.dumps({"at": o.at, "event": o.event, **o.detail}, default=str) if args.json else
              f"{o.at}  {o.event}  " + "  ".join(f"{k}={v}" for k, v in o.detail.items()), flush=True)

    def wall() -> dt.datetime:
        return script.start + dt.timedelta(seconds=clock.now())

    world = World(data, feedback, clock, wall, FingerWaiter(finger, clock), options, heartbeat=heartbeat,
                  free_bytes=card.free_bytes, finger=finger, report=report)
    loop = DeviceLoop(world)
    notifier.ready("emulated: waiting for the button")
    try:
        loop.run(until=script.t(script.until))
    finally:
        notifier.stopping()
        feedback.close()
    if not args.json:
        print(days_report(data, loop.outcomes, script))
    return 0


def days_report(data: Path, outcomes: list[Outcome], script: Script) -> str:
    """Each day of the script: reminders, sessions (from the card) and refusals."""
    by_day: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for o in outcomes:
        day = o.at[:10]
        if o.event == "reminder":
            by_day[day]["reminders"].append(o.at[11:16])
        elif o.event == "cannot_train":
            by_day[day]["refused"].append(f"{o.at[11:16]} {o.detail['pattern'].removeprefix('cannot_train_')}")
        elif o.event in ("diary", "quiet_today", "nothing_due"):
            by_day[day]["other"].append(f"{o.at[11:16]} {o.event}")
    try:
        store = SessionStore(data, recover=False, create=False)
    except Exception:
        rows = []
    else:
        try:
            rows = [s.info for s in store.sessions()]
        finally:
            store.close()
    for r in rows:
        summary = r.get("summary") or {}
        good = sum(bool(x.get("good")) for x in summary.get("reps", []))
        how = r["status"] + (f" by {summary['stopped_by']}" if summary.get("stopped_by") else "")
        by_day[r["started_at"][:10]]["sessions"].append(f"{r['started_at'][11:16]} #{r['id']} {how} ({good} good)")
    lines = ["day         reminders  sessions / refusals"]
    d = script.start.date()
    while d <= script.until.date():
        k = d.isoformat()
        e = by_day.get(k, {})
        rest = "; ".join(e.get("sessions", []) + [f"refused {x}" for x in e.get("refused", [])] + e.get("other", []))
        lines.append(f"{k}  {len(e.get('reminders', [])):>9}  {rest or '—'}")
        d += dt.timedelta(days=1)
    return "\n".join(lines)

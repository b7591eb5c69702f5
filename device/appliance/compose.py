"""One guided session composed: the physiotherapist's prescription (or a programme when none is
prescribed), the device configuration with her fitted sensor transfers, the Pi's hardware or the
emulated device with a simulated patient — then run (``device.training.train``). ``pfmt train``
and the appliance's loop (``device.appliance.loop``) both start sessions through here."""
from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from calibration.emulated import emulated_sensors
from calibration.load import calibration_file
from calibration.profile import Profile, ProfileStore
from calibration.workflow import apply_sensor
from device.config import device_config, device_voice
from device.errors import N_, AccessError, InputError
from device.files import default_data_dir
from device.i18n import check_code, language
from device.pipeline.calibration import Calibration
from device.records.store import SessionStore
from device.records.summary import SessionSummary
from device.sim.scripted import emulate
from device.training.programme import Programme, load_programme, with_targets
from device.training.progress import Progress
from device.training.train import SCHEDULE_START_S, SessionPlan, run_session
from device.training.view import make_view
from drivers import rig as rigs
from drivers.clock import Clock, RealClock
from drivers.feedback import Feedback
from drivers.rtc import clock_state
from drivers.speech import RecordingSpeaker, Speaker

DEFAULT_PROGRAMME = "norwegian_intensive"


@dataclass
class TrainOptions:
    programme: str | None = None  # None: the prescription, else the default programme
    patient: str = "correct"      # the simulated patient's behaviour (emulation only)
    speed: float = 20.0  # × real time; 0 = as fast as possible (virtual clock)
    seed: int = 1
    data_dir: Path = field(default_factory=default_data_dir)
    config: str | None = None
    calibration: str | None = None
    hardware: bool = False
    overrides: dict = field(default_factory=dict)  # reps/sets/hold_s for a short session
    view: str = "auto"  # auto | live | lines | quiet
    view_to_stderr: bool = False  # stdout carries the machine-readable summary (--json)
    threaded: bool = False  # emulate with the real-time threads (sampler, player) instead of lock-step
    today: dt.date | None = None
    # emulation only: the simulated patient presses the button — (at_s, for_s) pauses and a
    # hold that ends the session at stop_at_s — and follows the moved timeline
    pauses: list[tuple[float, float]] = field(default_factory=list)
    stop_at_s: float | None = None
    # the appliance's loop lends what outlives one session
    clock: Clock | None = None                   # its clock (emulation: the session starts at now())
    feedback: Feedback | None = None             # its LEDs, buzzer and button
    pin_factory: object | None = None            # the pin factory its feedback was made with (device)
    finger: rigs.Finger | None = None            # emulation: the scripted finger on its button
    unplugged: list[tuple[float, float]] = field(default_factory=list)  # emulation: probe out (clock times)
    now: Callable[[], dt.datetime] | None = None  # its wall clock (emulation: the scripted days)
    free_bytes: Callable[[], int] | None = None  # emulation: the room left on its card
    card_pages: int | None = None  # emulation: the card fills when the database reaches this many pages
    language: str | None = None  # what she reads and hears; None: the prescription's, else the device's
    speech_out: Path | None = None  # emulation: the spoken cues mixed into this WAV (clips: `pfmt speech render`)
    heartbeat: Callable[[], None] | None = None  # fed at every block (the watchdog)
    require_prescription: bool = False           # the appliance trains only what a physio prescribed
    lead_s: float = 0.0                          # emulation: the patient starts this much later (the probe is read first)


@dataclass
class Composed:
    """A session ready to run: what to train, on which rig and clock, stored where."""

    plan: SessionPlan
    rig: rigs.Rig
    clock: Clock
    sessions: SessionStore
    progress: Progress
    truth: dict | None


def prescribed_programme(opts: TrainOptions, profile: Profile | None) -> Programme:
    """The prescribed programme — which the patient cannot change — else the one asked for."""
    if profile is None:
        if opts.require_prescription:
            raise AccessError(N_("no prescription on this device: the physiotherapist calibrates and prescribes "
                                 "first (`pfmt calibrate`)"))
        return load_programme(opts.programme or DEFAULT_PROGRAMME)
    rx = profile.prescription
    asked = load_programme(opts.programme) if opts.programme is not None else None
    if asked is not None and asked.assessment is not None and not opts.overrides:
        return asked  # an assessment measures; it does not change or count against the training
    if (asked is not None and asked.name != rx.programme) or opts.overrides:
        raise AccessError(N_("the physiotherapist prescribed {programme} with its targets (profile v{version}); "
                             "changing the programme or its reps, sets or holds is for the physiotherapist (`pfmt "
                             "calibrate --steps prescription`, PIN)"), programme=rx.programme, version=profile.version)
    return rx.load()


def current_programme(data_dir: Path, profile: Profile | None, programme: Programme, today: dt.date) -> tuple[Programme, Progress]:
    """The programme in force today (after intensive → maintenance) and the progress through it."""
    progress = Progress.load(data_dir, programme, today)
    if progress.state["programme"] != programme.name:  # intensive → maintenance happened
        programme = profile.prescription.load() if profile is not None and \
            progress.state["programme"] == profile.prescription.programme else load_programme(progress.state["programme"])
    return programme, progress


def compose(opts: TrainOptions) -> Composed:
    """Everything one session needs, brought up (the database closed again if anything fails)."""
    profiles = ProfileStore(opts.data_dir)
    profile = profiles.current()  # a damaged or re-signed-badly profile is refused, with the way back
    sessions = SessionStore(opts.data_dir, free_bytes=opts.free_bytes, max_pages=opts.card_pages)  # also marks a cut-off session interrupted
    try:
        programme = prescribed_programme(opts, profile)
        now = opts.now() if opts.now is not None else dt.datetime.now()
        today = opts.today or now.date()
        started = now if opts.today is None else dt.datetime.combine(today, now.time())
        if programme.assessment is None:
            programme, progress = current_programme(opts.data_dir, profile, programme, today)
            prescribed = progress.exercises(programme)
        else:  # as the protocol lays it out: no progression, no adherence
            progress = Progress.load(opts.data_dir, load_programme(profile.prescription.programme)
                                     if profile is not None else programme, today)
            prescribed = list(programme.exercises)
        exercises = [with_targets(e, **opts.overrides) for e in prescribed]
        full_dose = all(e.reps >= p.reps and e.sets >= p.sets and e.hold_s >= p.hold_s and
                        e.quick_lifts >= p.quick_lifts for e, p in zip(exercises, prescribed))
        # without a configuration, the reference build of the probe the physio calibrated
        probe = "emg" if profile is not None and profile.sensor.get("pelvic") is not None and \
            profile.sensor["pelvic"].unit == "uV" else "pressure"
        _, base_config = device_config(opts.config, probe)
        config = apply_sensor(base_config, profile) if profile is not None else base_config
        truth = None
        if opts.hardware and (opts.pauses or opts.stop_at_s is not None):
            raise InputError(N_("--pause and --stop-at press the emulated button; on the device, press the button "
                                "itself (short press: pause/resume, hold 2 s: end the session)"))
        cal: Calibration | None = calibration_file(opts.calibration) if opts.calibration else \
            profile.calibration if profile is not None else None
        clock: Clock
        if opts.hardware:  # pragma: no cover - needs a Pi
            if cal is None:
                raise InputError(N_("training on the device needs the physiotherapist's calibration (`pfmt "
                                    "calibrate`, or --calibration CAL.json)"))
            clock = opts.clock or RealClock()
            rig = rigs.hardware(config, clock, feedback=opts.feedback, factory=opts.pin_factory)
            start = None
        else:
            # the physio's calibration when there is one (read before any pin is claimed), else
            # the simulated patient's own
            transducers = None
            if opts.calibration is None and profile is not None and profile.sensor:
                # the emulated device's own sensors, which the profile calibrated
                transducers = emulated_sensors(base_config)
            emulated = emulate(opts.patient, exercises, config, seed=opts.seed, threaded=opts.threaded,
                               speed=opts.speed, pauses=opts.pauses, stop_at_s=opts.stop_at_s,
                               transducers=transducers, calibrated=cal, clock=opts.clock,
                               feedback=opts.feedback, finger=opts.finger, unplugged=opts.unplugged,
                               lead_s=opts.lead_s)
            rig, clock, truth = emulated.rig, emulated.clock, emulated.truth
            if cal is None:
                cal = emulated.calibration
            start = clock.now() + opts.lead_s + SCHEDULE_START_S
        plan = SessionPlan(
            programme=programme, exercises=exercises, config=config, calibration=cal, now=now, started=started,
            patient_code=profile.patient_code if profile is not None else None,
            profile_version=profile.version if profile is not None else None,
            progression=profile.prescription.progression if profile is not None else True, full_dose=full_dose,
            simulated_patient=None if opts.hardware else opts.patient, schedule_start=start,
            clock_state=clock_state(emulated=not opts.hardware), heartbeat=opts.heartbeat,
            provenance=profiles.provenance(profile) if profile is not None else None,
            language=session_language(opts, profile))
    except BaseException:  # nothing began: leave the database as it was found
        sessions.close()
        raise
    return Composed(plan, rig, clock, sessions, progress, truth)


def session_language(opts: TrainOptions, profile: Profile | None) -> str:
    """Her language: asked for (``--lang``), else the one the physio prescribed, else the device's."""
    if opts.language is not None:
        return check_code(opts.language, "--lang")
    if profile is not None and profile.prescription.language:
        return profile.prescription.language
    return device_voice(opts.config).language


def run(opts: TrainOptions) -> SessionSummary:
    """Run one session; returns the stored summary (with the simulated patient's truth when simulated)."""
    c = compose(opts)
    tr = language(c.plan.language)
    heard = None
    clips = Path(opts.data_dir) / "speech" / c.plan.language
    speak = opts.speech_out is not None or (opts.hardware and device_voice(opts.config).speech)
    if speak and not clips.is_dir():
        c.rig.close()
        c.sessions.close()
        raise InputError(N_("no spoken cues in {clips}: render them first (`pfmt speech render --lang {language}`)"),
                         clips=clips, language=c.plan.language)
    if opts.speech_out is not None:  # the emulated device's speaker: her language's clips, at their cues
        heard = RecordingSpeaker(clips)
        c.rig.feedback.player.on_start = heard.say
    elif speak:  # pragma: no cover - needs the device's sound output
        c.rig.feedback.player.on_start = Speaker(clips).say
    summary = run_session(c.plan, c.rig, c.clock, c.sessions, c.progress,
                          make_view(opts.view, opts.speed, sys.stderr if opts.view_to_stderr else None, tr))
    if heard is not None and opts.speech_out is not None:
        summary["speech"] = heard.mix(opts.speech_out)
    if c.truth is not None:
        summary["truth"] = c.truth["contractions"]
    return summary

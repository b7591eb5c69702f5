"""One guided session from the first cue to the stored record: the runner over a rig (real or
emulated — the caller brings it up), the session stored as it runs, then the progression and the
adherence. What to train (prescription, targets) and on what (configuration, sensors, simulated
patient) is decided by the caller: ``device.cli.train`` composes it."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass

from device.config import DeviceConfig, recorded_channels
from device.pipeline.calibration import Calibration
from device.records.store import SessionStore
from device.records.summary import SessionSummary
from device.training.programme import Exercise, Programme
from device.training.progress import Progress
from device.training.session import SessionRunner
from device.training.view import LiveView
from drivers.clock import Clock
from drivers.rig import Rig

#: The first cue, on the session clock of the emulated device (time to learn the resting level).
SCHEDULE_START_S = 2.0


@dataclass
class SessionPlan:
    """What one session trains, under whose prescription, on which configuration."""

    programme: Programme
    exercises: list[Exercise]
    config: DeviceConfig
    calibration: Calibration | None
    now: dt.datetime                 # the wall clock at the start
    started: dt.datetime             # the session's date and time as stored (``now`` unless a day is given)
    patient_code: str | None = None
    profile_version: int | None = None
    progression: bool = True
    full_dose: bool = True  # the prescribed dose (no override made it smaller): it can count
    simulated_patient: str | None = None  # the simulated patient's behaviour; None on a real patient
    schedule_start: float | None = None   # the first cue on the session clock (None: 1 s after the first sample)
    clock_state: dict | None = None       # the wall clock's state (``drivers.rtc.clock_state``)
    provenance: dict | None = None        # the prescription trained: version, file hash, signature, key
    heartbeat: Callable[[], None] | None = None  # fed at every block (the service's watchdog)
    language: str = "en"  # what she reads and hears (``device.i18n``)


def run_session(plan: SessionPlan, rig: Rig, clock: Clock, sessions: SessionStore,
                progress: Progress, view: LiveView | None = None) -> SessionSummary:
    """Run the session on ``rig`` and store it; returns the stored summary. On Ctrl-C or a fault
    what was recorded is kept, marked as stopped, and the rig is closed (LEDs and buzzer off)."""
    channels = recorded_channels(plan.config)
    cal = plan.calibration
    try:
        writer = sessions.begin(
            programme=plan.programme.name, rate_hz=plan.config.rate_hz, channels=channels,
            config=asdict(plan.config), calibration=cal.to_dict() if cal is not None else None,
            prescription=[asdict(e) for e in plan.exercises], patient_code=plan.patient_code,
            profile_version=plan.profile_version, simulated_patient=plan.simulated_patient, started=plan.started)
    except BaseException:
        rig.close()
        sessions.close()
        raise
    runner = SessionRunner(plan.programme, plan.exercises, channels, plan.config.rate_hz, rig, rig.feedback,
                           clock, cal, view=view, schedule_start=plan.schedule_start, sink=writer,
                           heartbeat=plan.heartbeat)
    rig.start()
    try:
        summary = runner.run()
    except BaseException:  # Ctrl-C or a fault: keep what was recorded, marked as stopped
        try:
            cut = runner.summary()
            cut["started_at"] = plan.now.isoformat(timespec="seconds")
            cut["clock"] = plan.clock_state
            cut["profile"] = plan.provenance
            writer.finish(cut, "stopped")
        finally:
            sessions.close()
        raise
    finally:
        rig.close()
        if view is not None:
            view.close()
    summary["started_at"] = plan.now.isoformat(timespec="seconds")
    summary["clock"] = plan.clock_state
    summary["simulated_patient"] = plan.simulated_patient
    stats = rig.sampler.stats
    summary["sampler"] = {"frames": stats.frames, "skipped": stats.skipped, "overflows": stats.overflows,
                          "elapsed_s": round(stats.last_t - stats.started, 3)}
    assessment = plan.programme.assessment
    summary["assessment"] = assessment
    summary["language"] = plan.language
    # an assessment measures her; it is not training: no progression, not counted in adherence
    changes = [] if assessment else progress.record(plan.programme, summary, plan.started,
                                                    progression=plan.progression, full_dose=plan.full_dose)
    summary["full_dose"] = plan.full_dose
    summary["profile"] = plan.provenance if plan.provenance is not None else None if plan.profile_version is None \
        else {"version": plan.profile_version, "patient_code": plan.patient_code}
    summary["progression"] = changes
    summary["adherence"] = None if assessment else progress.adherence(plan.programme, plan.started.date())
    summary["patterns"] = [(round(t, 3), n) for t, n in rig.feedback.player.started]
    summary["session_id"] = writer.id
    try:
        writer.finish(summary, "completed" if summary["completed"] else "stopped")
    finally:
        sessions.close()
    if not assessment:
        progress.save()
    summary["stored_at"] = f"{sessions.path} (session {writer.id})"
    summary["latency_s"] = list(runner.latency)
    return summary

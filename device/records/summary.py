"""The session summary: what one session was and what came of it, as stored with the session.

It is written once, when a session ends (or, after a power loss, rebuilt from the judged reps),
and read for as long as the data is kept: by ``pfmt sessions``, the exports, the trend and the
progression. So it carries a ``version``, and :func:`upgrade` reads every version ever stored
into the current one — a summary is never rewritten on disk, only read forward.

Versions
  1  (no ``version`` key) the simulated person was ``trainee``.
  2  ``simulated_patient`` (the glossary's one name: the patient, real or simulated); the
     sampler's ``elapsed_s``.
  3  ``stopped_by`` (``button``, ``sensor``, ``card_full`` or None: what ended it early); ``clock``, the state of
     the wall clock that dated it (``device.clockstate``; None where it was not known).
  4  ``assessment`` (``glazer``, ``pressure`` or None: training); ``adherence`` None for an
     assessment; ``damage`` (what storage damage took, when any); ``language`` (what she read
     and heard; "en" before).
  5  ``programme_titles`` (language → the programme file's own translation of its title), so a summary is shown in any language without the programme file; absent
     before (the English ``programme_title`` is shown then).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

SUMMARY_VERSION = 5


class SetSummary(TypedDict):
    exercise: str
    set: int
    reps: int
    done: int
    good: int
    detected: int
    mean_hold_s: float | None
    mean_mvc_pct: float | None
    bear_down: int
    accessory: int
    not_relaxed: int
    spoiled_by_device: int  # reps the device spoiled (sensor, bus, lost signal): neither for nor against her
    told: str | None     # the end-of-set cue she heard (set_done, set_done_fair, set_done_poor)


class DoseSummary(TypedDict):
    """What was prescribed and what was done of one exercise: the dose the trials fail to report."""

    exercise: str
    title: str
    kind: str
    prescribed: dict[str, Any]   # reps, sets, hold_s, quick_lifts, rest_s, set_rest_s, target_mvc_pct
    done: dict[str, Any]         # reps, sets, good_reps, spoiled_by_device, total_hold_s


class SessionSummary(TypedDict, total=False):
    """The stored summary (``total=False``: a summary rebuilt after a power loss has the runner's
    part only: programme, completed, interrupted, duration_s, reps, sets, dose, warnings)."""

    version: int
    programme: str
    programme_title: str
    programme_titles: dict[str, str]    # language → the programme's title in it (v5)
    completed: bool
    interrupted: bool
    duration_s: float
    stopped_by_button: bool
    stopped_by: str | None              # button | sensor (unplugged for too long) | card_full | None
    pauses: list[dict[str, Any]]
    calibrated: bool
    reps: list[dict[str, Any]]          # each rep's judgement (``training.session.RepResult``)
    sets: list[SetSummary]
    dose: list[DoseSummary]
    told: str | None                    # the end-of-session cue she heard (None: it did not end)
    breath_watch: dict[str, Any] | None  # how breath-holding was watched (None: it cannot be seen)
    warnings: list[dict[str, Any]]
    sensor_events: list[dict[str, Any]]
    # added when the session is stored (``training.train.run_session``)
    started_at: str
    clock: dict[str, Any] | None        # the wall clock's state when it started (source, trusted)
    simulated_patient: str | None       # the simulated patient's behaviour; None on a real patient
    sampler: dict[str, float]
    profile: dict[str, Any] | None
    progression: list[str]
    full_dose: bool                     # at the prescribed dose: it could progress and count
    adherence: dict[str, Any] | None   # None for an assessment (not training)
    assessment: str | None              # the assessment it was (``glazer``, ``pressure``), None: training
    language: str                       # what she read and heard (``device.i18n``)
    speech: list[tuple[float, str]]     # emulation: (time, cue) of each spoken cue mixed into the WAV
    damage: list[str]                   # what storage damage took from it (set on recovery or repair)
    patterns: list[tuple[float, str]]
    session_id: int
    stored_at: str
    latency_s: list[tuple[float, float]]
    truth: list[dict[str, Any]]


def upgrade(d: dict[str, Any] | None) -> SessionSummary | None:
    """A stored summary of any version, read as the current one (a new dict; ``None`` stays None).
    A summary from a newer pfmt is returned as it is: its keys are a superset of what this one reads."""
    if d is None:
        return None
    out = dict(d)
    version = int(out.get("version", 1))
    if version < 2:
        out["simulated_patient"] = out.pop("trainee", None)
    if version < 3:
        out.setdefault("stopped_by", "button" if out.get("stopped_by_button") else None)
        out.setdefault("clock", None)
    if version < 4:
        out.setdefault("assessment", None)
        out.setdefault("language", "en")
    out["version"] = max(version, SUMMARY_VERSION)
    return out  # type: ignore[return-value]  # a dict of the keys above


def title_in(summ: Mapping[str, Any], lang: str) -> str:
    """The programme's title in ``lang`` as the summary carries it (its English one, else its name)."""
    return (summ.get("programme_titles") or {}).get(lang) or summ.get("programme_title") or summ.get("programme", "?")


"""The timeline of a session: every phase of every repetition, with the cue that starts it.

The device paces the patient (as the leaflets do): the schedule is laid out from the exercise's
targets before the session starts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from device.training.programme import GET_READY_S, QUICK_LIFT_S, RELEASE_S, SQUEEZE_LEAD_S, Exercise

#: The phases of a rep, then of a set and of the session.
PhaseKind = Literal["get_ready", "squeeze", "hold", "quick_lift", "release", "rest", "set_rest", "done",
                    "baseline", "free"]
#: Cue pattern that opens each phase (drivers.feedback.PATTERNS names).
PHASE_CUE: dict[PhaseKind, str | None] = {"get_ready": "get_ready", "squeeze": "squeeze", "hold": None, "quick_lift": "quick_lift",
             "release": "release", "rest": "rest", "set_rest": "set_done", "done": "session_done",
             "baseline": "rest", "free": "squeeze"}


@dataclass
class Phase:
    kind: PhaseKind
    start: float
    end: float
    exercise: int  # index into the session's exercise list
    set: int  # 1-based
    rep: int  # 1-based; 0 for set_rest/done
    cue: str | None


@dataclass
class Rep:
    """Where one repetition sits on the timeline."""

    exercise: int
    set: int
    rep: int
    squeeze_at: float
    hold_from: float
    release_at: float
    rest_end: float


def build(exercises: list[Exercise], start: float = 0.0) -> tuple[list[Phase], list[Rep]]:
    phases: list[Phase] = []
    reps: list[Rep] = []
    t = start

    def add(kind: PhaseKind, seconds: float, ei: int, s: int, r: int) -> None:
        nonlocal t
        phases.append(Phase(kind, t, t + seconds, ei, s, r, PHASE_CUE[kind]))
        t += seconds

    for ei, ex in enumerate(exercises):
        if ex.kind == "rest":  # an assessment's baseline: one window, nothing to judge
            add("baseline", ex.hold_s, ei, 1, 0)
            continue
        if ex.kind == "free":  # one window for what the exercise asks (e.g. fast squeezes in 10 s)
            add("get_ready", GET_READY_S, ei, 1, 0)
            add("free", ex.hold_s, ei, 1, 0)
            add("release", RELEASE_S, ei, 1, 0)
            add("rest", ex.rest_s, ei, 1, 0)
            continue
        for s in range(1, ex.sets + 1):
            for r in range(1, ex.reps + 1):
                add("get_ready", GET_READY_S, ei, s, r)
                squeeze_at = t
                add("squeeze", SQUEEZE_LEAD_S, ei, s, r)
                hold_from = t
                add("hold", ex.hold_s, ei, s, r)
                for _ in range(ex.quick_lifts):
                    add("quick_lift", QUICK_LIFT_S, ei, s, r)
                release_at = t
                add("release", RELEASE_S, ei, s, r)
                add("rest", ex.rest_s, ei, s, r)
                reps.append(Rep(ei, s, r, squeeze_at, hold_from, release_at, t))
            last = ei == len(exercises) - 1 and s == ex.sets
            if not last:
                add("set_rest", ex.set_rest_s if s < ex.sets else 10.0, ei, s, 0)
    add("done", 0.0, len(exercises) - 1, exercises[-1].sets if exercises else 0, 0)
    return phases, reps


#: Phases during which a pause interrupts the repetition itself: it is done again from "get ready".
IN_REP = ("get_ready", "squeeze", "hold", "quick_lift", "release")


def resume(phases: list[Phase], reps: list[Rep], paused_in: int, paused_at: float,
           resumed_at: float) -> tuple[int, int | None]:
    """Move the rest of the timeline past a pause, in place.

    A pause inside a repetition (get ready … release) voids that attempt: the repetition starts
    again from its "get ready" at ``resumed_at``, as a physiotherapist would have it redone. A
    pause in a rest leaves the rest of the rest to run. Returns the index of the first phase moved
    and the index of the repetition restarted (None after a rest: no cue is repeated). The scripted patient (``sim.scripted``) replays pauses through the same function,
    so the device and the simulated patient follow one timeline."""
    p = phases[paused_in]
    restart = p.kind in IN_REP and p.rep > 0
    if restart:
        first = next(k for k in range(paused_in, -1, -1)
                     if phases[k].kind == "get_ready" and (phases[k].exercise, phases[k].set, phases[k].rep)
                     == (p.exercise, p.set, p.rep))
        boundary = phases[first].start
        shift = resumed_at - boundary
    else:
        first, boundary, shift = paused_in, p.start, resumed_at - paused_at
    for ph in phases[first:]:
        ph.start += shift
        ph.end += shift
    rep_i = None
    for i, r in enumerate(reps):
        if restart and (r.exercise, r.set, r.rep) == (p.exercise, p.set, p.rep):
            rep_i = i
        for name in ("squeeze_at", "hold_from", "release_at", "rest_end"):
            if getattr(r, name) >= boundary:
                setattr(r, name, getattr(r, name) + shift)
    return first, rep_i

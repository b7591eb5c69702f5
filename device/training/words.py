"""The words a person reads for each state, result and warning: one place, so the live view, the
summary and the report say the same thing (and the translations of issue 21 have one source)."""
from __future__ import annotations

#: Each phase of a session, as the patient is asked to act in it.
PHASE: dict[str, str] = {
    "get_ready": "Get ready", "squeeze": "Squeeze", "hold": "Hold", "quick_lift": "Quick lift",
    "release": "Let go", "rest": "Rest", "set_rest": "Set done, rest", "done": "Finished",
    "paused": "Paused", "starting": "Starting",
}

#: Why a rep is to be redone (``session.REASONS``), in plain words.
REASON: dict[str, str] = {
    "sensor_fault": "sensor problem", "bear_down": "bearing down (pushing out)",
    "accessory": "other muscles helped", "breath_held": "breath held",
    "not_felt": "no squeeze felt", "too_weak": "too weak for the target",
    "too_short": "hold too short", "quick_lifts_missing": "quick lifts missing",
    "not_relaxed": "not let go afterwards", "not_below_rest": "pressure did not fall below rest",
}

#: The live warnings, as the patient should act on them.
WARNING: dict[str, str] = {
    "warning_bear_down": "Bearing down: lift in and up, do not push",
    "warning_accessory": "Other muscles helping: relax belly, buttocks and thighs",
    "warning_not_relaxed": "Let go completely",
    "warning_breath_held": "Keep breathing",
}

#: The status LED's colours, named.
LIGHT: dict[str, str] = {
    "off": "off", "guide": "blue", "correct": "green", "warning": "red", "caution": "amber",
    "rest": "dim", "paused": "grey",
}

#: Contraction kinds.
KIND: dict[str, str] = {"lift": "lift", "bear_down": "bearing down", "accessory": "accessory"}


def reasons(rs: list[str]) -> str:
    """The reasons to redo a rep, joined."""
    return ", ".join(REASON.get(r, r) for r in rs)

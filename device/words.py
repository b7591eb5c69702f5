"""The words a person reads for each state, result and warning: one place, so the live view, the
summary and the report say the same thing. Each is an English message id marked for the
catalogs (``device.i18n``) and translated where it is shown: ``tr(PHASE["hold"])``."""
from __future__ import annotations

import re

from device.i18n import ENGLISH, N_, Language

#: Each phase of a session, as the patient is asked to act in it.
PHASE: dict[str, str] = {
    "get_ready": N_("Get ready"), "squeeze": N_("Squeeze"), "hold": N_("Hold"), "quick_lift": N_("Quick lift"),
    "release": N_("Let go"), "rest": N_("Rest"), "set_rest": N_("Set done, rest"), "done": N_("Finished"),
    "paused": N_("Paused"), "starting": N_("Starting"),
    "baseline": N_("Lie still, let go"), "free": N_("Quick squeezes"),
}

#: Why a rep is to be redone (``session.REASONS``), in plain words.
REASON: dict[str, str] = {
    "sensor_fault": N_("sensor problem"), "bear_down": N_("bearing down (pushing out)"),
    "accessory": N_("other muscles helped"), "breath_held": N_("breath held"),
    "not_felt": N_("no squeeze felt"), "too_weak": N_("too weak for the target"),
    "too_short": N_("hold too short"), "quick_lifts_missing": N_("quick lifts missing"),
    "not_relaxed": N_("not let go afterwards"), "not_below_rest": N_("pressure did not fall below rest"),
}

#: The live warnings, as the patient should act on them.
WARNING: dict[str, str] = {
    "warning_bear_down": N_("Bearing down: lift in and up, do not push"),
    "warning_accessory": N_("Other muscles helping: relax belly, buttocks and thighs"),
    "warning_not_relaxed": N_("Let go completely"),
    "warning_breath_held": N_("Keep breathing"),
}

#: The status LED's colours, named.
LIGHT: dict[str, str] = {
    "off": N_("off"), "guide": N_("blue"), "correct": N_("green"), "warning": N_("red"), "caution": N_("amber"),
    "rest": N_("dim"), "paused": N_("grey"),
}

#: Exercise kinds (``training.programme.KINDS``).
EXERCISE_KIND: dict[str, str] = {"hold": N_("hold"), "relax": N_("relaxation"), "hypopressive": N_("hypopressive"),
                                 "rest": N_("rest"), "free": N_("free window")}

#: The calibration's steps (``calibration.workflow.STEPS``), as a profile's changes name them.
STEP: dict[str, str] = {"sensor": N_("sensor"), "patient": N_("patient"), "prescription": N_("prescription")}

#: Contraction kinds.
KIND: dict[str, str] = {"lift": N_("lift"), "bear_down": N_("bearing down"), "accessory": N_("accessory")}


def reasons(rs: list[str], tr: Language = ENGLISH) -> str:
    """The reasons to redo a rep, joined, in her language."""
    return ", ".join(tr(REASON[r]) if r in REASON else r for r in rs)


#: What the voice says as each cue's pattern starts (the patterns of ``drivers.feedback``); a
#: pattern not here (a tick, a light) is not spoken.
SPEECH: dict[str, str] = {
    "get_ready": N_("Get ready"), "squeeze": N_("Squeeze"), "quick_lift": N_("Lift"), "release": N_("Let go"),
    "rest": N_("Rest"), "set_done": N_("Set done"), "set_done_fair": N_("Set done"), "set_done_poor": N_("Set done"),
    "session_done": N_("Well done, the session is over"), "session_done_fair": N_("The session is over"),
    "session_done_poor": N_("The session is over"), "rep_redo_bear_down": N_("Lift in, do not push"),
    "warning_bear_down": N_("Lift in and up, do not push"), "warning_accessory": N_("Relax belly, buttocks and thighs"),
    "warning_not_relaxed": N_("Let go completely"), "warning_breath_held": N_("Keep breathing"),
    "rep_recorded": N_("Recorded"),
}


def speech(tr: Language = ENGLISH) -> dict[str, str]:
    """Each spoken cue's words in her language."""
    return {k: tr(v) for k, v in SPEECH.items()}


#: What a progression did, as it is stored (in English, the data's language) and shown (in hers):
#: ``PROGRESSION["hold"].format(name="contact", old="3", new="4")``.
PROGRESSION: dict[str, str] = {
    "hold": N_("{name}: hold {old} → {new} s"),
    "quick_lifts": N_("{name}: quick lifts {old} → {new} (holds of {hold} s succeed)"),
    "reps": N_("{name}: reps {old} → {new}"),
    "next": N_("next exercise: {next} ({name} is secure)"),
    "programme": N_("programme: {old} → {new} ({weeks} weeks done, symptom-free {months} months)"),
}


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    return re.compile("^" + "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts)) + "$")


_SAID = [(t, _pattern(t)) for t in PROGRESSION.values()]
_NUMBER = re.compile(r"^-?\d+\.\d+$")


def said(text: str, tr: Language = ENGLISH) -> str:
    """A stored English sentence made from one of the templates above, in her language (its fields
    as stored, a decimal number in her notation); any other text as it is."""
    for template, pattern in _SAID:
        m = pattern.match(text)
        if m:
            fields = {k: v.replace(".", tr.decimal) if _NUMBER.match(v) else v for k, v in m.groupdict().items()}
            return tr(template).format(**fields)
    return text

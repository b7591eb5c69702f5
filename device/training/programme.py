"""Training programmes as data: TOML files a physiotherapist can read and edit.

A programme is a list of exercises and how they are scheduled: ``mode = "sequence"`` trains one
exercise at a time and moves to the next when the current one is secure (the Swedish programme,
light contact → intensive in the Norwegian one); ``mode = "all"`` trains every exercise in each
session (deep-core, back pain, hypopressive, maintenance, down-training). The numbers are those of
the leaflets in DESIGN.md; ranges like "8–12 reps" are a start value and a ceiling the progression
moves between.

Exercise ``kind``:
``hold``          squeeze to the target, hold, optional quick lifts at the end, release, rest;
``relax``         (down-training) a gentle squeeze, then a long complete release that is judged;
``hypopressive``  exhale-apnoea with rib opening: the pelvic pressure must fall below rest;
``rest``          (assessments) a baseline: lie still and relaxed for ``hold_s``, nothing judged;
``free``          (assessments) one window of ``hold_s`` for what the title asks (as many fast
                  squeezes as she can), measured afterwards, not judged rep by rep.

A programme with ``assessment = "glazer"`` or ``"pressure"`` is an assessment: run like any
programme, stored as a session of its own kind, measured by ``device.records.assessment``, and
never counted as training (no progression, no adherence).
"""
from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

from device.errors import N_, InputError
from device.files import check_input_file, printable
from device.i18n import LANGUAGES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: What an exercise trains (see above); the ``kind`` key of a programme file.
ExerciseKind = Literal["hold", "relax", "hypopressive", "rest", "free"]
KINDS: tuple[ExerciseKind, ...] = get_args(ExerciseKind)
UNJUDGED: tuple[ExerciseKind, ...] = ("rest", "free")  # kinds with no repetition to judge
MODES = ("sequence", "all")
#: What an assessment programme measures (``device.records.assessment``).
ASSESSMENTS = ("glazer", "pressure")


class ProgrammeError(InputError):
    """A programme file is malformed or out of physiological bounds."""


@dataclass(frozen=True)
class Exercise:
    name: str
    title: str
    kind: ExerciseKind = "hold"
    target_mvc: float = 0.6  # fraction of MVC a repetition must reach
    hold_s: float = 6.0
    quick_lifts: int = 0
    rest_s: float = 4.0
    reps: int = 10
    sets: int = 1
    set_rest_s: float = 60.0
    cue: str = ""  # what the patient is told to do, shown in the view
    # progression
    hold_max_s: float | None = None
    hold_step_s: float = 1.0
    reps_max: int | None = None
    quick_lifts_max: int = 0
    quick_lifts_after_hold_s: float | None = None  # add quick lifts once holds this long succeed
    secure_ratio: float = 0.8  # share of good reps that makes a session secure
    secure_in_a_row: int | None = None  # ... or this many good reps in a row
    secure_sessions: int = 1  # secure sessions before the exercise progresses
    #: language → {"title": …, "cue": …}: the file's own translations (``[exercise.translation.nb]``)
    translation: Mapping[str, Mapping[str, str]] = field(default_factory=dict, compare=False, hash=False)

    def text(self, key: str, lang: str) -> str:
        """The exercise's ``title`` or ``cue`` in ``lang``; the file's English where it has none."""
        return self.translation.get(lang, {}).get(key) or getattr(self, key)

    def duration_s(self) -> float:
        """Scheduled length of this exercise in a session (cues included)."""
        if self.kind == "rest":
            return self.hold_s
        if self.kind == "free":
            return GET_READY_S + self.hold_s + RELEASE_S + self.rest_s
        rep = GET_READY_S + SQUEEZE_LEAD_S + self.hold_s + self.quick_lifts * QUICK_LIFT_S + RELEASE_S + self.rest_s
        return self.sets * self.reps * rep + (self.sets - 1) * self.set_rest_s


#: Fixed phase lengths of one repetition (seconds).
GET_READY_S = 2.0  # "get ready" before each squeeze
SQUEEZE_LEAD_S = 1.0  # time to reach the target after "squeeze" before the hold is counted
QUICK_LIFT_S = 1.0  # one quick lift cue each second
RELEASE_S = 1.0


@dataclass(frozen=True)
class Programme:
    name: str
    title: str
    source: str
    mode: str
    days_per_week: float
    sessions_per_day: int
    weeks: float | None
    exercises: tuple[Exercise, ...]
    next_programme: str | None = None  # e.g. intensive → maintenance
    switch_after_symptom_free_months: float | None = None
    notes: str = ""
    assessment: str | None = None  # one of ASSESSMENTS: measured, not trained
    #: language → {"title": …, "notes": …}: the file's own translations (``[translation.nb]``)
    translation: Mapping[str, Mapping[str, str]] = field(default_factory=dict, compare=False, hash=False)

    def text(self, key: str, lang: str) -> str:
        """The programme's ``title`` or ``notes`` in ``lang``; the file's English where it has none."""
        return self.translation.get(lang, {}).get(key) or getattr(self, key)

    def exercise(self, name: str) -> Exercise:
        for e in self.exercises:
            if e.name == name:
                return e
        raise ProgrammeError(N_("programme {name!r} has no exercise {name2!r}; it has {items}"),
                             name=self.name, name2=name, items=', '.join(e.name for e in self.exercises))


EXERCISE_BOUNDS: dict[str, tuple[type, float, float]] = {
    "target_mvc": (float, 0.05, 1.0), "hold_s": (float, 0.5, 300.0), "quick_lifts": (int, 0, 10),
    "rest_s": (float, 1.0, 120.0), "reps": (int, 1, 50), "sets": (int, 1, 10),
    "set_rest_s": (float, 0.0, 600.0), "hold_max_s": (float, 0.5, 300.0),
    "hold_step_s": (float, 0.1, 60.0), "reps_max": (int, 1, 50), "quick_lifts_max": (int, 0, 10),
    "quick_lifts_after_hold_s": (float, 0.5, 300.0), "secure_ratio": (float, 0.1, 1.0),
    "secure_in_a_row": (int, 1, 100), "secure_sessions": (int, 1, 50),
}
#: Frequency bounds of a programme (and of a prescription's own frequency).
PROGRAMME_BOUNDS: dict[str, tuple[type, float, float]] = {
    "days_per_week": (float, 0.5, 7), "sessions_per_day": (int, 1, 6),
}
_PROGRAMME_KEYS = {"name", "title", "source", "mode", "days_per_week", "sessions_per_day", "weeks",
                   "exercise", "next_programme", "switch_after_symptom_free_months", "notes", "assessment",
                   "translation"}


def check_number(where: str, key: str, v: Any, kind: type, lo: float, hi: float) -> float | int:
    """``v`` as ``kind`` within [lo, hi], or a :class:`ProgrammeError` naming ``key`` and the bounds."""
    ok = isinstance(v, int) and not isinstance(v, bool) if kind is int else \
        isinstance(v, (int, float)) and not isinstance(v, bool)
    if not ok or (isinstance(v, float) and not math.isfinite(v)):
        raise ProgrammeError(N_("{where}: {key} must be {value}, not {v!r}"),
                             where=where, key=key, value='a whole number' if kind is int else 'a number', v=v)
    if not lo <= v <= hi:
        raise ProgrammeError(N_("{where}: {key} = {v} is outside {lo:g}…{hi:g}"),
                             where=where, key=key, v=v, lo=lo, hi=hi)
    return kind(v)


def parse_exercise(d: Any, where: str) -> Exercise:
    if not isinstance(d, dict):
        raise ProgrammeError(N_("{where}: an [[exercise]] must be a table"), where=where)
    allowed = set(EXERCISE_BOUNDS) | {"name", "title", "kind", "cue", "translation"}
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise ProgrammeError(N_("{where}: unknown option {value!r}; allowed: {items}"),
                             where=where, value=unknown[0], items=', '.join(sorted(allowed)))
    for key in ("name", "title"):
        if not isinstance(d.get(key), str) or not d[key].strip():
            raise ProgrammeError(N_("{where}: {key} is required (text)"), where=where, key=key)
    kind = d.get("kind", "hold")
    if kind not in KINDS:
        raise ProgrammeError(N_("{where}: kind {kind!r}; allowed: {items}"),
                             where=where, kind=kind, items=', '.join(KINDS))
    vals: dict[str, Any] = {k: check_number(where, k, d[k], *EXERCISE_BOUNDS[k]) for k in EXERCISE_BOUNDS if k in d}
    e = Exercise(name=d["name"], title=d["title"], kind=kind, cue=str(d.get("cue", "")),
                 translation=parse_translation(d.get("translation"), where, ("title", "cue")), **vals)
    if e.hold_max_s is not None and e.hold_max_s < e.hold_s:
        raise ProgrammeError(N_("{where}: hold_max_s ({hold_max_s:g}) is below hold_s ({hold_s:g})"),
                             where=where, hold_max_s=e.hold_max_s, hold_s=e.hold_s)
    if e.reps_max is not None and e.reps_max < e.reps:
        raise ProgrammeError(N_("{where}: reps_max ({reps_max}) is below reps ({reps})"),
                             where=where, reps_max=e.reps_max, reps=e.reps)
    if e.quick_lifts_max and e.quick_lifts_max < e.quick_lifts:
        raise ProgrammeError(N_("{where}: quick_lifts_max ({quick_lifts_max}) is below quick_lifts ({quick_lifts})"),
                             where=where, quick_lifts_max=e.quick_lifts_max, quick_lifts=e.quick_lifts)
    return e


def parse_translation(d: Any, where: str, keys: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """A file's ``[translation.<lang>]`` tables: each language one pfmt speaks, each key one of
    ``keys``, each value non-empty text (English stays in the keys themselves)."""
    if d is None:
        return {}
    if not isinstance(d, dict):
        raise ProgrammeError(N_("{where}: translation must be a table of languages ([translation.nb] …)"), where=where)
    out: dict[str, dict[str, str]] = {}
    for lang, t in d.items():
        if lang not in LANGUAGES or lang == "en":
            raise ProgrammeError(N_("{where}: translation.{lang}: not a language to translate into; allowed: {items} "
                                    "(English is the file's own text)"),
                                 where=where, lang=printable(str(lang))[:20],
                                 items=', '.join(c for c in LANGUAGES if c != 'en'))
        if not isinstance(t, dict):
            raise ProgrammeError(N_("{where}: translation.{lang} must be a table ({items})"),
                                 where=where, lang=lang, items=', '.join(keys))
        for k, v in t.items():
            if k not in keys:
                raise ProgrammeError(N_("{where}: translation.{lang}: unknown key {k!r}; allowed: {items}"),
                                     where=where, lang=lang, k=printable(str(k))[:30], items=', '.join(keys))
            if not isinstance(v, str) or not v.strip():
                raise ProgrammeError(N_("{where}: translation.{lang}.{k} must be text"), where=where, lang=lang, k=k)
        out[lang] = {k: str(v) for k, v in t.items()}
    return out


#: A programme's name: it is stored with every session and written into EDF+ headers and file names.
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def parse_programme(d: dict, where: str) -> Programme:
    unknown = sorted(set(d) - _PROGRAMME_KEYS)
    if unknown:
        raise ProgrammeError(N_("{where}: unknown option {value!r}; allowed: {items}"),
                             where=where, value=unknown[0], items=', '.join(sorted(_PROGRAMME_KEYS)))
    for key in ("name", "title", "source"):
        if not isinstance(d.get(key), str) or not d[key].strip():
            raise ProgrammeError(N_("{where}: {key} is required (text)"), where=where, key=key)
    if not NAME_RE.match(d["name"]):
        raise ProgrammeError(N_("{where}: name {name!r}: a programme's name travels into stored sessions and "
                                "exports: 1–40 lower-case letters, digits and '_' (its title is free text)"),
                             where=where, name=printable(d['name'])[:60])
    nxt = d.get("next_programme")
    if nxt is not None and (not isinstance(nxt, str) or not nxt.strip()):
        raise ProgrammeError(N_("{where}: next_programme must be a programme's name (text), not {nxt}"),
                             where=where, nxt=printable(repr(nxt))[:60])
    mode = d.get("mode", "all")
    if mode not in MODES:
        raise ProgrammeError(N_("{where}: mode {mode!r}; allowed: {items}"),
                             where=where, mode=mode, items=', '.join(MODES))
    ex = d.get("exercise")
    if not isinstance(ex, list) or not ex:
        raise ProgrammeError(N_("{where}: at least one [[exercise]] is required"), where=where)
    exercises = tuple(parse_exercise(e, f"{where} exercise #{i + 1}") for i, e in enumerate(ex))
    names = [e.name for e in exercises]
    if len(set(names)) != len(names):
        raise ProgrammeError(N_("{where}: exercise names must be unique ({items})"),
                             where=where, items=', '.join(names))
    assessment = d.get("assessment")
    if assessment is not None and assessment not in ASSESSMENTS:
        raise ProgrammeError(N_("{where}: assessment {assessment}; allowed: {items}"),
                             where=where, assessment=printable(repr(assessment))[:40], items=', '.join(ASSESSMENTS))
    if assessment is None and all(e.kind in UNJUDGED for e in exercises):
        raise ProgrammeError(N_("{where}: a training programme needs at least one exercise with repetitions (kinds "
                                "{items})"), where=where, items=', '.join(k for k in KINDS if k not in UNJUDGED))
    weeks = d.get("weeks")
    sfm = d.get("switch_after_symptom_free_months")
    return Programme(
        name=d["name"], title=d["title"], source=d["source"], mode=mode,
        days_per_week=check_number(where, "days_per_week", d.get("days_per_week", 7), *PROGRAMME_BOUNDS["days_per_week"]),
        sessions_per_day=int(check_number(where, "sessions_per_day", d.get("sessions_per_day", 1),
                                          *PROGRAMME_BOUNDS["sessions_per_day"])),
        weeks=None if weeks is None else check_number(where, "weeks", weeks, float, 1, 520),
        exercises=exercises, next_programme=d.get("next_programme"),
        switch_after_symptom_free_months=None if sfm is None else check_number(where, "switch_after_symptom_free_months", sfm, float, 0, 60),
        notes=str(d.get("notes", "")), assessment=assessment,
        translation=parse_translation(d.get("translation"), where, ("title", "notes")))


def _builtin_dir():
    return resources.files("device.training") / "programmes"


def builtin_names() -> list[str]:
    return sorted(p.name[:-5] for p in _builtin_dir().iterdir() if p.name.endswith(".toml"))


def load_programme(name_or_path: str | Path) -> Programme:
    """A built-in programme by name, or a TOML file by path."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        try:
            check_input_file(p, "programme", 1_000_000)
            text, where = p.read_text(encoding="utf-8"), str(p)
        except InputError as e:
            raise ProgrammeError(e.template, **e.fields) from None
        except OSError as e:
            raise ProgrammeError(N_("{p}: cannot read the programme ({strerror})"), p=p, strerror=e.strerror) from None
        except UnicodeDecodeError:
            raise ProgrammeError(N_("{p}: not UTF-8 text; a programme is a TOML file"), p=p) from None
    else:
        f = _builtin_dir() / f"{name_or_path}.toml"
        if not f.is_file():
            raise ProgrammeError(N_("unknown programme {name_or_path!r}; built in: {items} (or give a .toml file)"),
                                 name_or_path=str(name_or_path), items=', '.join(builtin_names()))
        text, where = f.read_text(encoding="utf-8"), f"{name_or_path}.toml"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ProgrammeError(N_("{where}: not valid TOML ({e})"), where=where, e=e) from None
    except RecursionError:
        raise ProgrammeError(N_("{where}: nested too deeply to be a programme"), where=where) from None
    prog = parse_programme(data, where)
    if prog.next_programme is not None and prog.next_programme not in builtin_names() \
            and not Path(prog.next_programme).exists():
        raise ProgrammeError(N_("{where}: next_programme {next_programme!r} is not a known programme"),
                             where=where, next_programme=prog.next_programme)
    return prog


def with_targets(ex: Exercise, **targets: Any) -> Exercise:
    """The exercise with prescribed or progressed targets (validated like the file)."""
    d: dict[str, Any] = {k: getattr(ex, k) for k in ("name", "title", "kind", "cue")}
    d["translation"] = ex.translation
    for k in EXERCISE_BOUNDS:
        v = targets.get(k, getattr(ex, k))
        if v is not None:
            d[k] = v
    return parse_exercise(d, f"exercise {ex.name!r}")

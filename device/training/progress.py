"""Progression and adherence: the patient's current targets, how they rise, and how much of the
prescription was done. Kept in ``progress.json`` beside the sessions (written atomically).

Rules (DESIGN.md): a session is *secure* for an exercise when its share of good repetitions
reaches ``secure_ratio`` (or ``secure_in_a_row`` good reps in a row); after ``secure_sessions``
secure sessions the exercise progresses one step — a longer hold (up to ``hold_max_s``), the
quick lifts added once holds of ``quick_lifts_after_hold_s`` succeed, one more rep (up to
``reps_max``); in a sequence programme an exercise at its top targets hands over to the next.
Intensive → maintenance once the programme's weeks are done and the patient has been symptom-free
for the prescribed months (recorded by the physiotherapist).
"""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from device import words
from device.errors import N_, InputError
from device.files import atomic_write
from device.training.programme import Exercise, Programme, load_programme, with_targets

TARGET_KEYS = ("hold_s", "quick_lifts", "reps")
MAX_LEAKS = 100  # leakage episodes in one diary entry (more is a typing error)


class Progress:
    def __init__(self, path: Path, state: dict) -> None:
        self.path, self.state = path, state

    @classmethod
    def existing(cls, data_dir: Path) -> Progress:
        """The progress kept in ``data_dir`` (for the diary), refused with the way forward if none."""
        path = Path(data_dir) / "progress.json"
        if not path.exists():
            raise InputError(N_("{data_dir}: no training progress here yet (train a session first, or give --data)"),
                             data_dir=data_dir)
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise InputError(N_("{path}: the progress file is unreadable ({e})"), path=path, e=e) from None
        if not isinstance(state, dict) or "programme" not in state:
            raise InputError(N_("{path}: not a pfmt progress file"), path=path)
        return cls(path, state)

    @classmethod
    def load(cls, data_dir: Path, programme: Programme, today: dt.date) -> Progress:
        path = Path(data_dir) / "progress.json"
        if path.exists():
            try:
                state = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as e:
                raise InputError(N_("{path}: the progress file is unreadable ({e}); restore it from a backup or "
                                    "delete it to start the programme afresh"), path=path, e=e) from None
            if not isinstance(state, dict) or "programme" not in state:
                raise InputError(N_("{path}: not a pfmt progress file"), path=path)
            if state["programme"] == programme.name:
                return cls(path, state)
        state = {"programme": programme.name, "started": today.isoformat(), "current": 0,
                 "targets": {}, "secure": {}, "symptom_free_since": None, "sessions": [],
                 "history": []}
        return cls(path, state)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.path) as f:
            f.write(json.dumps(self.state, indent=1).encode())

    # --- today's exercises -------------------------------------------------------------------
    def exercises(self, programme: Programme) -> list[Exercise]:
        """The exercises of the next session with the patient's current targets."""
        chosen = programme.exercises
        if programme.mode == "sequence":
            chosen = (programme.exercises[min(self.state["current"], len(programme.exercises) - 1)],)
        return [with_targets(e, **self.state["targets"].get(e.name, {})) for e in chosen]

    # --- after a session ---------------------------------------------------------------------
    def record(self, programme: Programme, summary: Mapping[str, Any], when: dt.datetime,
               progression: bool = True, full_dose: bool = True) -> list[str]:
        """Log the session, apply the progression rules (unless the physio turned progression
        off); returns the changes in words. Only a completed session at the prescribed dose
        (``full_dose``: no fewer reps, sets, seconds or quick lifts than prescribed) can make an
        exercise secure or count as one of the day's sessions."""
        self.state["sessions"].append({"date": when.date().isoformat(), "time": when.isoformat(timespec="seconds"),
                                       "programme": programme.name, "completed": summary["completed"],
                                       "full_dose": full_dose})
        changes: list[str] = []
        if summary["completed"] and progression and full_dose:
            for d in summary["dose"]:
                changes += self._progress(programme, programme.exercise(d["exercise"]),
                                          [r for r in summary["reps"] if r["exercise"] == d["exercise"]])
        switch = self._maybe_switch(programme, when.date())
        if switch:
            changes.append(switch)
        if changes:
            self.state["history"].append({"date": when.date().isoformat(), "changes": changes})
        return changes

    def _progress(self, programme: Programme, base: Exercise, reps: list[dict]) -> list[str]:
        ex = with_targets(base, **self.state["targets"].get(base.name, {}))
        # a rep the device spoiled (sensor, bus, lost signal) counts neither for nor against her
        reps = [r for r in reps if not r.get("sensor_fault")]
        if not reps:
            return []
        good = [bool(r["good"]) for r in reps]
        run = best = 0
        for g in good:
            run = run + 1 if g else 0
            best = max(best, run)
        secure = bool(good) and (sum(good) / len(good) >= ex.secure_ratio or
                                 (ex.secure_in_a_row is not None and best >= ex.secure_in_a_row))
        n = self.state["secure"].get(ex.name, 0) + 1 if secure else 0
        self.state["secure"][ex.name] = n
        if n < ex.secure_sessions:
            return []
        self.state["secure"][ex.name] = 0
        t = dict(self.state["targets"].get(ex.name, {}))
        out = []
        at_top = True
        if ex.hold_max_s is not None and ex.hold_s < ex.hold_max_s:
            t["hold_s"] = min(ex.hold_max_s, ex.hold_s + ex.hold_step_s)
            out.append(words.PROGRESSION["hold"].format(name=ex.name, old=f"{ex.hold_s:g}", new=f"{t['hold_s']:g}"))
            at_top = False
        if ex.quick_lifts_max and ex.quick_lifts < ex.quick_lifts_max and \
                ex.quick_lifts_after_hold_s is not None and ex.hold_s >= ex.quick_lifts_after_hold_s:
            t["quick_lifts"] = ex.quick_lifts_max
            out.append(words.PROGRESSION["quick_lifts"].format(name=ex.name, old=ex.quick_lifts, new=ex.quick_lifts_max,
                                                               hold=f"{ex.hold_s:g}"))
        if ex.reps_max is not None and ex.reps < ex.reps_max:
            t["reps"] = ex.reps + 1
            out.append(words.PROGRESSION["reps"].format(name=ex.name, old=ex.reps, new=ex.reps + 1))
        self.state["targets"][ex.name] = t
        names = [e.name for e in programme.exercises]
        if programme.mode == "sequence" and at_top and names.index(ex.name) < len(names) - 1:
            self.state["current"] = names.index(ex.name) + 1
            out.append(words.PROGRESSION["next"].format(next=names[self.state["current"]], name=ex.name))
        return out

    # --- the symptom diary -------------------------------------------------------------------
    def add_symptoms(self, day: dt.date, leaks: int, today: dt.date, note: str = "", by: str = "patient") -> dict:
        """One diary entry: the leakage episodes since the last entry, by the patient (button,
        console) or the physiotherapist. It is what "symptom-free for N months" is judged on."""
        if not isinstance(leaks, int) or not 0 <= leaks <= MAX_LEAKS:
            raise InputError(N_("leakage episodes must be a whole number from 0 to {max_leaks}, not {leaks!r}"),
                             max_leaks=MAX_LEAKS, leaks=leaks)
        if day > today:
            raise InputError(N_("the diary date {value} is in the future (today is {value2})"),
                             value=day.isoformat(), value2=today.isoformat())
        if by not in ("patient", "physio"):
            raise InputError(N_("a diary entry is by the patient or the physio, not {by!r}"), by=by)
        entry = {"date": day.isoformat(), "leaks": leaks, "note": note[:500], "by": by}
        diary = self.state.setdefault("symptoms", [])
        diary.append(entry)
        diary.sort(key=lambda e: e["date"])
        return entry

    def symptom_free_since(self) -> str | None:
        """The first diary entry with no leakage after the last one with leakage (None while the
        latest entry reports leakage); without a diary, the date the physiotherapist recorded."""
        diary = self.state.get("symptoms") or []
        if not diary:
            return self.state.get("symptom_free_since")
        since = None
        for e in diary:
            if e["leaks"] > 0:
                since = None
            elif since is None:
                since = e["date"]
        return since

    def _maybe_switch(self, programme: Programme, today: dt.date) -> str | None:
        if not programme.next_programme or programme.weeks is None:
            return None
        started = dt.date.fromisoformat(self.state["started"])
        sfs = self.symptom_free_since()
        if (today - started).days < 7 * programme.weeks or not sfs:
            return None
        months = (today - dt.date.fromisoformat(sfs)).days / 30.44
        if months < (programme.switch_after_symptom_free_months or 0):
            return None
        nxt = load_programme(programme.next_programme)
        self.state.update({"programme": nxt.name, "started": today.isoformat(), "current": 0,
                           "targets": {}, "secure": {}})
        return words.PROGRESSION["programme"].format(old=programme.name, new=nxt.name, weeks=f"{programme.weeks:g}",
                                                     months=f"{months:.0f}")

    # --- adherence ---------------------------------------------------------------------------
    def adherence(self, programme: Programme, today: dt.date) -> dict:
        """Sessions done against the prescription: today, the last 7 days and this calendar week
        so far (pro rata: on a Wednesday 3/7 of the week's sessions are expected). Only completed
        sessions at the prescribed dose count, and no more than the prescribed sessions a day
        (three sessions on one day are one day's training, not 43 % of the week)."""
        per_day: Counter[dt.date] = Counter(
            dt.date.fromisoformat(s["date"]) for s in self.state["sessions"]
            if s.get("completed") and s.get("full_dose", True))
        spd, dpw = programme.sessions_per_day, programme.days_per_week
        per_week = dpw * spd

        def sessions(a: dt.date, b: dt.date) -> int:
            return sum(min(n, spd) for d, n in per_day.items() if a <= d <= b)

        def days(a: dt.date, b: dt.date) -> int:
            return sum(1 for d in per_day if a <= d <= b)

        today_n = per_day.get(today, 0)
        monday = today - dt.timedelta(days=today.weekday())
        # a training day if the week still needs days, or she has begun today's sessions
        training_day = today_n > 0 or days(monday, today - dt.timedelta(days=1)) < dpw
        due_today = max(0, spd - today_n) if training_day else 0
        last7 = sessions(today - dt.timedelta(days=6), today)
        week = sessions(monday, today)
        expected = per_week * (today.weekday() + 1) / 7
        return {"today_done": today_n, "due_today": due_today,
                "week_done": last7, "week_days_trained": days(today - dt.timedelta(days=6), today),
                "week_prescribed": per_week,
                "week_adherence_pct": round(100 * min(last7 / per_week, 1.0), 0) if per_week else None,
                "this_week": {"from": monday.isoformat(), "sessions": week, "days_trained": days(monday, today),
                              "expected_so_far": round(expected, 1),
                              "pct": round(100 * min(week / expected, 1.0), 0) if expected else None}}

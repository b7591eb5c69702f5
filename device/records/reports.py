"""What the physiotherapist reads from stored sessions: one line per session, the dose of one
session (prescribed vs done), and the trend across weeks (strength, endurance, adherence).
Computed from the session database only, so an export and the device's own screens agree."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from device.i18n import ENGLISH, N_, Language
from device.records.store import SessionData
from drivers.rtc import EARLIEST


def _num(xs) -> list[float]:
    return [float(x) for x in xs if isinstance(x, (int, float)) and not isinstance(x, bool) and x == x]


def _r(v: float | None, n: int = 1) -> float | None:
    return None if v is None else round(v, n)


def dash(v: object, fmt: str) -> str:
    """A figure for a table, or a dash where there is none (nothing done, uncalibrated)."""
    return "—" if v is None else fmt.format(v)


def rep_done(r: dict) -> bool:
    """The rep's hold was over: it counts in the dose. (Summaries stored before reps carried
    ``done`` judged every rep of a finished session.)"""
    return bool(r.get("done", r.get("judged_at_s") is not None))


def session_line(s: SessionData) -> dict:
    """The figures of one session for a list: reps done and good, strength and endurance.

    Strength and endurance come from correct contractions only: a bear-down or an accessory
    squeeze raises the probe's pressure with the abdominals, not with the pelvic floor, and
    would flatter the trend."""
    summ = s.info["summary"] or {}
    reps = summ.get("reps", [])
    done = [r for r in reps if rep_done(r)]
    correct = [r for r in reps if r.get("detected") and r.get("kind") not in ("bear_down", "accessory")]
    holds = _num(r.get("hold_s") for r in correct)
    mvc = _num(r.get("mvc_pct") for r in correct)
    peaks = _num(r.get("peak") for r in correct)
    return {
        "id": s.id, "started_at": s.info["started_at"], "programme": s.info["programme"],
        "patient_code": s.info["patient_code"], "status": s.info["status"],
        "duration_s": summ.get("duration_s"),
        "stored_s": _r((s.info["t_last"] - s.info["t_first"]) if s.info["t_last"] is not None else 0.0),
        "reps_prescribed": len(reps), "reps": len(done), "good": sum(bool(r.get("good")) for r in done),
        "max_mvc_pct": _r(max(mvc)) if mvc else None, "mean_mvc_pct": _r(sum(mvc) / len(mvc)) if mvc else None,
        "max_peak": _r(max(peaks)) if peaks else None,
        "longest_hold_s": _r(max(holds)) if holds else None,
        "mean_hold_s": _r(sum(holds) / len(holds)) if holds else None,
        "bear_down": sum(r.get("kind") == "bear_down" for r in reps),
        "accessory": sum(r.get("kind") == "accessory" for r in reps),
        "not_relaxed": sum(r.get("relaxed") is False for r in reps),
    }


def dose(s: SessionData) -> dict:
    """What was prescribed and what was done in one session — the dose trials fail to report."""
    summ = s.info["summary"] or {}
    return {
        "session": s.id, "patient_code": s.info["patient_code"], "started_at": s.info["started_at"],
        "programme": s.info["programme"], "status": s.info["status"],
        "recovered_after_power_loss": s.info["status"] == "interrupted",
        "profile_version": s.info["profile_version"],
        "duration_s": summ.get("duration_s"),
        "exercises": summ.get("dose") or [{"exercise": e["name"], "prescribed": {
            k: e[k] for k in ("reps", "sets", "hold_s", "quick_lifts", "rest_s", "set_rest_s")}, "done": None}
            for e in (s.info["prescription"] or [])],
        "sets": summ.get("sets", []),
        "frequency": summ.get("adherence"),
        "progression": summ.get("progression", []),
        "warnings": [w.get("pattern") for w in summ.get("warnings", [])],
        "guidance": "LED bar of live strength against the target, status LED and tones at each phase",
        "calibrated": s.info["calibration"] is not None,
        # how far the date above can be trusted (no RTC and no network: a guess after a power-off)
        "clock": summ.get("clock"),
        "stopped_by": summ.get("stopped_by"),
        # which prescription was trained, and whether the physiotherapist's key signed it
        "prescription": summ.get("profile"),
    }


def _iso_weeks(first: dt.date, last: dt.date) -> list[tuple[int, int]]:
    monday = first - dt.timedelta(days=first.weekday())
    out = []
    while monday <= last:
        out.append(monday.isocalendar()[:2])
        monday += dt.timedelta(weeks=1)
    return out


def trend(sessions: list[SessionData], weeks: int | None = None, today: dt.date | None = None,
          fill: bool = True) -> list[dict]:
    """Per ISO week: sessions done against the prescription, strength (best %MVC, or peak in the
    channel's unit when uncalibrated) and endurance (longest correct hold).

    ``fill``: every week from the first session to ``today`` is listed — a week without training is
    a week of 0 % adherence, not a missing row (the prescription carries over from the week
    before). Without it (an export of chosen sessions) only the weeks holding them are."""
    by_week: dict[tuple[int, int], list[SessionData]] = defaultdict(list)
    for s in sessions:
        if is_assessment(s):  # an assessment measures; it is not a training session
            continue
        d = dt.datetime.fromisoformat(s.info["started_at"]).date()
        by_week[d.isocalendar()[:2]].append(s)
    if not by_week:
        return []
    keys = sorted(by_week)
    today = today or dt.date.today()
    if fill:
        # filled from the first session whose date can be true (a clock never set says 1970: its
        # week is listed as it is, never stretching the trend over thousands of empty weeks) up to
        # today — or to the last session, when the clock now runs behind the sessions
        plausible = [k for k in keys if dt.date.fromisocalendar(*k, 1) >= EARLIEST.date() - dt.timedelta(days=7)]
        if plausible:
            newest = dt.date.fromisocalendar(*plausible[-1], 7)
            # a clock run ahead (set to 2099) neither: at most a year past the newest session
            last = max(newest, min(today, newest + dt.timedelta(days=365)))
            keys = sorted(set(keys) | set(_iso_weeks(dt.date.fromisocalendar(*plausible[0], 1), last)))
    if weeks is not None:
        first = dt.date.fromisocalendar(*today.isocalendar()[:2], 1) - dt.timedelta(weeks=weeks - 1)
        keys = [k for k in keys if k >= first.isocalendar()[:2]]
        if not keys:
            return []
    out = []
    per_week = None
    for k in sorted(by_week):  # the prescription in force before the listed weeks
        if k >= keys[0]:
            break
        per_week = _prescribed(by_week[k]) or per_week
    for k in keys:
        ss = by_week.get(k, [])
        lines = [session_line(s) for s in ss]
        done = [s for s in ss if s.info["status"] == "completed"]
        per_week = _prescribed(ss) or per_week
        mvc = _num(ln["max_mvc_pct"] for ln in lines)
        peak = _num(ln["max_peak"] for ln in lines)
        hold = _num(ln["longest_hold_s"] for ln in lines)
        reps = sum(ln["reps"] for ln in lines)
        out.append({
            "week": f"{k[0]}-W{k[1]:02d}", "sessions": len(ss), "completed": len(done),
            "interrupted": sum(s.info["status"] == "interrupted" for s in ss),
            "days_trained": len({s.info["started_at"][:10] for s in done}),
            "prescribed_per_week": per_week,
            "adherence_pct": _r(100 * min(len(done) / per_week, 1.0), 0) if per_week else None,
            "strength_max_mvc_pct": _r(max(mvc)) if mvc else None,
            "strength_mean_max_mvc_pct": _r(sum(mvc) / len(mvc)) if mvc else None,
            "strength_max_peak": _r(max(peak)) if peak else None,
            "endurance_longest_hold_s": _r(max(hold)) if hold else None,
            "endurance_mean_longest_hold_s": _r(sum(hold) / len(hold)) if hold else None,
            "good_pct": _r(100 * sum(ln["good"] for ln in lines) / reps, 0) if reps else None,
            "relaxed_pct": _r(100 * (1 - sum(ln["not_relaxed"] for ln in lines) / reps), 0) if reps else None,
            "bear_down": sum(ln["bear_down"] for ln in lines), "accessory": sum(ln["accessory"] for ln in lines),
            "not_relaxed": sum(ln["not_relaxed"] for ln in lines),
            "progression": [c for s in ss for c in ((s.info["summary"] or {}).get("progression") or [])],
        })
    return out


def is_assessment(s: SessionData) -> bool:
    return bool((s.info.get("summary") or {}).get("assessment"))


def _prescribed(ss: list[SessionData]) -> float | None:
    """Sessions a week the prescription asked for, as recorded with these sessions."""
    n = _num(((s.info["summary"] or {}).get("adherence") or {}).get("week_prescribed") for s in ss)
    return max(n) if n else None


#: A session's status, as a person reads it.
STATUS: dict[str, str] = {"running": N_("running"), "completed": N_("completed"), "stopped": N_("stopped"),
                          "interrupted": N_("interrupted")}


def format_list(sessions: list[SessionData], tr: Language = ENGLISH) -> str:
    if not sessions:
        return tr("no sessions stored yet")
    head = [tr("id"), tr("started"), tr("programme"), tr("status"), tr("min"), tr("good/done"), "max%MVC",
            tr("hold"), tr("patient")]
    rows = [f"{head[0]:>4s} {head[1][:19]:19s} {head[2][:20]:20s} {head[3][:11]:11s} {head[4][:5]:>5s} "
            f"{head[5][:9]:>9s} {head[6]:>7s} {head[7][:6]:>6s} {head[8][:8]:8s}"]
    for s in sessions:
        ln = session_line(s)
        dur = ln["duration_s"] if ln["duration_s"] is not None else ln["stored_s"]
        status = tr(STATUS[ln["status"]]) if ln["status"] in STATUS else ln["status"]
        rows.append(f"{ln['id']:4d} {ln['started_at']:19s} {ln['programme'][:20]:20s} {status[:11]:11s} "
                    f"{tr.num((dur or 0) / 60, '{:5.1f}')} {str(ln['good']) + '/' + str(ln['reps']):>9s} "
                    f"{dash(ln['max_mvc_pct'], '{:.0f}'):>7s} "
                    f"{tr.num(ln['longest_hold_s'], '{:.1f}s'):>6s} "
                    f"{ln['patient_code'] or '—':8s}")
    return "\n".join(rows)


def format_trend(weeks: list[dict], tr: Language = ENGLISH) -> str:
    if not weeks:
        return tr("no sessions stored yet")
    head = [tr("week"), tr("done"), tr("of"), tr("adher."), tr("days"), "max%MVC", tr("peak"), tr("longest hold"),
            tr("good")]
    rows = [f"{head[0][:9]:9s} {head[1][:4]:>4s} {head[2][:4]:>4s} {head[3][:6]:>6s} {head[4][:4]:>4s} {head[5]:>7s} "
            f"{head[6][:6]:>6s} {head[7][:12]:>12s} {head[8][:5]:>5s}"]
    for w in weeks:
        rows.append(f"{w['week']:9s} {w['completed']:4d} {dash(w['prescribed_per_week'], '{:g}'):>4s} "
                    f"{dash(w['adherence_pct'], '{:.0f}%'):>6s} "
                    f"{w['days_trained']:4d} {dash(w['strength_max_mvc_pct'], '{:.0f}'):>7s} "
                    f"{tr.num(w['strength_max_peak'], '{:.1f}'):>6s} "
                    f"{tr.num(w['endurance_longest_hold_s'], '{:.1f}s'):>12s} "
                    f"{dash(w['good_pct'], '{:.0f}%'):>5s}")
    return "\n".join(rows)

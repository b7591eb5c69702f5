"""The terminal's view of a session, for a person: the live status line (phase and countdown, LED
bar, where in the session, strength against the target, the status light and buzzer) with a line
for everything she was told, or those lines alone; and the summary table after it."""
from __future__ import annotations

import re
import shutil
import sys
import textwrap
from collections.abc import Mapping
from typing import Any, TextIO

from device import words
from device.i18n import ENGLISH, Language
from device.records.reports import dash, rep_done
from device.records.summary import title_in
from device.training.programme import UNJUDGED
from device.training.session import MVC_RECHECK_PCT, RepResult, SessionRunner


class LiveView:
    """What a person at the terminal reads: one status line redrawn in place (the LED bar, the
    status light and buzzer in words, the phase and its countdown, where in the session, the
    strength against the target) fitted to the terminal's width, and above it a line for each
    thing she was told — the exercise's instruction, each rep's result, each warning, each set's
    end. ``live=False`` prints those lines and one per rep instead of the status line."""

    def __init__(self, live: bool, every_s: float = 0.1, out: TextIO | None = None,
                 width: int | None = None, tr: Language = ENGLISH) -> None:
        self.live, self.every_s, self.tr = live, every_s, tr
        self.out = out or sys.stdout
        self.width = width  # None: the terminal's (80 when it cannot be known)
        self._last = -1.0
        self._phase: tuple[str, int, int, int] | None = None
        self._paused = False
        self._told = 0
        self._warned = 0
        self._exercise: int | None = None
        self._sets: set[tuple[int, int] | None] = set()
        self._drawn = False

    def _cols(self) -> int:
        return self.width or shutil.get_terminal_size((80, 24)).columns

    def __call__(self, runner: SessionRunner, now: float) -> None:
        self._news(runner, now)
        if not self.live:
            paused = runner.paused_at is not None
            if paused != self._paused:
                self._paused = paused
                self._say(f"{_clock(runner, now, self.tr)} " + (self.tr("Paused with the button") if paused else self.tr("Resumed")))
            return
        if now - self._last < self.every_s:
            return
        self._last = now
        self.out.write("\r" + self.status(runner, now) + "\x1b[K")
        self.out.flush()
        self._drawn = True

    def status(self, runner: SessionRunner, now: float) -> str:
        """The status line, at most the terminal's width: the least needed parts go first."""
        p = runner.current_phase()
        fb, tr = runner.feedback, self.tr
        n = len(fb.bar)
        lit = max(0, fb.lit)
        colour, tone = fb.player.state
        ex = runner.exercises[p.exercise] if p else None
        if runner.paused_at is not None:
            phase = f"{tr(words.PHASE['paused'])} {now - runner.paused_at:3.0f} s"
        elif p is not None:
            left = runner.remaining_in_phase(now)
            phase = tr(words.PHASE[p.kind]) + (f" {tr.num(left, '{:4.1f}')} s" if left > 0 else "")
        else:
            phase = tr(words.PHASE["starting"])
        parts: list[tuple[int, str]] = [(0, f"{phase:16s}"), (1, "[" + "█" * lit + "░" * (n - lit) + "]")]
        if ex is not None and p is not None and p.rep:
            parts.append((2, tr("{exercise} set {set}/{sets} rep {rep}/{reps}").format(
                exercise=ex.name, set=p.set, sets=ex.sets, rep=p.rep, reps=ex.reps)))
        elif ex is not None:
            parts.append((2, ex.name))
        if runner.span:
            target = f"/{100 * ex.target_mvc:.0f}" if ex is not None and ex.kind != "hypopressive" else ""
            pct = 100 * runner.rise / runner.span
            if target:
                pct = max(0.0, pct)  # the bar's reading: a dip below rest is not a negative squeeze
            parts.append((3, f"{pct:4.0f}{target} %MVC"))
        else:
            parts.append((3, tr("rise {rise}").format(rise=tr.num(runner.rise, "{:5.1f}"))))
        light = tr(words.LIGHT[colour]) if colour in words.LIGHT else colour
        parts.append((4, tr("light {colour}").format(colour=f"{light:5s}") + (" ♪" if tone else "  ")))
        cols = self._cols() - 1  # the last column would wrap on some terminals
        while parts:
            line = " ".join(t for _, t in sorted(parts))
            if len(line) <= cols:
                return line
            parts.remove(max(parts))
        return ""

    # --- what she was told, a line each ------------------------------------------------------
    def _news(self, runner: SessionRunner, now: float) -> None:
        tr = self.tr
        p = runner.current_phase()
        if p is not None and p.exercise != self._exercise and p.kind == "get_ready":
            self._exercise = p.exercise
            ex = runner.exercises[p.exercise]
            self._say(f"{ex.text('title', tr.code)} " + tr("({sets} × {reps}, hold {hold} s)").format(
                sets=ex.sets, reps=ex.reps, hold=tr.num(ex.hold_s, "{:g}")))
            if ex.cue:
                self._say("  " + ex.text("cue", tr.code), indent="  ")
        while self._warned < len(runner.warnings):
            w = runner.warnings[self._warned]
            self._warned += 1
            self._say(f"  ! {tr(words.WARNING[w.pattern]) if w.pattern in words.WARNING else w.pattern}", indent="    ")
        for i in range(self._told, len(runner.results)):
            r = runner.results[i]
            if r.told is None:
                if r.judged_at_s is None:
                    break
                continue
            self._told = i + 1
            over = r.mvc_pct is not None and r.mvc_pct > MVC_RECHECK_PCT
            result = tr("recorded") if r.told == "rep_recorded" else tr("good") if r.good else \
                tr("redo — {why}").format(why=_why(r, tr))
            self._say("  " + tr("set {set} rep {rep}: {result}").format(set=r.set, rep=r.rep, result=result)
                      + (" " + tr("({pct} %MVC: above the measured maximum, to be measured again)").format(
                          pct=f"{r.mvc_pct:.0f}") if over else ""), indent="    ")
        for key in list(runner.told):
            if key not in self._sets:
                self._sets.add(key)
                if key is None:
                    continue  # the summary follows
                ei, s = key
                rs = [r for r in runner.results if r.exercise == runner.exercises[ei].name and r.set == s]
                self._say("  " + tr("set {set} done: {good} of {reps} good").format(
                    set=s, good=sum(r.good for r in rs), reps=len(rs)))
        if not self.live and p is not None and (p.kind, p.exercise, p.set, p.rep) != self._phase and \
                p.kind == "get_ready":
            self._phase = (p.kind, p.exercise, p.set, p.rep)
            ex = runner.exercises[p.exercise]
            self._say(f"{_clock(runner, now, tr)} " + tr("{exercise} set {set}/{sets} rep {rep}/{reps}").format(
                exercise=ex.name, set=p.set, sets=ex.sets, rep=p.rep, reps=ex.reps))

    def _say(self, text: str, indent: str = "") -> None:
        if self._drawn:
            self.out.write("\r\x1b[K")
            self._drawn = False
        for line in textwrap.wrap(text, max(20, self._cols() - 1), subsequent_indent=indent) or [""]:
            self.out.write(line + "\n")
        self.out.flush()

    def close(self) -> None:
        if self.live and self._drawn:
            self.out.write("\n")


def _clock(runner: SessionRunner, now: float, tr: Language = ENGLISH) -> str:
    return tr.num(now - (runner.t0 or 0), "{:6.1f}") + " s"


def _why(r: RepResult, tr: Language = ENGLISH) -> str:
    """The reasons to redo a rep, with the numbers that show them."""
    out = []
    for reason in r.reasons:
        text = tr(words.REASON[reason]) if reason in words.REASON else reason
        if reason == "too_weak" and r.mvc_pct is not None:
            text += " " + tr("({got} of {want} %MVC)").format(got=f"{r.mvc_pct:.0f}", want=f"{r.target_mvc_pct:.0f}")
        elif reason == "too_short" and r.hold_s is not None:
            text += " " + tr("({got} of {want} s)").format(got=tr.num(r.hold_s), want=tr.num(r.prescribed_hold_s, "{:g}"))
        elif reason == "quick_lifts_missing" and r.flicks is not None:
            text += " " + tr("({got} of {want})").format(got=r.flicks, want=r.prescribed_quick_lifts)
        out.append(text)
    return "; ".join(out)


def make_view(kind: str, speed: float, out: TextIO | None = None, tr: Language = ENGLISH) -> LiveView | None:
    if kind == "quiet":
        return None
    out = out or sys.stdout
    if kind == "auto":
        kind = "live" if out.isatty() and speed != 0 else "lines"
    return LiveView(kind == "live", out=out, tr=tr)


def _result(r: dict, tr: Language = ENGLISH) -> str:
    """good, or redo with its reasons, for a rep whose hold was over; "stopped" if the session
    ended during it; "not reached" if the session ended before it was cued."""
    if rep_done(r):
        if r.get("told") == "rep_recorded":
            return tr("recorded")
        return tr("good") if r["good"] else tr("redo: {why}").format(why=words.reasons(r.get("reasons") or [], tr))
    return tr("stopped") if r.get("judged_at_s") is not None else tr("not reached")


def format_summary(s: Mapping[str, Any], tr: Language = ENGLISH, width: int | None = None) -> str:
    """The session for a person, in her language. A summary stored by a session cut off (Ctrl-C,
    power loss) has the runner's part only: what it lacks is said, not assumed. ``width``: lines
    longer than this are wrapped at spaces, the rest of each indented (a terminal's width: the
    dose and adherence lines run to 140 characters, more in Norwegian)."""
    lines = _summary(s, tr)
    if width is None:
        return "\n".join(ln for ln, _ in lines)
    return "\n".join("\n".join(textwrap.wrap(ln, max(20, width), subsequent_indent=" " * (indent if width - indent >= 24 else 4),
                                             break_long_words=False, break_on_hyphens=False))
                     if len(ln) > width else ln for ln, indent in lines)


def terminal_width() -> int | None:
    """The terminal's columns less one (the last would wrap on some terminals); None when the
    output is not a terminal (a file or a pipe gets whole lines, to search)."""
    return shutil.get_terminal_size((80, 24)).columns - 1 if sys.stdout.isatty() else None


REP_ROW_RESULT_AT = 48  # where a rep row's result begins: its continuation lines start there


def _summary(s: Mapping[str, Any], tr: Language) -> list[tuple[str, int]]:
    """The summary's lines, each with the indent its continuation takes when wrapped."""
    ended = tr("completed") if s.get("completed") else \
        tr("ended early with the button") if s.get("stopped_by_button") else \
        tr("ended early: the card is full (export and delete old sessions)") if s.get("stopped_by") == "card_full" else \
        tr("ended early: the probe was unplugged or faulty") if s.get("stopped_by") == "sensor" else \
        tr("interrupted") if s.get("interrupted") else tr("stopped early")
    calibrated = s.get("calibrated", True)
    lines = [f"{title_in(s, tr.code)} — "
             + tr("{ended} in {seconds} s").format(ended=ended, seconds=f"{s.get('duration_s', 0):.0f}")
             + ("" if calibrated else " " + tr("(uncalibrated: %MVC unknown)"))]
    rows: list[int] = []  # the rep table's rows
    head = [tr("exercise"), tr("set"), tr("rep"), tr("hold"), "%MVC", tr("lifts"), tr("relaxed"), tr("result")]
    lines.append(f"{head[0][:12]:12s} {head[1][:3]:>3s} {head[2][:3]:>3s} {head[3][:6]:>6s} {head[4]:>5s} "
                 f"{head[5][:5]:>5s} {head[6][:7]:7s} {head[7]}")
    for r in s.get("reps") or []:
        mvc = tr.num(r['mvc_pct'], '{:5.0f}') if calibrated else tr.num(r['peak'], '{:5.1f}')
        hold = '—' if r['hold_s'] is None else tr.num(r['hold_s'], '{:5.1f}') + 's'
        relaxed = "—" if r["relaxed"] is None else tr("yes") if r["relaxed"] else tr("no")
        rows.append(len(lines))
        lines.append(f"{r['exercise'][:12]:12s} {r['set']:3d} {r['rep']:3d} {hold:>6s} "
                     f"{mvc:>5s} {dash(r['flicks'], '{:d}'):>5s} "
                     f"{relaxed:7s} {_result(r, tr)}")
    unjudged = {d["exercise"]: d for d in s.get("dose") or [] if d.get("kind") in UNJUDGED}
    for st in s.get("sets") or []:
        if st["exercise"] in unjudged:
            continue
        undone = st["reps"] - st.get("done", st["reps"])
        line = tr("set {set} of {exercise}: {good}/{reps} good").format(set=st["set"], exercise=st["exercise"],
                                                                        good=st["good"], reps=st["reps"])
        if undone:
            line += " " + tr("({n} not done)").format(n=undone)
        lines.append(line + ", " + tr("mean hold {hold}, mean %MVC {mvc}, bearing down {bear_down}, other muscles "
                                      "{accessory}, not let go {not_relaxed}").format(
            hold=tr.num(st["mean_hold_s"], "{:g} s"), mvc=tr.num(st["mean_mvc_pct"], "{:g}"), bear_down=st["bear_down"],
            accessory=st["accessory"], not_relaxed=st["not_relaxed"]))
    for d in s.get("dose") or []:
        p, dn = d["prescribed"], d["done"]
        if d["exercise"] in unjudged:  # an assessment's baseline or free window: its length, nothing judged
            what = tr("{exercise}: rest of {seconds} s (measured afterwards: `pfmt report`)") if d["kind"] == "rest" \
                else tr("{exercise}: window of {seconds} s (measured afterwards: `pfmt report`)")
            lines.append(what.format(exercise=d["exercise"], seconds=tr.num(p["hold_s"], "{:g}")))
            continue
        lines.append(tr("dose {exercise}: prescribed {sets}×{reps} reps, hold {hold} s, {lifts} quick lifts, rest "
                        "{rest} s, target {target} %MVC; done {done} reps in {done_sets} sets, {good} good, {held} s "
                        "held").format(
            exercise=d["exercise"], sets=p["sets"], reps=p["reps"], hold=tr.num(p["hold_s"], "{:g}"),
            lifts=p["quick_lifts"], rest=tr.num(p["rest_s"], "{:g}"), target=f"{p['target_mvc_pct']:.0f}",
            done=dn["reps"], done_sets=dn["sets"], good=dn["good_reps"], held=tr.num(dn["total_hold_s"], "{:g}")))
    if s.get("pauses"):
        parts = []
        for p in s["pauses"]:
            part = tr("{seconds} s at {at} s").format(seconds=f"{p['for_s']:.0f}", at=f"{p['at_s']:.0f}")
            if p["restarted"]:
                r = p["restarted"]
                part += " " + tr("({exercise} set {set} rep {rep} redone)").format(
                    exercise=r["exercise"], set=r["set"], rep=r["rep"])
            parts.append(part)
        lines.append(tr("pauses: {pauses}").format(pauses="; ".join(parts)))
    if s.get("assessment"):
        lines.append(tr("assessment ({kind}): measures her, not counted as training (no progression, no adherence); "
                        "its figures against the norms: `pfmt report`").format(kind=s["assessment"]))
    elif "progression" in s:
        done = "; ".join(words.said(c, tr) for c in s["progression"]) if s["progression"] else \
            tr("none this session") if s.get("full_dose", True) else \
            tr("none: a session shorter than prescribed does not count")
        lines.append(tr("progression: {what}").format(what=done))
    else:
        lines.append(tr("progression: not assessed (the session did not end normally)"))
    a = s.get("adherence")
    if a:
        wk = a.get("this_week")
        line = tr("adherence: today {done} done, {due} still due; last 7 days {week_done} of {week_prescribed} "
                  "sessions ({pct} %)").format(
            done=a["today_done"], due=a["due_today"], week_done=a["week_done"],
            week_prescribed=tr.num(a["week_prescribed"], "{:g}"), pct=f"{a['week_adherence_pct']:.0f}")
        if "week_days_trained" in a:
            line += ", " + tr("on {days} days").format(days=a["week_days_trained"])
        if wk:
            line += "; " + tr("this week {sessions} of {expected} due so far ({pct} %)").format(
                sessions=wk["sessions"], expected=tr.num(wk["expected_so_far"], "{:g}"), pct=f"{wk['pct']:.0f}")
        lines.append(line)
    if "breath_watch" in s and s["breath_watch"] is None:
        lines.append(tr("breath-holding: cannot be seen on this device (it needs an abdominal pressure channel)"))
    over = [r["mvc_pct"] for r in s.get("reps") or [] if (r.get("mvc_pct") or 0) > MVC_RECHECK_PCT]
    if over:
        lines.append(tr("note for the physiotherapist: {n} rep(s) reached {max} %MVC, above {limit} %: the MVC should "
                        "be measured again (pfmt calibrate)").format(n=len(over), max=f"{max(over):.0f}",
                                                                     limit=MVC_RECHECK_PCT))
    if s.get("stored_at"):
        m = re.match(r"^(.*) \(session (\d+)\)$", s["stored_at"])  # as train.run_session writes it
        lines.append(tr("stored: {path} (session {id})").format(path=m.group(1), id=m.group(2)) if m else
                     tr("stored: {when}").format(when=s["stored_at"]))
    return [(ln, REP_ROW_RESULT_AT if i in rows else 4) for i, ln in enumerate(lines)]

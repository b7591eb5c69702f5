"""The terminal's view of a session: the live status line (LED bar, status LED, buzzer, phase
and signal) or a line per phase while it runs, and the summary table after it."""
from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from device.records.reports import dash, rep_done
from device.training.schedule import Phase
from device.training.session import SessionRunner


class LiveView:
    """One status line redrawn in place: the LED bar, status LED, buzzer, phase and signal."""

    COLOUR_MARK = {"off": "·", "guide": "B", "correct": "G", "warning": "R", "caution": "A", "rest": "b", "paused": "P"}

    def __init__(self, live: bool, every_s: float = 0.1) -> None:
        self.live, self.every_s = live, every_s
        self._last = -1.0
        self._phase: tuple[str, int, int, int] | None = None
        self._paused = False

    def __call__(self, runner: SessionRunner, now: float) -> None:
        p = runner.current_phase()
        fb = runner.feedback
        if not self.live:
            paused = runner.paused_at is not None
            if paused != self._paused:
                self._paused = paused
                print(f"t={now - (runner.t0 or 0):6.1f}s " + ("paused (button)" if paused else "resumed"))
            if p is not None and (p.kind, p.exercise, p.set, p.rep) != self._phase and p.kind in ("get_ready", "set_rest", "done"):
                self._phase = (p.kind, p.exercise, p.set, p.rep)
                self._line(runner, now, p)
            return
        if now - self._last < self.every_s:
            return
        self._last = now
        n = len(fb.bar)
        lit = max(0, fb.lit)
        bar = "█" * lit + "░" * (n - lit)
        colour, tone = fb.player.state
        ex = runner.exercises[p.exercise] if p else None
        phase = (f"{'paused':10s} {now - runner.paused_at:4.0f}s" if runner.paused_at is not None else
                 f"{p.kind:10s} {runner.remaining_in_phase(now):4.1f}s" if p else "starting")
        where = f"{ex.name} set {p.set}/{ex.sets} rep {p.rep}/{ex.reps}" if p and ex and p.rep else (ex.name if ex else "")
        sound = f"♪{tone:5.0f}Hz" if tone else "       "
        warn = runner.warnings[-1].pattern.replace("warning_", "⚠ ") if runner.warnings and now - runner.warnings[-1].time_s < 2 else ""
        sys.stdout.write(f"\r[{bar}] {self.COLOUR_MARK.get(colour, '?')} {sound} {phase} {where:32s} "
                         f"rise {runner.rise:5.1f} {warn:16s}")
        sys.stdout.flush()

    def _line(self, runner: SessionRunner, now: float, p: Phase) -> None:
        ex = runner.exercises[p.exercise]
        judged = [r for r in runner.results if r.judged_at_s is not None]
        good = sum(r.good for r in judged)
        print(f"t={now - (runner.t0 or 0):6.1f}s {p.kind:9s} {ex.name} set {p.set}/{ex.sets}"
              + (f" rep {p.rep}/{ex.reps}" if p.rep else "") + f"  judged {len(judged)}, good {good}, "
              f"warnings {len(runner.warnings)}")

    def close(self) -> None:
        if self.live:
            sys.stdout.write("\n")


def make_view(kind: str, speed: float) -> LiveView | None:
    if kind == "quiet":
        return None
    if kind == "auto":
        kind = "live" if sys.stdout.isatty() and speed != 0 else "lines"
    return LiveView(kind == "live")


def _result(r: dict) -> str:
    """good / redo for a rep whose hold was over; "stopped" if the session ended during it, "—"
    if it was never cued."""
    if rep_done(r):
        return "good" if r["good"] else "redo"
    return "stopped" if r.get("judged_at_s") is not None else "—"


def format_summary(s: Mapping[str, Any]) -> str:
    ended = "completed" if s["completed"] else \
        "ended early with the button" if s.get("stopped_by_button") else "stopped early"
    lines = [f"{s['programme_title']} — {ended} in "
             f"{s['duration_s']:.0f} s" + ("" if s["calibrated"] else " (uncalibrated: %MVC unknown)")]
    lines.append(f"{'exercise':14s} {'set':>3s} {'rep':>3s} {'hold':>6s} {'peak':>6s} {'%MVC':>5s} "
                 f"{'flicks':>6s} {'kind':9s} {'relaxed':7s} {'result':7s} warnings")
    for r in s["reps"]:
        lines.append(f"{r['exercise']:14s} {r['set']:3d} {r['rep']:3d} {dash(r['hold_s'], '{:5.1f}s'):>6s} "
                     f"{dash(r['peak'], '{:6.1f}'):>6s} {dash(r['mvc_pct'], '{:5.0f}'):>5s} "
                     f"{dash(r['flicks'], '{:d}'):>6s} "
                     f"{r['kind'] or '—'!s:9s} {dash(r['relaxed'], '{}'):7s} {_result(r):7s} "
                     f"{', '.join(w.replace('warning_', '') for w in r['warnings'])}")
    for st in s["sets"]:
        undone = st["reps"] - st.get("done", st["reps"])
        lines.append(f"set {st['set']} of {st['exercise']}: {st['good']}/{st['reps']} good"
                     + (f" ({undone} not done)" if undone else "") + ", mean hold "
                     f"{dash(st['mean_hold_s'], '{:g} s')}, mean %MVC {dash(st['mean_mvc_pct'], '{:g}')}, "
                     f"bear-down {st['bear_down']}, accessory {st['accessory']}, not relaxed {st['not_relaxed']}")
    for d in s["dose"]:
        p, dn = d["prescribed"], d["done"]
        lines.append(f"dose {d['exercise']}: prescribed {p['sets']}×{p['reps']} reps, hold {p['hold_s']:g} s, "
                     f"{p['quick_lifts']} quick lifts, rest {p['rest_s']:g} s, target {p['target_mvc_pct']:.0f} %MVC; "
                     f"done {dn['reps']} reps in {dn['sets']} sets, {dn['good_reps']} good, {dn['total_hold_s']:g} s held")
    if s.get("pauses"):
        lines.append("pauses: " + "; ".join(
            f"{p['for_s']:.0f} s at {p['at_s']:.0f} s" + (f" ({p['restarted']['exercise']} set {p['restarted']['set']} "
                                                           f"rep {p['restarted']['rep']} redone)" if p["restarted"] else "")
            for p in s["pauses"]))
    lines.append("progression: " + ("; ".join(s["progression"]) if s["progression"] else "none this session"))
    a = s["adherence"]
    lines.append(f"adherence: today {a['today_done']} done, {a['due_today']} still due; last 7 days "
                 f"{a['week_done']}/{a['week_prescribed']:g} ({a['week_adherence_pct']:.0f} %)")
    lines.append(f"stored: {s['stored_at']}")
    return "\n".join(lines)

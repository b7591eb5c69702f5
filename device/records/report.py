"""The physiotherapist's report: one self-contained HTML file (no script, no font, no image from
elsewhere; every chart inline SVG) that reads on a phone or a PC and prints to A4 from the browser.

Per patient code: the latest assessment of each kind against published norms (``norms``), the
weekly strength, endurance, relaxation, adherence and technique faults, the prescription's
history, and the dose in the standard exercise-reporting form (the CERT items the device can
know). Per session: the curve with each contraction marked by its kind, the reps, the dose done
against the dose prescribed, the work/rest statistics, and an assessment's results.

Every figure is computed from the stored sessions (``reports``, ``assessment``) when the report
is written: the report says what the data say, and the test compares them.
"""
from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable

import numpy as np

from device import words
from device.records import assessment, norms
from device.records.reports import dose, is_assessment, trend
from device.records.store import SessionData, SessionStore

KIND_COLOUR = {"lift": "#2e7d32", "accessory": "#ef6c00", "bear_down": "#c62828", None: "#1565c0"}
KIND_WORD = {"lift": "correct lift", "accessory": "other muscles helped", "bear_down": "bearing down",
             None: "kind not known"}
CURVE_POINTS = 900
WINDOW_KINDS = ("rest", "free")  # training.programme.UNJUDGED: a window measured, no rep to judge  # columns of a session's curve (min and max of each)

CSS = """
:root { --ink: #1b1b1b; --muted: #5f6368; --line: #d0d4d8; --band: #f3f5f7; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0 auto; padding: 12px; max-width: 190mm; }
h1 { font-size: 1.5em; margin: 0.2em 0; } h2 { font-size: 1.2em; margin: 1.2em 0 0.4em; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.05em; margin: 1em 0 0.3em; }
p.meta, .muted { color: var(--muted); font-size: 0.9em; }
table { width: 100%; border-collapse: collapse; table-layout: fixed; margin: 0.3em 0 0.8em; font-size: 0.9em; }
table.reps th:first-child, table.dose th:first-child { width: 15%; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 4px; text-align: left; vertical-align: top;
         overflow-wrap: break-word; hyphens: auto; }
table.norms th:nth-child(1) { width: 27%; } table.norms th:nth-child(2) { width: 11%; }
table.norms th:nth-child(3) { width: 24%; } table.norms th:nth-child(4) { width: 9%; }
table.cert th:first-child { width: 30%; }
@media (max-width: 600px) { body { font-size: 12px; padding: 6px; } th, td { padding: 2px 2px; } }
th { background: var(--band); font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
svg { width: 100%; height: auto; display: block; }
.chart { margin: 0.2em 0 0.8em; }
.key span { display: inline-block; margin-right: 1em; font-size: 0.85em; }
.key i { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.3em; vertical-align: -0.1em; }
.session { break-before: page; }
.warn { color: #c62828; }
@page { size: A4; margin: 12mm; }
@media print { body { padding: 0; max-width: none; font-size: 11px; } h2, h3 { break-after: avoid; }
               tr, .chart { break-inside: avoid; } }
"""


def e(v: object) -> str:
    return html.escape("—" if v is None else str(v))


def num(v: object, fmt: str = "{:.1f}") -> str:
    return "—" if not isinstance(v, (int, float)) or isinstance(v, bool) else e(fmt.format(v))


UNIT_SUFFIX = (("_hz_per_s", " (Hz/s)"), ("_uV", " (µV)"), ("_pct", " (%)"), ("_hz", " (Hz)"), ("_s", " (s)"))


def label(key: str) -> str:
    """A result's key as a person reads it: ``median_frequency_start_hz`` → "median frequency start (Hz)"."""
    for suffix, unit in UNIT_SUFFIX:
        if key.endswith(suffix):
            return key[: -len(suffix)].replace("_", " ") + unit
    return key.replace("_", " ")


def _table(head: list[str], rows: Iterable[list[str]], numeric: set[int] | frozenset[int] = frozenset(),
           cls: str = "") -> str:
    th = "".join(f'<th class="{"n" if i in numeric else ""}">{h}</th>' for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(f'<td class="{"n" if i in numeric else ""}">{c}</td>' for i, c in enumerate(r))
                   + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


# --- charts ---------------------------------------------------------------------------------------
def curve_svg(t: np.ndarray, level: np.ndarray, contractions: list[dict], unit: str, title: str) -> str:
    """The session's pelvic level (min/max per column) with each contraction's span shaded by kind."""
    w, h, pad = 900.0, 220.0, 34.0
    if len(t) < 2:
        return '<p class="muted">no signal stored</p>'
    t0, t1 = float(t[0]), float(t[-1])
    cols = min(CURVE_POINTS, len(t))
    edges = np.linspace(0, len(t), cols + 1).astype(int)
    lo = np.array([level[a:b].min() for a, b in zip(edges[:-1], edges[1:]) if b > a])
    hi = np.array([level[a:b].max() for a, b in zip(edges[:-1], edges[1:]) if b > a])
    ymin, ymax = float(min(0.0, lo.min())), float(max(hi.max(), 1e-9))
    xs = np.linspace(pad, w - 4, len(lo))

    def y(v: np.ndarray | float) -> np.ndarray | float:
        return h - pad + (np.asarray(v) - ymin) / (ymax - ymin) * (2 * pad - h + 8)

    pts = " ".join(f"{x:.1f},{float(y(a)):.1f} {x:.1f},{float(y(b)):.1f}" for x, a, b in zip(xs, lo, hi))
    shade = []
    for c in contractions:
        a, b = c.get("onset_s"), c.get("offset_s")
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            continue
        xa = pad + (a - t0) / (t1 - t0) * (w - 4 - pad)
        xb = pad + (b - t0) / (t1 - t0) * (w - 4 - pad)
        shade.append(f'<rect class="contraction" data-kind="{e(c.get("kind"))}" x="{xa:.1f}" y="8" '
                     f'width="{max(1.0, xb - xa):.1f}" height="{h - pad - 8:.1f}" '
                     f'fill="{KIND_COLOUR.get(c.get("kind"), KIND_COLOUR[None])}" fill-opacity="0.18"/>')
    anchor = ("start", "middle", "middle", "middle", "end")  # the end labels stay inside the chart
    ticks = "".join(f'<text x="{pad + (k / 4) * (w - 4 - pad):.0f}" y="{h - 10:.0f}" font-size="12" '
                    f'text-anchor="{anchor[k]}">{(t1 - t0) * k / 4:.0f} s</text>' for k in range(5))
    yl = f'<text x="2" y="16" font-size="12">{num(ymax)} {e(unit)}</text><text x="2" y="{h - pad:.0f}" font-size="12">{num(ymin)}</text>'
    return (f'<div class="chart"><svg class="curve" viewBox="0 0 {w:.0f} {h:.0f}" role="img" aria-label="{e(title)}">'
            f'<rect x="{pad}" y="8" width="{w - 4 - pad}" height="{h - pad - 8}" fill="none" stroke="#d0d4d8"/>'
            f'{"".join(shade)}<polyline points="{pts}" fill="none" stroke="#263238" stroke-width="1"/>{ticks}{yl}</svg>'
            f'<div class="key">' + "".join(f'<span><i style="background:{c};opacity:.45"></i>{KIND_WORD[k]}</span>'
                                          for k, c in KIND_COLOUR.items()) + "</div></div>")


def bars_svg(labels: list[str], values: list[float | None], unit: str, title: str, top: float | None = None) -> str:
    """One bar per week (a missing value leaves a gap, it is never drawn as zero)."""
    w, h, pad = 900.0, 170.0, 30.0
    vals = [v for v in values if isinstance(v, (int, float))]
    vmax = top or (max(vals) if vals else 1.0) or 1.0
    n = max(1, len(labels))
    bw = (w - pad - 4) / n
    parts = []
    for i, (lab, v) in enumerate(zip(labels, values)):
        x = pad + i * bw
        if isinstance(v, (int, float)):
            bh = max(0.0, v) / vmax * (h - 2 * pad)
            parts.append(f'<rect x="{x + bw * 0.15:.1f}" y="{h - pad - bh:.1f}" width="{bw * 0.7:.1f}" height="{bh:.1f}" '
                         f'fill="#1565c0"/><text x="{x + bw / 2:.1f}" y="{h - pad - bh - 3:.1f}" font-size="11" '
                         f'text-anchor="middle">{num(v, "{:.0f}")}</text>')
        if n <= 16 or i % max(1, n // 12) == 0:
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{h - 10:.0f}" font-size="11" text-anchor="middle">{e(lab[-3:])}</text>')
    return (f'<div class="chart"><svg class="bars" viewBox="0 0 {w:.0f} {h:.0f}" role="img" aria-label="{e(title)}">'
            f'<text x="2" y="14" font-size="12">{e(title)} ({e(unit)})</text>'
            f'<line x1="{pad}" y1="{h - pad}" x2="{w - 4}" y2="{h - pad}" stroke="#9aa0a6"/>{"".join(parts)}</svg></div>')


# --- sections -------------------------------------------------------------------------------------
def _assessment_section(s: SessionData, m: dict) -> str:
    kind = m.get("assessment")
    res = m.get("results") or {}
    out = [f'<h3>{"Glazer protocol (sEMG)" if kind == "glazer" else "Pressure assessment"} — '
           f'{e(s.info["started_at"][:16].replace("T", " "))}, session {s.id}</h3>']
    if m.get("note"):
        out.append(f'<p class="warn">{e(m["note"])}</p>')
    rows = []
    for n in norms.for_assessment(kind or ""):
        v = norms.lookup(res, n.path)
        z = n.z(v)
        rows.append([e(n.label), num(v), f"{n.mean:g} ± {n.sd:g} {e(n.unit)}" if n.sd else f"{n.mean:g} {e(n.unit)}",
                     num(z, "{:+.1f}"), e(n.population)])
    if rows:
        out.append("<p>Against published reference values (z: standard deviations from the reference mean):</p>")
        out.append(_table(["figure", "value", "reference", "z", "reference population"], rows, {1, 3}, "norms"))
        srcs = sorted({(n.source, n.applies) for n in norms.for_assessment(kind or "")})
        out.append("".join(f'<p class="muted">Source: {e(a)}. Applies: {e(b)}.</p>' for a, b in srcs))
    flat = []
    for phase, vals in res.items():
        if isinstance(vals, dict):
            for k, v in vals.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    flat.append([e(phase.replace("_", " ")), e(label(k)), num(v, "{:g}")])
    if flat:
        out.append(_table(["phase", "parameter", "value"], flat, {2}, "results"))
    return "".join(out)


def _curve(store: SessionStore, s: SessionData, sig: assessment.Signal) -> str:
    return curve_svg(sig.t, sig.level, store.events(s.id, ("contraction",)), sig.unit,
                     f"session {s.id}: pelvic {'RMS' if sig.emg else 'pressure rise'} with contractions")


def _session_section(s: SessionData, m: dict, curve: str) -> str:
    summ = s.info.get("summary") or {}
    title = summ.get("programme_title") or s.info["programme"]
    out = [f'<section class="session" id="s{s.id}"><h2>Session {s.id}: {e(s.info["started_at"][:16].replace("T", " "))}'
           f' — {e(title)}</h2><p class="meta">status {e(s.info["status"])}'
           + (f', ended by {e(summ.get("stopped_by"))}' if summ.get("stopped_by") else "")
           + f', {num(summ.get("duration_s"), "{:.0f}")} s, prescription v{e(s.info["profile_version"])}'
           + (f', <span class="warn">damage: {e("; ".join(summ["damage"]))}</span>' if summ.get("damage") else "")
           + "</p>"]
    out.append(curve)
    reps = summ.get("reps") or []
    if reps:
        rows = [[e(r.get("exercise")), e(r.get("set")), e(r.get("rep")), num(r.get("hold_s")), num(r.get("peak")),
                 num(r.get("mvc_pct"), "{:.0f}"), e(r.get("quick_lifts_seen", r.get("flicks"))),
                 e(KIND_WORD.get(r.get("kind"), r.get("kind"))), e({True: "yes", False: "no"}.get(r.get("relaxed"))),
                 "recorded" if r.get("told") == "rep_recorded" else "good" if r.get("good")
                 else e(words.reasons(r.get("reasons") or []) or "—")]
                for r in reps]
        out.append("<h3>Repetitions</h3>" + _table(
            ["exercise", "set", "rep", "hold s", "peak", "%MVC", "lifts", "kind", "relaxed", "result"], rows,
            {1, 2, 3, 4, 5, 6}, "reps"))
    d = dose(s)
    rows = []
    for x in d["exercises"] or []:
        p, done = x.get("prescribed") or {}, x.get("done") or {}
        if x.get("kind") in WINDOW_KINDS:
            rows.append([e(x.get("exercise")), "—", num(p.get("hold_s"), "{:g}"), "—", "—",
                         f'{"rest" if x["kind"] == "rest" else "window"} of {num(p.get("hold_s"), "{:g}")} s, measured', "—", "—"])
            continue
        rows.append([e(x.get("exercise")), f'{e(p.get("sets"))}×{e(p.get("reps"))}', num(p.get("hold_s"), "{:g}"),
                     num(p.get("rest_s"), "{:g}"), num(p.get("target_mvc_pct"), "{:.0f}"),
                     f'{e(done.get("sets"))} sets, {e(done.get("reps"))} reps' if done else "—",
                     e(done.get("good_reps")) if done else "—", num(done.get("total_hold_s")) if done else "—"])
    out.append("<h3>Dose: prescribed and done</h3>" + _table(
        ["exercise", "sets×reps", "hold s", "rest s", "target %MVC", "done", "good", "held s"], rows, {2, 3, 4, 6, 7}, "dose"))
    wr = m.get("work_rest")
    if wr:
        out.append("<h3>Work / rest</h3>" + _table(
            ["work avg", "rest avg", "onset s (75 %)", "release s (37.5 %)", "work dev %", "rest dev %"],
            [[num(wr["work_average"]), num(wr["rest_average"]), num(wr["onset_s"], "{:.2f}"), num(wr["release_s"], "{:.2f}"),
              num(wr["work_deviation_pct"]), num(wr["rest_deviation_pct"])]], {0, 1, 2, 3, 4, 5}, "workrest")
            + f'<p class="muted">{e(wr["unit"])}, {e(wr["level"])}; deviation as a % of the {e(wr["deviation_basis"])}.</p>')
    if m.get("assessment"):
        out.append(_assessment_section(s, m))
    out.append("</section>")
    return "".join(out)


def _cert(training: list[SessionData], weeks: list[dict], history: list[dict]) -> str:
    """The dose in CERT's terms (Slade et al. 2016), the items a device can know."""
    if not training:
        return '<p class="muted">No training session yet.</p>'
    last = training[-1]
    summ = last.info.get("summary") or {}
    rx = last.info.get("prescription") or []
    first_d = dt.date.fromisoformat(training[0].info["started_at"][:10])
    last_d = dt.date.fromisoformat(last.info["started_at"][:10])
    progression = [(s.info["started_at"][:10], c) for s in training for c in ((s.info.get("summary") or {}).get("progression") or [])]
    done = [s for s in training if s.info["status"] == "completed"]
    full = sum(bool((s.info.get("summary") or {}).get("full_dose", True)) for s in done)
    spoiled = sum(sum(x.get("spoiled_by_device", 0) for x in (s.info.get("summary") or {}).get("sets") or []) for s in training)
    early = [s.id for s in training if s.info["status"] != "completed"]
    adh = [w["adherence_pct"] for w in weeks if w.get("adherence_pct") is not None]
    ex_rows = "; ".join(f'{x["name"]} ({x.get("kind", "hold")}): {x["sets"]}×{x["reps"]}, hold {x["hold_s"]:g} s'
                        + (f' + {x["quick_lifts"]} quick lifts' if x.get("quick_lifts") else "")
                        + f', rest {x["rest_s"]:g} s, target {100 * x["target_mvc"]:.0f} %MVC' for x in rx)
    prog_rules = "; ".join(f'{x["name"]}: hold to {x.get("hold_max_s") or x["hold_s"]:g} s in steps of {x.get("hold_step_s", 1):g} s, '
                           f'reps to {x.get("reps_max") or x["reps"]}, when {100 * x.get("secure_ratio", 0.8):.0f} % of reps are good '
                           f'in {x.get("secure_sessions", 1)} session(s)' for x in rx)
    per_week = next((w["prescribed_per_week"] for w in reversed(weeks) if w.get("prescribed_per_week")), None)
    items = [
        ("1 Equipment", "pfmt biofeedback device: vaginal pressure or sEMG probe, LED strength bar, status LED and tones"),
        ("2 Qualifications (supervisor)", "prescribed and calibrated by the physiotherapist"
         + (f' ({e(history[-1].get("by"))})' if history else "")),
        ("3 Individual or group", "individual"),
        ("4 Supervised or not", "unsupervised home training guided by the device; assessments with the physiotherapist"),
        ("5 Adherence measured", "every session stored with each repetition; weekly adherence "
         + (f'{min(adh):.0f}–{max(adh):.0f} %' if adh else "—")),
        ("6 Motivation strategies", "live biofeedback, a tone and LED after every repetition, a celebration after a good set, reminders"),
        ("7a Progression rules", e(prog_rules) or "—"),
        ("7b Progression applied", e("; ".join(f"{d}: {c}" for d, c in progression)) or "none"),
        ("8 Exercises", e(f'{summ.get("programme_title") or last.info["programme"]}: {ex_rows}')),
        ("9 Home programme", "yes: the device is the home programme"),
        ("10 Non-exercise components", "none recorded"),
        ("11 Adverse events", "not recorded by the device"),
        ("12 Setting", "at home, lying or sitting as the programme says"),
        ("13 Intensity", e("; ".join(f'{x["name"]} {100 * x["target_mvc"]:.0f} %MVC' for x in rx))),
        ("14 Frequency", e(f'{num(per_week, "{:g}")} sessions a week prescribed; '
                           f'{len(done)} completed in {(last_d - first_d).days // 7 + 1} week(s)')),
        ("15 Duration", e(f'{first_d} to {last_d} ({(last_d - first_d).days + 1} days); sessions of '
                          f'{num(np.median([(s.info.get("summary") or {}).get("duration_s") or 0 for s in training]), "{:.0f}")} s (median)')),
        ("16a Delivered as planned", e(f'{full} of {len(done)} completed sessions at the full prescribed dose; '
                                       f'{len(early)} ended early or interrupted; {spoiled} repetitions spoiled by the device, '
                                       "left out of progression")),
    ]
    return _table(["CERT item", "as done"], [[e(a), b] for a, b in items], cls="cert")


def build(store: SessionStore, sessions: list[SessionData], history: list[dict] | None = None,
          generated: dt.datetime | None = None, version: str = "") -> str:
    """The report of ``sessions`` (one patient code's, oldest first) as one HTML document;
    ``history``: the prescription's versions (version, created_at, by, changes, programme,
    signature) as the profile store has them."""
    history = history or []
    sessions = sorted(sessions, key=lambda s: s.id)
    codes = sorted({s.info["patient_code"] or "unassigned" for s in sessions})
    # each session's samples read once: its measures and its curve from the same signal
    measured, curves = {}, {}
    for s in sessions:
        sig = assessment.pelvic_signal(store, s)
        measured[s.id], curves[s.id] = assessment.measure(store, s, sig), _curve(store, s, sig)
    training = [s for s in sessions if not is_assessment(s)]
    weeks = trend(training, fill=True, today=dt.date.fromisoformat(sessions[-1].info["started_at"][:10])) if training else []
    when = (generated or dt.datetime.now()).isoformat(timespec="minutes").replace("T", " ")
    out = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
           '<meta name="viewport" content="width=device-width, initial-scale=1">'
           f'<title>pfmt report — {e(", ".join(codes))}</title><style>{CSS}</style></head><body>',
           f'<h1>Pelvic floor training report — patient {e(", ".join(codes))}</h1>'
           f'<p class="meta">{len(training)} training session(s), {len(sessions) - len(training)} assessment(s), '
           f'{e(sessions[0].info["started_at"][:10])} to {e(sessions[-1].info["started_at"][:10])}; written {e(when)} by pfmt {e(version)}. '
           "Pseudonymised: the patient code is the only identity here.</p>"]
    latest = {}
    for s in sessions:
        if measured[s.id].get("assessment"):
            latest[measured[s.id]["assessment"]] = s
    out.append("<h2>Latest assessment against norms</h2>")
    if latest:
        out += [_assessment_section(s, measured[s.id]) for s in latest.values()]
    else:
        out.append('<p class="muted">No assessment yet (the Glazer protocol, <code>pfmt train --programme glazer</code>, '
                   "or the pressure assessment, <code>--programme pressure_assessment</code>).</p>")
    out.append("<h2>Week by week</h2>")
    if weeks:
        labels = [w["week"] for w in weeks]
        calibrated = any(w.get("strength_max_mvc_pct") is not None for w in weeks)
        out.append(bars_svg(labels, [w["strength_max_mvc_pct"] if calibrated else w["strength_max_peak"] for w in weeks],
                            "%MVC" if calibrated else "peak", "strength: best squeeze"))
        out.append(bars_svg(labels, [w["endurance_longest_hold_s"] for w in weeks], "s", "endurance: longest hold"))
        out.append(bars_svg(labels, [w["adherence_pct"] for w in weeks], "%", "adherence to the prescription", top=100))
        out.append(bars_svg(labels, [w["relaxed_pct"] for w in weeks], "%", "relaxation: reps let go fully", top=100))
        out.append(_table(["week", "done / prescribed", "adherence %", "best %MVC", "longest hold s", "relaxed %",
                           "bearing down", "other muscles", "not let go"],
                          [[e(w["week"]), f'{w["completed"]} / {num(w["prescribed_per_week"], "{:g}")}', num(w["adherence_pct"], "{:.0f}"),
                            num(w["strength_max_mvc_pct"], "{:.0f}"), num(w["endurance_longest_hold_s"]),
                            num(w["relaxed_pct"], "{:.0f}"), e(w["bear_down"]), e(w["accessory"]), e(w["not_relaxed"])]
                           for w in weeks], {1, 2, 3, 4, 5, 6, 7, 8}, "weeks"))
    else:
        out.append('<p class="muted">No training session yet.</p>')
    out.append("<h2>Prescription history</h2>")
    out.append(_table(["version", "when", "by", "what changed", "programme", "signature"],
                      [[e(h.get("version")), e(h.get("created_at")), e(h.get("by")), e(", ".join(h.get("changes") or [])),
                        e(h.get("programme")), e(h.get("signature"))] for h in history], {0}, "history")
               if history else '<p class="muted">No profile on this device.</p>')
    out.append("<h2>The dose, as reported in CERT</h2>" + _cert(training, weeks, history))
    out += [_session_section(s, measured[s.id], curves[s.id]) for s in sessions]
    out.append("</body></html>")
    return "".join(out)


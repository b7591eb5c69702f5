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
from device.i18n import ENGLISH, N_, Language
from device.records import assessment, norms
from device.records.reports import dose, is_assessment, trend
from device.records.store import SessionData, SessionStore
from device.records.summary import title_in

KIND_COLOUR = {"lift": "#2e7d32", "accessory": "#ef6c00", "bear_down": "#c62828", None: "#1565c0"}
KIND_WORD = {"lift": N_("correct lift"), "accessory": N_("other muscles helped"), "bear_down": N_("bearing down"),
             None: N_("kind not known")}
#: A profile version's signature state (``calibration.profile``), the first word of its entry.
SIGNATURE = {"verified": N_("verified"), "unsigned": N_("unsigned"), "damaged": N_("damaged")}
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


def num(v: object, fmt: str = "{:.1f}", tr: Language = ENGLISH) -> str:
    """A figure in the reader's notation (the decimal comma in nb, sv, da), "—" when there is none."""
    return "—" if not isinstance(v, (int, float)) or isinstance(v, bool) else e(tr.num(v, fmt))


UNIT_SUFFIX = (("_hz_per_s", " (Hz/s)"), ("_uV", " (µV)"), ("_pct", " (%)"), ("_hz", " (Hz)"), ("_s", " (s)"))

#: An assessment result's name (its key without the unit), in words.
PARAMETER: dict[str, str] = {
    "mean": N_("mean"), "max": N_("maximum"), "sd": N_("standard deviation"), "cv": N_("coefficient of variation"),
    "mean_peak": N_("mean peak"), "rise": N_("rise time 10–90 %"), "recovery": N_("recovery time"),
    "median_frequency": N_("median frequency"), "median_frequency_start": N_("median frequency at the start"),
    "median_frequency_slope": N_("median frequency slope"), "first_10s": N_("first 10 s"), "last_10s": N_("last 10 s"),
    "count": N_("count"), "held": N_("held"), "hold_asked": N_("hold asked"), "fraction_of_max": N_("fraction of maximum"),
    "mean_while_held": N_("mean while held"), "of": N_("of"), "window": N_("window"), "duration": N_("duration"),
    "seconds": N_("seconds"), "n": N_("number"), "pressure": N_("pressure"),
}
#: An assessment's phases (its exercises' names), in words.
PHASE_NAME: dict[str, str] = {
    "pre_baseline": N_("pre-baseline rest"), "phasic": N_("quick contractions"), "tonic": N_("tonic contractions"),
    "endurance": N_("endurance"), "post_baseline": N_("post-baseline rest"), "resting": N_("resting pressure"),
    "power": N_("maximal squeeze"), "repetitions": N_("repetitions"), "fast": N_("fast contractions"),
}


def label(key: str, tr: Language = ENGLISH) -> str:
    """A result's key as a person reads it: ``median_frequency_start_hz`` → "median frequency at the
    start (Hz)"; a key with no words of its own is shown with its underscores as spaces."""
    base, unit = key, ""
    for suffix, u in UNIT_SUFFIX:
        if key.endswith(suffix):
            base, unit = key[: -len(suffix)], u
            break
    return (tr(PARAMETER[base]) if base in PARAMETER else base.replace("_", " ")) + unit


def phase_name(phase: str, tr: Language = ENGLISH) -> str:
    return tr(PHASE_NAME[phase]) if phase in PHASE_NAME else phase.replace("_", " ")


def _table(head: list[str], rows: Iterable[list[str]], numeric: set[int] | frozenset[int] = frozenset(),
           cls: str = "") -> str:
    th = "".join(f'<th class="{"n" if i in numeric else ""}">{e(h)}</th>' for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(f'<td class="{"n" if i in numeric else ""}">{c}</td>' for i, c in enumerate(r))
                   + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _signature(state: object, tr: Language) -> object:
    """``verified (key ab:cd…)`` with its first word in the reader's language."""
    if not isinstance(state, str):
        return state
    word, _, rest = state.partition(" ")
    return (tr(SIGNATURE[word]) if word in SIGNATURE else word) + (f" {rest}" if rest else "")


def _when(iso: object, tr: Language = ENGLISH) -> str:
    """A stored ISO time as the reader writes dates (the time of day as it is)."""
    if not isinstance(iso, str) or len(iso) < 10:
        return str(iso) if iso is not None else "—"
    try:
        day = tr.date(dt.date.fromisoformat(iso[:10]))
    except ValueError:
        return iso
    return day + (" " + iso[11:16] if len(iso) >= 16 else "")


# --- charts ---------------------------------------------------------------------------------------
def curve_svg(t: np.ndarray, level: np.ndarray, contractions: list[dict], unit: str, title: str,
              tr: Language = ENGLISH) -> str:
    """The session's pelvic level (min/max per column) with each contraction's span shaded by kind."""
    w, h, pad = 900.0, 220.0, 34.0
    if len(t) < 2:
        return f'<p class="muted">{e(tr("no signal stored"))}</p>'
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
    yl = (f'<text x="2" y="16" font-size="12">{num(ymax, tr=tr)} {e(unit)}</text>'
          f'<text x="2" y="{h - pad:.0f}" font-size="12">{num(ymin, tr=tr)}</text>')
    return (f'<div class="chart"><svg class="curve" viewBox="0 0 {w:.0f} {h:.0f}" role="img" aria-label="{e(title)}">'
            f'<rect x="{pad}" y="8" width="{w - 4 - pad}" height="{h - pad - 8}" fill="none" stroke="#d0d4d8"/>'
            f'{"".join(shade)}<polyline points="{pts}" fill="none" stroke="#263238" stroke-width="1"/>{ticks}{yl}</svg>'
            f'<div class="key">' + "".join(f'<span><i style="background:{c};opacity:.45"></i>{e(tr(KIND_WORD[k]))}</span>'
                                          for k, c in KIND_COLOUR.items()) + "</div></div>")


def bars_svg(labels: list[str], values: list[float | None], unit: str, title: str, top: float | None = None,
             tr: Language = ENGLISH) -> str:
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
                         f'text-anchor="middle">{num(v, "{:.0f}", tr)}</text>')
        if n <= 16 or i % max(1, n // 12) == 0:
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{h - 10:.0f}" font-size="11" text-anchor="middle">{e(lab[-3:])}</text>')
    return (f'<div class="chart"><svg class="bars" viewBox="0 0 {w:.0f} {h:.0f}" role="img" aria-label="{e(title)}">'
            f'<text x="2" y="14" font-size="12">{e(title)} ({e(unit)})</text>'
            f'<line x1="{pad}" y1="{h - pad}" x2="{w - 4}" y2="{h - pad}" stroke="#9aa0a6"/>{"".join(parts)}</svg></div>')


# --- sections -------------------------------------------------------------------------------------
def _assessment_section(s: SessionData, m: dict, tr: Language) -> str:
    kind = m.get("assessment")
    res = m.get("results") or {}
    name = tr("Glazer protocol (sEMG)") if kind == "glazer" else tr("Pressure assessment")
    out = [f'<h3>{e(name)} — {e(_when(s.info["started_at"], tr))}, {e(tr("session {id}").format(id=s.id))}</h3>']
    if m.get("note"):
        out.append(f'<p class="warn">{e(tr(m["note"]))}</p>')
    rows = []
    for n in norms.for_assessment(kind or ""):
        v = norms.lookup(res, n.path)
        z = n.z(v)
        ref = f"{tr.num(n.mean, '{:g}')} ± {tr.num(n.sd, '{:g}')} {e(n.unit)}" if n.sd else f"{tr.num(n.mean, '{:g}')} {e(n.unit)}"
        rows.append([e(tr(n.label)), num(v, tr=tr), ref, num(z, "{:+.1f}", tr), e(tr(n.population))])
    if rows:
        out.append(f'<p>{e(tr("Against published reference values (z: standard deviations from the reference mean):"))}</p>')
        out.append(_table([tr("figure"), tr("value"), tr("reference"), "z", tr("reference population")], rows, {1, 3}, "norms"))
        srcs = sorted({(n.source, n.applies) for n in norms.for_assessment(kind or "")})
        out.append("".join(f'<p class="muted">{e(tr("Source: {source}. Applies: {applies}.").format(source=a, applies=tr(b)))}</p>'
                           for a, b in srcs))
    flat = []
    for phase, vals in res.items():
        if isinstance(vals, dict):
            for k, v in vals.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    flat.append([e(phase_name(phase, tr)), e(label(k, tr)), num(v, "{:g}", tr)])
    if flat:
        out.append(_table([tr("phase"), tr("parameter"), tr("value")], flat, {2}, "results"))
    return "".join(out)


def _curve(store: SessionStore, s: SessionData, sig: assessment.Signal, tr: Language) -> str:
    what = tr("pelvic RMS with contractions") if sig.emg else tr("pelvic pressure rise with contractions")
    return curve_svg(sig.t, sig.level, store.events(s.id, ("contraction",)), sig.unit,
                     tr("session {id}").format(id=s.id) + f": {what}", tr)


STATUS: dict[str, str] = {"completed": N_("completed"), "stopped": N_("stopped early"), "interrupted": N_("interrupted"),
                          "recording": N_("recording")}
STOPPED_BY: dict[str, str] = {"button": N_("the button"), "sensor": N_("the probe (unplugged or faulty)"),
                              "card_full": N_("a full card")}


def _result(r: dict, tr: Language) -> str:
    if r.get("told") == "rep_recorded":
        return e(tr("recorded"))
    return e(tr("good")) if r.get("good") else e(words.reasons(r.get("reasons") or [], tr) or "—")


def _session_section(s: SessionData, m: dict, curve: str, tr: Language) -> str:
    summ = s.info.get("summary") or {}
    status = s.info["status"]
    meta = tr("status {status}").format(status=tr(STATUS[status]) if status in STATUS else status)
    if summ.get("stopped_by"):
        by = summ["stopped_by"]
        meta += ", " + tr("ended by {what}").format(what=tr(STOPPED_BY[by]) if by in STOPPED_BY else by)
    meta += f', {num(summ.get("duration_s"), "{:.0f}", tr)} s, ' + tr("prescription v{version}").format(
        version=s.info["profile_version"])
    out = [f'<section class="session" id="s{s.id}"><h2>{e(tr("Session {id}").format(id=s.id))}: '
           f'{e(_when(s.info["started_at"], tr))} — {e(title_in(summ or {"programme": s.info["programme"]}, tr.code))}</h2>'
           f'<p class="meta">{e(meta)}'
           + (f', <span class="warn">{e(tr("damage"))}: {e("; ".join(summ["damage"]))}</span>' if summ.get("damage") else "")
           + "</p>"]
    out.append(curve)
    reps = summ.get("reps") or []
    yes_no = {True: tr("yes"), False: tr("no")}
    if reps:
        rows = [[e(r.get("exercise")), e(r.get("set")), e(r.get("rep")), num(r.get("hold_s"), tr=tr),
                 num(r.get("peak"), tr=tr), num(r.get("mvc_pct"), "{:.0f}", tr), e(r.get("quick_lifts_seen", r.get("flicks"))),
                 e(tr(KIND_WORD[r.get("kind")]) if r.get("kind") in KIND_WORD else r.get("kind")),
                 e(yes_no.get(r.get("relaxed"))), _result(r, tr)]
                for r in reps]
        out.append(f"<h3>{e(tr('Repetitions'))}</h3>" + _table(
            [tr("exercise"), tr("set"), tr("rep"), tr("hold s"), tr("peak"), "%MVC", tr("lifts"), tr("kind"),
             tr("relaxed"), tr("result")], rows, {1, 2, 3, 4, 5, 6}, "reps"))
    d = dose(s)
    rows = []
    for x in d["exercises"] or []:
        p, done = x.get("prescribed") or {}, x.get("done") or {}
        if x.get("kind") in WINDOW_KINDS:
            what = tr("rest of {seconds} s, measured") if x["kind"] == "rest" else tr("window of {seconds} s, measured")
            rows.append([e(x.get("exercise")), "—", num(p.get("hold_s"), "{:g}", tr), "—", "—",
                         e(what.format(seconds=num(p.get("hold_s"), "{:g}", tr))), "—", "—"])
            continue
        rows.append([e(x.get("exercise")), f'{e(p.get("sets"))}×{e(p.get("reps"))}', num(p.get("hold_s"), "{:g}", tr),
                     num(p.get("rest_s"), "{:g}", tr), num(p.get("target_mvc_pct"), "{:.0f}", tr),
                     e(tr("{sets} sets, {reps} reps").format(sets=done.get("sets"), reps=done.get("reps"))) if done else "—",
                     e(done.get("good_reps")) if done else "—", num(done.get("total_hold_s"), tr=tr) if done else "—"])
    out.append(f"<h3>{e(tr('Dose: prescribed and done'))}</h3>" + _table(
        [tr("exercise"), tr("sets×reps"), tr("hold s"), tr("rest s"), tr("target %MVC"), tr("done"), tr("good"),
         tr("held s")], rows, {2, 3, 4, 6, 7}, "dose"))
    wr = m.get("work_rest")
    if wr:
        out.append(f"<h3>{e(tr('Work / rest'))}</h3>" + _table(
            [tr("work avg"), tr("rest avg"), tr("onset s (75 %)"), tr("release s (37.5 %)"), tr("work dev %"), tr("rest dev %")],
            [[num(wr["work_average"], tr=tr), num(wr["rest_average"], tr=tr), num(wr["onset_s"], "{:.2f}", tr),
              num(wr["release_s"], "{:.2f}", tr), num(wr["work_deviation_pct"], tr=tr), num(wr["rest_deviation_pct"], tr=tr)]],
            {0, 1, 2, 3, 4, 5}, "workrest")
            + f'<p class="muted">{e(tr("{unit}, {level}; deviation as a % of the {basis}.").format(unit=wr["unit"], level=tr(wr["level"]), basis=tr(wr["deviation_basis"])))}</p>')
    if m.get("assessment"):
        out.append(_assessment_section(s, m, tr))
    out.append("</section>")
    return "".join(out)


def _cert(training: list[SessionData], weeks: list[dict], history: list[dict], tr: Language) -> str:
    """The dose in CERT's terms (Slade et al. 2016), the items a device can know."""
    if not training:
        return f'<p class="muted">{e(tr("No training session yet."))}</p>'
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
    def g(v: float) -> str:
        return tr.num(v, "{:g}")

    ex_rows = "; ".join(
        tr("{name} ({kind}): {sets}×{reps}, hold {hold} s").format(
            name=x["name"], kind=tr(words.EXERCISE_KIND.get(x.get("kind", "hold"), x.get("kind", "hold"))),
            sets=x["sets"], reps=x["reps"], hold=g(x["hold_s"]))
        + (" + " + tr("{n} quick lifts").format(n=x["quick_lifts"]) if x.get("quick_lifts") else "")
        + ", " + tr("rest {rest} s, target {target} %MVC").format(rest=g(x["rest_s"]), target=f'{100 * x["target_mvc"]:.0f}')
        for x in rx)
    prog_rules = "; ".join(
        tr("{name}: hold to {hold} s in steps of {step} s, reps to {reps}, when {share} % of reps are good in "
           "{sessions} session(s)").format(
            name=x["name"], hold=g(x.get("hold_max_s") or x["hold_s"]), step=g(x.get("hold_step_s", 1)),
            reps=x.get("reps_max") or x["reps"], share=f'{100 * x.get("secure_ratio", 0.8):.0f}',
            sessions=x.get("secure_sessions", 1)) for x in rx)
    per_week = next((w["prescribed_per_week"] for w in reversed(weeks) if w.get("prescribed_per_week")), None)
    median_s = np.median([(s.info.get("summary") or {}).get("duration_s") or 0 for s in training])
    items = [
        (tr("1 Equipment"), tr("pfmt biofeedback device: vaginal pressure or sEMG probe, LED strength bar, status LED and tones")),
        (tr("2 Qualifications (supervisor)"), tr("prescribed and calibrated by the physiotherapist")
         + (f' ({history[-1].get("by")})' if history else "")),
        (tr("3 Individual or group"), tr("individual")),
        (tr("4 Supervised or not"), tr("unsupervised home training guided by the device; assessments with the physiotherapist")),
        (tr("5 Adherence measured"), tr("every session stored with each repetition; weekly adherence {range}").format(
            range=f'{tr.num(min(adh), "{:.0f}")}–{tr.num(max(adh), "{:.0f}")} %' if adh else "—")),
        (tr("6 Motivation strategies"), tr("live biofeedback, a tone and LED after every repetition, a celebration after "
                                           "a good set, reminders")),
        (tr("7a Progression rules"), prog_rules or "—"),
        (tr("7b Progression applied"), "; ".join(f"{tr.date(dt.date.fromisoformat(d))}: {words.said(c, tr)}"
                                                 for d, c in progression)
         or tr("none")),
        (tr("8 Exercises"), f'{title_in(summ or {"programme": last.info["programme"]}, tr.code)}: {ex_rows}'),
        (tr("9 Home programme"), tr("yes: the device is the home programme")),
        (tr("10 Non-exercise components"), tr("none recorded")),
        (tr("11 Adverse events"), tr("not recorded by the device")),
        (tr("12 Setting"), tr("at home, lying or sitting as the programme says")),
        (tr("13 Intensity"), "; ".join(f'{x["name"]} {100 * x["target_mvc"]:.0f} %MVC' for x in rx)),
        (tr("14 Frequency"), tr("{per_week} sessions a week prescribed; {done} completed in {weeks} week(s)").format(
            per_week=num(per_week, "{:g}", tr), done=len(done), weeks=(last_d - first_d).days // 7 + 1)),
        (tr("15 Duration"), tr("{first} to {last} ({days} days); sessions of {seconds} s (median)").format(
            first=tr.date(first_d), last=tr.date(last_d), days=(last_d - first_d).days + 1,
            seconds=num(median_s, "{:.0f}", tr))),
        (tr("16a Delivered as planned"), tr(
            "{full} of {done} completed sessions at the full prescribed dose; {early} ended early or interrupted; "
            "{spoiled} repetitions spoiled by the device, left out of progression").format(
            full=full, done=len(done), early=len(early), spoiled=spoiled)),
    ]
    return _table([tr("CERT item"), tr("as done")], [[e(a), e(b)] for a, b in items], cls="cert")


def build(store: SessionStore, sessions: list[SessionData], history: list[dict] | None = None,
          generated: dt.datetime | None = None, version: str = "", tr: Language = ENGLISH) -> str:
    """The report of ``sessions`` (one patient code's, oldest first) as one HTML document in the
    reader's language ``tr``; ``history``: the prescription's versions (version, created_at, by,
    changes, programme, signature) as the profile store has them."""
    history = history or []
    sessions = sorted(sessions, key=lambda s: s.id)
    codes = sorted({s.info["patient_code"] or tr("unassigned") for s in sessions})
    # each session's samples read once: its measures and its curve from the same signal
    measured, curves = {}, {}
    for s in sessions:
        sig = assessment.pelvic_signal(store, s)
        measured[s.id], curves[s.id] = assessment.measure(store, s, sig), _curve(store, s, sig, tr)
    training = [s for s in sessions if not is_assessment(s)]
    weeks = trend(training, fill=True, today=dt.date.fromisoformat(sessions[-1].info["started_at"][:10])) if training else []
    when = _when((generated or dt.datetime.now()).isoformat(timespec="minutes"), tr)
    first, last = (tr.date(dt.date.fromisoformat(s.info["started_at"][:10])) for s in (sessions[0], sessions[-1]))
    meta = tr("{training} training session(s), {assessments} assessment(s), {first} to {last}; written {when} by "
              "pfmt {version}.").format(training=len(training), assessments=len(sessions) - len(training),
                                        first=first, last=last, when=when, version=version)
    out = [f'<!DOCTYPE html><html lang="{tr.code}"><head><meta charset="utf-8">'
           '<meta name="viewport" content="width=device-width, initial-scale=1">'
           f'<title>{e(tr("pfmt report"))} — {e(", ".join(codes))}</title><style>{CSS}</style></head><body>',
           f'<h1>{e(tr("Pelvic floor training report — patient {code}").format(code=", ".join(codes)))}</h1>'
           f'<p class="meta">{e(meta)} {e(tr("Pseudonymised: the patient code is the only identity here."))}</p>']
    latest = {}
    for s in sessions:
        if measured[s.id].get("assessment"):
            latest[measured[s.id]["assessment"]] = s
    out.append(f"<h2>{e(tr('Latest assessment against norms'))}</h2>")
    if latest:
        out += [_assessment_section(s, measured[s.id], tr) for s in latest.values()]
    else:
        none = tr("No assessment yet: the Glazer protocol (pfmt train --programme glazer) or the pressure "
                  "assessment (--programme pressure_assessment).")
        out.append(f'<p class="muted">{e(none)}</p>')
    out.append(f"<h2>{e(tr('Week by week'))}</h2>")
    if weeks:
        labels = [w["week"] for w in weeks]
        calibrated = any(w.get("strength_max_mvc_pct") is not None for w in weeks)
        out.append(bars_svg(labels, [w["strength_max_mvc_pct"] if calibrated else w["strength_max_peak"] for w in weeks],
                            "%MVC" if calibrated else tr("peak"), tr("strength: best squeeze"), tr=tr))
        out.append(bars_svg(labels, [w["endurance_longest_hold_s"] for w in weeks], "s", tr("endurance: longest hold"), tr=tr))
        out.append(bars_svg(labels, [w["adherence_pct"] for w in weeks], "%", tr("adherence to the prescription"), top=100, tr=tr))
        out.append(bars_svg(labels, [w["relaxed_pct"] for w in weeks], "%", tr("relaxation: reps let go fully"), top=100, tr=tr))
        out.append(_table([tr("week"), tr("done / prescribed"), tr("adherence %"), tr("best %MVC"), tr("longest hold s"),
                           tr("relaxed %"), tr("bearing down"), tr("other muscles"), tr("not let go")],
                          [[e(w["week"]), f'{w["completed"]} / {num(w["prescribed_per_week"], "{:g}", tr)}',
                            num(w["adherence_pct"], "{:.0f}", tr), num(w["strength_max_mvc_pct"], "{:.0f}", tr),
                            num(w["endurance_longest_hold_s"], tr=tr), num(w["relaxed_pct"], "{:.0f}", tr),
                            e(w["bear_down"]), e(w["accessory"]), e(w["not_relaxed"])]
                           for w in weeks], {1, 2, 3, 4, 5, 6, 7, 8}, "weeks"))
    else:
        out.append(f'<p class="muted">{e(tr("No training session yet."))}</p>')
    out.append(f"<h2>{e(tr('Prescription history'))}</h2>")
    out.append(_table([tr("version"), tr("when"), tr("by"), tr("what changed"), tr("programme"), tr("signature")],
                      [[e(h.get("version")), e(_when(h.get("created_at"), tr)), e(h.get("by")),
                        e(", ".join(tr(words.STEP[c]) if c in words.STEP else c for c in h.get("changes") or [])),
                        e(h.get("programme")), e(_signature(h.get("signature"), tr))] for h in history], {0}, "history")
               if history else f'<p class="muted">{e(tr("No profile on this device."))}</p>')
    out.append(f"<h2>{e(tr('The dose, as reported in CERT'))}</h2>" + _cert(training, weeks, history, tr))
    out += [_session_section(s, measured[s.id], curves[s.id], tr) for s in sessions]
    out.append("</body></html>")
    return "".join(out)

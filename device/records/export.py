"""Export of stored sessions for the physiotherapist, pseudonymised by the patient code.

One export is a folder ``pfmt-export-<code>-<stamp>/`` holding, per session ``<code>_<date>_s<id>``:

- ``.edf``: EDF+ with every channel at its real rate in its physical unit (16-bit, the ADC's own
  resolution) and an annotation for every contraction (kind, hold, peak, flicks, relaxed), cue,
  warning, sensor event and gap;
- ``.csv`` (samples, the analysis contract's recording format), ``_events.csv`` (contractions in
  the contract's keys, and every other event), ``_calibration.json`` (the contract's format);
- ``_dose.json``: prescribed vs done; ``.png``: the signal with the contractions marked;
- ``report-<code>.html``: the physiotherapist's report (``records.report``) of the exported sessions;

plus ``trend.json`` across the exported sessions and ``MANIFEST.sha256`` (``sha256sum -c``
format) that the USB writers verify the copy against. A session whose stored data fails its
checksums is left out whole and named, with the damage, in ``DAMAGED.txt``: it is never exported
as good data, and it does not stop the export of the others. The patient's name is never stored, so it
cannot leak; the code the physiotherapist chose is the only identity in the files.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device import installed_version
from device.errors import N_, DamagedError, InputError, StorageError
from device.files import atomic_write, clean_partials, fsync_dir, partial_name
from device.i18n import ENGLISH, Language
from device.recording import write_csv_blocks
from device.records.reports import dose, trend
from device.records.store import SessionData, SessionStore

FORMATS = ("edf", "csv", "json", "png", "html")
MANIFEST = "MANIFEST.sha256"
DAMAGED_FILE = "DAMAGED.txt"
KIND_COLOUR = {"lift": "tab:green", "accessory": "tab:orange", "bear_down": "tab:red", None: "tab:blue"}
CODE_SAFE = re.compile(r"[^A-Za-z0-9.-]+")  # file-name safe; "_" separates the name's fields


@dataclass
class ExportedFile:
    path: str  # relative to the export folder, "/"-separated
    size: int
    sha256: str


def available_formats() -> tuple[str, ...]:
    """The formats this installation can write: the PNG plot needs matplotlib, which a device
    installed without PNG export (``scripts/install.sh`` without ``--png``) leaves out."""
    import importlib.util

    return FORMATS if importlib.util.find_spec("matplotlib") is not None else tuple(f for f in FORMATS if f != "png")


def parse_formats(spec: str) -> tuple[str, ...]:
    got = tuple(dict.fromkeys(f.strip().lower() for f in spec.split(",") if f.strip()))
    bad = [f for f in got if f not in FORMATS]
    if bad or not got:
        raise InputError(N_("unknown export format {value!r}; allowed: {items} (comma-separated)"),
                         value=', '.join(bad) or spec, items=', '.join(FORMATS))
    if "png" in got and "png" not in available_formats():
        raise InputError(N_("the PNG plot needs matplotlib, which this device was installed without "
                            "(scripts/install.sh --png adds it); allowed here: {items}"),
                         items=", ".join(available_formats()))
    return got


def select(store: SessionStore, ids: list[int] | None, since: dt.date | None = None,
           damaged: dict[int, str] | None = None) -> list[SessionData]:
    """The sessions to export: the ids given (each must exist), else all; then those since a date.
    A session still recording is never exported half-written. With ``damaged``, a session whose
    record is damaged is put there (id → what) instead of stopping the selection."""
    if ids:
        missing = [i for i in ids if i not in set(store.ids())]
        if missing:
            store.session(missing[0])  # the error naming the sessions there are
    good, bad = store.readable(ids or None)
    if bad and damaged is None:
        raise DamagedError(next(iter(bad.values())))
    if damaged is not None:
        damaged.update(bad)
    chosen = good
    if since is not None:
        chosen = [s for s in chosen if dt.datetime.fromisoformat(s.info["started_at"]).date() >= since]
    live = [s.id for s in chosen if s.info["status"] == "running"]
    if live:
        raise StorageError(N_("session {value} is still being recorded; export it once it has ended"), value=live[0])
    if not chosen and not bad:
        raise InputError(N_("no stored session matches; `pfmt sessions` lists them"))
    return chosen


def stem(s: SessionData) -> str:
    code = CODE_SAFE.sub("-", s.info["patient_code"] or "unassigned")
    when = dt.datetime.fromisoformat(s.info["started_at"]).strftime("%Y%m%d-%H%M")
    return f"{code}_{when}_s{s.id}"


def export(store: SessionStore, sessions: list[SessionData], out_dir: str | os.PathLike,
           formats: tuple[str, ...] | None = None, stamp: dt.datetime | None = None,
           damaged: dict[int, str] | None = None, history: list[dict] | None = None,
           tr: Language = ENGLISH) -> tuple[Path, list[ExportedFile]]:
    """Write an export folder inside ``out_dir``; returns it and its files with their checksums
    (``formats``: default every one this installation can write). ``damaged`` (id → what) names
    sessions already found damaged; those found while writing are added, and all of them are
    listed in DAMAGED.txt instead of exported. ``history``: the prescription's versions, for the report."""
    formats = available_formats() if formats is None else formats
    damaged = {} if damaged is None else damaged
    if not sessions:
        if damaged:
            raise DamagedError(N_("every chosen session is damaged, so nothing was exported: {items}"),
                               items="; ".join(damaged.values()))
        raise InputError(N_("no session to export"))
    codes = sorted({s.info["patient_code"] or "unassigned" for s in sessions})
    label = CODE_SAFE.sub("-", codes[0]) if len(codes) == 1 else "several"
    base = Path(out_dir) / f"pfmt-export-{label}-{(stamp or dt.datetime.now()).strftime('%Y%m%d-%H%M%S')}"
    final = next(f for f in (base.with_name(f"{base.name}{'' if k == 1 else f'-{k}'}") for k in range(1, 10_000))
                 if not f.exists())  # two exports in one second: the second gets "-2", nothing is overwritten
    # built under a hidden partial name and renamed once its manifest is written and verified: a
    # kill or a full disk leaves no plausible folder under the final name (what an earlier kill
    # left is removed here)
    clean_partials(out_dir)
    folder = partial_name(final)
    try:
        folder.mkdir(parents=True, exist_ok=False, mode=0o700)
    except OSError as e:
        raise StorageError(N_("{out_dir}: cannot create the export folder ({strerror})"),
                           out_dir=out_dir, strerror=e.strerror) from None
    try:
        files = _write_export(store, sessions, folder, formats, codes, damaged, history, tr)
        if read_manifest_checked(folder) != {f.path: f.sha256 for f in files}:
            raise StorageError(N_("{out_dir}: the export reads back different from what was written; nothing was "
                                  "kept"), out_dir=out_dir)
        os.rename(folder, final)
        fsync_dir(final.parent)
    except OSError as e:
        shutil.rmtree(folder, ignore_errors=True)
        raise StorageError(N_("{out_dir}: the export could not be written ({value}); nothing was kept (is the disk "
                              "full or read-only?)"), out_dir=out_dir, value=e.strerror or e) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return final, files


def read_manifest_checked(folder: Path) -> dict[str, str]:
    """The manifest's entries, each file read back and checked against its checksum (a mismatch
    is left out, so comparing with what was written finds it)."""
    from drivers.usb import read_manifest

    return {name: digest for name, digest in read_manifest(folder).items()
            if (folder / name).is_file() and sha256_file(folder / name) == digest}


def _write_export(store: SessionStore, sessions: list[SessionData], folder: Path, formats: tuple[str, ...],
                  codes: list[str], damaged: dict[int, str], history: list[dict] | None = None,
                  tr: Language = ENGLISH) -> list[ExportedFile]:
    good = []
    for s in sessions:
        name = stem(s)
        try:  # all of it read, every checksum checked, before anything of it is written
            sig = Samples.checked(store, s)
            events = store.events(s.id)
        except DamagedError as e:
            damaged[s.id] = str(e)
            continue
        good.append(s)
        if "edf" in formats:
            write_edf(folder / f"{name}.edf", s, sig, events)
        if "csv" in formats:
            if sig.n:
                write_csv_blocks(folder / f"{name}.csv", s.channels, sig.blocks(), decimals=6)
            _write_events_csv(folder / f"{name}_events.csv", events)
            if s.info["calibration"]:
                _write_json(folder / f"{name}_calibration.json", s.info["calibration"])
        if "json" in formats:
            _write_json(folder / f"{name}_dose.json", dose(s))
        if "png" in formats and sig.n:
            write_png(folder / f"{name}.png", s, sig, events)
    if not good:
        raise DamagedError(N_("every chosen session is damaged, so nothing was exported: {items}"),
                           items="; ".join(damaged.values()))
    if damaged:
        (folder / DAMAGED_FILE).write_text(
            tr("Sessions left out of this export because their stored data is damaged (they are not exported as "
               "good data; `pfmt sessions check` on the device names the damage):") + "\n\n"
            + "".join(tr("session {id}").format(id=i) + f": {what}\n" for i, what in sorted(damaged.items())),
            encoding="utf-8")
    if "html" in formats:
        from device.records.report import build

        for code in sorted({s.info["patient_code"] or "unassigned" for s in good}):
            theirs = [s for s in good if (s.info["patient_code"] or "unassigned") == code]
            mine = [h for h in history or [] if h.get("patient_code") in (code, None)]
            (folder / f"report-{CODE_SAFE.sub('-', code)}.html").write_text(
                build(store, theirs, mine, version=installed_version(), tr=tr), encoding="utf-8")
    if "json" in formats:
        # Weeks without training are listed (0 % adherence) only when every session is exported:
        # between chosen sessions they may hold ones left out.
        everything = {s.id for s in good} == set(store.ids())
        _write_json(folder / "trend.json", {"patients": codes, "sessions": [s.id for s in good],
                                            "damaged": sorted(damaged),
                                            "weeks": trend(good, fill=everything),
                                            "doses": [dose(s) for s in good]})
    return manifest(folder)


def manifest(folder: Path) -> list[ExportedFile]:
    """Checksum every file of the folder and write ``MANIFEST.sha256``."""
    files = []
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != MANIFEST:
            files.append(ExportedFile(p.relative_to(folder).as_posix(), p.stat().st_size, sha256_file(p)))
    with atomic_write(folder / MANIFEST) as f:
        f.write("".join(f"{e.sha256}  {e.path}\n" for e in files).encode())
    return files


def sha256_file(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_json(path: Path, obj) -> None:
    with atomic_write(path) as f:
        f.write(json.dumps(obj, indent=1, default=str).encode())


class Samples:
    """A stored session's samples as the export reads them: block by block from the store, never
    the whole session's times and values at once (an hour at 860 SPS × 2 is 75 MB of float64,
    and the export runs on a 512 MB device beside the trainer). :meth:`checked` reads every block
    once, checking its checksum, and keeps only what the files need to know beforehand: the
    count, the first and last times and the gaps."""

    def __init__(self, store: SessionStore, s: SessionData) -> None:
        self.store, self.session = store, s
        self.n = 0
        self.t0 = self.t_last = 0.0
        self.gaps: list[tuple[float, float]] = []  # (last time before, first time after)

    @classmethod
    def checked(cls, store: SessionStore, s: SessionData) -> Samples:
        sig = cls(store, s)
        gap = 1.5 / float(s.info["rate_hz"])
        last: float | None = None
        for t, _ in store.chunks(s.id):
            if not len(t):
                continue
            if last is None:
                sig.t0 = float(t[0])
            elif t[0] - last > gap:
                sig.gaps.append((last, float(t[0])))
            sig.gaps += [(float(t[i]), float(t[i + 1])) for i in np.flatnonzero(np.diff(t) > gap)]
            last = sig.t_last = float(t[-1])
            sig.n += len(t)
        return sig

    def blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(time_s, values) block by block, each checked again as it is read."""
        return self.store.chunks(self.session.id)

    def column(self, i: int, length: int) -> np.ndarray:
        """Channel ``i`` whole (float64), filled up to ``length`` with its last value."""
        out = np.empty(length)
        a = 0
        for _, v in self.blocks():
            out[a:a + len(v)] = v[:, i]
            a += len(v)
        out[a:] = out[a - 1] if a else 0.0
        return out


# --- EDF+ --------------------------------------------------------------------------------------
def _annotations(s: SessionData, sig: Samples, events: list[dict]):
    from edfio import EdfAnnotation

    t0 = sig.t0
    out = []
    for e in events:
        at = max(0.0, e["time_s"] - t0)
        if e["type"] == "contraction":
            text = (f"{e.get('kind') or 'contraction'} hold={e['hold_s']:.2f}s peak={e['peak']:.1f} "
                    f"flicks={e['flicks']} relaxed={'yes' if e['relaxed'] else 'no'}")
            if e.get("mvc_pct") is not None:
                text += f" mvc={e['mvc_pct']:.0f}%"
            out.append(EdfAnnotation(max(0.0, e["onset_s"] - t0), max(0.0, e["offset_s"] - e["onset_s"]), text))
        elif e["type"] == "cue" and e.get("cue"):
            out.append(EdfAnnotation(at, None, f"cue {e['phase']} {e['exercise']} set {e['set']} rep {e['rep']}"))
        elif e["type"] == "warning":
            out.append(EdfAnnotation(at, None, f"warning {e['pattern'].replace('warning_', '')}"))
        elif e["type"] == "sensor":
            out.append(EdfAnnotation(at, None, f"sensor {e['kind']} {e.get('channel') or 'bus'}"))
        elif e["type"] == "artifact":
            out.append(EdfAnnotation(at, None, f"artifact {e.get('reason', '')}".strip()))
        elif e["type"] in ("paused", "resumed", "stopped"):
            out.append(EdfAnnotation(at, None, f"{e['type']} by the patient (button)"))
    rate = s.info["rate_hz"]
    for before, after in sig.gaps:
        out.append(EdfAnnotation(before - t0, after - before, f"gap {int(round((after - before) * rate)) - 1} samples"))
    if s.info["status"] == "interrupted":
        out.append(EdfAnnotation(sig.t_last - t0 if sig.n else 0.0, None, "recording interrupted (power loss)"))
    return out


#: The dates an EDF header can hold (its two-digit year, with the EDF+ "clipping date" rule).
EDF_FIRST, EDF_LAST = dt.datetime(1985, 1, 1), dt.datetime(2084, 12, 31, 23, 59, 59)


def write_edf(path: Path, s: SessionData, sig: Samples, events: list[dict]) -> None:
    from edfio import Edf, EdfSignal, Patient
    from edfio import Recording as EdfRecording

    rate = float(s.info["rate_hz"])
    if rate != int(rate):
        raise StorageError(N_("session {id}: EDF+ needs a whole number of samples per second, the rate is {rate}"),
                           id=s.id, rate=rate)
    n = sig.n
    per_record = int(rate)
    padded = max(per_record, -(-n // per_record) * per_record)
    signals = []
    for i, ch in enumerate(s.channels):
        x = sig.column(i, padded)  # the last record filled with the last value
        lo, hi = float(x.min()), float(x.max())
        if hi - lo < 1e-6:
            lo, hi = lo - 1.0, hi + 1.0
        signals.append(EdfSignal(x, rate, label=ch.name, physical_dimension=ch.unit, physical_range=(lo, hi),
                                 transducer_type="pressure balloon" if ch.modality == "pressure" else
                                 "surface EMG" if ch.modality == "emg" else ch.modality))
    start = dt.datetime.fromtimestamp(s.info["first_wall"] or s.info["started_wall"])
    code = CODE_SAFE.sub("_", s.info["patient_code"] or "X")
    anns = _annotations(s, sig, events)
    if padded > n:
        anns.append(_ann(n / rate, (padded - n) / rate, "padding (not recorded)"))
    clock = (s.info["summary"] or {}).get("clock") or {}
    if not EDF_FIRST <= start <= EDF_LAST:
        # EDF dates run 1985–2084: a device whose clock was never set (1970) still exports, its
        # recording dated 1985-01-01 and the clock's own reading said in an annotation
        anns.insert(0, _ann(0.0, None, f"date unknown: the device's clock read {start.isoformat(timespec='seconds')}"))
        start = EDF_FIRST
    elif clock.get("trusted") is False:
        anns.insert(0, _ann(0.0, None, f"date not trusted: the device's clock source was {clock.get('source')}"))
    edf = Edf(signals, patient=Patient(code=code), starttime=start.time().replace(microsecond=0),
              recording=EdfRecording(startdate=start.date(), equipment_code="pfmt",
                                     additional=(f"session_{s.id}", CODE_SAFE.sub("_", s.info["programme"])[:40])),
              data_record_duration=1.0, annotations=anns)
    del signals, x  # edfio holds its own digital copy: the float columns are not needed while it writes
    with atomic_write(path) as f:
        assert isinstance(f, io.BufferedWriter), "edfio writes to a path, a BufferedWriter or a BytesIO"
        edf.write(f)


def _ann(onset: float, duration: float | None, text: str):
    from edfio import EdfAnnotation

    return EdfAnnotation(onset, duration, text)


# --- CSV events --------------------------------------------------------------------------------
EVENT_COLUMNS = ("type", "time_s", "known_at_s", "onset_s", "offset_s", "hold_s", "peak", "mvc_pct", "flicks",
                 "kind", "relaxed", "detail")


def _write_events_csv(path: Path, events: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(EVENT_COLUMNS)
    for e in events:
        rest = {k: x for k, x in e.items() if k not in EVENT_COLUMNS}
        w.writerow([_cell(e.get(k)) for k in EVENT_COLUMNS[:-1]] + [json.dumps(rest, default=str) if rest else ""])
    with atomic_write(path) as f:
        f.write(buf.getvalue().encode())


def _cell(x) -> str:
    if x is None:
        return ""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return f"{x:.4f}"
    return str(x)


# --- PNG ---------------------------------------------------------------------------------------
def _mark_reps(ax, reps: list[dict], pel: dict, t: np.ndarray, x: np.ndarray, modality: str,
               t0: float | None = None) -> None:
    """Each judged rep on the pelvic trace ``x`` (at times ``t``; the samples just before each
    rep are enough): its target level (the level just before it plus the target share of the
    MVC) over its hold, green when good and red when to be redone, with the reason beneath (the
    first the patient was told). ``t0``: the session's first time (the plot's zero)."""
    t0 = float(t[0]) if t0 is None else t0
    span = None
    if pel.get("mvc") is not None:
        span = pel["mvc"] - pel.get("rest", 0.0) if modality == "emg" else pel["mvc"]
    for r in reps:
        if r.get("onset_s") is None or r.get("hold_s") is None:
            continue
        a, b = (r["onset_s"] - t0) / 60, (r["onset_s"] + r["hold_s"] - t0) / 60
        colour = "tab:green" if r.get("good") else "tab:red"
        before = (t >= r["onset_s"] - 1.5) & (t < r["onset_s"] - 0.25)
        if span and r.get("target_mvc_pct") is not None and before.any():
            level = float(np.median(x[before])) + span * r["target_mvc_pct"] / 100
            ax.hlines(level, a, b, colors=colour, lw=2.5)
        if not r.get("good") and r.get("reasons"):
            ax.annotate(r["reasons"][0].replace("_", " "), ((a + b) / 2, 0.02), xycoords=("data", "axes fraction"),
                        ha="center", fontsize=6, color="tab:red", rotation=90)



def _plotted(sig: Samples, reps: list[dict], max_points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """From one pass of the blocks: every ``n // max_points``-th sample (times, values) to draw,
    and the pelvic samples (times, values) in the 1.5 s before each rep, where its target level
    is measured from."""
    step = max(1, sig.n // max_points)
    windows = [(r["onset_s"] - 1.5, r["onset_s"] - 0.25) for r in reps if r.get("onset_s") is not None]
    ts, vs, wt, wx = [], [], [], []
    a = 0
    for t, v in sig.blocks():
        first = (-a) % step
        ts.append(t[first::step])
        vs.append(v[first::step])
        a += len(t)
        if windows:
            near = np.zeros(len(t), dtype=bool)
            for lo, hi in windows:
                near |= (t >= lo) & (t < hi)
            wt.append(t[near])
            wx.append(v[near, 0])
    def cat(parts: list[np.ndarray], width: int | None = None) -> np.ndarray:
        return np.concatenate(parts) if parts else (np.zeros((0, width)) if width else np.zeros(0))
    return cat(ts), cat(vs, len(sig.session.channels)), cat(wt), cat(wx)


def write_png(path: Path, s: SessionData, sig: Samples, events: list[dict], max_points: int = 20_000) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.artist import Artist
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    reps = [r for r in (s.info.get("summary") or {}).get("reps") or [] if r.get("judged_at_s") is not None]
    pel = ((s.info.get("calibration") or {}).get("pelvic") or {})
    t, v, wt, wx = _plotted(sig, reps, max_points)
    t0 = sig.t0
    tt = (t - t0) / 60.0
    fig = Figure(figsize=(14, 3.2 * len(s.channels)), dpi=90)
    axes = fig.subplots(len(s.channels), 1, sharex=True, squeeze=False)[:, 0]
    for i, (ax, ch) in enumerate(zip(axes, s.channels)):
        ax.plot(tt, v[:, i], lw=0.6, color="black")
        ax.set_ylabel(f"{ch.role} ({ch.unit})")
        for e in events:
            if e["type"] == "contraction":
                ax.axvspan((e["onset_s"] - t0) / 60, (e["offset_s"] - t0) / 60,
                           color=KIND_COLOUR.get(e.get("kind"), "tab:blue"), alpha=0.25, lw=0)
            elif e["type"] == "warning" and i == 0:
                ax.axvline((e["time_s"] - t0) / 60, color="tab:red", lw=0.8, ls=":")
        if i == 0:
            _mark_reps(ax, reps, pel, wt, wx, ch.modality, t0)
    axes[-1].set_xlabel("minutes")
    n = sum(e["type"] == "contraction" for e in events)
    good = sum(bool(r.get("good")) for r in reps)
    axes[0].set_title(f"{stem(s)} — {s.info['programme']} — {s.info['status']} — {n} contractions"
                      + (f", {good} of {len(reps)} reps good" if reps else ""))
    handles: list[Artist] = [Line2D([], [], color="black", lw=0.8, label="signal")]
    handles += [Patch(color=c, alpha=0.4, label=(k or "contraction").replace("_", " ")) for k, c in KIND_COLOUR.items()]
    handles += [Line2D([], [], color="tab:green", lw=2.5, label="target (good rep)"),
                Line2D([], [], color="tab:red", lw=2.5, label="target (rep to redo)"),
                Line2D([], [], color="tab:red", lw=0.8, ls=":", label="warning")]
    fig.legend(handles=handles, loc="lower center", fontsize=8, ncol=len(handles), frameon=False)
    fig.tight_layout(rect=(0, 0.07 / len(s.channels), 1, 1))  # the legend below, off the trace
    with atomic_write(path) as f:
        fig.savefig(f, format="png")


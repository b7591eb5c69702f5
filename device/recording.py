"""Recordings: the analysis-contract CSV and EDF+ files, read and validated into one in-memory form.

A recording is a time column plus one column per channel named ``<role>_<unit>``. Everything that
reads samples from disk goes through here, so every malformed file gets the same clear error.
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.errors import N_, InputError
from device.files import atomic_write, check_input_file, printable

ROLES = ("pelvic", "abdominal", "displacement")
UNITS = ("cmH2O", "mmHg", "uV", "mm")
PRESSURE_UNITS = ("cmH2O", "mmHg")
#: cmH2O per mmHg; thresholds are written in cmH2O and scaled into the channel's unit.
CMH2O_PER_MMHG = 1.359506
#: Units allowed per role: displacement is a length, the others pressure or EMG.
ROLE_UNITS = {"pelvic": ("cmH2O", "mmHg", "uV"), "abdominal": ("cmH2O", "mmHg", "uV"),
              "displacement": ("mm",)}
MIN_RATE_HZ = 8.0
MAX_RATE_HZ = 3300.0


@dataclass(frozen=True)
class Channel:
    """One column of a recording: what it measures (role) and in which unit."""

    role: str
    unit: str

    @property
    def name(self) -> str:
        return f"{self.role}_{self.unit}"

    @property
    def modality(self) -> str:
        """``pressure``, ``emg`` or ``displacement`` — decides how the channel is conditioned."""
        if self.unit == "uV":
            return "emg"
        if self.unit == "mm":
            return "displacement"
        return "pressure"

    @classmethod
    def parse(cls, name: str) -> Channel:
        role, sep, unit = name.strip().partition("_")
        if not sep or role not in ROLES:
            raise InputError(N_("column {name!r}: the role must be one of {items} followed by _<unit> (e.g. "
                                "pelvic_cmH2O)"), name=name, items=', '.join(ROLES))
        if unit not in UNITS:
            raise InputError(N_("column {name!r}: unknown unit {unit!r}; allowed: {items}"),
                             name=name, unit=unit, items=', '.join(UNITS))
        if unit not in ROLE_UNITS[role]:
            raise InputError(N_("column {name!r}: a {role} channel is measured in {items}, not {unit}"),
                             name=name, role=role, items=' or '.join(ROLE_UNITS[role]), unit=unit)
        return cls(role, unit)


@dataclass
class Recording:
    """Samples of one session: ``time_s`` (n,) and ``data`` (n, channels) in physical units."""

    time_s: np.ndarray
    data: np.ndarray
    channels: tuple[Channel, ...]

    def __post_init__(self) -> None:
        validate(self.time_s, self.data, self.channels)

    @property
    def sample_rate_hz(self) -> float:
        return estimate_rate(self.time_s)

    @property
    def duration_s(self) -> float:
        return float(self.time_s[-1] - self.time_s[0]) if len(self.time_s) > 1 else 0.0

    def channel(self, role: str) -> np.ndarray | None:
        for i, ch in enumerate(self.channels):
            if ch.role == role:
                return self.data[:, i]
        return None


GAP_FACTOR = 4.0  # an interval this many times the median is a gap (lost samples), not jitter


def estimate_rate(time_s: np.ndarray) -> float:
    """Sample rate from the whole time span, gaps (lost samples) left out.

    Not from the median interval: time stamps rounded to 1 ms at 860 SPS have intervals of 1 and
    2 ms whose median is 1 ms, which made such a recording "1000 Hz" and built its band-pass and
    notches for the wrong rate. The span counts every sample, whatever the rounding; an interval
    of more than ``GAP_FACTOR`` median intervals is a gap and does not dilute the rate."""
    dt = np.diff(np.asarray(time_s, dtype=float))
    ok = dt <= GAP_FACTOR * float(np.median(dt))
    span = float(np.sum(dt[ok]))
    return float(np.count_nonzero(ok) / span) if span > 0 else float(1.0 / np.median(dt))


def validate(time_s: np.ndarray, data: np.ndarray, channels: tuple[Channel, ...]) -> None:
    """Raise InputError naming the first thing wrong with a recording."""
    if len(channels) == 0 or channels[0].role != "pelvic":
        raise InputError(N_("the first channel after time_s must be the pelvic channel (pelvic_cmH2O, pelvic_mmHg or "
                            "pelvic_uV)"))
    roles = [c.role for c in channels]
    for r in set(roles):
        if roles.count(r) > 1:
            raise InputError(N_("channel role {r!r} appears {value} times; each role at most once"),
                             r=r, value=roles.count(r))
    if data.ndim != 2 or data.shape[1] != len(channels) or len(time_s) != data.shape[0]:
        raise InputError(N_("every row needs a time_s value and one value per channel"))
    if len(time_s) < 2:
        raise InputError(N_("the recording has fewer than 2 samples; nothing to analyse"))
    if not np.all(np.isfinite(time_s)):
        bad = int(np.flatnonzero(~np.isfinite(time_s))[0])
        raise InputError(N_("time_s is not a number in data row {value}"), value=bad + 1)
    bad_rows = np.flatnonzero(~np.all(np.isfinite(data), axis=1))
    if len(bad_rows):
        row = int(bad_rows[0])
        col = channels[int(np.flatnonzero(~np.isfinite(data[row]))[0])].name
        raise InputError(N_("{col} is NaN or infinite in data row {value} (time_s={value2:g}); every sample must be "
                            "a finite number"), col=col, value=row + 1, value2=time_s[row])
    dt = np.diff(time_s)
    if np.any(dt <= 0):
        k = int(np.flatnonzero(dt <= 0)[0]) + 1
        raise InputError(N_("time_s must increase strictly; data row {value} (time_s={value2:g}) does not come after "
                            "row {k} (time_s={value3:g})"), value=k + 1, value2=time_s[k], k=k, value3=time_s[k - 1])
    fs = estimate_rate(time_s)
    if not MIN_RATE_HZ * 0.9 <= fs <= MAX_RATE_HZ * 1.1:
        raise InputError(N_("sample rate {fs:.4g} Hz is outside the supported {min_rate_hz:g}–{max_rate_hz:g} Hz"),
                         fs=fs, min_rate_hz=MIN_RATE_HZ, max_rate_hz=MAX_RATE_HZ)


#: A recording's size at most: two hours at 2400 SPS × 3 channels is ~0.6 GB of CSV, beyond what a
#: 512 MB Pi can parse; a longer one is refused, not an OOM kill.
MAX_RECORDING_BYTES = 400_000_000
MAX_HEADER = 4096


def read_csv(path: str | os.PathLike) -> Recording:
    """Read an analysis-contract CSV: header ``time_s,<role>_<unit>,...`` then one row per sample."""
    p = check_input_file(path, "CSV recording", MAX_RECORDING_BYTES)
    try:
        with open(p, encoding="utf-8") as f:
            header = f.readline(MAX_HEADER)
            if len(header) >= MAX_HEADER and not header.endswith("\n"):
                raise InputError(N_("{p}: the header row is longer than {max_header} characters; expected "
                                    "time_s,<role>_<unit>,…"), p=printable(str(p)), max_header=MAX_HEADER)
            cols = [c.strip() for c in header.strip().split(",")]
            if not header.strip():
                raise InputError(N_("{p}: the file is empty; expected a header row starting with time_s"), p=p)
            if cols[0] != "time_s":
                raise InputError(N_("{p}: the first column must be time_s, found {value!r}"), p=p, value=cols[0])
            if len(cols) < 2:
                raise InputError(N_("{p}: no channel columns after time_s; at least pelvic_<unit> is needed"), p=p)
            channels = tuple(Channel.parse(c) for c in cols[1:])
            arr = _parse_rows(f, len(cols), p)
    except FileNotFoundError:
        raise InputError(N_("{p}: no such file"), p=p) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(N_("{p}: cannot read ({e})"), p=p, e=e) from None
    try:
        return Recording(arr[:, 0].copy(), arr[:, 1:].copy(), channels)
    except InputError as e:
        raise InputError(N_("{p}: {e}"), p=p, e=e) from None


def _parse_rows(f, ncols: int, p: Path) -> np.ndarray:
    """The data rows from the open file ``f`` (positioned after the header)."""
    start = f.tell()
    try:  # numpy's C parser, reading the file itself: a 2400 SPS hour parses in seconds
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": said below
            arr = np.loadtxt(f, delimiter=",", ndmin=2, dtype=float)
    except ValueError:
        f.seek(start)
        for i, ln in enumerate(f.read().splitlines()):
            if not ln.strip():
                continue
            parts = ln.split(",")
            if len(parts) != ncols:
                raise InputError(N_("{p}: data row {value} has {n_parts} values, the header names {ncols}"),
                                 p=p, value=i + 1, n_parts=len(parts), ncols=ncols) from None
            for v in parts:
                try:
                    float(v)
                except ValueError:
                    raise InputError(N_("{p}: data row {value}: {value2!r} is not a number"),
                                     p=p, value=i + 1, value2=v.strip()) from None
        raise InputError(N_("{p}: rows have differing numbers of values"), p=p) from None
    if arr.size == 0:
        raise InputError(N_("{p}: the header has no data rows under it"), p=p)
    if arr.ndim != 2 or arr.shape[1] != ncols:
        raise InputError(N_("{p}: every data row must have {ncols} values like the header"), p=p, ncols=ncols)
    return arr


def write_csv(path: str | os.PathLike, rec: Recording, decimals: int = 4) -> None:
    """Write a recording atomically (temp → fsync → replace → fsync dir): an SD card can lose power."""
    header = ",".join(["time_s"] + [c.name for c in rec.channels])
    table = np.column_stack([rec.time_s, rec.data])
    fmt = ["%.6f"] + [f"%.{decimals}f"] * len(rec.channels)
    with atomic_write(path) as f:
        f.write((header + "\n").encode())
        np.savetxt(f, table, fmt=fmt, delimiter=",")


def read_edf(path: str | os.PathLike) -> Recording:
    """Read an EDF+ file whose signal labels are ``<role>_<unit>`` (as pfmt exports them).

    Channels at different rates are brought onto the pelvic channel's time base by linear
    interpolation, because the pipeline consumes one sample row per instant.
    """
    import edfio

    p = check_input_file(path, "EDF+ recording", MAX_RECORDING_BYTES)
    try:
        edf = edfio.read_edf(p)
    except FileNotFoundError:
        raise InputError(N_("{p}: no such file"), p=p) from None
    except Exception as e:  # edfio raises plain ValueErrors on malformed headers
        raise InputError(N_("{p}: not a readable EDF/EDF+ file ({e})"), p=p, e=e) from None
    sigs = [s for s in edf.signals if s.label.strip() and not s.label.startswith("EDF Annotations")]
    if not sigs:
        raise InputError(N_("{p}: the EDF file holds no signals"), p=p)
    channels = []
    for s in sigs:
        label = s.label.strip()
        if "_" not in label and s.physical_dimension.strip():
            label = f"{label}_{s.physical_dimension.strip()}"
        channels.append(Channel.parse(label))
    order = sorted(range(len(sigs)), key=lambda i: ROLES.index(channels[i].role))
    sigs = [sigs[i] for i in order]
    channels = [channels[i] for i in order]
    base = sigs[0]
    fs = float(base.sampling_frequency)
    t = np.arange(len(base.data)) / fs
    cols = [np.asarray(base.data, dtype=float)]
    for s in sigs[1:]:
        ts = np.arange(len(s.data)) / float(s.sampling_frequency)
        cols.append(np.interp(t, ts, np.asarray(s.data, dtype=float)))
    try:
        return Recording(t, np.column_stack(cols), tuple(channels))
    except InputError as e:
        raise InputError(N_("{p}: {e}"), p=p, e=e) from None


def read_recording(path: str | os.PathLike) -> Recording:
    """Read a CSV or EDF+ recording, chosen by the file extension."""
    suffix = Path(path).suffix.lower()
    if suffix in (".edf", ".bdf"):
        return read_edf(path)
    if suffix in (".csv", ".txt", ""):
        return read_csv(path)
    raise InputError(N_("{path}: unknown recording type {suffix!r}; allowed: .csv or .edf (EDF+)"),
                     path=path, suffix=suffix)


def is_finite_number(v: object) -> bool:
    """A real number a float can hold (an integer beyond 1e308 cannot: not a number here)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False

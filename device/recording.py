"""Recordings: the analysis-contract CSV and EDF+ files, read and validated.

A recording is a time column plus one column per channel named ``<role>_<unit>``. Everything that
reads samples from disk goes through here, so every malformed file gets the same clear error.

A file is read in blocks (:func:`open_recording`): memory is a block's, whatever the length, so
a 3-hour EMG recording is analysed on a 512 MB Pi. :func:`read_recording` is the same blocks put
together. The sample rate is estimated from the first ``RATE_WINDOW`` samples in both, so a
recording read whole or in blocks is the same recording to the pipeline.
"""
from __future__ import annotations

import itertools
import math
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import InitVar, dataclass, field
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
    checked: InitVar[bool] = False  # already validated (a stream's blocks, put together): not again

    def __post_init__(self, checked: bool) -> None:
        if not checked:
            validate(self.time_s, self.data, self.channels)

    @property
    def sample_rate_hz(self) -> float:
        return estimate_rate(self.time_s[:RATE_WINDOW])

    @property
    def duration_s(self) -> float:
        return float(self.time_s[-1] - self.time_s[0]) if len(self.time_s) > 1 else 0.0

    def channel(self, role: str) -> np.ndarray | None:
        for i, ch in enumerate(self.channels):
            if ch.role == role:
                return self.data[:, i]
        return None


GAP_FACTOR = 4.0  # an interval this many times the median is a gap (lost samples), not jitter
#: The samples the rate is estimated from: the first ones, so a file read in blocks knows its rate
#: from its first block (40 s at 1600 SPS, 4 min at 250 Hz: the span gives it to 1e-5).
RATE_WINDOW = 65_536
#: Rows per block when a file is read in blocks (the first block is the rate window). A multiple
#: of ``BLOCK_ALIGN``, the pipeline's IIR matrix step (``device.pipeline.iir.CHUNK``), so its
#: arithmetic falls on the same samples read whole or in blocks: the same answer to the last bit.
BLOCK_ALIGN = 256
BLOCK_ROWS = RATE_WINDOW


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
    check_channels(channels)
    if data.ndim != 2 or data.shape[1] != len(channels) or len(time_s) != data.shape[0]:
        raise InputError(N_("every row needs a time_s value and one value per channel"))
    if len(time_s) < 2:
        raise InputError(N_("the recording has fewer than 2 samples; nothing to analyse"))
    check_samples(time_s, data, channels)
    check_rate(estimate_rate(time_s[:RATE_WINDOW]))


def check_channels(channels: tuple[Channel, ...]) -> None:
    if len(channels) == 0 or channels[0].role != "pelvic":
        raise InputError(N_("the first channel after time_s must be the pelvic channel (pelvic_cmH2O, pelvic_mmHg or "
                            "pelvic_uV)"))
    roles = [c.role for c in channels]
    for r in set(roles):
        if roles.count(r) > 1:
            raise InputError(N_("channel role {r!r} appears {value} times; each role at most once"),
                             r=r, value=roles.count(r))


def check_samples(time_s: np.ndarray, data: np.ndarray, channels: tuple[Channel, ...], row0: int = 0,
                  before: float | None = None) -> None:
    """The samples of rows ``row0 + 1 …`` finite, their times rising strictly (after ``before``,
    the time of the row before them, when they are not the first)."""
    if not np.all(np.isfinite(time_s)):
        bad = int(np.flatnonzero(~np.isfinite(time_s))[0])
        raise InputError(N_("time_s is not a number in data row {value}"), value=row0 + bad + 1)
    bad_rows = np.flatnonzero(~np.all(np.isfinite(data), axis=1))
    if len(bad_rows):
        row = int(bad_rows[0])
        col = channels[int(np.flatnonzero(~np.isfinite(data[row]))[0])].name
        raise InputError(N_("{col} is NaN or infinite in data row {value} (time_s={value2:g}); every sample must be "
                            "a finite number"), col=col, value=row0 + row + 1, value2=time_s[row])
    dt = np.diff(time_s if before is None else np.concatenate([[before], time_s]))
    if np.any(dt <= 0):
        k = int(np.flatnonzero(dt <= 0)[0]) + (1 if before is None else 0)  # index in time_s of the row too early
        prev = time_s[k - 1] if k > 0 else before
        raise InputError(N_("time_s must increase strictly; data row {value} (time_s={value2:g}) does not come after "
                            "row {k} (time_s={value3:g})"), value=row0 + k + 1, value2=time_s[k], k=row0 + k,
                         value3=prev)


def check_rate(fs: float) -> None:
    if not MIN_RATE_HZ * 0.9 <= fs <= MAX_RATE_HZ * 1.1:
        raise InputError(N_("sample rate {fs:.4g} Hz is outside the supported {min_rate_hz:g}–{max_rate_hz:g} Hz"),
                         fs=fs, min_rate_hz=MIN_RATE_HZ, max_rate_hz=MAX_RATE_HZ)


#: A recording's size at most. It is read in blocks, so memory does not bound it: a day at 1600 SPS
#: × 3 channels is ~4 GB of CSV. The cap refuses what is not a recording (a disk image, /dev/zero).
MAX_RECORDING_BYTES = 8_000_000_000
MAX_HEADER = 4096


@dataclass
class Stream:
    """A recording file opened for reading in blocks: its channels and sample rate are known at
    once (from its header and first block); :meth:`blocks` yields ``(time_s, data)`` blocks, each
    checked as :class:`Recording` checks a whole one; ``rows`` and ``duration_s`` are known once
    the last block has been read."""

    path: Path
    channels: tuple[Channel, ...]
    sample_rate_hz: float
    _blocks: Iterator[tuple[np.ndarray, np.ndarray]] = field(repr=False)
    _checked: int = 0  # leading blocks already checked (those the rate was estimated from)
    rows: int = 0
    first_s: float | None = None
    last_s: float | None = None

    @property
    def duration_s(self) -> float:
        return float(self.last_s - self.first_s) if self.first_s is not None and self.last_s is not None else 0.0

    def blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for i, (t, x) in enumerate(self._blocks):
            if i >= self._checked:
                try:
                    check_samples(t, x, self.channels, self.rows, self.last_s)
                except InputError as e:
                    raise InputError(N_("{p}: {e}"), p=self.path, e=e) from None
            if self.first_s is None:
                self.first_s = float(t[0])
            self.rows += len(t)
            self.last_s = float(t[-1])
            yield t, x


def _opened(path: Path, channels: tuple[Channel, ...], blocks: Iterator[tuple[np.ndarray, np.ndarray]]) -> Stream:
    """The stream of ``blocks``, its first ``RATE_WINDOW`` samples read (and checked) to know the
    rate, as :class:`Recording` knows it, whatever the blocks' size; they are put back in front."""
    head: list[tuple[np.ndarray, np.ndarray]] = []
    rows, last = 0, None
    try:
        check_channels(channels)
    except InputError as e:
        raise InputError(N_("{p}: {e}"), p=path, e=e) from None
    while rows < RATE_WINDOW:
        block = next(blocks, None)  # the reader's own errors name the file already
        if block is None:
            break
        try:
            check_samples(block[0], block[1], channels, rows, last)
        except InputError as e:
            raise InputError(N_("{p}: {e}"), p=path, e=e) from None
        head.append(block)
        rows, last = rows + len(block[0]), float(block[0][-1])
    try:
        if rows < 2:
            raise InputError(N_("the recording has fewer than 2 samples; nothing to analyse"))
        fs = estimate_rate(np.concatenate([t for t, _ in head])[:RATE_WINDOW])
        check_rate(fs)
    except InputError as e:
        raise InputError(N_("{p}: {e}"), p=path, e=e) from None
    return Stream(path, channels, fs, itertools.chain(head, blocks), len(head))


def open_csv(path: str | os.PathLike, block_rows: int = BLOCK_ROWS) -> Stream:
    """An analysis-contract CSV (header ``time_s,<role>_<unit>,...``, one row per sample) in blocks."""
    p = check_input_file(path, "CSV recording", MAX_RECORDING_BYTES)
    try:
        f = open(p, encoding="utf-8")  # noqa: SIM115 - kept open across the blocks; their generator closes it
    except FileNotFoundError:
        raise InputError(N_("{p}: no such file"), p=p) from None
    except OSError as e:
        raise InputError(N_("{p}: cannot read ({e})"), p=p, e=e) from None
    try:
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
        try:
            channels = tuple(Channel.parse(c) for c in cols[1:])
        except InputError as e:
            raise InputError(N_("{p}: {e}"), p=p, e=e) from None
    except (OSError, UnicodeDecodeError) as e:
        f.close()
        raise InputError(N_("{p}: cannot read ({e})"), p=p, e=e) from None
    except BaseException:
        f.close()
        raise
    return _opened(p, channels, _csv_blocks(f, len(cols), p, block_rows))


def _csv_blocks(f, ncols: int, p: Path, block_rows: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The data rows of the open file ``f`` (after its header), ``block_rows`` lines at a time."""
    line0, rows = 0, 0
    with f:
        while True:
            try:
                lines = list(itertools.islice(f, block_rows))
            except (OSError, UnicodeDecodeError) as e:
                raise InputError(N_("{p}: cannot read ({e})"), p=p, e=e) from None
            if not lines:
                break
            arr = _parse_rows(lines, ncols, p, line0)
            line0 += len(lines)
            if arr.size:
                rows += len(arr)
                yield arr[:, 0].copy(), arr[:, 1:].copy()
    if rows == 0:
        raise InputError(N_("{p}: the header has no data rows under it"), p=p)


def _parse_rows(lines: list[str], ncols: int, p: Path, line0: int = 0) -> np.ndarray:
    """The data rows of ``lines`` (the file's lines ``line0 + 1 …`` after the header)."""
    try:  # numpy's C parser: a 2400 SPS hour parses in seconds
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": a block of blank lines
            arr = np.loadtxt(lines, delimiter=",", ndmin=2, dtype=float)
    except ValueError:
        for i, ln in enumerate(lines):
            if not ln.strip():
                continue
            parts = ln.split(",")
            if len(parts) != ncols:
                raise InputError(N_("{p}: data row {value} has {n_parts} values, the header names {ncols}"),
                                 p=p, value=line0 + i + 1, n_parts=len(parts), ncols=ncols) from None
            for v in parts:
                try:
                    float(v)
                except ValueError:
                    raise InputError(N_("{p}: data row {value}: {value2!r} is not a number"),
                                     p=p, value=line0 + i + 1, value2=v.strip()) from None
        raise InputError(N_("{p}: rows have differing numbers of values"), p=p) from None
    if arr.size and (arr.ndim != 2 or arr.shape[1] != ncols):
        raise InputError(N_("{p}: every data row must have {ncols} values like the header"), p=p, ncols=ncols)
    return arr


def write_csv(path: str | os.PathLike, rec: Recording, decimals: int = 4) -> None:
    """Write a recording atomically (temp → fsync → replace → fsync dir): an SD card can lose power."""
    write_csv_blocks(path, rec.channels, [(rec.time_s, rec.data)], decimals)


def write_csv_blocks(path: str | os.PathLike, channels: tuple[Channel, ...],
                     blocks: Iterable[tuple[np.ndarray, np.ndarray]], decimals: int = 4) -> None:
    """:func:`write_csv` of a recording given as ``(time_s, data)`` blocks, written as they come:
    memory is one block, whatever the recording's length."""
    fmt = ["%.6f"] + [f"%.{decimals}f"] * len(channels)
    with atomic_write(path) as f:
        f.write((",".join(["time_s"] + [c.name for c in channels]) + "\n").encode())
        for t, x in blocks:
            if len(t):
                np.savetxt(f, np.column_stack([t, x]), fmt=fmt, delimiter=",")


def open_edf(path: str | os.PathLike, block_records: int | None = None) -> Stream:
    """An EDF+ file whose signal labels are ``<role>_<unit>`` (as pfmt exports them), in blocks
    of data records read straight from the file (only its header is parsed whole).

    Channels at different rates are brought onto the pelvic channel's time base by linear
    interpolation, because the pipeline consumes one sample row per instant; each block reads one
    data record more on either side, so the interpolation is the one of the whole file.
    """
    import edfio

    p = check_input_file(path, "EDF+ recording", MAX_RECORDING_BYTES)
    try:
        edf = edfio.read_edf(p, lazy_load_data=True)
        layout = [(s, int(s.samples_per_data_record)) for s in edf._signals]  # every signal, in record order
        n_records, header = int(edf.num_data_records), int(edf.bytes_in_header_record)
    except FileNotFoundError:
        raise InputError(N_("{p}: no such file"), p=p) from None
    except Exception as e:  # edfio raises plain ValueErrors on malformed headers
        raise InputError(N_("{p}: not a readable EDF/EDF+ file ({e})"), p=p, e=e) from None
    offsets = np.cumsum([0] + [n for _, n in layout])
    sigs = [(s, int(offsets[i]), n) for i, (s, n) in enumerate(layout)
            if s.label.strip() and not s.label.startswith("EDF Annotations")]
    if not sigs:
        raise InputError(N_("{p}: the EDF file holds no signals"), p=p)
    channels = []
    for s, _, _ in sigs:
        label = s.label.strip()
        if "_" not in label and s.physical_dimension.strip():
            label = f"{label}_{s.physical_dimension.strip()}"
        try:
            channels.append(Channel.parse(label))
        except InputError as e:
            raise InputError(N_("{p}: {e}"), p=p, e=e) from None
    order = sorted(range(len(sigs)), key=lambda i: ROLES.index(channels[i].role))
    sigs, channels = [sigs[i] for i in order], [channels[i] for i in order]
    record_len = int(offsets[-1])
    try:
        mm = np.memmap(p, dtype="<i2", mode="r", offset=header, shape=(n_records, record_len))
    except (OSError, ValueError) as e:
        raise InputError(N_("{p}: not a readable EDF/EDF+ file ({e})"), p=p, e=e) from None
    step = BLOCK_ALIGN // math.gcd(BLOCK_ALIGN, sigs[0][2])  # records whose samples fill whole IIR steps
    per = block_records or step * max(1, BLOCK_ROWS // (step * max(1, sigs[0][2])))
    return _opened(p, tuple(channels), _edf_blocks(mm, sigs, per))


def _physical(s, digital: np.ndarray) -> np.ndarray:
    """A signal's digital samples in its physical unit (EDF's linear map from its header)."""
    gain = (s.physical_max - s.physical_min) / (s.digital_max - s.digital_min)
    return (digital.astype(float) - s.digital_min) * gain + s.physical_min


def _edf_blocks(mm: np.ndarray, sigs: list, per: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    base, b_off, b_n = sigs[0]
    fs = float(base.sampling_frequency)
    n_records = mm.shape[0]
    for r0 in range(0, n_records, per):
        r1 = min(n_records, r0 + per)
        t = np.arange(r0 * b_n, r1 * b_n) / fs
        cols = [_physical(base, np.asarray(mm[r0:r1, b_off:b_off + b_n]).reshape(-1))]
        for s, off, n in sigs[1:]:
            a, b = max(0, r0 - 1), min(n_records, r1 + 1)  # a record either side: the whole file's interpolation
            x = _physical(s, np.asarray(mm[a:b, off:off + n]).reshape(-1))
            ts = np.arange(a * n, b * n) / float(s.sampling_frequency)
            cols.append(np.interp(t, ts, x))
        yield t, np.column_stack(cols)


def open_recording(path: str | os.PathLike) -> Stream:
    """A CSV or EDF+ recording, chosen by the file extension, opened for reading in blocks."""
    suffix = Path(path).suffix.lower()
    if suffix in (".edf", ".bdf"):
        return open_edf(path)
    if suffix in (".csv", ".txt", ""):
        return open_csv(path)
    raise InputError(N_("{path}: unknown recording type {suffix!r}; allowed: .csv or .edf (EDF+)"),
                     path=path, suffix=suffix)


def read_whole(stream: Stream) -> Recording:
    """Every block of ``stream`` in one :class:`Recording` (its rate the stream's). The stream has
    checked every block, the rows across their joins and the rate: :func:`validate`'s checks."""
    ts, xs = zip(*stream.blocks())
    return Recording(np.concatenate(ts), np.concatenate(xs), stream.channels, checked=True)


def read_recording(path: str | os.PathLike) -> Recording:
    """Read a CSV or EDF+ recording whole (``open_recording`` reads it in blocks)."""
    return read_whole(open_recording(path))


def read_csv(path: str | os.PathLike) -> Recording:
    return read_whole(open_csv(path))


def read_edf(path: str | os.PathLike) -> Recording:
    return read_whole(open_edf(path))


def is_finite_number(v: object) -> bool:
    """A real number a float can hold (an integer beyond 1e308 cannot: not a number here)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False

"""The acquisition thread: owns the I2C bus, reads every channel once per frame, stamps it and
hands blocks over a bounded queue — and survives every fault without stopping.

In the manner of Klipper's bulk sensor queues, the thread only reads, stamps and enqueues; all
signal work happens on the consumer side. A frame is one reading of every channel; its *index*
counts frame periods since the start, so a lost frame is a jump in the index and every jump is
accounted for by a :class:`Gap` with its reason (``i2c_error``, ``stuck``, ``late``, ``overflow``).
Pacing comes from the ALERT/RDY conversion-ready line of the first channel's chip when one is
wired (the chip's own clock, ±10 % off nominal, is then the truth), otherwise from deadlines on
the monotonic clock.

Faults never escape: an I2C error is retried with back-off, then the frame is a gap; a chip that
keeps failing is re-initialised on a growing back-off until it answers. A saturated or unplugged
sensor is reported as a :class:`SensorEvent` within half a second, and again when it recovers.
"""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from drivers.ads import Chip, Input, at_rail
from drivers.bus import I2CBus
from drivers.clock import Clock
from drivers.config import DeviceConfig

RETRIES = 2  # immediate re-tries of a failed transaction before the frame is given up
BACKOFF_S = (0.0002, 0.0005)  # pause before each re-try
REINIT_BACKOFF_S = (0.01, 0.5)  # first and longest pause between re-initialisations
FAULT_WINDOW_S = 0.25  # sensor state is judged over this window (so within 2 windows = 0.5 s)


@dataclass(frozen=True)
class Gap:
    """Frames ``index`` … ``index + count − 1`` were not delivered, and why."""

    index: int
    count: int
    reason: str


#: A channel's sensor as judged over a window of frames.
SensorState = Literal["ok", "saturated", "unplugged"]
SensorEventKind = Literal["saturated", "unplugged", "stuck", "sensor_ok", "i2c_error", "i2c_ok"]


@dataclass(frozen=True)
class SensorEvent:
    """A change of state: ``saturated``, ``unplugged``, ``sensor_ok`` (per channel), or
    ``i2c_error`` / ``i2c_ok`` (bus or chip, channel empty)."""

    kind: SensorEventKind
    t: float
    index: int
    channel: str = ""
    detail: str = ""


@dataclass
class Block:
    """Consecutive delivered frames. ``values`` are in each channel's unit, ``volts`` as measured."""

    index: np.ndarray  # (n,) int64 frame index
    t: np.ndarray  # (n,) float64 seconds on the sampler's clock, stamped at read
    values: np.ndarray  # (n, channels)
    volts: np.ndarray  # (n, channels)
    gaps: list[Gap] = field(default_factory=list)
    events: list[SensorEvent] = field(default_factory=list)


class ReadyLine(Protocol):
    def wait(self, deadline: float) -> float | None:
        """Block until the next conversion-ready edge or the deadline; the edge's time or None."""


@dataclass
class Stats:
    frames: int = 0  # delivered to the block buffer
    skipped: int = 0  # frames lost to faults or lateness (sum of gap counts, overflow included)
    overflows: int = 0  # blocks dropped because the consumer fell behind
    retries: int = 0
    errors: int = 0  # transactions that failed
    reinits: int = 0
    started: float = 0.0
    last_t: float = 0.0


class _Monitor:
    """Per-channel sensor state over fixed windows of frames: at the rail (saturated) or outside
    the sensor's valid output (unplugged). Judged once per block on the block's arrays, with the
    same window boundaries (and so the same event frames) as judging frame by frame."""

    def __init__(self, name: str, valid: tuple[float, float] | None, window: int) -> None:
        self.name, self.valid, self.window = name, valid, window
        self.n = self.rail = self.invalid = 0
        self.state: SensorState = "ok"

    def feed(self, at_rail: np.ndarray, volts: np.ndarray) -> list[tuple[int, SensorState]]:
        """Add a block's frames; (position in the block, new state) at each window end that
        changed the state."""
        invalid = ((volts < self.valid[0]) | (volts > self.valid[1])) if self.valid else None
        out: list[tuple[int, SensorState]] = []
        pos, n = 0, len(at_rail)
        while pos < n:
            take = min(self.window - self.n, n - pos)
            self.n += take
            self.rail += int(np.count_nonzero(at_rail[pos:pos + take]))
            if invalid is not None:
                self.invalid += int(np.count_nonzero(invalid[pos:pos + take]))
            pos += take
            if self.n == self.window:
                state = self._judge()
                if state is not None:
                    out.append((pos - 1, state))
        return out

    def _judge(self) -> SensorState | None:
        """At the end of a window: the new state if it changed."""
        state: SensorState = ("saturated" if self.rail * 2 >= self.n else
                 "unplugged" if self.invalid * 2 >= self.n else "ok")
        self.n = self.rail = self.invalid = 0
        if state == self.state:
            return None
        self.state = state
        return state


class Sampler:
    """Reads the configured channels at ``config.rate_hz``. Use :meth:`start` / :meth:`get` /
    :meth:`stop` for the threaded device, or :meth:`read_block` to drive it synchronously (tests,
    accelerated emulation on a virtual clock)."""

    def __init__(self, config: DeviceConfig, bus: I2CBus, clock: Clock,
                 ready: ReadyLine | None = None) -> None:
        self.config, self.bus, self.clock, self.ready = config, bus, clock, ready
        self.channel_names = tuple(c.name for c in config.channels)
        self.chips: list[Chip] = []
        self._slots: list[tuple[int, int]] = []  # channel → (chip number, input number)
        for a in config.adcs:
            mine = [c for c in config.channels if c.adc == a.address]
            chip = Chip(bus, a.model, a.address,
                        [Input(c.positive, c.negative, c.gain, c.data_rate) for c in mine], clock,
                        ready=a.ready_pin is not None)
            self.chips.append(chip)
        for c in config.channels:
            ci = next(i for i, a in enumerate(config.adcs) if a.address == c.adc)
            ki = [o.role for o in config.channels if o.adc == c.adc].index(c.role)
            self._slots.append((ci, ki))
        n_ch = len(config.channels)
        self.block_len = max(1, round(config.block_s * config.rate_hz))
        self.period = 1.0 / config.rate_hz
        self._idx = np.empty(self.block_len, np.int64)
        self._t = np.empty(self.block_len)
        self._codes = np.empty((self.block_len, n_ch), np.int64)
        self._n = 0
        self._gaps: list[Gap] = []
        self._events: list[SensorEvent] = []
        self.queue: queue.Queue[Block] = queue.Queue(maxsize=config.queue_blocks)
        self.stats = Stats()
        window = max(1, round(FAULT_WINDOW_S * config.rate_hz))
        self._monitors = [_Monitor(c.name, c.valid_v, window) for c in config.channels]
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._next_index = 0
        self._bus_ok = True
        self._backoff = REINIT_BACKOFF_S[0]
        self._period_est = self.period
        self._last_t: float | None = None  # time and index of the last delivered frame
        self._last_index = -1
        self._gap_reason = "late"
        self._ready_block: Block | None = None
        self._lsb: list[float] = []
        self._bits: list[int] = []
        self._offset = np.array([c.offset_v for c in config.channels])
        self._vpu = np.array([c.volts_per_unit for c in config.channels])
        self._one_per_chip = [ci for ci, _ in self._slots] == list(range(len(self.chips))) and \
            all(ki == 0 for _, ki in self._slots)

    @property
    def sensor_states(self) -> dict[str, SensorState]:
        """Each channel's sensor state as last judged (``ok`` until a window says otherwise)."""
        return {m.name: m.state for m in self._monitors}

    # --- bring-up ----------------------------------------------------------------------------
    def open(self) -> None:
        """Configure every chip; faults here are handled like any other (the loop retries)."""
        self.stats.started = self.stats.last_t = self._t0 = self.clock.now()
        try:
            self._configure_all()
        except OSError as e:
            self._bus_down(self._t0, str(e))

    def _configure_all(self) -> None:
        for chip in self.chips:
            chip.configure()
        if not self._lsb:
            # Volts of one code step per channel, from the library's own conversion.
            self._lsb = [self.chips[ci].volts(ki, 1 << (16 - self.chips[ci].ads.bits)) /
                         (1 << (16 - self.chips[ci].ads.bits)) for ci, ki in self._slots]
            self._bits = [self.chips[ci].ads.bits for ci, _ in self._slots]

    # --- one frame ---------------------------------------------------------------------------
    def _read_frame(self) -> list[int]:
        """Raw codes of every channel, each transaction re-tried with back-off."""
        codes: list[list[int]] = []
        for chip in self.chips:
            try:
                codes.append(chip.read_all())
            except OSError as e:
                codes.append(self._read_retrying(chip, e))
        if self._one_per_chip:
            return [c[0] for c in codes]
        return [codes[ci][ki] for ci, ki in self._slots]

    def _read_retrying(self, chip: Chip, error: OSError) -> list[int]:
        """After a failed transaction (``error``): up to RETRIES more with back-off, then the last
        error. Kept out of :meth:`_read_frame`, which runs once per frame."""
        self.stats.errors += 1
        for attempt in range(RETRIES):
            self.stats.retries += 1
            self.clock.sleep_until(self.clock.now() + BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
            try:
                return chip.read_all()
            except OSError as e:
                self.stats.errors += 1
                error = e
        raise error

    def step(self) -> None:
        """Acquire one frame (or spend the time a fault costs). Never raises for hardware faults."""
        if not self._bus_ok:
            self._try_recover()
            return
        if self.ready is not None:
            t_edge = self.ready.wait(self.clock.now() + max(3 * self.period, 0.02))
            if t_edge is None:
                self._bus_down(self.clock.now(), "no conversion-ready edge (stuck conversion)", "stuck")
                return
        else:
            slot = self._t0 + self._next_index * self.period
            self.clock.sleep_until(slot)
            t_edge = None
        try:
            codes = self._read_frame()
        except OSError as e:
            self._bus_down(self.clock.now(), str(e))
            return
        self._deliver(self.clock.now() if t_edge is None else t_edge, codes)

    def _index_for(self, t: float) -> int:
        """The frame index of a reading at time t: slots of the deadline clock when polling; with
        a ready line, whole periods of the chip's own (learnt) rate since the last frame."""
        if self.ready is None:
            return max(self._next_index, int((t - self._t0) / self.period))
        if self._last_t is None:
            return self._next_index
        dt = t - self._last_t
        k = max(1, round(dt / self._period_est))
        if k == 1:  # learn the chip's true rate (±10 % of nominal) from clean intervals
            self._period_est += 0.01 * (dt - self._period_est)
        return self._last_index + k

    def _deliver(self, t: float, codes: list[int]) -> None:
        index = self._index_for(t)
        if index > self._next_index:
            self._gap(self._next_index, index - self._next_index, self._gap_reason)
        self._gap_reason = "late"
        self._last_t, self._last_index = t, index
        self._next_index = index + 1
        n = self._n
        self._idx[n], self._t[n] = index, t
        self._codes[n] = codes
        self._n = n + 1
        self.stats.frames += 1
        self.stats.last_t = t
        if self._n == self.block_len:
            self._flush()

    def _gap(self, index: int, count: int, reason: str) -> None:
        self._gaps.append(Gap(index, count, reason))
        self.stats.skipped += count

    # --- faults ------------------------------------------------------------------------------
    def _bus_down(self, t: float, detail: str, reason: Literal["i2c_error", "stuck"] = "i2c_error") -> None:
        """Enter (or stay in) the failed state, waiting the current back-off before a re-try."""
        if self._bus_ok:
            self._events.append(SensorEvent(reason, t, self._next_index, "", detail))
            self._bus_ok = False
            self._gap_reason = reason
            self._backoff = REINIT_BACKOFF_S[0]
        self.clock.sleep_until(t + self._backoff)
        self._backoff = min(REINIT_BACKOFF_S[1], self._backoff * 2)

    def _try_recover(self) -> None:
        self.stats.reinits += 1
        try:
            self._configure_all()
        except OSError as e:
            self._bus_down(self.clock.now(), str(e))
            return
        self._bus_ok = True
        self._events.append(SensorEvent("i2c_ok", self.clock.now(), self._next_index))

    # --- hand-over ---------------------------------------------------------------------------
    def _flush(self) -> Block | None:
        n = self._n
        if n == 0 and not self._gaps and not self._events:
            return None
        codes = self._codes[:n]
        signed = np.where(codes >= 0x8000, codes - 0x10000, codes)
        volts = signed * np.asarray(self._lsb)
        values = (volts - self._offset) / self._vpu
        idx, t = self._idx[:n].copy(), self._t[:n].copy()
        if n:
            self._judge_sensors(signed, volts, idx, t)
        block = Block(idx, t, values, volts, self._gaps, self._events)
        self._n, self._gaps, self._events = 0, [], []
        self._ready_block = block
        return block

    def _judge_sensors(self, signed: np.ndarray, volts: np.ndarray, idx: np.ndarray, t: np.ndarray) -> None:
        """Saturated / unplugged / back to ok, per channel, at the frame that ends each window;
        merged in time order with the block's bus events."""
        found = []
        for k, mon in enumerate(self._monitors):
            for pos, state in mon.feed(at_rail(signed[:, k], self._bits[k]), volts[:, k]):
                found.append(SensorEvent("sensor_ok" if state == "ok" else state, float(t[pos]), int(idx[pos]),
                                         mon.name))
        if found:
            self._events = sorted(self._events + found, key=lambda e: e.index)

    def read_block(self, max_steps: int = 1_000_000) -> Block:
        """Synchronous: step until one block is complete and return it."""
        for _ in range(max_steps):
            self.step()
            if self._ready_block is not None:
                b, self._ready_block = self._ready_block, None
                return b
        raise RuntimeError("sampler produced no block")  # pragma: no cover - needs a frozen clock

    def _run(self) -> None:
        while not self._stop.is_set():
            self.step()
            b = self._ready_block
            if b is None:
                continue
            self._ready_block = None
            try:
                self.queue.put_nowait(b)
            except queue.Full:
                # The consumer fell behind: drop this block, keep sampling, and say so. The
                # dropped frames become one overflow gap; the block's events and any gap before
                # its first frame travel on with the next block.
                self.stats.overflows += 1
                if len(b.index):
                    first, last = int(b.index[0]), int(b.index[-1])
                    self.stats.skipped += len(b.index)
                    carry = [g for g in b.gaps if g.index < first] + [Gap(first, last + 1 - first, "overflow")]
                else:
                    carry = b.gaps
                self._gaps = carry + self._gaps
                self._events = b.events + self._events

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("sampler already started")
        self.open()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pfmt-sampler", daemon=True)
        self._thread.start()

    def get(self, timeout: float | None = None) -> Block | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

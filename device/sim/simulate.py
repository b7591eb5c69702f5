"""A physiological simulator of the probe: pressure (pelvic, abdominal reference, displacement)
and raw sEMG (pelvic, abdominal), built from the physiology table in DESIGN.md.

It is seeded and labelled: every recording comes with its truth (the contraction list in the
analysis-contract keys) and the calibration a physiotherapist would have measured. Tests, the
benchmark, the demo and the chip emulator all draw their signals from here.

Model, per contraction: a raised-cosine rise (0.3–1.1 s), a plateau that fatigues down by
10–40 %, optional quick lifts (flicks) at its end, a raised-cosine release; the truth hold is the
half-peak width of the clean profile. A lift leaves the abdomen within a few cmH2O and draws the
probe in; accessory effort adds abdominal pressure (0.3–0.7× the pelvic rise); bearing down
raises abdominal pressure by 40–100 cmH2O, the vagina follows passively at 0.4–0.9×, the probe
moves out. Around it: respiration in phase on both pressure channels, balloon-warming drift,
coughs, posture steps, incomplete relaxation, sensor noise, ADC quantisation; for EMG, mains hum,
ECG on the abdominal channel, motion wander and crosstalk.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from device.errors import InputError
from device.pipeline import iir
from device.recording import CMH2O_PER_MMHG, Channel, Recording

KINDS = ("lift", "accessory", "bear_down")
ADS1115_LSB_CMH2O = 0.0625   # a 16-bit ADC behind a typical 0–40 kPa bridge
COUGH_S = (0.2, 0.5)         # how long a cough lasts (DESIGN), on pressure and EMG alike


@dataclass
class Squeeze:
    """One planned contraction (the patient's action), in seconds and fractions of MVC."""

    onset_s: float
    hold_s: float                 # plateau duration (between rise end and release start)
    strength: float = 0.8         # peak as a fraction of MVC
    rise_s: float = 0.8
    release_s: float = 0.5
    flicks: int = 0
    kind: str = "lift"
    relaxed: bool = True
    fatigue: float = 0.2          # fractional drift down over the plateau
    creep: float = 0.0            # real squeezes rise fast, then creep: this share of the peak is
                                  # reached by creeping through the rest of ``rise_s`` (0 = a raised cosine)

    @property
    def end_s(self) -> float:
        return self.onset_s + self.rise_s + self.hold_s + self.flicks * 0.45 + self.release_s


@dataclass
class Scenario:
    """What the simulated session contains; ``random_scenario`` draws one from the physiology."""

    modality: str = "pressure"            # pressure | emg
    abdominal: bool = False
    displacement: bool = False
    sample_rate_hz: float = 250.0
    duration_s: float = 120.0
    hard: bool = False
    unit: str = "cmH2O"                   # pressure unit: cmH2O | mmHg
    squeezes: list[Squeeze] = field(default_factory=list)
    coughs: list[float] = field(default_factory=list)
    posture_steps: list[tuple[float, float]] = field(default_factory=list)  # (time, cmH2O)
    breath_holds: list[tuple[float, float]] = field(default_factory=list)  # (from, to) s: breathing stops
    # the patient
    pelvic_mvc: float = 35.0              # cmH2O rise, or µV RMS for EMG
    abdominal_mvc: float = 80.0
    pelvic_rest: float = 25.0             # cmH2O (balloon zero), or µV RMS
    abdominal_rest: float = 20.0
    respiration_amp: float = 1.0
    noise: float = 0.15
    drift: float = 3.0
    mains_hz: float = 50.0
    # the patient's own coupling (pressure): the share of her abdominal pressure that reaches the
    # reference sensor, her correct lift's transversus co-activation and how far the vagina follows
    # a strain (per contraction, drawn from these ranges)
    abd_transmission: float = 1.0
    lift_coactivation: tuple[float, float] = (0.0, 0.06)
    bear_follow: tuple[float, float] = (0.4, 0.9)
    # the sensor and the body as real recordings show them (``random_scenario(real=True)``)
    adc_bits: int | None = None           # quantised to this many bits over the pelvic full scale
    zero_floor: bool = False              # the sensor reads no less than 0 (a force cell, a rectifier)
    tremor: float = 0.0                   # physiological tremor (8–12 Hz) as a share of the level
    peaky: float = 0.0                    # EMG: log-normal spread of the motor-unit amplitude (envelope peaks)
    ecg_pelvic: float = 0.0               # EMG: ECG spikes on the pelvic channel (µV)


PATIENT_KEYS = ("pelvic_mvc", "abdominal_mvc", "pelvic_rest", "abdominal_rest", "respiration_amp",
                "noise", "drift", "mains_hz", "abd_transmission", "lift_coactivation", "bear_follow")


def random_patient(seed: int, modality: str = "pressure", atypical: bool = False) -> dict:
    """One patient's physiology (the :data:`PATIENT_KEYS` of a :class:`Scenario`).

    ``atypical`` draws a patient the generic lift / bear-down thresholds misjudge — the patients a
    personal calibration is for: either a reference sensor that picks up only 0.3–0.6 of her
    abdominal pressure (a strain then looks like accessory effort), or a correct lift carrying
    0.18–0.3× transversus co-activation seen through a reference at 1.0–1.5 (a lift then looks
    like accessory effort); her passive follow is her own, within the 0.45–0.85 range."""
    sc = random_scenario(seed, modality, abdominal=True, n_contractions=1)
    p = {k: getattr(sc, k) for k in PATIENT_KEYS}
    rng = np.random.default_rng(seed + 104729)
    if atypical:
        follow = float(rng.uniform(0.45, 0.85))
        if rng.random() < 0.5:  # weak reference coupling
            co, trans = float(rng.uniform(0.0, 0.1)), float(rng.uniform(0.3, 0.6))
        else:  # strong normal co-activation
            co, trans = float(rng.uniform(0.18, 0.3)), float(rng.uniform(1.0, 1.5))
        p.update(abd_transmission=trans,
                 lift_coactivation=(max(0.0, co - 0.03), co + 0.03),
                 bear_follow=(follow - 0.05, follow + 0.05))
    return p


def random_scenario(seed: int, modality: str = "pressure", abdominal: bool = False,
                    displacement: bool = False, hard: bool = False,
                    sample_rate_hz: float | None = None, n_contractions: int | None = None,
                    kinds: tuple[str, ...] | None = None, unit: str = "cmH2O",
                    patient: dict | None = None, real: bool = False) -> Scenario:
    """Draw a session: a patient (strength, rest level, noise; or the given ``patient``) and 5–15
    contractions of mixed length with coughs between them. ``hard`` = weak squeezes, drift, noise
    and posture steps."""
    rng = np.random.default_rng(seed)
    if modality not in ("pressure", "emg"):
        raise InputError(f"modality {modality!r}: allowed pressure or emg")
    emg = modality == "emg"
    fs = sample_rate_hz or float(rng.choice([860.0, 2400.0] if emg else [64.0, 250.0, 475.0, 860.0]))
    if kinds is None:
        kinds = KINDS if abdominal else (("lift", "bear_down") if displacement else ("lift",))
    sc = Scenario(modality=modality, abdominal=abdominal, displacement=displacement,
                  sample_rate_hz=fs, hard=hard, unit=unit)
    if emg:
        sc.pelvic_rest = float(rng.uniform(2, 7))
        sc.pelvic_mvc = float(rng.uniform(5, 20) if hard else rng.uniform(25, 70)) + sc.pelvic_rest
        sc.abdominal_rest = float(rng.uniform(2, 8))
        sc.abdominal_mvc = float(rng.uniform(80, 300))
        sc.noise = float(rng.uniform(1.0, 2.5) if hard else rng.uniform(0.5, 1.5))
        sc.mains_hz = float(rng.choice([50.0, 60.0]))
    else:
        sc.pelvic_rest = float(rng.uniform(5, 40))
        sc.pelvic_mvc = float(rng.uniform(5, 15) if hard else rng.uniform(15, 50))
        sc.abdominal_rest = float(rng.uniform(10, 30))
        sc.abdominal_mvc = float(rng.uniform(60, 100))
        sc.respiration_amp = float(rng.uniform(1.0, 2.0) if hard else rng.uniform(0.3, 1.2))
        sc.noise = float(rng.uniform(0.2, 0.4) if hard else rng.uniform(0.05, 0.2))
        sc.drift = float(rng.uniform(3, 8) if hard else rng.uniform(0, 3))
    if patient is not None:
        for k, v in patient.items():
            if k not in PATIENT_KEYS:
                raise InputError(f"unknown patient key {k!r}; allowed: {', '.join(PATIENT_KEYS)}")
            setattr(sc, k, v)
    n = n_contractions or int(rng.integers(5, 14))
    t = float(rng.uniform(4, 8))
    for _ in range(n):
        kind = str(rng.choice(kinds))
        style = rng.choice(["quick", "short", "medium", "long"], p=[0.15, 0.3, 0.4, 0.15])
        if kind == "bear_down" and style == "quick":
            style = "short"  # a strain builds over 0.5–2 s (DESIGN): there is no quick one
        hold = {"quick": rng.uniform(0.1, 0.4), "short": rng.uniform(1.5, 4),
                "medium": rng.uniform(4, 9), "long": rng.uniform(12, 30)}[style]
        rise = rng.uniform(0.15, 0.3) if style == "quick" else rng.uniform(0.3, 1.1)
        release = rng.uniform(0.15, 0.3) if style == "quick" else rng.uniform(0.3, 0.6)
        flicks = int(rng.choice([3, 4])) if (style == "medium" and kind != "bear_down"
                                            and rng.random() < 0.4) else 0
        strength = float(rng.uniform(0.5, 1.0) if not hard else rng.uniform(0.7, 1.2))
        relaxed = bool(rng.random() > (0.3 if hard else 0.15))
        sq = Squeeze(onset_s=round(t, 3), hold_s=float(hold), strength=strength, rise_s=float(rise),
                     release_s=float(release), flicks=flicks, kind=kind, relaxed=relaxed,
                     fatigue=float(rng.uniform(0.0, 0.1) if style == "quick" else rng.uniform(0.1, 0.4)))
        sc.squeezes.append(sq)
        gap = float(rng.uniform(3.0, 9.0))
        if rng.random() < 0.25:  # a cough in the rest that follows
            sc.coughs.append(round(sq.end_s + float(rng.uniform(1.5, gap - 1.2)) if gap > 2.8
                                   else sq.end_s + 1.5, 3))
            gap = max(gap, 3.0)
        t = sq.end_s + gap
    sc.duration_s = t + 2.0
    if real:
        _make_real(sc, rng)
    if hard and not emg:
        for _ in range(int(rng.integers(1, 3))):
            i = int(rng.integers(0, len(sc.squeezes)))
            a = sc.squeezes[i].end_s + 1.0
            b = sc.squeezes[i + 1].onset_s - 1.5 if i + 1 < len(sc.squeezes) else sc.duration_s - 1
            if b > a:
                sc.posture_steps.append((round(float(rng.uniform(a, b)), 3),
                                         float(rng.choice([-1, 1]) * rng.uniform(2, 6))))
    return sc


def _make_real(sc: Scenario, rng: np.random.Generator) -> None:
    """What real recordings show and the raised-cosine model does not (issue 16): squeezes that
    rise fast and then creep, light squeezes (10–30 % MVC) among the others, quantised sensors
    with a zero floor (a squeeze-ball force cell on 12 bits; 8-bit EMG), tremor on force, peaky
    EMG envelopes, brief EMG bursts (0.05–0.3 s), ECG on the EMG, and 200–250 Hz EMG."""
    emg = sc.modality == "emg"
    sc.zero_floor = True
    sc.coughs = []  # limb and hand muscles: nothing coughs into them
    if emg:
        sc.sample_rate_hz = float(rng.choice([200.0, 250.0]))
        sc.adc_bits = 8 if sc.sample_rate_hz == 200.0 else None
        sc.peaky = float(rng.uniform(0.1, 0.3))
        sc.ecg_pelvic = float(rng.uniform(5, 40)) if sc.sample_rate_hz == 250.0 else 0.0
    else:
        sc.sample_rate_hz = 200.0
        sc.adc_bits = 12
        sc.pelvic_rest = 0.0
        sc.drift = float(rng.uniform(0, 1.5))
        sc.tremor = float(rng.uniform(0.005, 0.02))
        sc.respiration_amp = 0.0
        sc.coughs = []
        sc.posture_steps = []
    brief = emg and rng.random() < 0.5
    for sq in sc.squeezes:
        if sq.kind != "lift":
            continue
        if not brief and not sc.hard and rng.random() < 0.35:  # light squeezes are held, not flicked
            sq.strength = float(rng.uniform(0.1, 0.3))
        if brief:
            sq.hold_s, sq.rise_s, sq.release_s = (float(rng.uniform(0.05, 0.3)), float(rng.uniform(0.05, 0.1)),
                                                  float(rng.uniform(0.05, 0.15)))
            sq.flicks = 0
        elif sq.rise_s > 0.3:
            sq.creep = float(rng.uniform(0.15, 0.35))
            sq.rise_s = float(rng.uniform(0.8, 2.0))


def _sensor(x: np.ndarray, sc: Scenario, full_scale: float, bipolar: bool) -> np.ndarray:
    """The sensor's zero floor and its ADC's quantisation over ``full_scale``."""
    if sc.zero_floor and not bipolar:
        x = np.maximum(x, 0.0)
    if sc.adc_bits:
        lsb = (2.0 if bipolar else 1.0) * full_scale / 2 ** sc.adc_bits
        x = np.round(x / lsb) * lsb
    return x


def _span(t: np.ndarray, start: float, end: float) -> slice:
    """The samples of ``t`` in [start, end): each event is rendered only where it is non-zero, so
    a long session costs memory for its length once, not once per squeeze."""
    return slice(int(np.searchsorted(t, start)), int(np.searchsorted(t, end)))


def _raised_cosine(u: np.ndarray) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(u, 0.0, 1.0))


def squeeze_profile(t: np.ndarray, sq: Squeeze, amp: float) -> np.ndarray:
    """Clean activation (0 at rest, ``amp`` at the top of the rise) of one squeeze."""
    y = np.zeros_like(t)
    t0 = sq.onset_s
    t1 = t0 + sq.rise_s
    flick_s = 0.45
    t2 = t1 + sq.hold_s
    t3 = t2 + sq.flicks * flick_s
    t4 = t3 + sq.release_s
    m = (t >= t0) & (t < t1)
    if sq.creep > 0:  # fast exponential start (τ = a sixth of the rise), then a linear creep
        u = (t[m] - t0) / sq.rise_s
        fast = (1.0 - np.exp(-6.0 * u)) / (1.0 - np.exp(-6.0))
        y[m] = amp * ((1.0 - sq.creep) * fast + sq.creep * u)
    else:
        y[m] = amp * _raised_cosine((t[m] - t0) / sq.rise_s)
    m = (t >= t1) & (t < t3)
    plateau_end = amp * (1.0 - sq.fatigue)
    y[m] = amp - (amp - plateau_end) * np.minimum((t[m] - t1) / max(sq.hold_s, 1e-9), 1.0)
    if sq.flicks:
        m = (t >= t2) & (t < t3)
        ph = (t[m] - t2) / flick_s
        y[m] += 0.4 * amp * np.sin(np.pi * (ph % 1.0)) ** 2
    m = (t >= t3) & (t < t4)
    y[m] = plateau_end * (1.0 - _raised_cosine((t[m] - t3) / sq.release_s))
    return y


def squeeze_pressures(t: np.ndarray, sq: Squeeze, sc: Scenario, rng: np.random.Generator):
    """One squeeze's (pelvic, abdominal at the abdomen, displacement, pelvic truth profile).

    Bearing down raises the abdomen by 40–100 % of its maximum and the vagina follows passively;
    a lift leaves the abdomen near rest (the patient's co-activation), accessory effort adds
    0.3–0.7 of the squeeze there; the probe is drawn in by a lift and pushed out by a strain."""
    if sq.kind == "bear_down":
        a_amp = float(rng.uniform(40, 100)) * sc.abdominal_mvc / 100.0 * sq.strength
        follow = float(rng.uniform(*sc.bear_follow))
        prof = squeeze_profile(t, sq, a_amp)
        return follow * prof, prof, -prof / a_amp * float(rng.uniform(1.5, 5.0)), follow * prof
    amp = sq.strength * sc.pelvic_mvc
    prof = squeeze_profile(t, sq, amp)
    co = (float(rng.uniform(0.3, 0.7)) + sc.lift_coactivation[0] if sq.kind == "accessory"
          else float(rng.uniform(*sc.lift_coactivation)))
    disp = prof / amp * float(rng.uniform(1.0, 4.0) if sq.kind == "lift" else rng.uniform(0.5, 1.5))
    return prof, co * prof, disp, prof


def _truth_of(t: np.ndarray, prof: np.ndarray, sq: Squeeze) -> dict:
    """Onset, offset, half-peak hold and peak of one squeeze. A negative strength (the pressure
    drop of a hypopressive apnoea) is measured on its magnitude and keeps its sign in ``peak``."""
    sign = -1.0 if sq.strength < 0 else 1.0
    mag = sign * prof
    pk = float(mag.max()) if len(mag) else 0.0
    above = np.flatnonzero(mag >= 0.5 * pk) if pk > 0 else np.empty(0, int)
    hold = float(t[above[-1]] - t[above[0]]) if len(above) else 0.0
    return dict(onset_s=round(sq.onset_s, 3), offset_s=round(sq.end_s, 3),
                hold_s=round(hold, 3), peak=round(sign * pk, 2),
                flicks=sq.flicks, kind=sq.kind, relaxed=sq.relaxed)


def _residual(t: np.ndarray, sc: Scenario, i: int) -> tuple[slice, np.ndarray]:
    """Incomplete relaxation: where the tone left after squeeze i lasts (until just before the
    next one) and its shape there at unit level; callers scale it per channel."""
    sq = sc.squeezes[i]
    end = sc.squeezes[i + 1].onset_s - 0.3 if i + 1 < len(sc.squeezes) else sc.duration_s
    span = _span(t, sq.end_s - sq.release_s, end)
    ts = t[span]
    ramp_in = _raised_cosine((ts - (sq.end_s - sq.release_s)) / sq.release_s)
    ramp_out = 1.0 - _raised_cosine((ts - (end - 0.3)) / 0.3)
    return span, np.minimum(ramp_in, ramp_out)


def _cough(t: np.ndarray, tc: float, width: float) -> np.ndarray:
    u = (t - tc) / width + 0.5
    return np.where((u > 0) & (u < 1), np.sin(np.pi * np.clip(u, 0, 1)) ** 2, 0.0)


def simulate(sc: Scenario, seed: int = 0) -> tuple[Recording, dict, dict]:
    """Render a scenario into (recording, truth, calibration)."""
    rng = np.random.default_rng(seed + 7919)
    fs = float(sc.sample_rate_hz)
    n = int(sc.duration_s * fs)
    t = np.arange(n) / fs
    emg = sc.modality == "emg"
    truth_list: list[dict] = []
    if emg:
        cols, chans = _render_emg(sc, t, fs, rng, truth_list)
    else:
        cols, chans = _render_pressure(sc, t, fs, rng, truth_list)
    rec = Recording(t, np.column_stack(cols), tuple(chans))
    kind_scored = sc.abdominal or sc.displacement
    classes = (list(KINDS) if sc.abdominal else ["lift", "bear_down"] if sc.displacement
               else ["lift"]) + ["cough"]
    unit_scale = 1.0 / CMH2O_PER_MMHG if (not emg and sc.unit == "mmHg") else 1.0
    cal = {"pelvic": {"rest": round(sc.pelvic_rest if emg else 0.0, 2),
                      "mvc": round(sc.pelvic_mvc if emg else sc.pelvic_mvc * unit_scale, 2)}}
    if sc.abdominal:
        cal["abdominal"] = {"rest": round(sc.abdominal_rest if emg else 0.0, 2),
                            "mvc": round(sc.abdominal_mvc if emg else sc.abdominal_mvc * unit_scale, 2)}
    truth = dict(sample_rate_hz=fs, kind_scored=kind_scored, modality="emg" if emg else "pressure",
                 hard=sc.hard, classes=classes, calibration=cal, channels=[c.name for c in chans],
                 contractions=truth_list,
                 artifacts=[{"kind": "cough", "time_s": c} for c in sc.coughs],
                 scenario=_scenario_dict(sc))
    return rec, truth, cal


def _scenario_dict(sc: Scenario) -> dict:
    d = asdict(sc)
    d.pop("squeezes")
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in d.items()}


def _render_pressure(sc, t, fs, rng, truth_list):
    n = len(t)
    f_resp = float(rng.uniform(0.15, 0.35))
    resp = sc.respiration_amp * np.sin(2 * np.pi * f_resp * t + rng.uniform(0, 2 * np.pi))
    for a, b in sc.breath_holds:  # the breath held: the pressure stays where breathing stopped
        held = (t >= a) & (t < b)
        if held.any():
            resp[held] = resp[int(np.argmax(held))]
    drift = sc.drift * (1.0 - np.exp(-t / float(rng.uniform(60, 150))))
    steps = np.zeros(n)
    for ts, dv in sc.posture_steps:
        steps += dv * _raised_cosine((t - ts) / 0.3)
    pel = sc.pelvic_rest + drift + resp + steps
    abd = sc.abdominal_rest + resp * float(rng.uniform(0.8, 1.2)) + steps
    disp = np.zeros(n)
    for i, sq in enumerate(sc.squeezes):
        amp = sq.strength * sc.pelvic_mvc
        span = _span(t, sq.onset_s, sq.end_s)
        p_, a_, d_, tprof = squeeze_pressures(t[span], sq, sc, rng)
        pel[span] += p_
        abd[span] += a_
        disp[span] += d_
        truth = _truth_of(t[span], tprof, sq)
        if not sq.relaxed:
            level = float(rng.uniform(0.25, 0.45)) * truth["peak"]
            rspan, shape = _residual(t, sc, i)
            pel[rspan] += level * shape
            disp[rspan] += level / max(amp, 1e-9) * 1.0 * shape
        truth_list.append(truth)
    for tc in sc.coughs:
        width = float(rng.uniform(*COUGH_S))
        span = _span(t, tc - width / 2, tc + width / 2)
        spike = float(rng.uniform(50, 165)) * _cough(t[span], tc, width)
        abd[span] += spike
        pel[span] += float(rng.uniform(0.5, 0.9)) * spike
        disp[span] -= 0.01 * spike
    if sc.abd_transmission != 1.0:
        abd = sc.abdominal_rest + sc.abd_transmission * (abd - sc.abdominal_rest)
    if sc.tremor:  # physiological tremor grows with the force
        pel += sc.tremor * (pel - sc.pelvic_rest) * np.sin(2 * np.pi * float(rng.uniform(8, 12)) * t)
    pel += sc.noise * rng.standard_normal(n)
    abd += sc.noise * rng.standard_normal(n)
    disp += 0.03 * rng.standard_normal(n)
    if sc.zero_floor or sc.adc_bits:
        pel = _sensor(pel, sc, 1.5 * (sc.pelvic_rest + sc.pelvic_mvc), bipolar=False)
    scale = 1.0 / CMH2O_PER_MMHG if sc.unit == "mmHg" else 1.0
    lsb = ADS1115_LSB_CMH2O * scale
    cols = [np.round(pel * scale / lsb) * lsb]
    chans = [Channel("pelvic", sc.unit)]
    if sc.abdominal:
        cols.append(np.round(abd * scale / lsb) * lsb)
        chans.append(Channel("abdominal", sc.unit))
    if sc.displacement:
        cols.append(np.round(disp / 0.001) * 0.001)
        chans.append(Channel("displacement", "mm"))
    if scale != 1.0:
        for tr in truth_list:
            tr["peak"] = round(tr["peak"] * scale, 2)
    return cols, chans


def _emg_noise(n, fs, rng):
    """Unit-RMS surface-EMG-like noise: white noise shaped to 20–250 Hz (within Nyquist)."""
    hi = min(250.0, 0.45 * fs)
    x = iir.sosfilt(iir.butter_bandpass(20.0, hi, fs), rng.standard_normal(n))
    return x / np.std(x)


def squeeze_envelopes(t: np.ndarray, sq: Squeeze, sc: Scenario, rng: np.random.Generator):
    """One squeeze's (pelvic, abdominal) EMG amplitude above rest and the truth profile: a strain
    fires the abdominals at 50–100 % of their maximum with only crosstalk at the pelvic floor."""
    if sq.kind == "bear_down":
        a_amp = float(rng.uniform(0.5, 1.0)) * (sc.abdominal_mvc - sc.abdominal_rest)
        prof = squeeze_profile(t, sq, a_amp)
        return float(rng.uniform(0.0, 0.06)) * prof, prof, prof
    amp = sq.strength * (sc.pelvic_mvc - sc.pelvic_rest)
    prof = squeeze_profile(t, sq, amp)
    co = float(rng.uniform(0.2, 0.5)) if sq.kind == "accessory" else float(rng.uniform(0, 0.01))
    return prof, co * (sc.abdominal_mvc - sc.abdominal_rest) * prof / max(amp, 1e-9), prof


def _render_emg(sc, t, fs, rng, truth_list):
    n = len(t)
    pel_amp = np.full(n, float(sc.pelvic_rest))
    abd_amp = np.full(n, float(sc.abdominal_rest))
    for i, sq in enumerate(sc.squeezes):
        span = _span(t, sq.onset_s, sq.end_s)
        p_, a_, tprof = squeeze_envelopes(t[span], sq, sc, rng)
        pel_amp[span] += p_
        abd_amp[span] += a_
        truth = _truth_of(t[span], tprof, sq)
        if not sq.relaxed:
            # Tone left at the pelvic floor, scaled by the pelvic squeeze — for a strain, whose
            # truth peak is the abdominal EMG, by half the pelvic range (it barely fired).
            ref = 0.5 * (sc.pelvic_mvc - sc.pelvic_rest) if sq.kind == "bear_down" else truth["peak"]
            rspan, shape = _residual(t, sc, i)
            pel_amp[rspan] += float(rng.uniform(0.25, 0.45)) * ref * shape
        truth_list.append(truth)
    for tc in sc.coughs:
        width = float(rng.uniform(*COUGH_S))
        span = _span(t, tc - width / 2, tc + width / 2)
        burst = _cough(t[span], tc, width)
        abd_amp[span] += float(rng.uniform(100, 250)) * burst
        pel_amp[span] += float(rng.uniform(10, 25)) * burst
    if sc.peaky:  # motor units fire in bursts: the amplitude varies log-normally at 2–8 Hz
        lp = iir.sosfilt(iir.butter_lowpass(min(8.0, 0.2 * fs), fs), rng.standard_normal(n))
        lp /= max(float(np.std(lp)), 1e-12)
        pel_amp = sc.pelvic_rest + (pel_amp - sc.pelvic_rest) * np.exp(sc.peaky * lp - sc.peaky ** 2 / 2)
    pel = pel_amp * _emg_noise(n, fs, rng)
    abd = abd_amp * _emg_noise(n, fs, rng)
    hum = float(rng.uniform(2, 20 if sc.hard else 8))
    phase = rng.uniform(0, 2 * np.pi)
    pel += hum * np.sin(2 * np.pi * sc.mains_hz * t + phase)
    abd += hum * np.sin(2 * np.pi * sc.mains_hz * t + phase + 0.3)
    wander = float(rng.uniform(5, 25 if sc.hard else 8))
    pel += wander * np.sin(2 * np.pi * float(rng.uniform(0.05, 0.3)) * t)
    # ECG on the abdominal channel: QRS-like spikes at ~60–90 bpm
    hr = float(rng.uniform(1.0, 1.5))
    beats = np.arange(float(rng.uniform(0, 1)), t[-1], 1.0 / hr)
    ecg = np.zeros(n)
    for b in beats:
        span = _span(t, b - 0.1, b + 0.1)  # ±8 σ: beyond it the spike is below 1e-14
        ecg[span] += np.exp(-0.5 * ((t[span] - b) / 0.012) ** 2)
    abd += float(rng.uniform(30, 120)) * ecg
    pel += sc.ecg_pelvic * ecg
    pel += sc.noise * rng.standard_normal(n)
    abd += sc.noise * rng.standard_normal(n)
    lsb = 0.0625  # µV after the front-end gain
    cols = [_sensor(pel, sc, 4.0 * sc.pelvic_mvc, bipolar=True) if sc.adc_bits else np.round(pel / lsb) * lsb]
    chans = [Channel("pelvic", "uV")]
    if sc.abdominal:
        cols.append(np.round(abd / lsb) * lsb)
        chans.append(Channel("abdominal", "uV"))
    return cols, chans


def write_example(path, seed: int = 1, **kw) -> str:
    """Simulate one recording and write CSV + truth JSON + calibration JSON beside each other."""
    import json
    from pathlib import Path

    from device.files import atomic_write
    from device.recording import write_csv

    sc = random_scenario(seed, **kw)
    rec, truth, cal = simulate(sc, seed)
    p = Path(path)
    if p.suffix.lower() != ".csv":
        p = p.with_suffix(".csv")
    truth["recording"] = p.name
    write_csv(p, rec)
    for suffix, obj in ((".json", truth), (".cal.json", cal)):
        with atomic_write(p.with_name(p.stem + suffix)) as f:
            f.write(json.dumps(obj, indent=1).encode())
    return str(p)


#: The mix of an evaluation set: (name prefix, modality, abdominal, displacement, hard)
DATASET_MIX = (("p1", "pressure", False, False, False), ("p1", "pressure", False, False, True),
               ("p2", "pressure", True, False, False), ("p3", "pressure", True, True, False),
               ("pd", "pressure", False, True, False), ("pd", "pressure", False, True, True),
               ("e1", "emg", False, False, False), ("e1", "emg", False, False, True),
               ("e2", "emg", True, False, False))


#: The mix of a real-like set (``real=True``): squeeze-ball force at 200 Hz, single-channel EMG at
#: 200 Hz (8 bit) or 250 Hz (with ECG; half of them brief bursts), the hard (low-SNR) EMG
REAL_MIX = (("fr", "pressure", False, False, False), ("er", "emg", False, False, False),
            ("er", "emg", False, False, True))


def write_dataset(directory, count: int, seed: int = 1, real: bool = False) -> list[str]:
    """A labelled set in the dev set's layout, for judging the pipeline on unseen recordings
    (``real``: the real-like mix, :data:`REAL_MIX`)."""
    from pathlib import Path

    out = []
    mix = REAL_MIX if real else DATASET_MIX
    for i in range(count):
        prefix, modality, abd, disp, hard = mix[i % len(mix)]
        name = f"{prefix}_sim_{seed + i:04d}{'_hard' if hard else ''}.csv"
        out.append(write_example(Path(directory) / name, seed=seed + i, modality=modality,
                                 abdominal=abd, displacement=disp, hard=hard, real=real))
    return out

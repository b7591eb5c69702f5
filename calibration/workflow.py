"""``pfmt calibrate``: the physiotherapist's guided workflow — stage → validate → accept or abort.

In the manner of Klipper's TARE → CALIBRATE → ACCEPT, every measurement is staged in memory and
checked at once; a failed check says what is wrong and offers to repeat the step; nothing reaches
the profile store until the physio reviews the whole result and accepts it. Steps:

``sensor``        pressure: two-point span against a reference (water column or manometer) giving
                  gain and offset, a middle point checking linearity; EMG: the noise floor with the
                  inputs shorted and the gain in µV from a sine calibrator at two amplitudes.
                  Saturated, too-small-span and non-linear results are refused.
``patient``       probe in, wait until balloon-warming drift settles (pressure), resting level and
                  its spread on every channel, MVC as the best of three maximal squeezes (refused
                  below the noise), the abdominal maximum from a guided Valsalva, then examples of
                  a correct lift and of bearing down that the physio verifies by palpation; they
                  personalise the lift / accessory / bear-down decision (``device/pipeline/kinds.py``) and
                  must separate.
``prescription``  programme, per-exercise targets, frequency, progression on/off, patient code, notes.

The workflow reads the sampler like the session does (``rig.next_block``); on the emulated device
an *actor* (``calibration/emulated.py``) plays the physio's bench and the patient on each cue.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from calibration.console import Console
from calibration.fit import (
    DRIFT_SETTLED,
    MIN_REF_SPAN,
    MVC_MIN_SPREADS,
    Reference,
    Sine,
    best_mvc,
    drift_per_s,
    fit_emg,
    fit_pressure,
)
from calibration.profile import (
    PATIENT_CODE,
    PIN_RE,
    SECRET_MAX,
    SECRET_MIN,
    SECRET_RULE,
    PinGuard,
    Prescription,
    Profile,
    ProfileStore,
    SensorTransfer,
)
from device import words
from device.config import ChannelConfig, DeviceConfig, recorded_channels
from device.errors import N_, Aborted, AccessError, CalibrationError, InputError, Phrase, StorageError
from device.i18n import LANGUAGES
from device.pipeline import Pipeline
from device.pipeline.calibration import Calibration, ChannelCalibration
from device.pipeline.conditioning import decimation_factor, make_conditioner
from device.pipeline.kinds import MIN_EXAMPLES, decide, fit
from device.training.programme import (
    EXERCISE_BOUNDS,
    PROGRAMME_BOUNDS,
    ProgrammeError,
    builtin_names,
    load_programme,
    with_targets,
)
from drivers.ads import FULL_SCALE_V

STEPS = ("sensor", "patient", "prescription")
STEP_TRIES = 3              # a step refused this often ends the workflow (the cause is not chance)
SAVE_TRIES = 3              # accepting on a full or read-only card: saved again after she frees it

# sensor checks
REF_SETTLE_S = 1.5          # after the physio presses Enter, before the reference is measured
REF_TAKE_S = 3.0
RAIL_SHARE = 0.02           # more than this share of samples at a rail = saturated
# patient checks
ZERO_WINDOW_S = 20.0
ZERO_DEADLINE_S = 600.0
REST_TAKE_S = 20.0
ATTEMPT_PRE_S = 2.5         # rest recorded before each cue (the pipeline learns the level)
ATTEMPT_TAKE_S = 10.0
MVC_ATTEMPTS = 3
MAX_EXAMPLE_TRIES = 6


@dataclass
class Take:
    """One recording of every channel: times, volts as measured, and what the sampler reported."""

    t: np.ndarray
    volts: np.ndarray
    events: list = field(default_factory=list)
    gaps: int = 0


@dataclass
class Stage:
    """What has been measured so far (nothing is saved until it is accepted)."""

    sensor: dict[str, SensorTransfer] = field(default_factory=dict)
    patient: dict = field(default_factory=dict)
    calibration: Calibration | None = None
    prescription: Prescription | None = None
    patient_code: str | None = None
    changes: list[str] = field(default_factory=list)


class Workflow:
    def __init__(self, rig, config: DeviceConfig, console: Console, store: ProfileStore,
                 actor: Callable[..., None] | None = None, steps: Iterable[str] = STEPS,
                 now: Callable[[], dt.datetime] = dt.datetime.now) -> None:
        steps = tuple(steps)
        bad = [s for s in steps if s not in STEPS]
        if bad or not steps:
            raise InputError(N_("unknown calibration step {value!r}; allowed: {items}"),
                             value=bad[0] if bad else '(none)', items=', '.join(STEPS))
        self.rig, self.config, self.console, self.store = rig, config, console, store
        self.actor, self.steps, self.now = actor, steps, now
        self.channels = recorded_channels(config)
        self.modality = self.channels[0].modality
        self.fs = config.rate_hz
        self.stage = Stage()
        self.previous: Profile | None = None
        self.new_pin: dict | None = None
        self.secret: str | None = None  # typed at login, held only to sign what she accepts; never stored

    # --- the whole workflow ------------------------------------------------------------------
    def run(self) -> Profile:
        """Authorise, run the steps, review; the saved profile. Raises :class:`Aborted` when the
        physio aborts and :class:`CalibrationError` when a step is refused and not repeated."""
        self.store.check_writable()  # before she spends twenty minutes on it, not at accept
        self._authorise()
        prev = self.previous
        if prev is not None:
            self.stage.sensor = dict(prev.sensor)
            self.stage.patient = dict(prev.patient)
            self.stage.calibration = prev.calibration
            self.stage.prescription = prev.prescription
            self.stage.patient_code = prev.patient_code
        missing = [s for s, have in (("sensor", self.stage.sensor), ("patient", self.stage.calibration),
                                     ("prescription", self.stage.prescription)) if not have and s not in self.steps]
        if missing:
            raise CalibrationError(N_("there is no earlier profile to take the {items} from: run the {items2} "
                                      "step(s) too"), items=', '.join(missing), items2='/'.join(missing))
        if any(s in self.steps for s in ("sensor", "patient")):
            self.rig.start()
        try:
            for step in self.steps:
                self._repeatable(step, getattr(self, f"step_{step}"))
            return self._review()
        finally:
            if any(s in self.steps for s in ("sensor", "patient")):
                self.rig.close()

    def _authorise(self) -> None:
        holder = self.store.pin_holder()
        try:
            self.previous = self.store.current()
        except CalibrationError as e:
            self.console.say(N_("Note: {e}"), e=e)
            self.previous = holder
        if holder is None or holder.pin is None:
            self.new_pin, self.secret = choose_secret(self.console,
                                                      Phrase(N_("No physiotherapist secret is set on this device yet")))
            return
        self.secret = require_pin(self.console, holder, PinGuard(self.store.dir.parent))
        if holder.weak_pin:  # a 4–8 digit PIN from before: replaced now, at the physio's login
            self.new_pin, self.secret = choose_secret(self.console, Phrase(N_("This device's physio PIN is too short to be safe")))

    def _repeatable(self, name: str, step: Callable[[], None]) -> None:
        for n in range(1, STEP_TRIES + 1):
            try:
                step()
                self.stage.changes.append(name)
                return
            except CalibrationError as e:
                self.console.say(N_("✗ {name} refused: {e}"), name=name, e=e)
                if n == STEP_TRIES or not self._yes(self.console.tr(N_("Repeat the {step} step?")).format(step=name),
                                                    "retry", default=True):
                    raise CalibrationError(N_("{name}: {e} (nothing was saved)"), name=name, e=e) from None

    def _review(self) -> Profile:
        # run() refuses to start without an earlier profile to take a skipped step from
        assert self.stage.calibration is not None and self.stage.prescription is not None, "a step is missing"
        prof = Profile(patient_code=self.stage.patient_code or "", calibration=self.stage.calibration,
                       prescription=self.stage.prescription, sensor=self.stage.sensor,
                       patient=self.stage.patient, pin=self.new_pin or (self.previous.pin if self.previous else None))
        prof.version = (self.store.versions() or [0])[-1] + 1
        prof.changes = list(self.stage.changes)
        prof.created_at = self.now().isoformat(timespec="seconds") + " (not saved yet)"
        self.console.say("")
        self.console.say(N_("Review:"))
        self.console.say(prof.summary(self.console.tr))
        try:
            Profile.from_dict(prof.to_dict(), "the staged profile", signed=False)  # signed when accepted
        except CalibrationError as e:
            raise CalibrationError(N_("the staged profile is not valid, nothing was saved: {e}"), e=e) from None
        if not self._yes(N_("Accept and save this profile?"), "accept", default=False):
            raise Aborted(N_("profile not accepted; nothing was saved"))
        by = ask_physio(self.console)
        for attempt in range(1, SAVE_TRIES + 1):
            try:
                saved = self.store.save(prof, by, self.stage.changes, self.now(), secret=self.secret)
                break
            except StorageError as e:  # a full or read-only card: her work is kept here, to save again
                self.console.say(N_("Not saved: {e}"), e=e)
                if attempt == SAVE_TRIES or not self._yes(N_("Free space on the card (or make it writable), then save "
                                                             "again?"), "retry_save", default=True):
                    raise StorageError(N_("{e}; the profile was not saved (the previous one stays in force)"),
                                       e=e) from None
        self.console.say(N_("Saved profile version {version} ({value})."),
                         version=saved.version, value=self.store.path(saved.version))
        if saved.key_fingerprint:
            self.console.say(N_("Signed with your key {key}. Every session and export names the key of the "
                                "prescription it trained: one showing another key was not yours."),
                             key=saved.key_fingerprint)
            if self.store.key_changed(saved):
                self.console.say(N_("(A new key: the secret changed.)"))
        return saved

    # --- asking ------------------------------------------------------------------------------
    def _yes(self, prompt: str, key: str, default: bool) -> bool:
        """A yes or no, in her language's words or in English (y/yes, n/no always count)."""
        tr = self.console.tr
        y, n = tr(N_("y")), tr(N_("n"))
        yes = {"y", "yes", y, tr(N_("yes"))}
        no = {"n", "no", n, tr(N_("no"))}
        while True:
            shown = f"{tr(prompt)} [{y.upper()}/{n}]" if default else f"{tr(prompt)} [{y}/{n.upper()}]"
            a = self.console.ask(shown, key, y if default else n).lower()
            if a in yes:
                return True
            if a in no:
                return False
            self.console.say(N_("Answer {y} or {n} (or abort)."), y=y, n=n)

    def _number(self, prompt: str, key: str, default: float | None, lo: float, hi: float,
                integer: bool = False) -> float:
        for _ in range(5):
            a = self.console.ask(prompt, key, None if default is None else f"{default:g}")
            try:
                v = int(a) if integer else float(a)
            except ValueError:
                self.console.say(N_("{a!r} is not a whole number; allowed {lo:g}…{hi:g}.") if integer else
                                 N_("{a!r} is not a number; allowed {lo:g}…{hi:g}."), a=a, lo=lo, hi=hi)
                continue
            if not lo <= v <= hi:
                self.console.say(N_("{v:g} is outside {lo:g}…{hi:g}."), v=v, lo=lo, hi=hi)
                continue
            return v
        raise InputError(N_("no valid answer for {value} (allowed {lo:g}…{hi:g})"), value=prompt.lower(), lo=lo, hi=hi)

    def _act(self, action: str, **kw) -> None:
        if self.actor is not None:
            self.actor(action, now=self.rig.clock.now(), **kw)

    # --- recording ---------------------------------------------------------------------------
    def take(self, seconds: float, settle_s: float = 0.0, cue: str | None = None, cue_at: float = 0.0,
             action: str = "", pattern: str = "squeeze") -> Take:
        """Record ``seconds`` after ``settle_s``; a ``cue`` is given (terminal, buzzer, and the
        emulated patient's ``action``) ``cue_at`` seconds into the recording. Blocks older than the
        call are skipped (on the device they queued while the physio read the screen)."""
        begin = self.rig.clock.now()
        start, end = begin + settle_s, begin + settle_s + seconds
        ts, vs, events, gaps = [], [], [], 0
        cued = cue is None
        player = self.rig.feedback.player
        while True:
            b = self.rig.next_block()
            if b is None:
                continue
            if not self.rig.threaded:
                player.tick(self.rig.clock.now())
            if len(b.t) == 0 or b.t[-1] < start:
                continue
            m = (b.t >= start) & (b.t < end)
            ts.append(b.t[m])
            vs.append(b.volts[m])
            events += b.events
            gaps += sum(g.count for g in b.gaps)
            if not cued and b.t[-1] >= start + cue_at:
                cued = True
                if cue is not None:
                    self.console.say(cue)
                player.play(pattern)
                self._act(action)
            if b.t[-1] >= end:
                break
        return Take(np.concatenate(ts), np.concatenate(vs), events, gaps)

    def _check_rails(self, take: Take, what: str, roles: Iterable[str] | None = None,
                     hint: str = Phrase(N_("the pressure is beyond the sensor's range"))) -> None:
        roles = set(roles or (c.role for c in self.config.channels))
        for i, c in enumerate(self.config.channels):
            if c.role not in roles or len(take.volts) == 0:
                continue
            v = take.volts[:, i]
            fs = FULL_SCALE_V[c.gain]
            rail = np.mean(np.abs(v) >= 0.999 * fs)
            if rail > RAIL_SHARE:
                raise CalibrationError(N_("{role}: saturated at {what}: the ADC is at its ±{fs:g} V limit for "
                                          "{value:.0f} % of the samples; {hint}"),
                                       role=c.role, what=what, fs=fs, value=100 * rail, hint=hint)
            if c.valid_v is not None:
                hi = np.mean(v > c.valid_v[1])
                lo = np.mean(v < c.valid_v[0])
                if hi > RAIL_SHARE:
                    raise CalibrationError(N_("{role}: saturated at {what}: the sensor reads {value:.3f} V, beyond "
                                              "its valid output (up to {value2:g} V); {hint}"),
                                           role=c.role, what=what, value=np.max(v), value2=c.valid_v[1], hint=hint)
                if lo > RAIL_SHARE:
                    raise CalibrationError(N_("{role}: no signal at {what}: {value:.3f} V is below the sensor's "
                                              "valid output ({value2:g} V); is it plugged in?"),
                                           role=c.role, what=what, value=np.min(v), value2=c.valid_v[0])
        for e in take.events:
            if e.kind in ("saturated", "unplugged") and e.channel.split("_")[0] in roles:
                raise CalibrationError(N_("{channel}: {kind} at {what} ({value})"),
                                       channel=e.channel, kind=e.kind, what=what, value=e.detail or 'sensor fault')

    # --- step 1: the sensor ------------------------------------------------------------------
    def step_sensor(self) -> None:
        if self.modality == "emg":
            self._sensor_emg()
        else:
            self._sensor_pressure()

    def _sensor_pressure(self) -> None:
        unit = self.channels[0].unit
        self.console.say(N_("Sensor calibration. Connect every probe to the reference (water column or manometer). "
                            "Three references: low (open to air), high (at least {value:g} {unit} above it), and one "
                            "in between to check linearity."), value=MIN_REF_SPAN[unit], unit=unit)
        points: list[Reference] = []
        for label, key, default in ((N_("low"), "reference_low", 0.0), (N_("high"), "reference_high", 50.0),
                                    (N_("middle"), "reference_mid", None)):
            if default is None:
                default = round(0.5 * (points[0].value + points[1].value), 1)
            value = self._number(self.console.tr(N_("The {label} reference pressure you will apply ({unit})")).format(
                label=self.console.tr(label), unit=unit), key, default, -50, 300)
            self._act("reference", value=value)
            self.console.ask(self.console.tr(N_("Apply {value} {unit}, hold it steady, then press Enter")).format(
                value=self.console.tr.num(value, "{:g}"), unit=unit), "ready", "")
            take = self.take(REF_TAKE_S, settle_s=REF_SETTLE_S)
            self._check_rails(take, self.console.tr(N_("the {label} reference ({value:g} {unit})")).format(
                label=self.console.tr(label), value=value, unit=unit), hint=Phrase(N_("use a lower reference")))
            points.append(Reference(value, np.median(take.volts, axis=0), np.std(take.volts, axis=0)))
        fitted = fit_pressure(points[0], points[1], points[2], self.config.channels, unit)
        for role, f in fitted.items():
            s = f.transfer
            self.console.say(N_("✓ {role}: {value:.3f} mV/{unit} ({relative:.3f}× spec), offset {offset_v:.4f} V, "
                                "linearity {linearity_pct:.2f} %, noise {noise:.2f} {unit}"),
                             role=role, value=1000 * s.volts_per_unit, unit=unit, relative=f.relative,
                             offset_v=s.offset_v, linearity_pct=s.linearity_pct, noise=s.noise)
        self.stage.sensor = {role: f.transfer for role, f in fitted.items()}

    def _sensor_emg(self) -> None:
        self.console.say(N_("EMG calibration. First short the electrode inputs (the noise floor), then connect the "
                            "sine calibrator at two amplitudes (µV RMS)."))
        self._act("reference", value=0.0)
        self.console.ask(N_("Inputs shorted? Press Enter"), "ready", "")
        short = self.take(REF_TAKE_S, settle_s=REF_SETTLE_S)
        self._check_rails(short, Phrase(N_("the shorted inputs")))
        sines = []
        for label, key, default in ((N_("high"), "reference_high", 500.0), (N_("middle"), "reference_mid", 100.0)):
            amp = self._number(self.console.tr(N_("The {label} calibrator amplitude (µV RMS)")).format(
                label=self.console.tr(label)), key, default, 1, 5000)
            self._act("reference", value=amp)
            self.console.ask(self.console.tr(N_("Connect {amp} µV RMS, then press Enter")).format(
                amp=self.console.tr.num(amp, "{:g}")), "ready", "")
            take = self.take(REF_TAKE_S, settle_s=REF_SETTLE_S)
            self._check_rails(take, self.console.tr(N_("the {label} calibrator ({amp:g} µV)")).format(
                label=self.console.tr(label), amp=amp), hint=Phrase(N_("use a smaller amplitude")))
            sines.append(Sine(amp, np.var(take.volts, axis=0)))
        fitted = fit_emg(np.mean(short.volts, axis=0), np.std(short.volts, axis=0), sines[0], sines[1],
                         self.config.channels)
        for role, f in fitted.items():
            s = f.transfer
            self.console.say(N_("✓ {role}: {value:.4f} mV/µV ({relative:.3f}× spec), noise floor {noise:.2f} µV, "
                                "linearity {linearity_pct:.2f} %"),
                             role=role, value=s.volts_per_unit * 1e3, relative=f.relative, noise=s.noise,
                             linearity_pct=s.linearity_pct)
        self.stage.sensor = {role: f.transfer for role, f in fitted.items()}

    # --- step 2: the patient -----------------------------------------------------------------
    def values(self, take: Take) -> np.ndarray:
        """The take in each channel's unit through the staged sensor calibration."""
        cols = []
        for i, c in enumerate(self.config.channels):
            s = self.stage.sensor.get(c.role)
            vpu, off = (s.volts_per_unit, s.offset_v) if s else (c.volts_per_unit, c.offset_v)
            cols.append((take.volts[:, i] - off) / vpu)
        return np.column_stack(cols)

    def activity(self, take: Take) -> np.ndarray:
        """Each channel's activity signal (pressure level / EMG RMS envelope) as the pipeline sees it."""
        x = self.values(take)
        cols = []
        for i, ch in enumerate(self.channels):
            cond = make_conditioner(ch.modality, self.fs)
            cols.append(cond.process(x[:, i]))
        n = min(len(c) for c in cols)
        return np.column_stack([c[:n] for c in cols])

    def step_patient(self) -> None:
        unit = self.channels[0].unit
        self.console.say(N_("Patient calibration. Insert the probe; the patient lies relaxed."))
        self._act("insert")
        self.console.ask(N_("Probe in, patient relaxed? Press Enter"), "ready", "")
        pat: dict = {}
        if self.modality == "pressure":
            pat["zero"] = self._wait_for_drift(unit)
        rest = self.take(REST_TAKE_S)
        self._check_rails(rest, Phrase(N_("rest")))
        act = self.activity(rest)[int(2.0 * self.fs / decimation_factor(self.fs)):]  # filters' start-up
        pat["rest"] = {ch.role: {"mean": round(float(np.mean(act[:, i])), 4), "sd": round(float(np.std(act[:, i])), 4)}
                       for i, ch in enumerate(self.channels)}
        for role, r in pat["rest"].items():
            self.console.say(N_("✓ rest {role}: {mean:.2f} ± {sd:.2f} {value}"),
                             role=role, mean=r['mean'], sd=r['sd'], value=self._unit(role))
        emg = self.modality == "emg"
        # MVC: best of three maximal squeezes
        attempts: list[dict | None] = []
        for n in range(1, MVC_ATTEMPTS + 1):
            take = self.take(ATTEMPT_TAKE_S, cue=self.console.tr(N_("Attempt {n}/{of}: SQUEEZE AS HARD AS YOU CAN and "
                                                                    "hold")).format(n=n, of=MVC_ATTEMPTS),
                             cue_at=ATTEMPT_PRE_S, action="mvc")
            self._check_rails(take, self.console.tr(N_("MVC attempt {n}")).format(n=n))
            c = self._largest(take, Calibration())
            if c is None:
                self.console.say(N_("  attempt {n}: no contraction detected"), n=n)
                attempts.append(None)
                continue
            attempts.append({"peak": round(c.peak, 3), "hold_s": round(c.hold_s, 2), "kind": c.kind})
            if c.kind:
                self.console.say(N_("attempt {n}: peak {peak:.1f} {unit} above rest, held {hold_s:.1f} s, judged "
                                    "{kind}"),
                                 n=n, peak=c.peak, unit=unit, hold_s=c.hold_s,
                                 kind=self.console.tr(words.KIND[c.kind]) if c.kind in words.KIND else c.kind)
            else:
                self.console.say(N_("  attempt {n}: peak {peak:.1f} {unit} above rest, held {hold_s:.1f} s"),
                                 n=n, peak=c.peak, unit=unit, hold_s=c.hold_s)
        pat["mvc_attempts"] = attempts
        valid = [a for a in attempts if a is not None and a["kind"] != "bear_down"]
        sensor = self.stage.sensor.get("pelvic")
        best = best_mvc([a["peak"] for a in valid], pat["rest"]["pelvic"]["sd"], unit, emg,
                        sensor.noise if sensor is not None else None)
        rest_p = pat["rest"]["pelvic"]["mean"] if emg else 0.0
        chans = {"pelvic": ChannelCalibration(rest_p, rest_p + best)}
        self.console.say(N_("✓ MVC {best:.1f} {unit} above rest (best of {n_valid} valid attempts)"),
                         best=best, unit=unit, n_valid=len(valid))
        # the abdominal reference maximum
        if "abdominal" in pat["rest"]:
            take = self.take(ATTEMPT_TAKE_S, cue=N_("Take a breath and STRAIN DOWN AS HARD AS YOU CAN (Valsalva), hold"),
                             cue_at=ATTEMPT_PRE_S, action="valsalva", pattern="get_ready")
            self._check_rails(take, Phrase(N_("the Valsalva")), roles=("abdominal",))
            i = [c.role for c in self.channels].index("abdominal")
            a = self.activity(take)[:, i]
            k0 = int(round(ATTEMPT_PRE_S * len(a) / ATTEMPT_TAKE_S))
            pre = float(np.median(a[k0 // 3:k0]))
            rise = float(np.max(a[k0:]) - pre)
            a_need = MVC_MIN_SPREADS * pat["rest"]["abdominal"]["sd"]
            if rise <= a_need:
                raise CalibrationError(N_("abdominal maximum below noise: the strain rose {rise:.2f} {value} (at "
                                          "least {a_need:.2f} needed); check the reference probe and repeat"),
                                       rise=rise, value=self._unit('abdominal'), a_need=a_need)
            rest_a = pat["rest"]["abdominal"]["mean"] if emg else 0.0
            chans["abdominal"] = ChannelCalibration(rest_a, rest_a + rise)
            pat["abdominal_max"] = round(rise, 3)
            self.console.say(N_("✓ abdominal maximum {rise:.1f} {value} above rest"),
                             rise=rise, value=self._unit('abdominal'))
        cal = Calibration(chans)
        # verified examples → the personal lift / bear-down decision
        kinds_model = None
        if len(self.channels) > 1:
            examples = self._examples(cal)
            pat["examples"] = [{"kind": k, "features": {n: round(v, 4) for n, v in f.items() if v is not None}}
                               for k, f in examples]
            kinds_model = fit(examples)
            for k, f in examples:
                self.console.say(N_("example {k}: generic {value}, personal {value2}"),
                                 k=k, value=decide(f), value2=decide(f, kinds_model))
            km = kinds_model.to_dict()
            self.console.say(N_("✓ personal decision on {value}: accessory above {accessory_above}, bear-down above "
                                "{bear_down_above}, displacement below {disp_bear_below}"),
                             value=km['feature'] or 'displacement', accessory_above=km['accessory_above'],
                             bear_down_above=km['bear_down_above'], disp_bear_below=km['disp_bear_below'])
        self.stage.patient = pat
        self.stage.calibration = Calibration(chans, kinds_model)

    def _wait_for_drift(self, unit: str) -> dict:
        """Zero at rest once balloon-warming drift has settled (two quiet windows in a row)."""
        self.console.say(N_("Waiting for the balloon to warm up (drift under {value:.1f} {unit}/min)…"),
                         value=60 * DRIFT_SETTLED[unit], unit=unit)
        waited, quiet = 0.0, 0
        while True:
            take = self.take(ZERO_WINDOW_S)
            waited += ZERO_WINDOW_S
            self._check_rails(take, Phrase(N_("rest")))
            x = self.values(take)
            slope = drift_per_s(take.t, x[:, 0])
            quiet = quiet + 1 if abs(slope) <= DRIFT_SETTLED[unit] else 0
            self.console.say(N_("{waited:4.0f} s: drift {value:+.2f} {unit}/min"),
                             waited=waited, value=60 * slope, unit=unit)
            if quiet >= 2:
                zero = {c.role: round(float(np.median(x[:, i])), 3) for i, c in enumerate(self.channels)}
                self.console.say(N_("✓ settled after {waited:.0f} s; resting pressure {items}"),
                                 waited=waited, items=", ".join(f"{r} {v:.1f} {unit}" for r, v in zero.items()))
                return {"after_s": waited, "drift_per_min": round(60 * slope, 3), "resting_pressure": zero}
            if waited >= ZERO_DEADLINE_S:
                raise CalibrationError(N_("the drift did not settle in {value:.0f} min (still {value2:+.2f} "
                                          "{unit}/min): check the balloon for a leak"),
                                       value=ZERO_DEADLINE_S / 60, value2=60 * slope, unit=unit)

    def _examples(self, cal: Calibration) -> list[tuple[str, dict]]:
        examples: list[tuple[str, dict]] = []
        for kind, cue, question in (
                ("lift", N_("Squeeze and lift the pelvic floor correctly, hold"), N_("Palpation: a correct lift?")),
                ("bear_down", N_("Now BEAR DOWN (push out as if straining), hold"), N_("Palpation: bearing down?"))):
            got = 0
            for _ in range(MAX_EXAMPLE_TRIES):
                take = self.take(ATTEMPT_TAKE_S, cue=self.console.tr(N_("Example {kind} {n}/{of}: {cue}")).format(
                    kind=self.console.tr(words.KIND[kind]), n=got + 1, of=MIN_EXAMPLES, cue=self.console.tr(cue)),
                                 cue_at=ATTEMPT_PRE_S, action=kind)
                self._check_rails(take, self.console.tr(N_("the {kind} example")).format(
                    kind=self.console.tr(words.KIND[kind])))
                c = self._largest(take, cal)
                if c is None:
                    self.console.say(N_("  no contraction detected; again"))
                    continue
                if not self._yes(question, f"verified_{kind}", default=True):
                    self.console.say(N_("  not counted"))
                    continue
                examples.append((kind, dict(c.features)))
                got += 1
                if got == MIN_EXAMPLES:
                    break
            if got < MIN_EXAMPLES:
                raise CalibrationError(N_("only {got} verified {value} examples in {max_example_tries} tries "
                                          "({min_examples} needed)"),
                                       got=got, value=kind.replace('_', '-'), max_example_tries=MAX_EXAMPLE_TRIES,
                                       min_examples=MIN_EXAMPLES)
        return examples

    def _largest(self, take: Take, cal: Calibration):
        """The biggest contraction of a take (hold × peak), as the pipeline measures it."""
        p = Pipeline(self.channels, self.fs, cal)
        p.process(take.t, self.values(take))
        p.finish()
        return max(p.contractions, key=lambda c: c.hold_s * max(c.peak, 1e-9), default=None)

    def _unit(self, role: str) -> str:
        return next(c.unit for c in self.channels if c.role == role)

    # --- step 3: the prescription ------------------------------------------------------------
    def step_prescription(self) -> None:
        prev = self.stage.prescription
        names = builtin_names()
        self.console.say(N_("Prescription. Programmes: {items}"), items=", ".join(names))
        while True:
            name = self.console.ask(N_("Programme"), "programme", prev.programme if prev else "norwegian_intensive")
            try:
                prog = load_programme(name)
                break
            except ProgrammeError as e:
                self.console.say(e)
        keep = prev.targets if prev and prev.programme == prog.name else {}
        targets: dict[str, dict] = {}
        for ex in prog.exercises:
            cur = with_targets(ex, **keep.get(ex.name, {}))
            self.console.say(N_("{name} ({title}): target {value:.0f} %MVC, hold {hold_s:g} s, {quick_lifts} quick "
                                "lifts, rest {rest_s:g} s, {reps} reps × {sets} sets"),
                             name=ex.name, title=ex.text("title", self.console.tr.code), value=100 * cur.target_mvc,
                             hold_s=cur.hold_s, quick_lifts=cur.quick_lifts, rest_s=cur.rest_s, reps=cur.reps,
                             sets=cur.sets)
            t = {}
            for key, prompt, scale in (("target_mvc", N_("target %MVC"), 100.0), ("hold_s", N_("hold (s)"), 1.0),
                                       ("quick_lifts", N_("quick lifts"), 1.0), ("rest_s", N_("rest (s)"), 1.0),
                                       ("reps", N_("reps"), 1.0), ("sets", N_("sets"), 1.0)):
                kind, lo, hi = EXERCISE_BOUNDS[key]
                v = self._number(f"  {ex.name}: {self.console.tr(prompt)}", f"{ex.name}.{key}", getattr(cur, key) * scale,
                                 lo * scale, hi * scale, kind is int)
                v = v / scale if scale != 1.0 else v
                if v != getattr(ex, key):
                    t[key] = v
            try:
                with_targets(ex, **t)
            except ProgrammeError as e:
                raise CalibrationError(e.template, **e.fields) from None
            if t:
                targets[ex.name] = t
        _, lo, hi = PROGRAMME_BOUNDS["days_per_week"]
        dpw = self._number(N_("Days per week"), "days_per_week",
                           prev.days_per_week if prev and prev.days_per_week else prog.days_per_week, lo, hi)
        _, lo, hi = PROGRAMME_BOUNDS["sessions_per_day"]
        spd = int(self._number(N_("Sessions per day"), "sessions_per_day",
                               prev.sessions_per_day if prev and prev.sessions_per_day else prog.sessions_per_day,
                               lo, hi, True))
        progression = self._yes(N_("Progression on (targets rise as the rules are met)?"), "progression",
                                prev.progression if prev else True)
        while True:
            code = self.console.ask(N_("Patient code (no names)"), "patient_code", self.stage.patient_code)
            if PATIENT_CODE.match(code or ""):
                break
            self.console.say(N_("1–32 letters, digits, '.', '_' or '-'; a code, not a name."))
        notes = self.console.ask(N_("Notes"), "notes", prev.notes if prev else "")
        while True:
            lang = self.console.ask(self.console.tr(N_("Her language for the cues and texts ({codes}; empty: the "
                                                       "device's)")).format(codes=", ".join(LANGUAGES)),
                                    "language", (prev.language if prev else None) or "")
            if lang in LANGUAGES or lang == "":
                break
            self.console.say(N_("One of: {items}, or empty."),
                             items=', '.join(f'{c} ({n})' for c, n in LANGUAGES.items()))
        self.stage.prescription = Prescription(
            prog.name, targets, None if dpw == prog.days_per_week else dpw,
            None if spd == prog.sessions_per_day else spd, progression, notes, lang or None)
        self.stage.patient_code = code


def choose_secret(console: Console, why: str) -> tuple[dict, str]:
    """A new physio secret, typed twice: its scrypt hash, and the secret itself for signing what
    she accepts in this login (AccessError after three failed tries)."""
    console.say(N_("{why}: choose a passphrase of {secret_min}–{secret_max} characters (it is never stored, only "
                   "what checks it)."), why=why, secret_min=SECRET_MIN, secret_max=SECRET_MAX)
    for _ in range(3):
        pin = console.ask(N_("New physio secret"), "new_pin", secret=True)
        again = console.ask(N_("Repeat the secret"), "new_pin_again", secret=True)
        if pin != again:
            console.say(N_("The two differ; again."))
            continue
        if not PIN_RE.match(pin):
            console.say(N_("Too short or with characters it cannot take: {secret_rule}; again."),
                        secret_rule=SECRET_RULE)
            continue
        return Profile.hash_pin(pin), pin
    raise AccessError(N_("no valid physio secret was set; nothing was changed"))


def require_pin(console: Console, holder: Profile | None, guard: PinGuard) -> str | None:
    """The physio's secret, three tries, each counted by ``guard`` (a wait after repeated wrong
    ones, even across restarts); :class:`AccessError` otherwise (none set: nothing to ask). After
    the right one she is told of the wrong ones since her last login; the secret is returned, to
    sign what she accepts in this login."""
    if holder is None or holder.pin is None:
        return None
    n, log = guard.failures_since_login()
    recent = log[-n:] if n else []  # the wrong ones since her last correct login
    for _ in range(3):
        secret = console.ask(N_("Physio secret"), "pin", secret=True)
        if guard.check(holder, secret, "calibration"):
            if recent:
                console.say(N_("Note: {n_recent} wrong secret(s) were tried before this login; the last at {at} "
                               "({where}). `pfmt profile show` lists them."),
                            n_recent=len(recent), at=recent[-1]['at'], where=recent[-1]['where'])
            return secret
        console.say(N_("Wrong secret."))
    raise AccessError(N_("wrong physio secret three times: calibration and prescription are for the physiotherapist "
                         "only (the patient can still train); nothing was changed"))


def ask_physio(console: Console) -> str:
    """Who makes this change (recorded with the profile); asked until given."""
    by = ""
    while not by:
        by = console.ask(N_("Your name or staff ID (recorded with the profile)"), "physio")
    return by


def apply_sensor(config: DeviceConfig, prof: Profile) -> DeviceConfig:
    """The device configuration with the profile's fitted sensor transfers."""
    chans: list[ChannelConfig] = []
    for c in config.channels:
        s = prof.sensor.get(c.role)
        if s is None:
            chans.append(c)
            continue
        if s.unit != c.unit:
            raise CalibrationError(N_("the profile's {role} sensor was calibrated in {unit} but the device "
                                      "configuration reads {name}: calibrate again on this configuration"),
                                   role=c.role, unit=s.unit, name=c.name)
        chans.append(replace(c, volts_per_unit=s.volts_per_unit, offset_v=s.offset_v))
    return replace(config, channels=tuple(chans))

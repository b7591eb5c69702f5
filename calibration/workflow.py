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
from device.config import ChannelConfig, DeviceConfig, recorded_channels
from device.errors import Aborted, AccessError, CalibrationError, InputError, StorageError
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
            raise InputError(f"unknown calibration step {bad[0] if bad else '(none)'!r}; allowed: {', '.join(STEPS)}")
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
            raise CalibrationError(f"there is no earlier profile to take the {', '.join(missing)} from: "
                                   f"run the {'/'.join(missing)} step(s) too")
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
            self.console.say(f"Note: {e}")
            self.previous = holder
        if holder is None or holder.pin is None:
            self.new_pin, self.secret = choose_secret(self.console, "No physiotherapist secret is set on this device yet")
            return
        self.secret = require_pin(self.console, holder, PinGuard(self.store.dir.parent))
        if holder.weak_pin:  # a 4–8 digit PIN from before: replaced now, at the physio's login
            self.new_pin, self.secret = choose_secret(self.console, "This device's physio PIN is too short to be safe")

    def _repeatable(self, name: str, step: Callable[[], None]) -> None:
        for n in range(1, STEP_TRIES + 1):
            try:
                step()
                self.stage.changes.append(name)
                return
            except CalibrationError as e:
                self.console.say(f"✗ {name} refused: {e}")
                if n == STEP_TRIES or not self._yes(f"Repeat the {name} step?", "retry", default=True):
                    raise CalibrationError(f"{name}: {e} (nothing was saved)") from None

    def _review(self) -> Profile:
        # run() refuses to start without an earlier profile to take a skipped step from
        assert self.stage.calibration is not None and self.stage.prescription is not None, "a step is missing"
        prof = Profile(patient_code=self.stage.patient_code or "", calibration=self.stage.calibration,
                       prescription=self.stage.prescription, sensor=self.stage.sensor,
                       patient=self.stage.patient, pin=self.new_pin or (self.previous.pin if self.previous else None))
        prof.version = (self.store.versions() or [0])[-1] + 1
        prof.changes = list(self.stage.changes)
        prof.created_at = self.now().isoformat(timespec="seconds") + " (not saved yet)"
        self.console.say("\nReview:\n" + prof.summary())
        try:
            Profile.from_dict(prof.to_dict(), "the staged profile", signed=False)  # signed when accepted
        except CalibrationError as e:
            raise CalibrationError(f"the staged profile is not valid, nothing was saved: {e}") from None
        if not self._yes("Accept and save this profile?", "accept", default=False):
            raise Aborted("profile not accepted; nothing was saved")
        by = ask_physio(self.console)
        for attempt in range(1, SAVE_TRIES + 1):
            try:
                saved = self.store.save(prof, by, self.stage.changes, self.now(), secret=self.secret)
                break
            except StorageError as e:  # a full or read-only card: her work is kept here, to save again
                self.console.say(f"Not saved: {e}")
                if attempt == SAVE_TRIES or not self._yes("Free space on the card (or make it writable), then save "
                                                          "again?", "retry_save", default=True):
                    raise StorageError(f"{e}; the profile was not saved (the previous one stays in force)") from None
        self.console.say(f"Saved profile version {saved.version} ({self.store.path(saved.version)}).")
        if saved.key_fingerprint:
            self.console.say(f"Signed with your key {saved.key_fingerprint}. Every session and export names the key "
                             "of the prescription it trained: one showing another key was not yours."
                             + (" (A new key: the secret changed.)" if self.store.key_changed(saved) else ""))
        return saved

    # --- asking ------------------------------------------------------------------------------
    def _yes(self, prompt: str, key: str, default: bool) -> bool:
        while True:
            a = self.console.ask(f"{prompt} [{'Y/n' if default else 'y/N'}]", key, "y" if default else "n").lower()
            if a in ("y", "yes"):
                return True
            if a in ("n", "no"):
                return False
            self.console.say("Answer y or n (or abort).")

    def _number(self, prompt: str, key: str, default: float | None, lo: float, hi: float,
                integer: bool = False) -> float:
        for _ in range(5):
            a = self.console.ask(prompt, key, None if default is None else f"{default:g}")
            try:
                v = int(a) if integer else float(a)
            except ValueError:
                self.console.say(f"{a!r} is not {'a whole number' if integer else 'a number'}; allowed {lo:g}…{hi:g}.")
                continue
            if not lo <= v <= hi:
                self.console.say(f"{v:g} is outside {lo:g}…{hi:g}.")
                continue
            return v
        raise InputError(f"no valid answer for {prompt.lower()} (allowed {lo:g}…{hi:g})")

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
                     hint: str = "the pressure is beyond the sensor's range") -> None:
        roles = set(roles or (c.role for c in self.config.channels))
        for i, c in enumerate(self.config.channels):
            if c.role not in roles or len(take.volts) == 0:
                continue
            v = take.volts[:, i]
            fs = FULL_SCALE_V[c.gain]
            rail = np.mean(np.abs(v) >= 0.999 * fs)
            if rail > RAIL_SHARE:
                raise CalibrationError(f"{c.role}: saturated at {what}: the ADC is at its ±{fs:g} V limit "
                                       f"for {100 * rail:.0f} % of the samples; {hint}")
            if c.valid_v is not None:
                hi = np.mean(v > c.valid_v[1])
                lo = np.mean(v < c.valid_v[0])
                if hi > RAIL_SHARE:
                    raise CalibrationError(f"{c.role}: saturated at {what}: the sensor reads {np.max(v):.3f} V, "
                                           f"beyond its valid output (up to {c.valid_v[1]:g} V); {hint}")
                if lo > RAIL_SHARE:
                    raise CalibrationError(f"{c.role}: no signal at {what}: {np.min(v):.3f} V is below the "
                                           f"sensor's valid output ({c.valid_v[0]:g} V); is it plugged in?")
        for e in take.events:
            if e.kind in ("saturated", "unplugged") and e.channel.split("_")[0] in roles:
                raise CalibrationError(f"{e.channel}: {e.kind} at {what} ({e.detail or 'sensor fault'})")

    # --- step 1: the sensor ------------------------------------------------------------------
    def step_sensor(self) -> None:
        if self.modality == "emg":
            self._sensor_emg()
        else:
            self._sensor_pressure()

    def _sensor_pressure(self) -> None:
        unit = self.channels[0].unit
        self.console.say(f"Sensor calibration. Connect every probe to the reference (water column or "
                         f"manometer). Three references: low (open to air), high (at least "
                         f"{MIN_REF_SPAN[unit]:g} {unit} above it), and one in between to check linearity.")
        points: list[Reference] = []
        for label, key, default in (("low", "reference_low", 0.0), ("high", "reference_high", 50.0),
                                    ("middle", "reference_mid", None)):
            if default is None:
                default = round(0.5 * (points[0].value + points[1].value), 1)
            value = self._number(f"The {label} reference pressure you will apply ({unit})", key, default, -50, 300)
            self._act("reference", value=value)
            self.console.ask(f"Apply {value:g} {unit}, hold it steady, then press Enter", "ready", "")
            take = self.take(REF_TAKE_S, settle_s=REF_SETTLE_S)
            self._check_rails(take, f"the {label} reference ({value:g} {unit})", hint="use a lower reference")
            points.append(Reference(value, np.median(take.volts, axis=0), np.std(take.volts, axis=0)))
        fitted = fit_pressure(points[0], points[1], points[2], self.config.channels, unit)
        for role, f in fitted.items():
            s = f.transfer
            self.console.say(f"✓ {role}: {1000 * s.volts_per_unit:.3f} mV/{unit} ({f.relative:.3f}× spec), offset "
                             f"{s.offset_v:.4f} V, linearity {s.linearity_pct:.2f} %, noise {s.noise:.2f} {unit}")
        self.stage.sensor = {role: f.transfer for role, f in fitted.items()}

    def _sensor_emg(self) -> None:
        self.console.say("EMG calibration. First short the electrode inputs (the noise floor), then connect "
                         "the sine calibrator at two amplitudes (µV RMS).")
        self._act("reference", value=0.0)
        self.console.ask("Inputs shorted? Press Enter", "ready", "")
        short = self.take(REF_TAKE_S, settle_s=REF_SETTLE_S)
        self._check_rails(short, "the shorted inputs")
        sines = []
        for label, key, default in (("high", "reference_high", 500.0), ("middle", "reference_mid", 100.0)):
            amp = self._number(f"The {label} calibrator amplitude (µV RMS)", key, default, 1, 5000)
            self._act("reference", value=amp)
            self.console.ask(f"Connect {amp:g} µV RMS, then press Enter", "ready", "")
            take = self.take(REF_TAKE_S, settle_s=REF_SETTLE_S)
            self._check_rails(take, f"the {label} calibrator ({amp:g} µV)", hint="use a smaller amplitude")
            sines.append(Sine(amp, np.var(take.volts, axis=0)))
        fitted = fit_emg(np.mean(short.volts, axis=0), np.std(short.volts, axis=0), sines[0], sines[1],
                         self.config.channels)
        for role, f in fitted.items():
            s = f.transfer
            self.console.say(f"✓ {role}: {s.volts_per_unit * 1e3:.4f} mV/µV ({f.relative:.3f}× spec), noise floor "
                             f"{s.noise:.2f} µV, linearity {s.linearity_pct:.2f} %")
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
        self.console.say("Patient calibration. Insert the probe; the patient lies relaxed.")
        self._act("insert")
        self.console.ask("Probe in, patient relaxed? Press Enter", "ready", "")
        pat: dict = {}
        if self.modality == "pressure":
            pat["zero"] = self._wait_for_drift(unit)
        rest = self.take(REST_TAKE_S)
        self._check_rails(rest, "rest")
        act = self.activity(rest)[int(2.0 * self.fs / decimation_factor(self.fs)):]  # filters' start-up
        pat["rest"] = {ch.role: {"mean": round(float(np.mean(act[:, i])), 4), "sd": round(float(np.std(act[:, i])), 4)}
                       for i, ch in enumerate(self.channels)}
        for role, r in pat["rest"].items():
            self.console.say(f"✓ rest {role}: {r['mean']:.2f} ± {r['sd']:.2f} {self._unit(role)}")
        emg = self.modality == "emg"
        # MVC: best of three maximal squeezes
        attempts: list[dict | None] = []
        for n in range(1, MVC_ATTEMPTS + 1):
            take = self.take(ATTEMPT_TAKE_S, cue=f"Attempt {n}/{MVC_ATTEMPTS}: SQUEEZE AS HARD AS YOU CAN and hold",
                             cue_at=ATTEMPT_PRE_S, action="mvc")
            self._check_rails(take, f"MVC attempt {n}")
            c = self._largest(take, Calibration())
            if c is None:
                self.console.say(f"  attempt {n}: no contraction detected")
                attempts.append(None)
                continue
            attempts.append({"peak": round(c.peak, 3), "hold_s": round(c.hold_s, 2), "kind": c.kind})
            self.console.say(f"  attempt {n}: peak {c.peak:.1f} {unit} above rest, held {c.hold_s:.1f} s"
                             + (f", judged {c.kind}" if c.kind else ""))
        pat["mvc_attempts"] = attempts
        valid = [a for a in attempts if a is not None and a["kind"] != "bear_down"]
        sensor = self.stage.sensor.get("pelvic")
        best = best_mvc([a["peak"] for a in valid], pat["rest"]["pelvic"]["sd"], unit, emg,
                        sensor.noise if sensor is not None else None)
        rest_p = pat["rest"]["pelvic"]["mean"] if emg else 0.0
        chans = {"pelvic": ChannelCalibration(rest_p, rest_p + best)}
        self.console.say(f"✓ MVC {best:.1f} {unit} above rest (best of {len(valid)} valid attempts)")
        # the abdominal reference maximum
        if "abdominal" in pat["rest"]:
            take = self.take(ATTEMPT_TAKE_S, cue="Take a breath and STRAIN DOWN AS HARD AS YOU CAN (Valsalva), hold",
                             cue_at=ATTEMPT_PRE_S, action="valsalva", pattern="get_ready")
            self._check_rails(take, "the Valsalva", roles=("abdominal",))
            i = [c.role for c in self.channels].index("abdominal")
            a = self.activity(take)[:, i]
            k0 = int(round(ATTEMPT_PRE_S * len(a) / ATTEMPT_TAKE_S))
            pre = float(np.median(a[k0 // 3:k0]))
            rise = float(np.max(a[k0:]) - pre)
            a_need = MVC_MIN_SPREADS * pat["rest"]["abdominal"]["sd"]
            if rise <= a_need:
                raise CalibrationError(f"abdominal maximum below noise: the strain rose {rise:.2f} "
                                       f"{self._unit('abdominal')} (at least {a_need:.2f} needed); check the "
                                       f"reference probe and repeat")
            rest_a = pat["rest"]["abdominal"]["mean"] if emg else 0.0
            chans["abdominal"] = ChannelCalibration(rest_a, rest_a + rise)
            pat["abdominal_max"] = round(rise, 3)
            self.console.say(f"✓ abdominal maximum {rise:.1f} {self._unit('abdominal')} above rest")
        cal = Calibration(chans)
        # verified examples → the personal lift / bear-down decision
        kinds_model = None
        if len(self.channels) > 1:
            examples = self._examples(cal)
            pat["examples"] = [{"kind": k, "features": {n: round(v, 4) for n, v in f.items() if v is not None}}
                               for k, f in examples]
            kinds_model = fit(examples)
            for k, f in examples:
                self.console.say(f"  example {k}: generic {decide(f)}, personal {decide(f, kinds_model)}")
            km = kinds_model.to_dict()
            self.console.say(f"✓ personal decision on {km['feature'] or 'displacement'}: accessory above "
                             f"{km['accessory_above']}, bear-down above {km['bear_down_above']}, displacement "
                             f"below {km['disp_bear_below']}")
        self.stage.patient = pat
        self.stage.calibration = Calibration(chans, kinds_model)

    def _wait_for_drift(self, unit: str) -> dict:
        """Zero at rest once balloon-warming drift has settled (two quiet windows in a row)."""
        self.console.say(f"Waiting for the balloon to warm up (drift under {60 * DRIFT_SETTLED[unit]:.1f} {unit}/min)…")
        waited, quiet = 0.0, 0
        while True:
            take = self.take(ZERO_WINDOW_S)
            waited += ZERO_WINDOW_S
            self._check_rails(take, "rest")
            x = self.values(take)
            slope = drift_per_s(take.t, x[:, 0])
            quiet = quiet + 1 if abs(slope) <= DRIFT_SETTLED[unit] else 0
            self.console.say(f"  {waited:4.0f} s: drift {60 * slope:+.2f} {unit}/min")
            if quiet >= 2:
                zero = {c.role: round(float(np.median(x[:, i])), 3) for i, c in enumerate(self.channels)}
                self.console.say(f"✓ settled after {waited:.0f} s; resting pressure " +
                                 ", ".join(f"{r} {v:.1f} {unit}" for r, v in zero.items()))
                return {"after_s": waited, "drift_per_min": round(60 * slope, 3), "resting_pressure": zero}
            if waited >= ZERO_DEADLINE_S:
                raise CalibrationError(f"the drift did not settle in {ZERO_DEADLINE_S / 60:.0f} min (still "
                                       f"{60 * slope:+.2f} {unit}/min): check the balloon for a leak")

    def _examples(self, cal: Calibration) -> list[tuple[str, dict]]:
        examples: list[tuple[str, dict]] = []
        for kind, cue, question in (
                ("lift", "Squeeze and lift the pelvic floor correctly, hold", "Palpation: a correct lift?"),
                ("bear_down", "Now BEAR DOWN (push out as if straining), hold", "Palpation: bearing down?")):
            got = 0
            for _ in range(MAX_EXAMPLE_TRIES):
                take = self.take(ATTEMPT_TAKE_S, cue=f"Example {kind.replace('_', '-')} {got + 1}/{MIN_EXAMPLES}: {cue}",
                                 cue_at=ATTEMPT_PRE_S, action=kind)
                self._check_rails(take, f"the {kind.replace('_', '-')} example")
                c = self._largest(take, cal)
                if c is None:
                    self.console.say("  no contraction detected; again")
                    continue
                if not self._yes(question, f"verified_{kind}", default=True):
                    self.console.say("  not counted")
                    continue
                examples.append((kind, dict(c.features)))
                got += 1
                if got == MIN_EXAMPLES:
                    break
            if got < MIN_EXAMPLES:
                raise CalibrationError(f"only {got} verified {kind.replace('_', '-')} examples in "
                                       f"{MAX_EXAMPLE_TRIES} tries ({MIN_EXAMPLES} needed)")
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
        self.console.say("Prescription. Programmes: " + ", ".join(names))
        while True:
            name = self.console.ask("Programme", "programme", prev.programme if prev else "norwegian_intensive")
            try:
                prog = load_programme(name)
                break
            except ProgrammeError as e:
                self.console.say(str(e))
        keep = prev.targets if prev and prev.programme == prog.name else {}
        targets: dict[str, dict] = {}
        for ex in prog.exercises:
            cur = with_targets(ex, **keep.get(ex.name, {}))
            self.console.say(f"{ex.name} ({ex.title}): target {100 * cur.target_mvc:.0f} %MVC, hold {cur.hold_s:g} s, "
                             f"{cur.quick_lifts} quick lifts, rest {cur.rest_s:g} s, {cur.reps} reps × {cur.sets} sets")
            t = {}
            for key, prompt, scale in (("target_mvc", "target %MVC", 100.0), ("hold_s", "hold (s)", 1.0),
                                       ("quick_lifts", "quick lifts", 1.0), ("rest_s", "rest (s)", 1.0),
                                       ("reps", "reps", 1.0), ("sets", "sets", 1.0)):
                kind, lo, hi = EXERCISE_BOUNDS[key]
                v = self._number(f"  {ex.name}: {prompt}", f"{ex.name}.{key}", getattr(cur, key) * scale,
                                 lo * scale, hi * scale, kind is int)
                v = v / scale if scale != 1.0 else v
                if v != getattr(ex, key):
                    t[key] = v
            try:
                with_targets(ex, **t)
            except ProgrammeError as e:
                raise CalibrationError(str(e)) from None
            if t:
                targets[ex.name] = t
        _, lo, hi = PROGRAMME_BOUNDS["days_per_week"]
        dpw = self._number("Days per week", "days_per_week",
                           prev.days_per_week if prev and prev.days_per_week else prog.days_per_week, lo, hi)
        _, lo, hi = PROGRAMME_BOUNDS["sessions_per_day"]
        spd = int(self._number("Sessions per day", "sessions_per_day",
                               prev.sessions_per_day if prev and prev.sessions_per_day else prog.sessions_per_day,
                               lo, hi, True))
        progression = self._yes("Progression on (targets rise as the rules are met)?", "progression",
                                prev.progression if prev else True)
        while True:
            code = self.console.ask("Patient code (no names)", "patient_code", self.stage.patient_code)
            if PATIENT_CODE.match(code or ""):
                break
            self.console.say("1–32 letters, digits, '.', '_' or '-'; a code, not a name.")
        notes = self.console.ask("Notes", "notes", prev.notes if prev else "")
        while True:
            lang = self.console.ask(f"Her language for the cues and texts ({', '.join(LANGUAGES)}; empty: the device's)",
                                    "language", (prev.language if prev else None) or "")
            if lang in LANGUAGES or lang == "":
                break
            self.console.say(f"One of: {', '.join(f'{c} ({n})' for c, n in LANGUAGES.items())}, or empty.")
        self.stage.prescription = Prescription(
            prog.name, targets, None if dpw == prog.days_per_week else dpw,
            None if spd == prog.sessions_per_day else spd, progression, notes, lang or None)
        self.stage.patient_code = code


def choose_secret(console: Console, why: str) -> tuple[dict, str]:
    """A new physio secret, typed twice: its scrypt hash, and the secret itself for signing what
    she accepts in this login (AccessError after three failed tries)."""
    console.say(f"{why}: choose a passphrase of {SECRET_MIN}–{SECRET_MAX} characters (it is never stored, "
                "only what checks it).")
    for _ in range(3):
        pin = console.ask("New physio secret", "new_pin", secret=True)
        again = console.ask("Repeat the secret", "new_pin_again", secret=True)
        if pin != again:
            console.say("The two differ; again.")
            continue
        if not PIN_RE.match(pin):
            console.say(f"Too short or with characters it cannot take: {SECRET_RULE}; again.")
            continue
        return Profile.hash_pin(pin), pin
    raise AccessError("no valid physio secret was set; nothing was changed")


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
        secret = console.ask("Physio secret", "pin", secret=True)
        if guard.check(holder, secret, "calibration"):
            if recent:
                console.say(f"Note: {len(recent)} wrong secret(s) were tried before this login; the last at "
                            f"{recent[-1]['at']} ({recent[-1]['where']}). `pfmt profile show` lists them.")
            return secret
        console.say("Wrong secret.")
    raise AccessError("wrong physio secret three times: calibration and prescription are for the "
                      "physiotherapist only (the patient can still train); nothing was changed")


def ask_physio(console: Console) -> str:
    """Who makes this change (recorded with the profile); asked until given."""
    by = ""
    while not by:
        by = console.ask("Your name or staff ID (recorded with the profile)", "physio")
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
            raise CalibrationError(f"the profile's {c.role} sensor was calibrated in {s.unit} but the device "
                                   f"configuration reads {c.name}: calibrate again on this configuration")
        chans.append(replace(c, volts_per_unit=s.volts_per_unit, offset_v=s.offset_v))
    return replace(config, channels=tuple(chans))

"""The patient's profile: what the physiotherapist measured and prescribed, versioned and signed.

One directory per device (``DATA/profile``) holds every accepted version as ``vNNNN.json``; the
newest is the one in force. A version is never edited: a change (recalibration, new prescription,
a restore) writes the next number, temp → fsync → replace → fsync(dir), readable by the device
user only. Each file carries who made it, when and what changed, and a SHA-256 of its content, so
a torn or tampered file is refused with the reason instead of silently training on it.

Sections: ``sensor`` (per channel: the fitted transfer volts = offset_v + volts_per_unit·x, its
linearity and noise), ``patient`` (rest, the three MVC attempts, the abdominal maximum, the
verified examples), ``calibration`` (what the pipeline uses: rest/MVC per channel and the
personal lift / bear-down thresholds — the ``pfmt analyze --calibration`` subset), ``prescription``
(programme, per-exercise targets, frequency, progression on/off, notes), ``pin`` (the physio's secret
as its scrypt hash; PBKDF2 in profiles from before).
"""
from __future__ import annotations

import copy
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from calibration import signing
from device import words
from device.errors import N_, AccessError, CalibrationError, StorageError
from device.files import atomic_write, clean_partials, fsync_dir
from device.i18n import ENGLISH, LANGUAGES, Language
from device.pipeline.calibration import Calibration
from device.recording import is_finite_number
from device.training.programme import (
    PROGRAMME_BOUNDS,
    Exercise,
    Programme,
    ProgrammeError,
    check_number,
    load_programme,
    with_targets,
)

#: The ``format`` of a whole calibration profile.
PROFILE_FORMAT = "pfmt-profile/1"
PATIENT_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
#: The physiotherapist's secret: a passphrase (or a long PIN) of 10–128 printable characters. A
#: 4–8 digit PIN falls offline in hours from its salt and hash (issue 19, finding 2).
SECRET_MIN, SECRET_MAX = 10, 128
PIN_RE = re.compile(rf"^[ -~]{{{SECRET_MIN},{SECRET_MAX}}}$")
#: scrypt (memory-hard, in the standard library): 16 MiB and ~50 ms here, ~0.5–0.8 s on a Pi Zero 2 W.
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
PIN_ITERATIONS = 200_000  # the PBKDF2 rounds of profiles written before scrypt (still verified)
#: Wrong secrets allowed before the delays begin; the delay after each further one doubles.
PIN_FREE_TRIES, PIN_DELAY_S, PIN_DELAY_MAX_S = 3, 5.0, 3600.0
PIN_LOG = "pin-attempts.json"  # beside profile/, so a wrong attempt does not look like a new prescription
TARGET_KEYS = ("target_mvc", "hold_s", "quick_lifts", "rest_s", "reps", "sets")
SECTIONS = ("sensor", "patient", "calibration", "prescription")
_FILE = re.compile(r"^v(\d{4,})\.json$")


@dataclass(frozen=True)
class Prescription:
    programme: str
    targets: dict[str, dict[str, float]] = field(default_factory=dict)  # exercise → overrides
    days_per_week: float | None = None  # None = the programme's own
    sessions_per_day: int | None = None
    progression: bool = True
    notes: str = ""
    language: str | None = None  # the patient's language for cues and texts (None: the device's)

    def to_dict(self) -> dict:
        d = {"programme": self.programme, "targets": self.targets, "days_per_week": self.days_per_week,
             "sessions_per_day": self.sessions_per_day, "progression": self.progression, "notes": self.notes}
        if self.language is not None:  # left out when unset: a profile signed before it verifies as it was
            d["language"] = self.language
        return d

    def load(self) -> Programme:
        """The prescribed programme with the prescribed targets and frequency."""
        prog = load_programme(self.programme)
        changes: dict[str, Any] = {"exercises": tuple(self.exercise(e) for e in prog.exercises)}
        if self.days_per_week is not None:
            changes["days_per_week"] = self.days_per_week
        if self.sessions_per_day is not None:
            changes["sessions_per_day"] = self.sessions_per_day
        return replace(prog, **changes)

    def exercise(self, ex: Exercise) -> Exercise:
        return with_targets(ex, **self.targets.get(ex.name, {}))

    @classmethod
    def from_dict(cls, d: Any, where: str) -> Prescription:
        _keys(d, where, {"programme", "targets", "days_per_week", "sessions_per_day", "progression", "notes",
                         "language"}, required={"programme"})
        try:
            prog = load_programme(d["programme"])
        except ProgrammeError as e:
            raise CalibrationError(N_("{where}: {e}"), where=where, e=e) from None
        targets = d.get("targets") or {}
        if not isinstance(targets, dict):
            raise CalibrationError(N_("{where}: targets must map exercise names to their targets"), where=where)
        names = [e.name for e in prog.exercises]
        for name, t in targets.items():
            if name not in names:
                raise CalibrationError(N_("{where}: targets for unknown exercise {name!r}; {name2} has {items}"),
                                       where=where, name=name, name2=prog.name, items=', '.join(names))
            _keys(t, f"{where}: targets.{name}", set(TARGET_KEYS))
            try:
                with_targets(prog.exercise(name), **t)
            except ProgrammeError as e:
                raise CalibrationError(N_("{where}: {e}"), where=where, e=e) from None
        freq: dict[str, Any] = {}
        for k in PROGRAMME_BOUNDS:
            if d.get(k) is not None:
                try:
                    freq[k] = check_number(where, k, d[k], *PROGRAMME_BOUNDS[k])
                except ProgrammeError as e:
                    raise CalibrationError(e.template, **e.fields) from None
        if not isinstance(d.get("progression", True), bool):
            raise CalibrationError(N_("{where}: progression must be true or false"), where=where)
        if not isinstance(d.get("notes", ""), str):
            raise CalibrationError(N_("{where}: notes must be text"), where=where)
        lang = d.get("language")
        if lang is not None and lang not in LANGUAGES:
            raise CalibrationError(N_("{where}: language {lang!r}; allowed: {items}"),
                                   where=where, lang=lang, items=', '.join(LANGUAGES))
        return cls(prog.name, {k: dict(v) for k, v in targets.items()}, freq.get("days_per_week"),
                   freq.get("sessions_per_day"), d.get("progression", True), d.get("notes", ""), lang)


@dataclass(frozen=True)
class SensorTransfer:
    """One channel's fitted transfer (volts = offset_v + volts_per_unit · value) and checks."""

    unit: str
    volts_per_unit: float
    offset_v: float
    linearity_pct: float | None = None  # worst deviation from the line, % of the span
    noise: float | None = None  # resting / shorted noise in the unit (EMG: the noise floor, µV RMS)
    points: list = field(default_factory=list)  # [[reference, volts], ...] as measured

    def to_dict(self) -> dict:
        return {"unit": self.unit, "volts_per_unit": self.volts_per_unit, "offset_v": self.offset_v,
                "linearity_pct": self.linearity_pct, "noise": self.noise, "points": self.points}

    @classmethod
    def from_dict(cls, d: Any, where: str) -> SensorTransfer:
        _keys(d, where, {"unit", "volts_per_unit", "offset_v", "linearity_pct", "noise", "points"},
              required={"unit", "volts_per_unit", "offset_v"})
        for k in ("volts_per_unit", "offset_v"):
            if not is_finite_number(d[k]):
                raise CalibrationError(N_("{where}: {k} must be a finite number, not {value!r}"),
                                       where=where, k=k, value=d[k])
        if d["volts_per_unit"] == 0:
            raise CalibrationError(N_("{where}: volts_per_unit must not be 0"), where=where)
        for k in ("linearity_pct", "noise"):
            if d.get(k) is not None and not (is_finite_number(d[k]) and d[k] >= 0):
                raise CalibrationError(N_("{where}: {k} must be a number ≥ 0 or null"), where=where, k=k)
        return cls(str(d["unit"]), float(d["volts_per_unit"]), float(d["offset_v"]), d.get("linearity_pct"),
                   d.get("noise"), list(d.get("points") or []))


@dataclass
class Profile:
    patient_code: str
    calibration: Calibration
    prescription: Prescription
    sensor: dict[str, SensorTransfer] = field(default_factory=dict)
    patient: dict = field(default_factory=dict)  # the measurements behind the calibration
    pin: dict | None = None
    version: int = 0
    created_at: str = ""
    by: str = ""
    changes: list[str] = field(default_factory=list)
    signature: dict | None = None  # the physio's Ed25519 signature (calibration.signing); None: unsigned

    # --- the physio's PIN ------------------------------------------------------------------
    @staticmethod
    def hash_pin(pin: str) -> dict:
        if not PIN_RE.match(pin):
            raise AccessError(SECRET_RULE)
        salt = secrets.token_bytes(16)
        h = hashlib.scrypt(pin.encode(), salt=salt, maxmem=64 * 2**20, dklen=32, **SCRYPT)
        return {"kdf": "scrypt", **SCRYPT, "salt": salt.hex(), "hash": h.hex()}

    def check_pin(self, pin: str) -> bool:
        """The secret against the stored hash (scrypt; PBKDF2 for a profile from before it).
        Callers go through :class:`PinGuard`, which counts and delays the wrong ones."""
        if self.pin is None:
            return True
        if len(pin) > SECRET_MAX:
            return False
        salt = bytes.fromhex(self.pin["salt"])
        if self.pin.get("kdf") == "scrypt":
            h = hashlib.scrypt(pin.encode(), salt=salt, n=self.pin["n"], r=self.pin["r"], p=self.pin["p"],
                               maxmem=64 * 2**20, dklen=32)
        else:
            h = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, self.pin["iterations"])
        return hmac.compare_digest(h.hex(), self.pin["hash"])

    @property
    def weak_pin(self) -> bool:
        """Set before the secret was hardened (a 4–8 digit PIN, PBKDF2): it should be replaced."""
        return self.pin is not None and self.pin.get("kdf") != "scrypt"

    # --- (de)serialising -------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = {"format": PROFILE_FORMAT, "version": self.version, "created_at": self.created_at, "by": self.by,
             "changes": self.changes, "patient_code": self.patient_code,
             "sensor": {r: s.to_dict() for r, s in self.sensor.items()}, "patient": self.patient,
             "calibration": self.calibration.to_dict(), "prescription": self.prescription.to_dict(),
             "pin": self.pin}
        if self.signature is not None:
            d["signature"] = self.signature
        d["checksum"] = _checksum(d)
        return d

    @property
    def signature_state(self) -> str:
        """``verified`` (signed, and unchanged since) or ``unsigned`` (an invalid one is refused on load)."""
        return signing.verify(self.to_dict())

    @property
    def key_fingerprint(self) -> str | None:
        """The signing key as the physio compares it (None: unsigned)."""
        return signing.fingerprint(self.signature["key"]) if self.signature else None

    @classmethod
    def from_dict(cls, d: Any, where: str = "profile", signed: bool = True) -> Profile:
        """Validate a whole profile; any problem is a :class:`CalibrationError` naming it. With
        ``signed`` (what is read from a card) it must carry the physiotherapist's valid signature —
        only a profile from before signing, with its old PBKDF2 PIN, is taken without one."""
        if not isinstance(d, dict) or d.get("format") != PROFILE_FORMAT:
            raise CalibrationError(N_("{where}: not a pfmt profile (format {profile_format})"),
                                   where=where, profile_format=PROFILE_FORMAT)
        _keys(d, where, {"format", "version", "created_at", "by", "changes", "patient_code", "sensor",
                         "patient", "calibration", "prescription", "pin", "checksum", "signature"},
              required={"version", "patient_code", "calibration", "prescription", "checksum"})
        if d["checksum"] != _checksum(d):
            raise CalibrationError(N_("{where}: checksum mismatch — the file was damaged or edited by hand"),
                                   where=where)
        state = signing.verify(d)
        if state == "invalid":
            raise CalibrationError(N_("{where}: the physiotherapist's signature does not match — the profile was "
                                      "changed after she accepted it (or signed by a broken key)"), where=where)
        legacy = isinstance(d.get("pin"), dict) and "iterations" in d["pin"]
        if signed and state == "unsigned" and not legacy:
            raise CalibrationError(N_("{where}: the physiotherapist's signature is missing — a profile she accepts "
                                      "is signed with her key, so this one was not made by her (only a profile from "
                                      "before signing, with its old PIN, is taken unsigned)"), where=where)
        code = d["patient_code"]
        if not isinstance(code, str) or not PATIENT_CODE.match(code):
            raise CalibrationError(N_("{where}: patient_code {code!r}: 1–32 letters, digits, '.', '_' or '-' (a "
                                      "code, not a name)"), where=where, code=code)
        if not isinstance(d["version"], int) or d["version"] < 1:
            raise CalibrationError(N_("{where}: version must be a whole number ≥ 1"), where=where)
        cal = Calibration.from_dict(d["calibration"], f"{where}: calibration")
        if "pelvic" not in cal.channels:
            raise CalibrationError(N_("{where}: calibration has no pelvic channel"), where=where)
        sensor = d.get("sensor") or {}
        if not isinstance(sensor, dict):
            raise CalibrationError(N_("{where}: sensor must map channel roles to their calibration"), where=where)
        pin = d.get("pin")
        if pin is not None:
            if isinstance(pin, dict) and pin.get("kdf") == "scrypt":
                _keys(pin, f"{where}: pin", {"kdf", "n", "r", "p", "salt", "hash"},
                      required={"kdf", "n", "r", "p", "salt", "hash"})
                # no weaker than SCRYPT, and within what the device can compute (maxmem 64 MiB)
                for k, lo, hi in (("n", SCRYPT["n"], 2**16), ("r", SCRYPT["r"], 16), ("p", 1, 4)):
                    v = pin[k]
                    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                        raise CalibrationError(N_("{where}: pin: scrypt {k} must be a whole number from {lo} to {hi}"),
                                               where=where, k=k, lo=lo, hi=hi)
            else:
                _keys(pin, f"{where}: pin", {"salt", "hash", "iterations"}, required={"salt", "hash", "iterations"})
                if not isinstance(pin["iterations"], int) or not 10_000 <= pin["iterations"] <= 10_000_000:
                    raise CalibrationError(N_("{where}: pin: iterations must be a whole number from 10000 to "
                                              "10000000"), where=where)
            try:
                bytes.fromhex(pin["salt"]), bytes.fromhex(pin["hash"])
            except (TypeError, ValueError):
                raise CalibrationError(N_("{where}: pin: salt and hash must be hex"), where=where) from None
        if not isinstance(d.get("changes", []), list):
            raise CalibrationError(N_("{where}: changes must be a list"), where=where)
        return cls(code, cal, Prescription.from_dict(d["prescription"], f"{where}: prescription"),
                   {r: SensorTransfer.from_dict(s, f"{where}: sensor.{r}") for r, s in sensor.items()},
                   dict(d.get("patient") or {}), pin, d["version"], str(d.get("created_at", "")),
                   str(d.get("by", "")), [str(c) for c in d.get("changes", [])], d.get("signature"))

    def summary(self, tr: Language = ENGLISH) -> str:
        """The profile as the physiotherapist reviews it, in her language."""
        lines = [tr("profile v{version} of patient {code}: {created_at} by {by} ({changes})").format(
            version=self.version, code=self.patient_code, created_at=self.created_at, by=self.by or "—",
            changes=", ".join(tr(words.STEP[c]) if c in words.STEP else c for c in self.changes)
            or tr("no changes recorded"))]
        for role, s in self.sensor.items():
            line = tr("  sensor {role}: {volts:.6g} V/{unit}, offset {offset:.4f} V").format(
                role=role, volts=s.volts_per_unit, unit=s.unit, offset=s.offset_v)
            if s.linearity_pct is not None:
                line += tr(", linearity {pct:.1f} %").format(pct=s.linearity_pct)
            if s.noise is not None:
                line += tr(", noise {noise:.2f} {unit}").format(noise=s.noise, unit=s.unit)
            lines.append(line)
        rest_seen = (self.patient or {}).get("rest") or {}
        attempts = [a for a in (self.patient or {}).get("mvc_attempts") or [] if a]
        for role, c in self.calibration.channels.items():
            unit = self.sensor[role].unit if role in self.sensor else (self.patient or {}).get("units", {}).get(role, "")
            seen = rest_seen.get(role)
            if seen and c.rest == 0:
                at = tr("resting level measured {mean:.2f} ± {sd:.2f} {unit}, the zero from now on").format(
                    mean=seen["mean"], sd=seen["sd"], unit=unit)
            elif seen:
                at = tr("resting level measured {mean:.2f} ± {sd:.2f} {unit}, rest {rest:.2f} {unit}").format(
                    mean=seen["mean"], sd=seen["sd"], unit=unit, rest=c.rest)
            else:
                at = tr("rest {rest:.2f} {unit}").format(rest=c.rest, unit=unit)
            lines.append(tr("  {role}: {rest}; MVC {mvc:.1f} {unit} above rest").format(
                role=role, rest=at, mvc=c.mvc, unit=unit))
            if role == "pelvic" and attempts:
                lines.append(tr("    MVC attempts: {peaks} {unit} (the best counts)").format(
                    peaks=", ".join(f"{a['peak']:.1f}" for a in attempts), unit=unit))
        k = self.calibration.kinds
        if k is not None:
            line = tr("  personal lift/bear-down decision on {feature}: accessory above {accessory}, bear-down above "
                      "{bear_down}").format(feature=k.feature or "displacement", accessory=_fmt(k.accessory_above),
                                             bear_down=_fmt(k.bear_down_above))
            if k.disp_bear_below is not None:
                line += tr(", displacement below {mm} mm").format(mm=_fmt(k.disp_bear_below))
            lines.append(line + " " + tr("({n} verified examples)").format(n=k.examples))
        p = self.prescription
        try:
            prog = load_programme(p.programme)
            dpw = p.days_per_week if p.days_per_week is not None else prog.days_per_week
            spd = p.sessions_per_day if p.sessions_per_day is not None else prog.sessions_per_day
            freq = tr("{days:g} days a week, {sessions:g} session(s) a day").format(days=dpw, sessions=spd)
            if p.days_per_week is None and p.sessions_per_day is None:
                freq += " " + tr("(the programme's)")
        except ProgrammeError as e:
            prog, freq = None, tr("frequency unknown ({why})").format(why=e.localized(tr))
        lines.append(tr("  prescription: {programme}; progression {state}; {frequency}").format(
            programme=p.programme, state=tr("on") if p.progression else tr("off"), frequency=freq))
        for ex in prog.exercises if prog is not None else ():
            t = {**{k: getattr(ex, k) for k in ("target_mvc", "hold_s", "quick_lifts", "rest_s", "reps", "sets")},
                 **p.targets.get(ex.name, {})}
            line = tr("    {name}: target {target:.0f} %MVC, hold {hold:g} s, {lifts:g} quick lifts, rest {rest:g} s, "
                      "{reps:g} reps × {sets:g} sets").format(
                name=ex.name, target=100 * t["target_mvc"], hold=t["hold_s"], lifts=t["quick_lifts"],
                rest=t["rest_s"], reps=t["reps"], sets=t["sets"])
            lines.append(line + (" " + tr("(set by the physiotherapist)") if p.targets.get(ex.name) else ""))
        if p.language:
            lines.append(tr("  her language: {language}").format(language=LANGUAGES.get(p.language, p.language)))
        if p.notes:
            lines.append(tr("  notes: {notes}").format(notes=p.notes))
        return "\n".join(lines)


def _fmt(v, none: str = "—") -> str:
    return none if v is None else f"{v:.3g}"


def _keys(d: Any, where: str, allowed: set[str] | frozenset[str], required: set[str] | frozenset[str] = frozenset()) -> None:
    if not isinstance(d, dict):
        raise CalibrationError(N_("{where}: must be an object"), where=where)
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise CalibrationError(N_("{where}: unknown key {value!r}; allowed: {items}"),
                               where=where, value=unknown[0], items=', '.join(sorted(allowed)))
    missing = sorted(required - set(d))
    if missing:
        raise CalibrationError(N_("{where}: {value} is missing"), where=where, value=missing[0])


def _checksum(d: dict) -> str:
    body = {k: v for k, v in d.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# ------------------------------------------------------------------------------------ storage
SECRET_RULE = (f"the physiotherapist's secret is a passphrase of {SECRET_MIN}–{SECRET_MAX} characters "
               "(letters, digits, spaces, punctuation)")


class PinGuard:
    """The wrong-secret counter that survives a restart (``DATA/pin-attempts.json``): after
    PIN_FREE_TRIES wrong secrets each next try waits, the wait doubling from PIN_DELAY_S up to an
    hour; the right secret resets the count. Every wrong one is logged (when, where) for the
    physiotherapist to see at her next login and in ``pfmt profile show``."""

    def __init__(self, data_dir: str | os.PathLike, clock=None) -> None:
        self.path = Path(data_dir) / PIN_LOG
        self.clock = clock or time.time

    def state(self) -> dict:
        try:
            d = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"failures": 0, "last_failure": None, "log": []}
        if not isinstance(d, dict) or not isinstance(d.get("failures"), int) or not isinstance(d.get("log"), list) \
                or not isinstance(d.get("last_failure"), (int, float, type(None))):
            # edited by hand: as after several wrong tries, the wait counted from the edit
            try:
                since = self.path.stat().st_mtime
            except OSError:
                since = self.clock()
            return {"failures": PIN_FREE_TRIES + 4, "last_failure": since, "log": []}
        return d

    def wait_s(self, state: dict | None = None) -> float:
        """Seconds before the next try is allowed (0: now)."""
        st = state or self.state()
        n = st["failures"]
        if n < PIN_FREE_TRIES or not isinstance(st.get("last_failure"), (int, float)):
            return 0.0
        delay = min(PIN_DELAY_MAX_S, PIN_DELAY_S * 2 ** (n - PIN_FREE_TRIES))
        return max(0.0, st["last_failure"] + delay - self.clock())

    def check(self, holder: Profile | None, secret: str, where: str) -> bool:
        """The secret against ``holder``'s; AccessError while a wait is running."""
        if holder is None or holder.pin is None:
            return True
        st = self.state()
        wait = self.wait_s(st)
        if wait > 0:
            raise AccessError(N_("{failures} wrong physio secrets in a row: the next try is allowed in {wait:.0f} s "
                                 "(each wrong one doubles the wait)"), failures=st['failures'], wait=wait)
        if holder.check_pin(secret):
            if st["failures"]:
                st["failures"] = 0
                self._save(st)
            return True
        now = self.clock()
        st["failures"] += 1
        st["last_failure"] = now
        st["log"] = (st["log"] + [{"at": dt.datetime.fromtimestamp(now).isoformat(timespec="seconds"),
                                   "where": where}])[-200:]
        self._save(st)
        return False

    def failures_since_login(self) -> tuple[int, list[dict]]:
        st = self.state()
        return st["failures"], st["log"]

    def _save(self, st: dict) -> None:
        with atomic_write(self.path) as f:
            f.write(json.dumps(st).encode())
        os.chmod(self.path, 0o600)


def _create_exclusively(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` only if no file has that name: complete and fsynced under a
    temporary name first, then hard-linked (atomic, and refused when the name exists). False
    when the name was taken."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".partial-{os.getpid()}", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        fsync_dir(path.parent)
        return True
    finally:
        os.unlink(tmp)


class ProfileStore:
    """Every accepted version of the device's profile, under ``DATA/profile``."""

    def __init__(self, data_dir: str | os.PathLike) -> None:
        self.dir = Path(data_dir) / "profile"

    def versions(self) -> list[int]:
        if not self.dir.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.dir.iterdir() if (m := _FILE.match(p.name)))

    def path(self, version: int) -> Path:
        return self.dir / f"v{version:04d}.json"

    def load(self, version: int) -> Profile:
        p = self.path(version)
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CalibrationError(N_("{p}: no profile version {version}; have {value}"),
                                   p=p, version=version, value=', '.join(map(str, self.versions())) or 'none') from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CalibrationError(N_("{p}: the profile is unreadable ({e})"), p=p, e=e) from None
        prof = Profile.from_dict(d, str(p))
        if prof.version != version:
            raise CalibrationError(N_("{p}: says it is version {version}, expected {version2}"),
                                   p=p, version=prof.version, version2=version)
        return prof

    def current(self) -> Profile | None:
        """The profile in force, None when the physio has not calibrated yet. A damaged newest
        version is refused (never silently replaced by an older prescription), naming the
        newest intact one that ``pfmt profile restore`` can bring back."""
        vs = self.versions()
        if not vs:
            return None
        try:
            return self.load(vs[-1])
        except CalibrationError as e:
            for v in reversed(vs[:-1]):
                try:
                    good = self.load(v)
                except CalibrationError:
                    continue
                raise CalibrationError(N_("{e}. Version {v} ({created_at} by {value}) is intact: the physiotherapist "
                                          "can bring it back with `pfmt profile restore {v}`"),
                                       e=e, v=v, created_at=good.created_at, value=good.by or '—') from None
            raise CalibrationError(N_("{e}. No intact earlier version: the physiotherapist must calibrate again "
                                      "(`pfmt calibrate`)"), e=e) from None

    def pin_holder(self) -> Profile | None:
        """The newest intact version (for checking the PIN even when the newest is damaged)."""
        for v in reversed(self.versions()):
            try:
                return self.load(v)
            except CalibrationError:
                continue
        return None

    def save(self, prof: Profile, by: str, changes: list[str], now: dt.datetime | None = None,
             secret: str | None = None) -> Profile:
        """Write ``prof`` as the next version (validated by reading it back before it counts).

        A version is created exclusively: the complete file is linked to its name, which fails
        when another save took the number first — this one then becomes the version after it, so
        two physiotherapists saving at once both keep their work (issue 19, finding 12)."""
        if secret is None and prof.pin is not None and prof.pin.get("kdf") == "scrypt":
            raise AccessError(N_("saving a profile needs the physiotherapist's secret, to sign it"))
        signed_before = prof.signature or self._signature_before()
        prof = copy.copy(prof)
        prof.created_at = (now or dt.datetime.now()).isoformat(timespec="seconds")
        prof.by, prof.changes = by, list(changes)
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        clean_partials(self.dir)  # what a killed save left (never a live one's)
        for _ in range(1000):
            prof.version = (self.versions() or [0])[-1] + 1
            prof.signature = None
            if secret is not None:
                # her key is the one her secret and its salt make; the salt carries over while the
                # secret does (a stable fingerprint), a new secret gets a new salt and so a new key
                before = signed_before or {}
                prev_salt = before.get("salt")
                same_key = isinstance(prev_salt, str) and signing.public_key(secret, bytes.fromhex(prev_salt)) == before.get("key")
                salt = str(prev_salt) if same_key else signing.new_salt()
                prof.signature = signing.sign(prof.to_dict(), secret, salt)
            d = prof.to_dict()
            Profile.from_dict(json.loads(json.dumps(d)), "the new profile", signed=secret is not None)  # refuse before writing
            try:
                created = _create_exclusively(self.path(prof.version), json.dumps(d, indent=1).encode())
            except OSError as e:
                raise StorageError(N_("{dir}: cannot write the profile ({value}): is the card full or read-only?"),
                                   dir=self.dir, value=e.strerror or e) from None
            if created:
                return self.load(prof.version)
        raise CalibrationError(N_("{dir}: could not claim a new profile version (1000 taken meanwhile)"), dir=self.dir)

    def check_writable(self, need: int = 1_000_000) -> None:
        """StorageError unless a new version can be written here (the card writable, with room)."""
        where = self.dir if self.dir.is_dir() else self.dir.parent
        try:
            where.mkdir(parents=True, exist_ok=True, mode=0o700)
            with tempfile.NamedTemporaryFile(dir=where, prefix=".write-test-"):
                pass
            free = shutil.disk_usage(where).free
        except OSError as e:
            raise StorageError(N_("{where}: the profile cannot be saved here ({value}): the card is read-only or "
                                  "missing; nothing was asked"), where=where, value=e.strerror or e) from None
        if free < need:
            raise StorageError(N_("{where}: only {value:.1f} MB free on the card; free space (export and remove old "
                                  "sessions) before calibrating — nothing was asked"), where=where, value=free / 1e6)

    def restore(self, version: int, by: str, secret: str | None = None) -> Profile:
        old = self.load(version)
        return self.save(old, by, [f"restored version {version}"], secret=secret)

    def _signature_before(self, version: int | None = None) -> dict | None:
        """The signature of the newest intact signed version (before ``version`` when given)."""
        for v in reversed(self.versions()):
            if version is not None and v >= version:
                continue
            try:
                sig = self.load(v).signature
            except CalibrationError:
                continue
            if sig:
                return sig
        return None

    def key_changed(self, prof: Profile) -> bool:
        """``prof`` is signed by another key than the newest earlier signed version: a new secret,
        or a profile not made by the physiotherapist who signed before."""
        if not prof.signature:
            return False
        before = self._signature_before(prof.version)
        return before is not None and before["key"] != prof.signature["key"]

    def history(self) -> list[dict]:
        """Every version as the report lists it: who changed what, when, and whether she signed it."""
        out = []
        for v in self.versions():
            try:
                p = self.load(v)
            except CalibrationError as e:
                out.append({"version": v, "created_at": None, "by": None, "changes": [f"DAMAGED: {e}"],
                            "programme": None, "patient_code": None, "signature": "damaged"})
                continue
            out.append({"version": v, "created_at": p.created_at, "by": p.by, "changes": p.changes,
                        "programme": p.prescription.programme, "patient_code": p.patient_code,
                        "signature": p.signature_state + (f" (key {p.key_fingerprint})" if p.key_fingerprint else "")})
        return out

    def provenance(self, prof: Profile) -> dict:
        """What a session records of the prescription it trained under, and every export carries."""
        path = self.path(prof.version)
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            digest = None
        return {"version": prof.version, "patient_code": prof.patient_code, "sha256": digest,
                "signature": prof.signature_state, "key": prof.key_fingerprint, "key_changed": self.key_changed(prof),
                "by": prof.by, "created_at": prof.created_at}

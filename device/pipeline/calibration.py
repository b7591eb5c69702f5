"""The calibration data the pipeline consumes: per channel, the resting level and the maximal
voluntary contraction (MVC), as measured by the physiotherapist, and optionally the patient's own
lift / accessory / bear-down decision (``kinds``), learnt from examples the physio verified.

For pressure, ``rest`` is the zero and ``mvc`` the maximal rise above it, in the channel's unit.
For EMG, ``rest`` and ``mvc`` are the resting and maximal RMS in µV. This is the subset of the
device's calibration profile (``calibration/profile.py``) that ``pfmt analyze --calibration``
accepts (the command line also accepts a whole profile file there:
``device.cli.args.calibration_file``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from device.errors import N_, CalibrationError, InputError
from device.files import check_input_file, printable
from device.pipeline.kinds import KindModel
from device.recording import is_finite_number

CAL_ROLES = ("pelvic", "abdominal", "displacement")


@dataclass(frozen=True)
class ChannelCalibration:
    """One channel's resting level and maximal voluntary contraction, as the analysis contract
    writes them: for pressure ``rest`` is the zero and ``mvc`` already the maximal *rise* above
    it; for EMG both are *levels* (RMS µV), so the rise is ``mvc − rest``. :meth:`span` is the
    rise either way — use it, never ``mvc`` alone."""

    rest: float
    mvc: float

    def span(self, modality: str) -> float:
        """The size of a maximal contraction above rest, in the channel's unit."""
        return self.mvc - self.rest if modality == "emg" else self.mvc


@dataclass(frozen=True)
class Calibration:
    channels: dict[str, ChannelCalibration] = field(default_factory=dict)
    kinds: KindModel | None = None  # the patient's own lift / bear-down thresholds

    def get(self, role: str) -> ChannelCalibration | None:
        return self.channels.get(role)

    def to_dict(self) -> dict:
        d: dict = {r: {"rest": c.rest, "mvc": c.mvc} for r, c in self.channels.items()}
        if self.kinds is not None:
            d["kinds"] = self.kinds.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: object, source: str = "calibration") -> Calibration:
        if not isinstance(d, dict):
            raise CalibrationError(N_('{source}: expected a JSON object like {{"pelvic": {{"rest": R, "mvc": M}}}}'),
                                   source=source)
        chans = {}
        kinds = KindModel.from_dict(d["kinds"], source) if d.get("kinds") is not None else None
        for role, v in d.items():
            if role == "kinds":
                continue
            if role not in CAL_ROLES:
                raise CalibrationError(N_("{source}: unknown channel {role!r}; allowed: {items} (and kinds)"),
                                       source=source, role=role, items=', '.join(CAL_ROLES))
            if not isinstance(v, dict):
                raise CalibrationError(N_("{source}: {role} must be an object with rest and mvc"),
                                       source=source, role=role)
            unknown = set(v) - {"rest", "mvc"}
            if unknown:
                raise CalibrationError(N_("{source}: {role}: unknown key(s) {items}; allowed: rest, mvc"),
                                       source=source, role=role, items=', '.join(sorted(unknown)))
            for k in ("rest", "mvc"):
                if k not in v:
                    raise CalibrationError(N_("{source}: {role}.{k} is missing"), source=source, role=role, k=k)
                if not is_finite_number(v[k]):
                    raise CalibrationError(N_("{source}: {role}.{k} must be a finite number, got {value!r}"),
                                           source=source, role=role, k=k, value=v[k])
            rest, mvc = float(v["rest"]), float(v["mvc"])
            if mvc <= rest:
                raise CalibrationError(N_("{source}: {role}.mvc ({mvc:g}) must be greater than {role}.rest "
                                          "({rest:g})"), source=source, role=role, mvc=mvc, rest=rest)
            if rest < 0 and role != "displacement":
                raise CalibrationError(N_("{source}: {role}.rest ({rest:g}) must not be negative"),
                                       source=source, role=role, rest=rest)
            chans[role] = ChannelCalibration(rest, mvc)
        if "pelvic" not in chans and chans:
            raise CalibrationError(N_("{source}: a calibration needs the pelvic channel"), source=source)
        if kinds is not None and kinds.feature is not None and "abdominal" not in chans \
                and kinds.feature == "abd_norm":
            raise CalibrationError(N_("{source}: kinds on abd_norm needs the abdominal calibration"), source=source)
        return cls(chans, kinds)


MAX_JSON_BYTES = 2_000_000  # a calibration or a whole profile is a few kB


def read_json(path: str | os.PathLike) -> object:
    """A calibration file's JSON; CalibrationError naming the file when it cannot be had."""
    try:
        p = check_input_file(path, "calibration or profile", MAX_JSON_BYTES)
    except InputError as e:
        raise CalibrationError(e.template, **e.fields) from None
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise CalibrationError(N_("{p}: cannot read ({e})"), p=printable(str(p)), e=e) from None
    except json.JSONDecodeError as e:
        raise CalibrationError(N_("{p}: not valid JSON ({msg} at line {lineno})"),
                               p=printable(str(p)), msg=e.msg, lineno=e.lineno) from None
    except (ValueError, RecursionError) as e:  # a number of more than 4300 digits; nesting too deep
        raise CalibrationError(N_("{p}: not a calibration ({name}: {e})"),
                               p=printable(str(p)), name=type(e).__name__, e=printable(str(e))[:120]) from None


def load_calibration(path: str | os.PathLike) -> Calibration:
    """A calibration JSON file (rest/MVC per channel, optionally the personal kinds)."""
    return Calibration.from_dict(read_json(path), str(path))

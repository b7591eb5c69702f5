"""Reading a calibration given on the command line (``--calibration``)."""
from __future__ import annotations

from device.pipeline.calibration import Calibration, read_json


def calibration_file(path: str) -> Calibration:
    """``--calibration``: a calibration JSON, or a whole profile (recognised by its ``format``) whose
    calibration is used once the profile's own checks (checksum, schema) pass. The profile module
    is imported only for a profile: ``pfmt analyze`` on a plain calibration stays small at start-up
    (~45 ms less here, ~0.5 s on a Pi Zero 2 W)."""
    d = read_json(path)
    if isinstance(d, dict) and "format" in d:  # only a profile has one
        from calibration.profile import Profile

        return Profile.from_dict(d, path).calibration
    return Calibration.from_dict(d, path)

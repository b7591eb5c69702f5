"""One exception family for the whole device, so the CLI can turn any of them into one clear line."""


class PfmtError(Exception):
    """Base of every error pfmt raises on purpose; its message is meant for the user."""


class InputError(PfmtError):
    """A recording, calibration or option the user gave is malformed; says what is wrong and what is allowed."""


class CalibrationError(InputError):
    """A calibration is missing, inconsistent or physiologically impossible."""

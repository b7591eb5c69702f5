"""One exception family for the whole device, so the CLI can turn any of them into one clear line."""


class PfmtError(Exception):
    """Base of every error pfmt raises on purpose; its message is meant for the user."""


class InputError(PfmtError):
    """A recording, calibration or option the user gave is malformed; says what is wrong and what is allowed."""


class CalibrationError(InputError):
    """A calibration is missing, inconsistent or physiologically impossible."""


class ConfigError(InputError):
    """The device configuration (TOML) has an unknown option, a wrong type or a value out of bounds."""


class HardwareError(PfmtError):
    """The hardware could not be brought up at all (no I2C bus, chip absent at start-up).

    Faults during sampling are never raised: they become gaps and sensor events in the data."""


class AccessError(PfmtError):
    """A physiotherapist's function was asked for without the physio's PIN."""


class Aborted(PfmtError):
    """The user stopped a guided workflow; nothing it staged was kept."""


class StorageError(PfmtError):
    """The session database or an export target cannot be used (damaged, full, read-only, missing);
    the message says which file or device and what to do. Nothing already stored is deleted."""

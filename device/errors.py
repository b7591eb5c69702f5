"""One exception family for the whole device, so the CLI can turn any of them into one clear line.

The root and the kinds the hardware layer raises live in ``drivers.errors`` (the bottom layer may
not import upward); they are re-exported here beside the device's own kinds, so the rest of the
project imports every error from this one module.
"""
from drivers.errors import N_, ConfigError, HardwareError, InputError, PfmtError, Phrase, StorageError, fill, localize

__all__ = [
    "N_",
    "Aborted",
    "AccessError",
    "CalibrationError",
    "CardFullError",
    "ConfigError",
    "DamagedError",
    "HardwareError",
    "InputError",
    "PfmtError",
    "Phrase",
    "StorageError",
    "fill",
    "localize",
]


class CalibrationError(InputError):
    """A calibration is missing, inconsistent or physiologically impossible."""


class AccessError(PfmtError):
    """A physiotherapist's function was asked for without the physio's PIN."""


class Aborted(PfmtError):
    """The user stopped a guided workflow; nothing it staged was kept."""


class CardFullError(StorageError):
    """The card has no room for what is about to be stored (nothing was begun)."""


class DamagedError(StorageError):
    """Stored data failed its checksum or SQLite found the file damaged: named, never used as good."""

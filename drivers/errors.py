"""The root of the one exception family, defined in the bottom layer so that every layer above can
raise and catch it without importing upward (``device.errors`` adds the device's own kinds).

Every error raised on purpose is a :class:`PfmtError` whose message is meant for the person at the
device: it names what is wrong and what is allowed. The command line turns any of them into one
line on stderr and exit code 2. Faults during sampling are never raised: they become gaps and
sensor events in the data.
"""


class PfmtError(Exception):
    """Base of every error pfmt raises on purpose; its message is meant for the user."""


class InputError(PfmtError):
    """A recording, calibration or option the user gave is malformed; says what is wrong and what is allowed."""


class ConfigError(InputError):
    """The device configuration (TOML) has an unknown option, a wrong type or a value out of bounds."""


class HardwareError(PfmtError):
    """The hardware could not be brought up at all (no I2C bus, chip absent at start-up, a USB
    gadget or tool missing)."""


class StorageError(PfmtError):
    """The session database or an export target cannot be used (damaged, full, read-only, missing);
    the message says which file or device and what to do. Nothing already stored is deleted."""

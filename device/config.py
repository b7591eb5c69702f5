"""The device configuration: the hardware description (``drivers.config``) checked against what
the device records — every channel a ``<role>_<unit>`` the recordings allow, a pelvic channel
always — and the reference build the emulated device and the defaults use.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from device.errors import N_, ConfigError, InputError
from device.files import default_config_path
from device.i18n import check_code
from device.recording import Channel
from drivers import config as hw
from drivers.config import AdcConfig, ChannelConfig, DeviceConfig, PinsConfig

__all__ = [
    "AdcConfig",
    "ChannelConfig",
    "DeviceConfig",
    "PinsConfig",
    "default_config",
    "device_config",
    "device_voice",
    "load_config",
    "parse_config",
    "recorded_channels",
]

REQUIRED_ROLES = ("pelvic",)


def _check_channel(role: str, unit: str) -> str | None:
    try:
        Channel.parse(f"{role}_{unit}")
    except InputError as e:
        return str(e)
    return None


#: The device's own section of the configuration file (not hardware: the drivers never see it).
VOICE = "voice"


def parse_config(data: dict, source: str = "configuration") -> DeviceConfig:
    """Validate a parsed TOML document into a :class:`DeviceConfig` (ConfigError otherwise)."""
    hardware = {k: v for k, v in data.items() if k != VOICE}
    return hw.parse_config(hardware, source, check_channel=_check_channel, required_roles=REQUIRED_ROLES)


@dataclass(frozen=True)
class Voice:
    """``[voice]``: the device's language ("en" when unset) and whether a speaker says the cues."""

    language: str = "en"
    speech: bool = False


def parse_voice(data: dict, source: str = "configuration") -> Voice:
    v = data.get(VOICE, {})
    if not isinstance(v, dict):
        raise ConfigError(N_("{source}: [{voice}] must be a table"), source=source, voice=VOICE)
    unknown = sorted(set(v) - {"language", "speech"})
    if unknown:
        raise ConfigError(N_("{source}: [{voice}] has no option {value!r}; allowed: language, speech"),
                          source=source, voice=VOICE, value=unknown[0])
    if not isinstance(v.get("speech", False), bool):
        raise ConfigError(N_("{source}: [{voice}] speech must be true or false"), source=source, voice=VOICE)
    return Voice(check_code(v.get("language", "en"), f"{source}: [{VOICE}] language"), v.get("speech", False))


def load_config(path: str | Path) -> DeviceConfig:
    """The device configuration file, checked (ConfigError naming the file, section and option)."""
    return parse_config(hw.read_toml(path), str(path))


def device_voice(path: str | Path | None) -> Voice:
    """The ``[voice]`` of the configuration in force (``device_config``'s file), the default without one."""
    chosen = path or default_config_path()
    return parse_voice(hw.read_toml(chosen), str(chosen)) if chosen else Voice()


def recorded_channels(config: DeviceConfig) -> tuple[Channel, ...]:
    """The recording's channels, in the configuration's (and the sampler's) column order."""
    return tuple(Channel.parse(c.name) for c in config.channels)


def default_config(modality: str = "pressure", abdominal: bool = True) -> DeviceConfig:
    """The reference build: one ADS1115 per channel (so each runs continuous at 860 SPS with its
    own conversion-ready line), single-ended. Pressure: a 0–50 kPa gauge sensor (MPX5050 class:
    0.2 V + 4.5 V per 510 cmH2O, 0.02 cmH2O per code) on the ±6.144 V range — a maximal strain or a
    cough takes the abdomen past 100 cmH2O, beyond a 10 kPa sensor; EMG: an instrumentation front
    end with gain 1000 centred at 1.65 V (1 µV → 1 mV) on ±4.096 V."""
    if modality == "pressure":
        unit, vpu, off, gain, valid = "cmH2O", 4.5 / 509.9, 0.2, 2 / 3, [0.1, 4.75]
    elif modality == "emg":
        unit, vpu, off, gain, valid = "uV", 0.001, 1.65, 1, [0.05, 3.25]
    else:
        raise ConfigError(N_("modality must be pressure or emg, not {modality!r}"), modality=modality)
    roles = ["pelvic"] + (["abdominal"] if abdominal else [])
    data = {
        "sampling": {"rate_hz": 860, "block_s": 0.02, "queue_blocks": 500},
        "adc": [{"model": "ADS1115", "address": 0x48 + i, "ready_pin": 17 + i} for i in range(len(roles))],
        "channel": [{"role": r, "unit": unit, "adc": 0x48 + i, "positive": 0,
                     "gain": gain, "data_rate": 860, "volts_per_unit": vpu, "offset_v": off,
                     "valid_v": valid} for i, r in enumerate(roles)],
    }
    return parse_config(data, "built-in configuration")


def device_config(path: str | Path | None, modality: str = "pressure") -> tuple[str | None, DeviceConfig]:
    """The configuration in force: ``path`` (``--config``), else ``$PFMT_CONFIG`` or the installed
    ``/etc/pfmt/device.toml``, else the reference build for ``modality``; with the file it came from."""
    chosen = path or default_config_path()
    if chosen:
        return str(chosen), load_config(chosen)
    return None, default_config(modality, abdominal=True)

"""The training programmes as data (TOML), read by ``device.training.programme``."""

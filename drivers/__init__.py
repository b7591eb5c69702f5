"""Hardware: the ADS1x15 through the adafruit driver, the register-level chip emulator, the sampler
thread, LEDs/buzzer/button through gpiozero, the USB stick and gadget, clocks. Knows registers and
pins and nothing of the project: it imports nothing from ``device`` or ``calibration`` (checked by
the import contract in pyproject.toml)."""

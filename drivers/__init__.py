"""Hardware: the ADS1x15 sampler, the register-level chip emulator, LEDs/buzzer/button.
Knows registers and pins, nothing about training (issue 3; not yet written)."""

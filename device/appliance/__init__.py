"""The device as she holds it: one session composed from the physiotherapist's prescription
(``compose``), and the service that boots into waiting for her button (``loop``, ``service``),
on the Pi or on the emulated device. Above the calibration layer (it reads her profile) and below
the command line, which only parses options for it."""

"""What is kept: the session database (power-safe, with its writer thread), the versioned session
summary, reports (session lines, dose, weekly trend), the exports (EDF+/CSV/JSON/PNG) and the USB
serial console."""

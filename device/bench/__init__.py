"""``pfmt bench``: accuracy beside the peers through the shared scorer, speed, the sampler, a
long session, calibration. Imported by the command line only; numbers are printed, never asserted."""

"""The physiotherapist's calibration and prescription workflows; uses drivers/ and device/
(issue 5; not yet written). The calibration data the pipeline reads lives in device.calibration."""

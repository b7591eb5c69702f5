"""The emulated world: the physiological simulator (labelled recordings), the simulated patient
who acts on cues (calibration), and the scripted patient who follows a whole session (training)."""

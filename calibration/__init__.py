"""The physiotherapist's workflows, above the device core: the guided calibration and prescription
(``workflow``: the dialogue; ``fit``: its maths), the versioned, checksummed, PIN-protected profile
(``profile``), the console that asks (``console``), and the emulated bench and patient that answer
when no Pi is present (``emulated``). See docs/ARCHITECTURE.md."""

"""The command line: one module per command (its options and its ``main``), dispatched by
``device.cli.main``; the one place allowed to import every layer."""

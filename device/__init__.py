"""The device core — knows training and signals, nothing about registers — and, in ``device.cli``,
the command line that composes everything. Sub-packages: ``pipeline`` (signals → contractions),
``training`` (programmes, schedule, the session runner, progression), ``records`` (session storage,
reports, exports, the serial console), ``sim`` (the simulated patient and her signals), ``bench``
(the benchmark), ``cli``; modules: ``recording`` (recordings and channels), ``config`` (the device
configuration), ``files`` (power-safe writes), ``errors``. See docs/ARCHITECTURE.md."""



def installed_version() -> str:
    """This pfmt's version as installed (read only when asked: ``importlib.metadata`` is not free)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pfmt")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"

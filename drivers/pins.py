"""The gpiozero pin factory, chosen explicitly and never by gpiozero's silent fall-back chain.

gpiozero tries lgpio, RPi.GPIO, pigpio and finally its NativeFactory, warning as it falls: on a
Pi 5 the native factory fails outright, on a Zero 2 W/3/4 it has no PWM (the RGB status LED and
the tonal buzzer then raise ``PinPWMUnsupported``) and its edge detection uses the sysfs numbers
that kernels ≥ 6.6 changed. The device therefore names its factory (``[board] pin_factory``):
``lgpio`` on every current Pi (the character device, software PWM, edges through the kernel),
``mock`` for the emulated device. A factory that cannot be brought up is a
:class:`~drivers.errors.HardwareError` that says why and what to install.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any

from drivers.errors import N_, HardwareError

PIN_FACTORIES = ("lgpio", "mock")


def pin_factory(name: str) -> Any:
    """A gpiozero pin factory by name (``lgpio`` or ``mock``)."""
    if name == "mock":
        from gpiozero.pins.mock import MockFactory, MockPWMPin

        return MockFactory(pin_class=MockPWMPin)
    if name != "lgpio":
        raise HardwareError(N_("pin factory {name!r} is not one pfmt drives; allowed: {items}"),
                            name=name, items=', '.join(PIN_FACTORIES))
    try:
        _import_lgpio()
        from gpiozero.pins.lgpio import LGPIOFactory
    except ImportError as e:
        raise HardwareError(N_("the lgpio pin factory is not installed ({e}); install the device with "
                               "scripts/install.sh, or `pip install lgpio` (Debian: python3-lgpio)"), e=e) from None
    try:
        # chip=None: gpiozero ≥ 2.0.1.post3 opens gpiochip4 on a Pi 5 with the old numbering and
        # gpiochip0 everywhere else (the header's lines since kernel 6.6.45 on the Pi 5 too)
        return LGPIOFactory()
    except Exception as e:  # lgpio.error and OSError: no /dev/gpiochip*, or no permission
        raise HardwareError(N_("cannot open the GPIO chip through lgpio ({e}); the device user must be in the gpio "
                               "group (scripts/install.sh adds it) and /dev/gpiochip0 must exist"), e=e) from None


def _import_lgpio() -> None:
    """Import lgpio where it can make its notification pipe. At import it creates ``.lgd-nfy<n>``
    in ``$LG_WD`` (the C library) and opens it relative to the working directory (the Python
    side), so both must be one writable directory: a service's working directory is ``/`` and a
    builder's ``sudo -u pfmt`` keeps a home the pfmt user cannot write (lg issues #12, #22)."""
    wd = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]  # systemd's RuntimeDirectory=
    if not wd or not os.access(wd, os.W_OK):
        wd = os.getcwd() if os.access(os.getcwd(), os.W_OK) else tempfile.mkdtemp(prefix="pfmt-lgpio-")
    os.environ["LG_WD"] = wd
    here = os.getcwd()
    os.chdir(wd)
    try:
        import lgpio  # noqa: F401  (the C library's binding; gpiozero's factory needs it)
    finally:
        os.chdir(here)

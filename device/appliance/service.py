"""The device as a systemd service: readiness, status and the watchdog over ``$NOTIFY_SOCKET``
(the sd_notify protocol, a datagram on a Unix socket — no libsystemd binding needed), SIGTERM
turned into an orderly stop (the session is stored as stopped, LEDs and buzzer driven off), and
logging to the journal (one line per event, priority as the ``<N>`` prefix journald reads)."""
from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time

#: syslog priorities of the logging levels, for journald's ``SyslogLevelPrefix``.
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class Notifier:
    """sd_notify: a no-op outside systemd (no ``$NOTIFY_SOCKET``). The watchdog is fed at most
    every half of ``$WATCHDOG_USEC`` however often :meth:`watchdog` is called."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        addr = env.get("NOTIFY_SOCKET", "")
        self.address: str | None = ("\0" + addr[1:]) if addr.startswith("@") else (addr or None)
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        self.interval = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 and mine else None
        self._last = -1e18
        self._sock: socket.socket | None = None

    def send(self, message: str) -> bool:
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message.encode(), self.address)
            return True
        except OSError:
            return False  # systemd gone (shutting down): nothing to tell

    def ready(self, status: str = "") -> None:
        self.send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def watchdog(self) -> None:
        if self.interval is None:
            return
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self.send("WATCHDOG=1")


class _JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"<{_PRIORITY.get(record.levelno, 6)}>{record.name}: {record.getMessage()}"


def setup_logging(level: int = logging.INFO) -> None:
    """To the journal when run by systemd (``$JOURNAL_STREAM``), else plain lines on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(_JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger("pfmt")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


class Terminated(SystemExit):
    """SIGTERM or SIGHUP: stop in order (raised in the main thread, so every ``finally`` runs)."""


def stop_on_signals() -> None:
    def handler(signum: int, _frame) -> None:
        raise Terminated(128 + signum)

    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, handler)
